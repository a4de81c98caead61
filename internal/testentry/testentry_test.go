package testentry_test

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"slices"
	"testing"
	"time"

	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/pki"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/hashedrekord"
)

func TestSigners(t *testing.T) {
	keySigner, err := testentry.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	certSigner, err := testentry.NewCertSigner("dev@example.com")
	if err != nil {
		t.Fatal(err)
	}
	reg := types.NewRegistry(hashedrekord.New())
	for name, s := range map[string]*testentry.Signer{"key": keySigner, "cert": certSigner} {
		t.Run(name, func(t *testing.T) {
			a, err := s.HashedRekord([]byte("a"))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := s.HashedRekord([]byte("b"))
			ca, err := reg.Canonicalize(context.Background(), a)
			if err != nil {
				t.Fatalf("entry rejected: %v\n%s", err, a)
			}
			cb, err := reg.Canonicalize(context.Background(), b)
			if err != nil {
				t.Fatal(err)
			}
			if string(ca.Body) == string(cb.Body) {
				t.Fatal("two artifacts, one body")
			}
		})
	}

	blk, _ := pem.Decode(keySigner.PublicKeyPEM())
	if blk == nil || blk.Type != "PUBLIC KEY" {
		t.Fatalf("NewSigner PEM: %q", keySigner.PublicKeyPEM())
	}

	k, err := pki.ParsePEM(certSigner.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	leaf := k.Leaf()
	if leaf == nil || k.IsChain() {
		t.Fatal("NewCertSigner must carry exactly one certificate")
	}
	if !slices.Equal(leaf.EmailAddresses, []string{"dev@example.com"}) {
		t.Errorf("emails %q", leaf.EmailAddresses)
	}
	if !slices.Equal(leaf.ExtKeyUsage, []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}) {
		t.Errorf("EKU %v", leaf.ExtKeyUsage)
	}
	if got := k.OIDCIssuer(); got != testentry.OIDCIssuer {
		t.Errorf("issuer %q", got)
	}
	if life := leaf.NotAfter.Sub(leaf.NotBefore); life > 15*time.Minute {
		t.Errorf("certificate lives %v; Fulcio's live ten minutes", life)
	}
	if _, err := testentry.NewSignerFromKey(nil, nil); err == nil {
		t.Error("nil key accepted")
	}
}

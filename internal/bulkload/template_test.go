package bulkload

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/hashedrekord"
)

// certSigner signs with a self-made certificate carrying an extension of
// extBytes bytes, which makes its entries about 1.8 × extBytes long.
func certSigner(t *testing.T, extBytes int) *testentry.Signer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ext := make([]byte, extBytes)
	rand.Read(ext)
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:    big.NewInt(1),
		Subject:         pkix.Name{CommonName: "bulk"},
		NotBefore:       now.Add(-time.Hour),
		NotAfter:        now.Add(time.Hour),
		KeyUsage:        x509.KeyUsageDigitalSignature,
		ExtKeyUsage:     []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		EmailAddresses:  []string{"bulk@example.com"},
		ExtraExtensions: []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 99}, Value: ext}},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	s, err := testentry.NewSignerFromKey(key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTemplateTooLarge: a key whose entries the log would refuse as too
// large for an entry bundle fails the load before it starts, with the
// log's own error.
func TestTemplateTooLarge(t *testing.T) {
	reg := types.NewRegistry(hashedrekord.New())
	for _, tc := range []struct {
		name     string
		extBytes int
		tooLarge bool
	}{
		{"small certificate", 100, false},
		{"just under the limit", 34_000, false},
		{"over the limit", 41_000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := newTemplate(context.Background(), reg, certSigner(t, tc.extBytes), [8]byte{1}, 0)
			var tooLarge *log.EntryTooLargeError
			switch {
			case tc.tooLarge && (!errors.As(err, &tooLarge) || tooLarge.Limit != merkle.MaxBundleEntry || tooLarge.Size <= merkle.MaxBundleEntry):
				t.Fatalf("err = %v, want an EntryTooLargeError", err)
			case !tc.tooLarge && err != nil:
				t.Fatal(err)
			case !tc.tooLarge && len(tmpl.body) > merkle.MaxBundleEntry:
				t.Fatalf("a template of %d bytes", len(tmpl.body))
			}
		})
	}
}

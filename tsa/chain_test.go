package tsa_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"math/big"
	"strings"
	"testing"
	"time"

	tsx509 "github.com/sigstore/timestamp-authority/v2/pkg/x509"

	"github.com/tabularium/tabula/tsa"
)

func genKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var serialN int64

// issue signs tmpl for pub with parent (tmpl itself when nil) and parentKey.
func issue(t *testing.T, tmpl, parent *x509.Certificate, pub crypto.PublicKey, parentKey crypto.Signer) *x509.Certificate {
	t.Helper()
	serialN++
	tmpl.SerialNumber = big.NewInt(serialN)
	if tmpl.NotBefore.IsZero() {
		tmpl.NotBefore, tmpl.NotAfter = time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	}
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, pub, parentKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func caTmpl(name string, eku ...x509.ExtKeyUsage) *x509.Certificate {
	return &x509.Certificate{Subject: pkix.Name{CommonName: name}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign, ExtKeyUsage: eku}
}

// leafTmpl is a signing certificate whose EKU extension holds ekus,
// critical or not; isCA makes it a CA.
func leafTmpl(t *testing.T, critical, isCA bool, ekus ...asn1.ObjectIdentifier) *x509.Certificate {
	c := &x509.Certificate{Subject: pkix.Name{CommonName: "leaf"}, KeyUsage: x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true, IsCA: isCA}
	if isCA {
		c.KeyUsage |= x509.KeyUsageCertSign
	}
	if len(ekus) > 0 {
		v, err := asn1.Marshal(ekus)
		if err != nil {
			t.Fatal(err)
		}
		c.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{2, 5, 29, 37}, Critical: critical, Value: v}}
	}
	return c
}

// TestVerifyChain: the chains timestamp-authority accepts (pkg/x509
// VerifyCertChain, intermediates held to the EKU as by default) are the
// ones Tabula accepts, and the refusals say why.
func TestVerifyChain(t *testing.T) {
	stamping := asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 8}
	codeSigning := asn1.ObjectIdentifier{1, 3, 6, 1, 5, 5, 7, 3, 3}
	rootKey, interKey, leafKey, otherKey := genKey(t), genKey(t), genKey(t), genKey(t)
	root := issue(t, caTmpl("root"), nil, rootKey.Public(), rootKey)
	inter := issue(t, caTmpl("inter", x509.ExtKeyUsageTimeStamping), root, interKey.Public(), rootKey)
	interNoEKU := issue(t, caTmpl("inter no EKU"), root, interKey.Public(), rootKey)
	leaf := func(critical, isCA bool, parent *x509.Certificate, parentKey crypto.Signer, ekus ...asn1.ObjectIdentifier) *x509.Certificate {
		return issue(t, leafTmpl(t, critical, isCA, ekus...), parent, leafKey.Public(), parentKey)
	}
	good := leaf(true, false, root, rootKey, stamping)
	generated, err := tsa.GenerateChain(leafKey, "tabula.test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		chain []*x509.Certificate
		key   crypto.Signer
		err   string // "" accepted
	}{
		{"generated", generated, leafKey, ""},
		{"root and leaf", []*x509.Certificate{good, root}, leafKey, ""},
		{"with an intermediate", []*x509.Certificate{leaf(true, false, inter, interKey, stamping), inter, root}, leafKey, ""},
		{"intermediate without the EKU", []*x509.Certificate{leaf(true, false, interNoEKU, interKey, stamping), interNoEKU, root}, leafKey, "lacks the timestamping extended key usage"},
		{"leaf only", []*x509.Certificate{good}, leafKey, "at least a root"},
		{"empty", nil, leafKey, "at least a root"},
		{"root first", []*x509.Certificate{root, good}, leafKey, "does not verify"},
		{"no EKU", []*x509.Certificate{leaf(true, false, root, rootKey), root}, leafKey, "exactly one extended key usage"},
		{"EKU not critical", []*x509.Certificate{leaf(false, false, root, rootKey, stamping), root}, leafKey, "must be critical"},
		{"two EKUs", []*x509.Certificate{leaf(true, false, root, rootKey, stamping, codeSigning), root}, leafKey, "exactly one extended key usage"},
		{"code signing EKU", []*x509.Certificate{leaf(true, false, root, rootKey, codeSigning), root}, leafKey, "does not verify"},
		{"leaf is a CA", []*x509.Certificate{leaf(true, true, root, rootKey, stamping), root}, leafKey, "is a CA"},
		{"another key", []*x509.Certificate{good, root}, otherKey, "does not hold the TSA key"},
		{"generated, another key", generated, otherKey, "does not hold the TSA key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tsa.VerifyChain(tt.chain, tt.key.Public(), time.Now())
			if tt.err == "" && err != nil {
				t.Fatalf("refused: %v", err)
			}
			if tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)) {
				t.Fatalf("error %v, want one with %q", err, tt.err)
			}
			upstream := tsx509.VerifyCertChain(tt.chain, tt.key, true)
			if (err == nil) != (upstream == nil) {
				t.Fatalf("Tabula: %v; timestamp-authority: %v", err, upstream)
			}
		})
	}
	// Out of its validity, the generated chain is refused.
	if err := tsa.VerifyChain(generated, leafKey.Public(), time.Now().Add(tsa.ChainValidity+time.Hour)); err == nil {
		t.Fatal("an expired chain is accepted")
	}
	if _, err := tsa.New(tsa.Config{Signer: otherKey, Chain: generated}); err == nil {
		t.Fatal("New accepts a chain of another key")
	}
}

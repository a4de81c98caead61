package interop

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/pem"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/sigstore/sigstore-go/pkg/sign"
)

// oidcIssuer is what the test CA writes into its certificates' Fulcio OIDC
// issuer extensions.
const oidcIssuer = "https://oidc.interop.invalid"

var (
	oidIssuerV1 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1} // raw string (deprecated)
	oidIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8} // DER UTF8String
)

// keySigner is a signer whose entries carry a PUBLIC KEY.
type keySigner struct {
	key    *ecdsa.PrivateKey
	pemPub []byte // PUBLIC KEY PEM
}

func newKeySigner(t *testing.T) *keySigner {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return &keySigner{key: k, pemPub: pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})}
}

// signArtifact returns the SHA-256 digest of artifact and an ASN.1 ECDSA
// signature over it (what cosign sign-blob produces).
func signArtifact(t *testing.T, key crypto.Signer, artifact []byte) (digest, sig []byte) {
	t.Helper()
	d := sha256.Sum256(artifact)
	sig, err := key.Sign(rand.Reader, d[:], crypto.SHA256)
	if err != nil {
		t.Fatal(err)
	}
	return d[:], sig
}

// testCA issues Fulcio-like certificates: short-lived, one email or URI SAN,
// code-signing EKU, the OIDC issuer extensions. Its root is self-signed
// ECDSA P-384, as Fulcio's is.
type testCA struct {
	key      *ecdsa.PrivateKey
	cert     *x509.Certificate
	certPath string // the root as PEM, for `tabula trusted-root --fulcio-cert`
}

func newTestCA(t *testing.T) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{"tabula interop"}, CommonName: "interop test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	return &testCA{key: key, cert: cert, certPath: path}
}

// issue returns a DER certificate for pub whose SAN is identity: an email
// address, or a URI when identity parses as an absolute URL.
func (ca *testCA) issue(pub crypto.PublicKey, identity string) ([]byte, error) {
	issuerV2, err := asn1.MarshalWithParams(oidcIssuer, "utf8")
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 159))
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		NotBefore:    now.Add(-time.Minute),
		NotAfter:     now.Add(9 * time.Minute),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		ExtraExtensions: []pkix.Extension{
			{Id: oidIssuerV1, Value: []byte(oidcIssuer)},
			{Id: oidIssuerV2, Value: issuerV2},
		},
	}
	if u, err := url.Parse(identity); err == nil && u.Scheme != "" && u.Host != "" {
		tmpl.URIs = []*url.URL{u}
	} else {
		tmpl.EmailAddresses = []string{identity}
	}
	return x509.CreateCertificate(rand.Reader, tmpl, ca.cert, pub, ca.key)
}

// certSigner is a fresh key with a certificate from ca: entries carry the
// leaf certificate's PEM, as cosign and sigstore-go send it.
type certSigner struct {
	key     *ecdsa.PrivateKey
	certDER []byte
	pemCert []byte
}

func (ca *testCA) newCertSigner(t *testing.T, identity string) *certSigner {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := ca.issue(k.Public(), identity)
	if err != nil {
		t.Fatal(err)
	}
	return &certSigner{key: k, certDER: der, pemCert: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

// certProvider makes the test CA a sigstore-go sign.CertificateProvider (a
// stand-in for Fulcio) issuing certificates for one identity.
type certProvider struct {
	ca       *testCA
	identity string
}

var _ sign.CertificateProvider = (*certProvider)(nil)

func (p *certProvider) GetCertificate(_ context.Context, kp sign.Keypair, _ *sign.CertificateProviderOptions) ([]byte, error) {
	return p.ca.issue(kp.GetPublicKey(), p.identity)
}

// Package testentry makes valid proposed log entries for tests and load tools.
//
// A Signer holds a private key and the PEM that goes into an entry's
// publicKey.content: a PUBLIC KEY (NewSigner), or a short-lived certificate
// issued the way Fulcio issues them by a throwaway CA made for that signer
// (NewCertSigner). HashedRekord returns the JSON of a proposed hashedrekord
// 0.0.1 entry whose signature verifies, ready to POST to /api/v1/log/entries.
//
// The package does not depend on package testing: it is used by non-test code.
// Keys and CAs are freshly generated and never persisted; nothing here is fit
// for real signing.
package testentry

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"time"
)

// OIDCIssuer is the issuer NewCertSigner writes into its certificates.
const OIDCIssuer = "https://oidc.testentry.invalid"

// Fulcio's OIDC issuer extensions (deprecated raw form and DER UTF8String form).
var (
	oidIssuer   = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 1}
	oidIssuerV2 = asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 1, 8}
)

// Signer signs artifacts into proposed entries. It is safe for concurrent use.
type Signer struct {
	key     crypto.Signer
	hash    crypto.Hash
	hashAlg string // "sha256", "sha384" or "sha512"
	pemText []byte // publicKey.content: key or certificate PEM
}

// NewSigner returns a signer with a fresh ECDSA P-256 key whose entries carry
// the PUBLIC KEY PEM.
func NewSigner() (*Signer, error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		return nil, err
	}
	return NewSignerFromKey(k, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// NewCertSigner returns a signer with a fresh ECDSA P-256 key and a
// Fulcio-style certificate for it, issued by a throwaway ECDSA P-384 CA: valid
// for ten minutes from one minute ago, the given email as its only SAN,
// code-signing extended key usage, and the OIDC issuer extensions
// 1.3.6.1.4.1.57264.1.1 and .1.8 set to OIDCIssuer. Entries carry the leaf
// certificate's PEM only, as cosign and sigstore-go send it.
func NewCertSigner(email string) (*Signer, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{"testentry"}, CommonName: "testentry throwaway CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("creating CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}

	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	issuerV2, err := asn1.MarshalWithParams(OIDCIssuer, "utf8")
	if err != nil {
		return nil, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 159))
	if err != nil {
		return nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber:   serial,
		NotBefore:      now.Add(-time.Minute),
		NotAfter:       now.Add(9 * time.Minute),
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		EmailAddresses: []string{email},
		ExtraExtensions: []pkix.Extension{
			{Id: oidIssuer, Value: []byte(OIDCIssuer)},
			{Id: oidIssuerV2, Value: issuerV2},
		},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, key.Public(), caKey)
	if err != nil {
		return nil, fmt.Errorf("creating leaf certificate: %w", err)
	}
	return NewSignerFromKey(key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: leafDER}))
}

// SelfSigned is what NewSelfSignedSigner writes into its certificate besides
// a code-signing key usage: any SANs (NUL bytes and any length included),
// and an extra, non-critical extension of ExtensionBytes random bytes to
// make entries large (a canonical entry grows by about 1.8 × ExtensionBytes).
type SelfSigned struct {
	Emails, DNSNames []string
	URIs             []*url.URL
	ExtensionBytes   int
}

// NewSelfSignedSigner returns a signer with a fresh ECDSA P-256 key whose
// entries carry a self-signed certificate made to spec, valid from an hour
// ago for two hours: the certificates of hostile-input tests.
func NewSelfSignedSigner(spec SelfSigned) (*Signer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:   big.NewInt(1),
		Subject:        pkix.Name{CommonName: "testentry self-signed"},
		NotBefore:      now.Add(-time.Hour),
		NotAfter:       now.Add(time.Hour),
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		EmailAddresses: spec.Emails,
		DNSNames:       spec.DNSNames,
		URIs:           spec.URIs,
	}
	if spec.ExtensionBytes > 0 {
		ext := make([]byte, spec.ExtensionBytes)
		rand.Read(ext)
		tmpl.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 99}, Value: ext}}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		return nil, fmt.Errorf("creating self-signed certificate: %w", err)
	}
	return NewSignerFromKey(key, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
}

// NewSignerFromKey returns a signer for key whose entries carry publicKeyPEM
// (a PUBLIC KEY, CERTIFICATE or chain PEM for key) verbatim. The artifact hash
// is the one Rekor's default algorithm policy pairs with the key: SHA-384 for
// ECDSA P-384, SHA-512 for P-521 and Ed25519 (signed as Ed25519ph), SHA-256
// otherwise.
func NewSignerFromKey(key crypto.Signer, publicKeyPEM []byte) (*Signer, error) {
	if key == nil {
		return nil, errors.New("testentry: nil key")
	}
	s := &Signer{key: key, hash: crypto.SHA256, hashAlg: "sha256", pemText: append([]byte(nil), publicKeyPEM...)}
	switch k := key.Public().(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P384():
			s.hash, s.hashAlg = crypto.SHA384, "sha384"
		case elliptic.P521():
			s.hash, s.hashAlg = crypto.SHA512, "sha512"
		}
	case ed25519.PublicKey:
		s.hash, s.hashAlg = crypto.SHA512, "sha512"
	case *rsa.PublicKey:
	default:
		return nil, fmt.Errorf("testentry: unsupported key type %T", k)
	}
	return s, nil
}

// PublicKeyPEM is what the signer's entries carry in publicKey.content.
func (s *Signer) PublicKeyPEM() []byte { return append([]byte(nil), s.pemText...) }

// SignDigest signs a digest made with the signer's hash (see NewSignerFromKey):
// ASN.1 ECDSA, RSA PKCS #1 v1.5, or Ed25519ph.
func (s *Signer) SignDigest(digest []byte) ([]byte, error) {
	var opts crypto.SignerOpts = s.hash
	if _, ok := s.key.(ed25519.PrivateKey); ok {
		opts = &ed25519.Options{Hash: crypto.SHA512}
	}
	return s.key.Sign(rand.Reader, digest, opts)
}

// HashedRekord returns the JSON of a proposed hashedrekord 0.0.1 entry for
// artifact: {"apiVersion","kind","spec":{"data":{"hash"},"signature":{...}}}.
func (s *Signer) HashedRekord(artifact []byte) ([]byte, error) {
	digest := s.Digest(artifact)
	sig, err := s.SignDigest(digest)
	if err != nil {
		return nil, fmt.Errorf("testentry: signing: %w", err)
	}
	return s.HashedRekordSigned(digest, sig)
}

// Digest hashes artifact with the signer's hash.
func (s *Signer) Digest(artifact []byte) []byte {
	h := s.hash.New()
	h.Write(artifact)
	return h.Sum(nil)
}

// HashedRekordSigned is HashedRekord for a digest already signed with
// SignDigest.
func (s *Signer) HashedRekordSigned(digest, sig []byte) ([]byte, error) {
	type hash struct {
		Algorithm string `json:"algorithm"`
		Value     string `json:"value"`
	}
	type publicKey struct {
		Content []byte `json:"content"`
	}
	type signature struct {
		Content   []byte    `json:"content"`
		PublicKey publicKey `json:"publicKey"`
	}
	type spec struct {
		Data struct {
			Hash hash `json:"hash"`
		} `json:"data"`
		Signature signature `json:"signature"`
	}
	var sp spec
	sp.Data.Hash = hash{Algorithm: s.hashAlg, Value: hex.EncodeToString(digest)}
	sp.Signature = signature{Content: sig, PublicKey: publicKey{Content: s.pemText}}
	return json.Marshal(struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Spec       spec   `json:"spec"`
	}{"0.0.1", "hashedrekord", sp})
}

// HashedRekordV2 returns the JSON of a Rekor v2 CreateEntryRequest for
// artifact, ready to POST to /api/v2/log/entries:
// {"hashedRekordRequestV002":{"digest","signature":{"content","verifier"}}},
// the verifier being the signer's public key or leaf certificate (DER) and
// the keyDetails its key calls for (PKIX_ED25519_PH for Ed25519).
func (s *Signer) HashedRekordV2(artifact []byte) ([]byte, error) {
	digest := s.Digest(artifact)
	sig, err := s.SignDigest(digest)
	if err != nil {
		return nil, fmt.Errorf("testentry: signing: %w", err)
	}
	return s.HashedRekordV2Signed(digest, sig)
}

// HashedRekordV2Signed is HashedRekordV2 for a digest already signed with
// SignDigest.
func (s *Signer) HashedRekordV2Signed(digest, sig []byte) ([]byte, error) {
	block, _ := pem.Decode(s.pemText)
	if block == nil {
		return nil, errors.New("testentry: the signer's PEM does not decode")
	}
	kd, err := KeyDetails(s.key.Public())
	if err != nil {
		return nil, err
	}
	type rawBytes struct {
		RawBytes []byte `json:"rawBytes"`
	}
	type verifier struct {
		PublicKey       *rawBytes `json:"publicKey,omitempty"`
		X509Certificate *rawBytes `json:"x509Certificate,omitempty"`
		KeyDetails      string    `json:"keyDetails"`
	}
	v := verifier{KeyDetails: kd}
	if block.Type == "CERTIFICATE" {
		v.X509Certificate = &rawBytes{block.Bytes}
	} else {
		v.PublicKey = &rawBytes{block.Bytes}
	}
	type signature struct {
		Content  []byte   `json:"content"`
		Verifier verifier `json:"verifier"`
	}
	type request struct {
		Digest    []byte    `json:"digest"`
		Signature signature `json:"signature"`
	}
	return json.Marshal(struct {
		Request request `json:"hashedRekordRequestV002"`
	}{request{digest, signature{sig, v}}})
}

// KeyDetails is the Sigstore PublicKeyDetails name a Rekor v2 request gives
// for pub, with the hash NewSignerFromKey pairs with it.
func KeyDetails(pub crypto.PublicKey) (string, error) {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256():
			return "PKIX_ECDSA_P256_SHA_256", nil
		case elliptic.P384():
			return "PKIX_ECDSA_P384_SHA_384", nil
		case elliptic.P521():
			return "PKIX_ECDSA_P521_SHA_512", nil
		}
	case *rsa.PublicKey:
		switch n := k.Size() * 8; n {
		case 2048, 3072, 4096:
			return fmt.Sprintf("PKIX_RSA_PKCS1V15_%d_SHA256", n), nil
		}
	case ed25519.PublicKey:
		return "PKIX_ED25519_PH", nil
	}
	return "", fmt.Errorf("testentry: no keyDetails for a %T key", pub)
}

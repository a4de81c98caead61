// Package pki parses and verifies the X.509-family keys that log entries carry,
// exactly as Rekor v1's pkg/pki/x509 does, so that every entry type (hashedrekord,
// dsse, intoto, rekord) accepts, rejects and re-encodes the same keys as Rekor.
//
// A key arrives as PEM text, in one of three shapes (ParsePEM):
//
//   - one PUBLIC KEY block (PKIX SubjectPublicKeyInfo: RSA, ECDSA, Ed25519);
//   - one CERTIFICATE block;
//   - several concatenated blocks, each a certificate, leaf first: a chain of
//     at most MaxChainLength certificates. A chain is checked leaf → last
//     certificate (taken as the root) at the leaf's NotBefore with any extended
//     key usage, when a signature is verified with it. No trust anchor, expiry or
//     Fulcio check is made: the log records, it does not judge identities.
//
// Anything else (a private key, trailing junk, a key followed by a certificate,
// an unknown block type) is rejected, with Rekor's error text.
//
// What the package promises:
//
//   - CanonicalPEM is byte for byte what Rekor stores in a canonical body: the
//     PKIX DER of the parsed key, or each certificate's raw DER, re-encoded with
//     encoding/pem (64-column base64, "\n" line ends, trailing newline). Input
//     whitespace, headers and line lengths do not survive.
//   - Fingerprint is hex(SHA-256(CanonicalPEM)), the key's search-index key in
//     Rekor (POST /api/v1/index/retrieve with a publicKey).
//   - VerifyDigest verifies a signature over a precomputed digest (ECDSA ASN.1
//     or IEEE P1363, RSA PKCS #1 v1.5, Ed25519ph) through sigstore/sigstore, so
//     failures read as Rekor's ("invalid signature when validating ASN.1 encoded
//     signature").
//   - CheckAlgorithm enforces Rekor's default --client-signing-algorithms.
//   - No function panics on any input; parsers are fuzzed.
package pki

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/sigstore/sigstore/pkg/cryptoutils"
)

// MaxChainLength is the most certificates a PEM chain may hold, as in Rekor.
const MaxChainLength = 10

// Key is a parsed verification key: a bare public key, a certificate, or a
// certificate chain (leaf first). The zero Key is not valid; use ParsePEM.
type Key struct {
	// pub is the bare PKIX key; nil when the key came in a certificate.
	pub crypto.PublicKey
	// certs holds the certificate (len 1) or the chain (len ≥ 2), leaf first.
	certs []*x509.Certificate
	// canonical is CanonicalPEM, when a KeyCache computed it; a Key is not
	// modified once it is shared.
	canonical []byte
}

// ParsePEM parses a PEM public key, certificate or certificate chain, with
// Rekor's rules and messages (pkg/pki/x509.NewPublicKey): surrounding
// whitespace is ignored; a single block must be PUBLIC KEY or CERTIFICATE; more
// than one block makes a chain in which every block must parse as a
// certificate, at most MaxChainLength of them.
func ParsePEM(b []byte) (*Key, error) {
	trimmed := bytes.TrimSpace(b)
	block, rest := pem.Decode(trimmed)
	if block == nil {
		return nil, errors.New("invalid public key: failure decoding PEM")
	}
	if len(rest) > 0 {
		// Rekor parses everything as certificates once there is more than
		// one block (or trailing bytes), whatever the first block's type.
		certs, err := cryptoutils.UnmarshalCertificatesFromPEMLimited(trimmed, MaxChainLength)
		if err != nil {
			return nil, err
		}
		return &Key{certs: certs}, nil
	}
	switch block.Type {
	case string(cryptoutils.PublicKeyPEMType):
		pub, err := x509.ParsePKIXPublicKey(block.Bytes)
		if err != nil {
			return nil, err
		}
		return &Key{pub: pub}, nil
	case string(cryptoutils.CertificatePEMType):
		c, err := x509.ParseCertificate(block.Bytes)
		if err != nil {
			return nil, err
		}
		return &Key{certs: []*x509.Certificate{c}}, nil
	}
	return nil, fmt.Errorf("invalid public key: cannot handle type %v", block.Type)
}

// FromPublicKey wraps a parsed public key (one x509.ParsePKIXPublicKey
// returned), for the entry types that carry keys as DER rather than PEM.
func FromPublicKey(pub crypto.PublicKey) *Key { return &Key{pub: pub} }

// FromCertificate wraps a parsed certificate, for the entry types that carry
// certificates as DER rather than PEM.
func FromCertificate(c *x509.Certificate) *Key { return &Key{certs: []*x509.Certificate{c}} }

// PublicKey is the key that verifies signatures: the bare key, or the leaf
// certificate's key.
func (k *Key) PublicKey() crypto.PublicKey {
	if k.pub != nil {
		return k.pub
	}
	if len(k.certs) > 0 {
		return k.certs[0].PublicKey
	}
	return nil
}

// Certificates returns the certificate or chain, leaf first; nil for a bare
// public key. The slice must not be modified.
func (k *Key) Certificates() []*x509.Certificate { return k.certs }

// Leaf is the certificate whose key signs, or nil for a bare public key.
func (k *Key) Leaf() *x509.Certificate {
	if len(k.certs) == 0 {
		return nil
	}
	return k.certs[0]
}

// IsChain reports whether the key came as two or more certificates.
func (k *Key) IsChain() bool { return len(k.certs) > 1 }

// CanonicalPEM is the key as Rekor writes it into canonical bodies: the PKIX
// DER of a bare key, or the raw DER of each certificate, PEM-encoded.
func (k *Key) CanonicalPEM() ([]byte, error) {
	if c := k.cachedCanonicalPEM(); c != nil {
		return c, nil
	}
	switch {
	case k.pub != nil:
		return cryptoutils.MarshalPublicKeyToPEM(k.pub)
	case len(k.certs) == 1:
		return cryptoutils.MarshalCertificateToPEM(k.certs[0])
	case len(k.certs) > 1:
		return cryptoutils.MarshalCertificatesToPEM(k.certs)
	}
	return nil, errors.New("x509 public key has not been initialized")
}

// Fingerprint is hex(SHA-256(CanonicalPEM)): how Rekor indexes a key for
// search. It is lower-case.
func (k *Key) Fingerprint() (string, error) {
	c, err := k.CanonicalPEM()
	if err != nil {
		return "", err
	}
	return FingerprintPEM(c), nil
}

// FingerprintPEM is hex(SHA-256(canonicalPEM)) for bytes already canonical.
func FingerprintPEM(canonicalPEM []byte) string {
	sum := sha256.Sum256(canonicalPEM)
	return hex.EncodeToString(sum[:])
}

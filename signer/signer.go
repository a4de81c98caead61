// Package signer holds the log's signing key: the one key that signs
// checkpoints and signed entry timestamps.
//
// The key is ECDSA P-256 by default (what the public Rekor uses, and the only
// kind every Sigstore client accepts for SETs); Ed25519 is supported. The log
// ID is SHA-256 of the public key's DER SubjectPublicKeyInfo, as in Rekor v1.
//
// Signer is the boundary the log signs through, so a KMS-backed key can stand in
// for a local file later.
package signer

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// Signer signs messages with the log's key. Implementations must be safe for
// concurrent use: the log signs a batch's entry timestamps in parallel.
type Signer interface {
	// Public is the log's public key.
	Public() crypto.PublicKey
	// LogID is SHA-256 of the public key's DER SubjectPublicKeyInfo.
	LogID() [32]byte
	// SignMessage signs msg: ECDSA (ASN.1 DER) over SHA-256(msg), or Ed25519
	// over msg itself.
	SignMessage(msg []byte) ([]byte, error)
}

// Algorithms accepted by Generate.
const (
	ECDSAP256 = "ecdsa-p256"
	Ed25519   = "ed25519"
)

// Local is a Signer backed by a private key in memory. It is safe for
// concurrent use: it holds no mutable state, and crypto/ecdsa and
// crypto/ed25519 sign concurrently with one key.
type Local struct {
	priv   crypto.Signer
	pubDER []byte
	logID  [32]byte
}

var _ Signer = (*Local)(nil)

// New wraps an ECDSA (P-256, P-384, P-521) or Ed25519 private key.
func New(priv crypto.Signer) (*Local, error) {
	switch k := priv.(type) {
	case *ecdsa.PrivateKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return nil, errors.New("signer: unsupported ECDSA curve")
		}
	case ed25519.PrivateKey:
	default:
		return nil, fmt.Errorf("signer: unsupported key type %T (want ECDSA or Ed25519)", priv)
	}
	der, err := x509.MarshalPKIXPublicKey(priv.Public())
	if err != nil {
		return nil, fmt.Errorf("signer: marshalling public key: %w", err)
	}
	return &Local{priv: priv, pubDER: der, logID: sha256.Sum256(der)}, nil
}

// Public returns the public key.
func (s *Local) Public() crypto.PublicKey { return s.priv.Public() }

// LogID returns SHA-256 of the DER public key.
func (s *Local) LogID() [32]byte { return s.logID }

// PublicKeyDER returns the DER SubjectPublicKeyInfo.
func (s *Local) PublicKeyDER() []byte { return s.pubDER }

// SignMessage signs msg; see Signer.
func (s *Local) SignMessage(msg []byte) ([]byte, error) {
	switch k := s.priv.(type) {
	case ed25519.PrivateKey:
		return ed25519.Sign(k, msg), nil
	case *ecdsa.PrivateKey:
		d := sha256.Sum256(msg)
		return ecdsa.SignASN1(rand.Reader, k, d[:])
	}
	return nil, errors.New("signer: unsupported key")
}

// Verify checks a signature made by SignMessage with the matching public key.
func Verify(pub crypto.PublicKey, msg, sig []byte) error {
	switch k := pub.(type) {
	case ed25519.PublicKey:
		if !ed25519.Verify(k, msg, sig) {
			return errors.New("invalid Ed25519 signature")
		}
		return nil
	case *ecdsa.PublicKey:
		d := sha256.Sum256(msg)
		if !ecdsa.VerifyASN1(k, d[:], sig) {
			return errors.New("invalid ECDSA signature")
		}
		return nil
	}
	return fmt.Errorf("unsupported public key type %T", pub)
}

// Generate creates a new private key of the named algorithm.
func Generate(alg string) (crypto.Signer, error) {
	switch alg {
	case ECDSAP256, "":
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case Ed25519:
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		return priv, err
	}
	return nil, fmt.Errorf("signer: unknown algorithm %q (want %s or %s)", alg, ECDSAP256, Ed25519)
}

// PublicKeyPEM encodes a public key as a PEM "PUBLIC KEY" block.
func PublicKeyPEM(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("marshalling public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), nil
}

// ParsePublicKeyPEM decodes a PEM "PUBLIC KEY" block.
func ParsePublicKeyPEM(b []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PUBLIC KEY" {
		return nil, errors.New("no PEM PUBLIC KEY block found")
	}
	return x509.ParsePKIXPublicKey(block.Bytes)
}

// PrivateKeyPEM encodes a private key as a PKCS #8 "PRIVATE KEY" block.
func PrivateKeyPEM(priv crypto.Signer) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("marshalling private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParsePrivateKeyPEM decodes a PKCS #8 "PRIVATE KEY" or SEC 1 "EC PRIVATE KEY"
// block holding an ECDSA or Ed25519 key.
func ParsePrivateKeyPEM(b []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, errors.New("no PEM block found")
	}
	var key any
	var err error
	switch block.Type {
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	case "EC PRIVATE KEY":
		key, err = x509.ParseECPrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("unexpected PEM block %q (want PRIVATE KEY)", block.Type)
	}
	if err != nil {
		return nil, fmt.Errorf("parsing private key: %w", err)
	}
	s, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("unsupported private key type %T", key)
	}
	return s, nil
}

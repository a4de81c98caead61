package signer

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
)

// ErrNoPrivateKey is SignMessage's error for a PublicOnly signer.
var ErrNoPrivateKey = errors.New("signer: no private key (the log is read-only here)")

// PublicOnly is a Signer that holds only a public key: it serves a log that
// signs nothing more (a frozen one), and its SignMessage always fails.
type PublicOnly struct {
	pub    crypto.PublicKey
	pubDER []byte
	logID  [32]byte
}

var _ Signer = (*PublicOnly)(nil)

// NewPublicOnly parses a DER SubjectPublicKeyInfo (ECDSA or Ed25519).
func NewPublicOnly(der []byte) (*PublicOnly, error) {
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, fmt.Errorf("signer: parsing public key: %w", err)
	}
	return &PublicOnly{pub: pub, pubDER: der, logID: sha256.Sum256(der)}, nil
}

// Public returns the public key.
func (s *PublicOnly) Public() crypto.PublicKey { return s.pub }

// LogID returns SHA-256 of the DER public key.
func (s *PublicOnly) LogID() [32]byte { return s.logID }

// PublicKeyDER returns the DER SubjectPublicKeyInfo.
func (s *PublicOnly) PublicKeyDER() []byte { return s.pubDER }

// SignMessage fails with ErrNoPrivateKey.
func (s *PublicOnly) SignMessage([]byte) ([]byte, error) { return nil, ErrNoPrivateKey }

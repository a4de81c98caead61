package signer

import (
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"fmt"

	"golang.org/x/mod/sumdb/note"
)

// KeyHash is the 4-byte key hint on Rekor v1 checkpoint signature lines: the
// first 4 bytes of the log ID (SHA-256 of the DER public key), which for ECDSA
// is also the C2SP signed-note key ID.
func KeyHash(logID [32]byte) uint32 { return binary.BigEndian.Uint32(logID[:4]) }

// NoteSigner adapts s to sign C2SP signed notes under the key name name.
func NoteSigner(name string, s Signer) note.Signer {
	return &noteSigner{name: name, hash: KeyHash(s.LogID()), s: s}
}

type noteSigner struct {
	name string
	hash uint32
	s    Signer
}

func (n *noteSigner) Name() string                    { return n.name }
func (n *noteSigner) KeyHash() uint32                 { return n.hash }
func (n *noteSigner) Sign(msg []byte) ([]byte, error) { return n.s.SignMessage(msg) }

// NoteVerifier verifies signed-note signatures made by NoteSigner with pub.
func NoteVerifier(name string, pub crypto.PublicKey) (note.Verifier, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("marshalling public key: %w", err)
	}
	return &noteVerifier{name: name, hash: KeyHash(sha256.Sum256(der)), pub: pub}, nil
}

type noteVerifier struct {
	name string
	hash uint32
	pub  crypto.PublicKey
}

func (n *noteVerifier) Name() string    { return n.name }
func (n *noteVerifier) KeyHash() uint32 { return n.hash }
func (n *noteVerifier) Verify(msg, sig []byte) bool {
	return Verify(n.pub, msg, sig) == nil
}

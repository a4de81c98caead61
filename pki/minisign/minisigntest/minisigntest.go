// Package minisigntest makes minisign keys and signatures in the file formats
// the minisign tool writes, for tests (go-minisign, like Rekor, only
// verifies).
package minisigntest

import (
	"crypto/ed25519"
	"encoding/base64"
	"fmt"

	"golang.org/x/crypto/blake2b"
)

// Key is a minisign key pair.
type Key struct {
	ID   [8]byte
	Priv ed25519.PrivateKey
}

// NewKey derives a key from a 32-byte seed and an id, deterministically.
func NewKey(seed [32]byte, id [8]byte) *Key {
	return &Key{ID: id, Priv: ed25519.NewKeyFromSeed(seed[:])}
}

// PublicFile is the minisign.pub text: an untrusted comment and the base64
// of "Ed" ‖ key id ‖ public key.
func (k *Key) PublicFile() []byte {
	return []byte(fmt.Sprintf("untrusted comment: minisign public key %X\n%s\n", k.ID, k.PublicLine()))
}

// PublicLine is the base64 line of the public key file.
func (k *Key) PublicLine() string {
	bin := append([]byte("Ed"), k.ID[:]...)
	bin = append(bin, k.Priv.Public().(ed25519.PublicKey)...)
	return base64.StdEncoding.EncodeToString(bin)
}

// Sign returns a .minisig file over msg: prehashed ("ED", BLAKE2b-512, what
// minisign makes by default) or legacy ("Ed").
func (k *Key) Sign(msg []byte, prehashed bool, trusted string) []byte {
	alg := "Ed"
	signed := msg
	if prehashed {
		alg = "ED"
		sum := blake2b.Sum512(msg)
		signed = sum[:]
	}
	sig := ed25519.Sign(k.Priv, signed)
	bin := append([]byte(alg), k.ID[:]...)
	bin = append(bin, sig...)
	global := ed25519.Sign(k.Priv, append(append([]byte(nil), sig...), trusted...))
	return []byte(fmt.Sprintf("untrusted comment: signature from minisign secret key\n%s\ntrusted comment: %s\n%s\n",
		base64.StdEncoding.EncodeToString(bin), trusted, base64.StdEncoding.EncodeToString(global)))
}

// Signify returns a two-line signify signature over msg (pure Ed25519).
func (k *Key) Signify(msg []byte) []byte {
	bin := append([]byte("Ed"), k.ID[:]...)
	bin = append(bin, ed25519.Sign(k.Priv, msg)...)
	return []byte("untrusted comment: verify with signify.pub\n" + base64.StdEncoding.EncodeToString(bin) + "\n")
}

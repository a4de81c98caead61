package checkpoint

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"crypto/x509"
	"encoding/binary"
	"fmt"
)

// KeyIDForm is how a log derives the key ID of its checkpoint key. The
// first four bytes of the key ID (big-endian) are the key hint on the
// note's signature line; the whole 32 bytes are the log ID (Rekor v1) or
// the checkpoint key ID of a trusted root (Rekor v2).
type KeyIDForm uint8

const (
	// KeyIDRekorV1 is Rekor v1's form: SHA-256 of the public key's DER
	// SubjectPublicKeyInfo, whatever the key type and key name. It is also
	// Rekor v1's log ID.
	KeyIDRekorV1 KeyIDForm = iota + 1
	// KeyIDC2SP is the key ID c2sp.org/signed-note specifies:
	// SHA-256(key name || 0x0A || 0x01 || 32-byte public key) for Ed25519
	// (signature type 0x01), and for ECDSA (signature type 0x02, "as
	// implemented by github.com/transparency-dev/witness") SHA-256 of the
	// DER SubjectPublicKeyInfo, with neither name nor type byte. Rekor v2
	// (sigstore/rekor-tiles pkg/note: ed25519KeyHash, ecdsaKeyHash) derives
	// its key IDs the same way, so for ECDSA keys both forms agree.
	KeyIDC2SP
)

// signed-note signature type of Ed25519 keys.
const sigTypeEd25519 = 0x01

// String names the form as configuration and logs spell it.
func (f KeyIDForm) String() string {
	switch f {
	case KeyIDRekorV1:
		return "rekor-v1"
	case KeyIDC2SP:
		return "c2sp"
	}
	return fmt.Sprintf("KeyIDForm(%d)", uint8(f))
}

// KeyID returns the 32-byte key ID of pub as the checkpoint key named name.
// Only ECDSA and Ed25519 keys have one.
func (f KeyIDForm) KeyID(name string, pub crypto.PublicKey) ([32]byte, error) {
	switch f {
	case KeyIDRekorV1:
		return spkiID(pub)
	case KeyIDC2SP:
		switch k := pub.(type) {
		case ed25519.PublicKey:
			if len(k) != ed25519.PublicKeySize {
				return [32]byte{}, fmt.Errorf("checkpoint: Ed25519 public key of %d bytes", len(k))
			}
			h := sha256.New()
			h.Write([]byte(name))
			h.Write([]byte{'\n', sigTypeEd25519})
			h.Write(k)
			return [32]byte(h.Sum(nil)), nil
		case *ecdsa.PublicKey:
			return spkiID(pub)
		}
		return [32]byte{}, fmt.Errorf("checkpoint: no C2SP key ID for a %T key", pub)
	}
	return [32]byte{}, fmt.Errorf("checkpoint: unknown key ID form %d", uint8(f))
}

// spkiID is SHA-256 of pub's DER SubjectPublicKeyInfo.
func spkiID(pub crypto.PublicKey) ([32]byte, error) {
	switch pub.(type) {
	case ed25519.PublicKey, *ecdsa.PublicKey:
	default:
		return [32]byte{}, fmt.Errorf("checkpoint: unsupported key type %T (want ECDSA or Ed25519)", pub)
	}
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return [32]byte{}, fmt.Errorf("checkpoint: marshalling public key: %w", err)
	}
	return sha256.Sum256(der), nil
}

// Hint is the key hint of a key ID: its first four bytes, big-endian, as
// the signature line carries them.
func Hint(id [32]byte) uint32 { return binary.BigEndian.Uint32(id[:4]) }

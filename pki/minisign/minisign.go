// Package minisign parses and verifies minisign (and signify) Ed25519 public
// keys and signatures exactly as Rekor v1's pkg/pki/minisign does, for the
// "rekord" entry kind and the publicKey search of /api/v1/index/retrieve.
//
// Parsing is github.com/jedisct1/go-minisign's, as in Rekor, so that the same
// inputs are accepted:
//
//   - a key is the two-line minisign public key file, or its base64 line alone
//     (algorithm, key id, key: 42 bytes), or 32 raw key bytes (a legacy form
//     Rekor once stored);
//   - a signature is the four-line .minisig file, or a two-line signify
//     signature (comment, base64 of algorithm, key id and signature).
//
// What the package promises, as Rekor:
//
//   - PublicKey.Canonical is base64(algorithm ‖ key id ‖ key), one line,
//     no newline; its hex SHA-256 is the key's search-index key.
//   - Signature.Canonical is "untrusted comment:\n" followed by
//     base64(algorithm ‖ key id ‖ signature): comments and the global
//     signature are dropped.
//   - Verify checks the Ed25519 signature over the message, or over its
//     BLAKE2b-512 digest when the signature algorithm is "ED" (minisign -H).
//     Like Rekor it checks neither the key id nor the trusted comment.
//   - Error texts are Rekor's. No function panics on any input.
package minisign

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	minisign "github.com/jedisct1/go-minisign"
	"github.com/sigstore/sigstore/pkg/signature"
	"golang.org/x/crypto/blake2b"
)

// PublicKey is a parsed minisign or signify public key.
type PublicKey struct {
	key minisign.PublicKey
}

// rawKeySize is the length of a bare Ed25519 key, the legacy stored form.
const rawKeySize = 32

// ParsePublicKey parses a minisign key file, its base64 line or a raw
// 32-byte key (Rekor's pkg/pki/minisign.NewPublicKey).
func ParsePublicKey(b []byte) (*PublicKey, error) {
	in := string(b)
	if k, err := minisign.DecodePublicKey(in); err == nil {
		return &PublicKey{key: k}, nil
	}
	k, err := minisign.NewPublicKey(in)
	if err == nil {
		return &PublicKey{key: k}, nil
	}
	if len(b) == rawKeySize {
		pk := PublicKey{key: minisign.PublicKey{SignatureAlgorithm: [2]byte{'E', 'd'}}}
		copy(pk.key.PublicKey[:], b)
		return &pk, nil
	}
	return nil, fmt.Errorf("unable to read minisign public key: %w", err)
}

// Canonical is base64(algorithm ‖ key id ‖ key).
func (k *PublicKey) Canonical() ([]byte, error) {
	if k == nil {
		return nil, errors.New("minisign public key has not been initialized")
	}
	bin := make([]byte, 0, 42)
	bin = append(bin, k.key.SignatureAlgorithm[:]...)
	bin = append(bin, k.key.KeyId[:]...)
	bin = append(bin, k.key.PublicKey[:]...)
	return []byte(base64.StdEncoding.EncodeToString(bin)), nil
}

// Signature is a parsed minisign or signify signature.
type Signature struct {
	sig minisign.Signature
}

// ParseSignature parses a .minisig file or a signify signature (Rekor's
// pkg/pki/minisign.NewSignature).
func ParseSignature(b []byte) (*Signature, error) {
	in := string(b)
	sig, err := minisign.DecodeSignature(in)
	if err == nil {
		return &Signature{sig: sig}, nil
	}
	// signify: an untrusted comment line and the base64 signature line.
	lines := strings.Split(strings.TrimRight(in, "\n"), "\n")
	if len(lines) != 2 {
		return nil, fmt.Errorf("invalid signature provided: %v lines detected", len(lines))
	}
	bin, err := base64.StdEncoding.DecodeString(lines[1])
	if err != nil {
		return nil, errors.New("invalid signature provided: base64 decoding failed")
	}
	var s Signature
	if want := len(s.sig.SignatureAlgorithm) + len(s.sig.KeyId) + len(s.sig.Signature); len(bin) != want {
		return nil, fmt.Errorf("invalid signature provided: incorrect size %v detected", len(bin))
	}
	copy(s.sig.SignatureAlgorithm[:], bin[0:2])
	copy(s.sig.KeyId[:], bin[2:10])
	copy(s.sig.Signature[:], bin[10:])
	return &s, nil
}

// Canonical is "untrusted comment:\n" + base64(algorithm ‖ key id ‖
// signature), without a trailing newline.
func (s *Signature) Canonical() ([]byte, error) {
	if s == nil {
		return nil, errors.New("minisign signature has not been initialized")
	}
	bin := make([]byte, 0, 74)
	bin = append(bin, s.sig.SignatureAlgorithm[:]...)
	bin = append(bin, s.sig.KeyId[:]...)
	bin = append(bin, s.sig.Signature[:]...)
	return []byte("untrusted comment:\n" + base64.StdEncoding.EncodeToString(bin)), nil
}

// prehashedAlgorithm is the second byte of "ED", minisign's BLAKE2b-prehashed
// signature algorithm.
const prehashedAlgorithm = 'D'

// Verify checks s over message with k (Rekor's Signature.Verify).
func (s *Signature) Verify(message []byte, k *PublicKey) error {
	if s == nil {
		return errors.New("minisign signature has not been initialized")
	}
	if k == nil {
		return errors.New("minisign public key has not been initialized")
	}
	v, err := signature.LoadED25519Verifier(k.key.PublicKey[:])
	if err != nil {
		return err
	}
	if s.sig.SignatureAlgorithm[1] == prehashedAlgorithm {
		sum := blake2b.Sum512(message)
		message = sum[:]
	}
	return v.VerifySignature(bytes.NewReader(s.sig.Signature[:]), bytes.NewReader(message))
}

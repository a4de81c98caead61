// Package ssh parses and verifies OpenSSH public keys and SSHSIG detached
// signatures ("ssh-keygen -Y sign -n file") exactly as Rekor v1's pkg/pki/ssh
// does, for the "rekord" entry kind and the publicKey search of
// /api/v1/index/retrieve. The wire format is OpenSSH's PROTOCOL.sshsig; the
// key and signature encodings are golang.org/x/crypto/ssh's.
//
// Keys (ParsePublicKey) are one authorized_keys line ("ssh-ed25519 AAAA…
// comment"), at most 64 KiB, with Rekor's limits; certificates are accepted as
// x/crypto/ssh parses them. Signatures (ParseSignature) are the PEM "SSH
// SIGNATURE" armor of a version 1 SSHSIG blob in the "file" namespace whose
// hash algorithm is sha256 or sha512.
//
// What the package promises, as Rekor:
//
//   - PublicKey.Canonical is ssh.MarshalAuthorizedKey: "<type> <base64>\n",
//     the comment dropped. Its hex SHA-256 is the key's search-index key.
//   - Emails is the key's comment when it is an email address.
//   - Signature.Canonical re-armors the signature (64-column PEM) with the
//     signer's key from the blob, the "file" namespace and hash algorithm
//     sha512, the reserved field emptied.
//   - Verify checks the canonical signature, so like Rekor it always hashes
//     the message with SHA-512: a signature made with sha256 (ssh-keygen
//     -Y sign -O hashalg=sha256) parses but does not verify. The key that
//     verifies is the given public key, not the one inside the signature.
//   - Error texts are Rekor's (and x/crypto/ssh's). No function panics on any
//     input.
package ssh

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/pem"
	"errors"
	"fmt"
	"hash"

	"github.com/asaskevich/govalidator"
	"golang.org/x/crypto/ssh"
)

const (
	// MaxKeySize is the largest key text accepted, as in Rekor.
	MaxKeySize = 64 << 10

	pemType              = "SSH SIGNATURE"
	magicHeader          = "SSHSIG"
	namespace            = "file"
	defaultHashAlgorithm = "sha512"
)

var hashAlgorithms = map[string]func() hash.Hash{
	"sha256": sha256.New,
	"sha512": sha512.New,
}

// wrappedSig is the SSHSIG blob (PROTOCOL.sshsig §3).
type wrappedSig struct {
	MagicHeader   [6]byte
	Version       uint32
	PublicKey     string
	Namespace     string
	Reserved      string
	HashAlgorithm string
	Signature     string
}

// messageWrapper is what is signed (PROTOCOL.sshsig §3), after the magic.
type messageWrapper struct {
	Namespace     string
	Reserved      string
	HashAlgorithm string
	Hash          string
}

// PublicKey is a parsed OpenSSH public key and its comment.
type PublicKey struct {
	key     ssh.PublicKey
	comment string
}

// ParsePublicKey parses one authorized_keys line (Rekor's
// pkg/pki/ssh.NewPublicKey).
func ParsePublicKey(b []byte) (*PublicKey, error) {
	if len(b) > MaxKeySize {
		// Rekor reads the key through http.MaxBytesReader.
		return nil, errors.New("http: request body too large")
	}
	key, comment, _, _, err := ssh.ParseAuthorizedKey(b)
	if err != nil {
		return nil, err
	}
	return &PublicKey{key: key, comment: comment}, nil
}

// Canonical is the key in authorized_keys form without its comment.
func (k *PublicKey) Canonical() ([]byte, error) {
	if k == nil || k.key == nil {
		return nil, errors.New("ssh public key has not been initialized")
	}
	return ssh.MarshalAuthorizedKey(k.key), nil
}

// Emails is the key's comment if it is an email address (Rekor's test).
func (k *PublicKey) Emails() []string {
	if k != nil && govalidator.IsEmail(k.comment) {
		return []string{k.comment}
	}
	return nil
}

// Signature is a parsed SSHSIG signature.
type Signature struct {
	sig     *ssh.Signature
	pk      ssh.PublicKey
	hashAlg string
}

// ParseSignature decodes an armored SSHSIG signature (Rekor's
// pkg/pki/ssh.Decode).
func ParseSignature(b []byte) (*Signature, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("unable to decode pem file")
	}
	if blk.Type != pemType {
		return nil, fmt.Errorf("wrong pem block type: %s. Expected SSH-SIGNATURE", blk.Type)
	}
	var w wrappedSig
	if err := ssh.Unmarshal(blk.Bytes, &w); err != nil {
		return nil, err
	}
	if w.Version != 1 {
		return nil, fmt.Errorf("unsupported signature version: %d", w.Version)
	}
	if string(w.MagicHeader[:]) != magicHeader {
		return nil, fmt.Errorf("invalid magic header: %s", w.MagicHeader[:])
	}
	if w.Namespace != namespace {
		return nil, fmt.Errorf("invalid signature namespace: %s", w.Namespace)
	}
	if _, ok := hashAlgorithms[w.HashAlgorithm]; !ok {
		return nil, fmt.Errorf("unsupported hash algorithm: %s", w.HashAlgorithm)
	}
	var sig ssh.Signature
	if err := ssh.Unmarshal([]byte(w.Signature), &sig); err != nil {
		return nil, err
	}
	pk, err := ssh.ParsePublicKey([]byte(w.PublicKey))
	if err != nil {
		return nil, err
	}
	return &Signature{sig: &sig, pk: pk, hashAlg: w.HashAlgorithm}, nil
}

// HashAlgorithm is the hash algorithm the signature names (sha256 or sha512).
func (s *Signature) HashAlgorithm() string { return s.hashAlg }

// Canonical re-armors the signature as Rekor does (see the package comment).
func (s *Signature) Canonical() ([]byte, error) {
	if s == nil || s.sig == nil || s.pk == nil {
		return nil, errors.New("ssh signature has not been initialized")
	}
	return armor(s.sig, s.pk), nil
}

// armor encodes an SSHSIG blob in the "file" namespace with sha512.
func armor(sig *ssh.Signature, pk ssh.PublicKey) []byte {
	w := wrappedSig{
		Version:       1,
		PublicKey:     string(pk.Marshal()),
		Namespace:     namespace,
		HashAlgorithm: defaultHashAlgorithm,
		Signature:     string(ssh.Marshal(sig)),
	}
	copy(w.MagicHeader[:], magicHeader)
	return pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: ssh.Marshal(w)})
}

// signedData is the byte string an SSHSIG signature covers.
func signedData(message []byte, hashAlg string) []byte {
	h := hashAlgorithms[hashAlg]()
	h.Write(message)
	w := messageWrapper{Namespace: namespace, HashAlgorithm: hashAlg, Hash: string(h.Sum(nil))}
	return append([]byte(magicHeader), ssh.Marshal(w)...)
}

// Verify checks s over message with k, through the canonical forms of both
// as Rekor does (so with SHA-512; see the package comment).
func (s *Signature) Verify(message []byte, k *PublicKey) error {
	if s == nil || s.sig == nil {
		return errors.New("ssh signature has not been initialized")
	}
	ck, err := k.Canonical()
	if err != nil {
		return err
	}
	cs, err := s.Canonical()
	if err != nil {
		return err
	}
	decoded, err := ParseSignature(cs)
	if err != nil {
		return err
	}
	want, _, _, _, err := ssh.ParseAuthorizedKey(ck)
	if err != nil {
		return err
	}
	return want.Verify(signedData(message, decoded.hashAlg), decoded.sig)
}

// Sign makes an SSHSIG signature over message in the "file" namespace with
// sha512, as "ssh-keygen -Y sign -n file" does, and armors it. RSA keys sign
// with rsa-sha2-512. It serves tests and tools; the log only verifies.
func Sign(signer ssh.Signer, message []byte) ([]byte, error) {
	data := signedData(message, defaultHashAlgorithm)
	var sig *ssh.Signature
	var err error
	if as, ok := signer.(ssh.AlgorithmSigner); ok && signer.PublicKey().Type() == ssh.KeyAlgoRSA {
		sig, err = as.SignWithAlgorithm(rand.Reader, data, ssh.KeyAlgoRSASHA512)
	} else {
		sig, err = signer.Sign(rand.Reader, data)
	}
	if err != nil {
		return nil, fmt.Errorf("signing: %w", err)
	}
	return armor(sig, signer.PublicKey()), nil
}

package checkpoint

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// SigTypeCosignatureV1 is the signed-note signature type of Ed25519
// cosignature/v1 keys (c2sp.org/tlog-cosignature).
const SigTypeCosignatureV1 = 0x04

// cosigSize is the size of a cosignature/v1 signature after the key hint:
// an 8-byte big-endian timestamp and a 64-byte Ed25519 signature.
const cosigSize = 8 + ed25519.SignatureSize

// CosignatureKeyHash is the key hint of the Ed25519 cosignature/v1 key pub
// named name: SHA-256(name || 0x0A || 0x04 || pub)[:4], big-endian.
func CosignatureKeyHash(name string, pub ed25519.PublicKey) uint32 {
	h := sha256.New()
	h.Write([]byte(name))
	h.Write([]byte{'\n', SigTypeCosignatureV1})
	h.Write(pub)
	return binary.BigEndian.Uint32(h.Sum(nil)[:4])
}

// CosignatureVKey is the vkey (c2sp.org/signed-note) of the Ed25519
// cosignature/v1 key pub named name: "<name>+<hex key hint>+<base64(0x04 ||
// pub)>".
func CosignatureVKey(name string, pub ed25519.PublicKey) string {
	return fmt.Sprintf("%s+%08x+%s", name, CosignatureKeyHash(name, pub),
		base64.StdEncoding.EncodeToString(append([]byte{SigTypeCosignatureV1}, pub...)))
}

// cosignedMessage is the message a cosignature/v1 signs over the note text
// text at the POSIX time t: "cosignature/v1\ntime <t>\n" || text.
func cosignedMessage(t uint64, text []byte) []byte {
	m := make([]byte, 0, len("cosignature/v1\ntime \n")+20+len(text))
	m = append(m, "cosignature/v1\ntime "...)
	m = strconv.AppendUint(m, t, 10)
	m = append(m, '\n')
	return append(m, text...)
}

// CosignatureSigner is a signed-note signer of Ed25519 cosignature/v1
// signatures (c2sp.org/tlog-cosignature): a witness's cosigning key.
type CosignatureSigner struct {
	name string
	hash uint32
	key  ed25519.PrivateKey
	now  func() time.Time
}

// NewCosignatureSigner returns the cosignature/v1 signer of key under the
// key name name, stamping each signature with now() (time.Now if nil).
func NewCosignatureSigner(name string, key ed25519.PrivateKey, now func() time.Time) (*CosignatureSigner, error) {
	if !validName(name) {
		return nil, fmt.Errorf("checkpoint: %q is not a valid key name", name)
	}
	if len(key) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("checkpoint: Ed25519 private key of %d bytes", len(key))
	}
	if now == nil {
		now = time.Now
	}
	pub := key.Public().(ed25519.PublicKey)
	return &CosignatureSigner{name: name, hash: CosignatureKeyHash(name, pub), key: key, now: now}, nil
}

// Name is the key name.
func (s *CosignatureSigner) Name() string { return s.name }

// KeyHash is the key hint, [CosignatureKeyHash].
func (s *CosignatureSigner) KeyHash() uint32 { return s.hash }

// Sign returns timestamp (8 bytes, big-endian) || Ed25519 signature of the
// cosigned message of msg, a checkpoint's note text, at s's current time.
func (s *CosignatureSigner) Sign(msg []byte) ([]byte, error) {
	t := s.now().Unix()
	if t < 0 {
		return nil, fmt.Errorf("checkpoint: cosignature time %d is before 1970", t)
	}
	return s.SignAt(uint64(t), msg)
}

// SignAt is [CosignatureSigner.Sign] at the POSIX time t.
func (s *CosignatureSigner) SignAt(t uint64, msg []byte) ([]byte, error) {
	if t > math.MaxInt64 {
		return nil, fmt.Errorf("checkpoint: cosignature time %d exceeds 2^63-1", t)
	}
	if bytes.Count(msg, []byte{'\n'}) < 3 {
		return nil, errors.New("checkpoint: cosigned text has fewer than three lines")
	}
	sig := make([]byte, 8, cosigSize)
	binary.BigEndian.PutUint64(sig, t)
	return append(sig, ed25519.Sign(s.key, cosignedMessage(t, msg))...), nil
}

// Verifier returns the verifier of s's signatures.
func (s *CosignatureSigner) Verifier() *CosignatureVerifier {
	v, _ := NewCosignatureVerifier(s.name, s.key.Public().(ed25519.PublicKey))
	return v
}

// CosignatureVerifier is a signed-note verifier of Ed25519 cosignature/v1
// signatures.
type CosignatureVerifier struct {
	name string
	hash uint32
	pub  ed25519.PublicKey
}

// NewCosignatureVerifier returns the verifier of the cosignature/v1 key pub
// named name.
func NewCosignatureVerifier(name string, pub ed25519.PublicKey) (*CosignatureVerifier, error) {
	if !validName(name) {
		return nil, fmt.Errorf("checkpoint: %q is not a valid key name", name)
	}
	if len(pub) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("checkpoint: Ed25519 public key of %d bytes", len(pub))
	}
	return &CosignatureVerifier{name: name, hash: CosignatureKeyHash(name, pub), pub: bytes.Clone(pub)}, nil
}

// ParseCosignatureVKey parses a vkey of signature type 0x04 whose key hint
// matches its name and key.
func ParseCosignatureVKey(vkey string) (*CosignatureVerifier, error) {
	name, rest, ok1 := strings.Cut(vkey, "+")
	hint, key64, ok2 := strings.Cut(rest, "+")
	if !ok1 || !ok2 || len(hint) != 8 {
		return nil, fmt.Errorf("checkpoint: malformed vkey %q", vkey)
	}
	h, err := strconv.ParseUint(hint, 16, 32)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: vkey %q: key hint: %w", vkey, err)
	}
	key, err := base64.StdEncoding.Strict().DecodeString(key64)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: vkey %q: key: %w", vkey, err)
	}
	if len(key) != 1+ed25519.PublicKeySize || key[0] != SigTypeCosignatureV1 {
		return nil, fmt.Errorf("checkpoint: vkey %q is not an Ed25519 cosignature/v1 key (type 0x04, 32 bytes)", vkey)
	}
	v, err := NewCosignatureVerifier(name, key[1:])
	if err != nil {
		return nil, err
	}
	if v.hash != uint32(h) {
		return nil, fmt.Errorf("checkpoint: vkey %q: key hint %s, want %08x", vkey, hint, v.hash)
	}
	return v, nil
}

// Name is the key name.
func (v *CosignatureVerifier) Name() string { return v.name }

// KeyHash is the key hint, [CosignatureKeyHash].
func (v *CosignatureVerifier) KeyHash() uint32 { return v.hash }

// Public is the Ed25519 public key.
func (v *CosignatureVerifier) Public() ed25519.PublicKey { return v.pub }

// Verify reports whether sig (timestamp || Ed25519 signature, without the
// key hint) is v's cosignature of msg.
func (v *CosignatureVerifier) Verify(msg, sig []byte) bool {
	_, ok := v.VerifyTime(msg, sig)
	return ok
}

// VerifyTime is [CosignatureVerifier.Verify] that also returns the
// cosignature's timestamp.
func (v *CosignatureVerifier) VerifyTime(msg, sig []byte) (time.Time, bool) {
	t, err := CosignatureTime(sig)
	if err != nil || bytes.Count(msg, []byte{'\n'}) < 3 {
		return time.Time{}, false
	}
	u := binary.BigEndian.Uint64(sig)
	if !ed25519.Verify(v.pub, cosignedMessage(u, msg), sig[8:]) {
		return time.Time{}, false
	}
	return t, true
}

// CosignatureTime returns the timestamp of sig, a cosignature/v1 signature
// without its key hint, and checks its length and that the timestamp does
// not exceed 2^63-1. It does not verify sig.
func CosignatureTime(sig []byte) (time.Time, error) {
	if len(sig) != cosigSize {
		return time.Time{}, fmt.Errorf("checkpoint: cosignature of %d bytes, want %d", len(sig), cosigSize)
	}
	u := binary.BigEndian.Uint64(sig)
	if u > math.MaxInt64 {
		return time.Time{}, fmt.Errorf("checkpoint: cosignature time %d exceeds 2^63-1", u)
	}
	return time.Unix(int64(u), 0).UTC(), nil
}

var (
	_ note.Signer   = (*CosignatureSigner)(nil)
	_ note.Verifier = (*CosignatureVerifier)(nil)
)

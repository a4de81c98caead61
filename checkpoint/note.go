package checkpoint

import (
	"bytes"
	"crypto"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/mod/sumdb/note"

	"github.com/tabularium/tabula/signer"
)

// NewSigner returns a signed-note signer that signs with s under the key
// name name, with the key hint of form. ECDSA signatures are ASN.1 DER over
// SHA-256 of the note text, Ed25519 signatures over the text itself.
func NewSigner(name string, form KeyIDForm, s signer.Signer) (note.Signer, error) {
	if !validName(name) {
		return nil, fmt.Errorf("checkpoint: %q is not a valid key name", name)
	}
	var id [32]byte
	if form == KeyIDRekorV1 {
		id = s.LogID() // SHA-256 of the DER public key, computed once by the signer
	} else {
		var err error
		if id, err = form.KeyID(name, s.Public()); err != nil {
			return nil, err
		}
	}
	return &noteSigner{name: name, hash: Hint(id), s: s}, nil
}

type noteSigner struct {
	name string
	hash uint32
	s    signer.Signer
}

func (n *noteSigner) Name() string                    { return n.name }
func (n *noteSigner) KeyHash() uint32                 { return n.hash }
func (n *noteSigner) Sign(msg []byte) ([]byte, error) { return n.s.SignMessage(msg) }

// NewVerifier returns a signed-note verifier of pub's signatures under the
// key name name, with the key hint of form.
func NewVerifier(name string, form KeyIDForm, pub crypto.PublicKey) (note.Verifier, error) {
	id, err := form.KeyID(name, pub)
	if err != nil {
		return nil, err
	}
	return NewVerifierWithID(name, id[:], pub)
}

// NewVerifierWithID returns a signed-note verifier of pub's signatures under
// the key name name whose key hint is the first four bytes of id: for a key
// pinned together with its key ID (a log ID, a trusted root's checkpoint
// key ID).
func NewVerifierWithID(name string, id []byte, pub crypto.PublicKey) (note.Verifier, error) {
	if len(id) < 4 {
		return nil, errors.New("checkpoint: key ID shorter than 4 bytes")
	}
	if !validName(name) {
		return nil, fmt.Errorf("checkpoint: %q is not a valid key name", name)
	}
	return &noteVerifier{name: name, hash: binary.BigEndian.Uint32(id[:4]), pub: pub}, nil
}

type noteVerifier struct {
	name string
	hash uint32
	pub  crypto.PublicKey
}

func (n *noteVerifier) Name() string                { return n.name }
func (n *noteVerifier) KeyHash() uint32             { return n.hash }
func (n *noteVerifier) Verify(msg, sig []byte) bool { return signer.Verify(n.pub, msg, sig) == nil }

// AnyName returns the verifiers of pub's signatures under whatever key name
// a signature line carries, if the line's key hint is form's key ID of pub
// under that name. Rekor v1 names its signature line after its hostname,
// which a verifier that pins only the log's key does not know.
func AnyName(form KeyIDForm, pub crypto.PublicKey) note.Verifiers {
	return anyName{form: form, pub: pub}
}

type anyName struct {
	form KeyIDForm
	pub  crypto.PublicKey
}

func (a anyName) Verifier(name string, hash uint32) (note.Verifier, error) {
	v, err := NewVerifier(name, a.form, a.pub)
	if err != nil || v.KeyHash() != hash {
		return nil, &note.UnknownVerifierError{Name: name, KeyHash: hash}
	}
	return v, nil
}

// validName is signed-note's rule for key names: not empty, valid UTF-8, no
// Unicode spaces and no plus signs.
func validName(name string) bool {
	return name != "" && utf8.ValidString(name) && strings.IndexFunc(name, unicode.IsSpace) < 0 && !strings.Contains(name, "+")
}

// SignaturesOf returns the signed note b with only the signature lines of
// the key named name with key hint hash, dropping every other (witness
// cosignatures, other keys'). Rekor v1's clients (rekor's util.SignedNote,
// and sigstore-go through it) refuse a checkpoint with any signature line
// not of the log's key, so a Rekor v1 answer carries the log's alone. It
// fails when b is not a signed note or has no such line.
func SignaturesOf(b []byte, name string, hash uint32) ([]byte, error) {
	i := bytes.Index(b, []byte("\n\n"))
	if i < 0 {
		return nil, errors.New("checkpoint: not a signed note")
	}
	out := append([]byte(nil), b[:i+2]...)
	kept := false
	for _, line := range bytes.SplitAfter(b[i+2:], []byte("\n")) {
		rest, ok := bytes.CutPrefix(line, []byte("— "+name+" "))
		if !ok {
			continue
		}
		raw, err := base64.StdEncoding.DecodeString(string(bytes.TrimSuffix(rest, []byte("\n"))))
		if err != nil || len(raw) < 4 || binary.BigEndian.Uint32(raw) != hash {
			continue
		}
		out = append(out, line...)
		kept = true
	}
	if !kept {
		return nil, fmt.Errorf("checkpoint: no signature of %s+%08x", name, hash)
	}
	return out, nil
}

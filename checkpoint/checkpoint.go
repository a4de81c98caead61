// Package checkpoint owns checkpoints (c2sp.org/tlog-checkpoint) and the
// signed notes that carry them (c2sp.org/signed-note): the checkpoint body,
// signing it with a log key, parsing and verifying a signed checkpoint, and
// the key IDs (key hints) of the forms logs use, [KeyIDRekorV1] and
// [KeyIDC2SP]; and witnesses' Ed25519 cosignature/v1 signatures
// (c2sp.org/tlog-cosignature), [CosignatureSigner] and
// [CosignatureVerifier].
//
// The note format is golang.org/x/mod/sumdb/note's and the body's
// github.com/transparency-dev/formats/log's; this package adds Tabula's keys
// (signer.Signer, ECDSA and Ed25519) and the key ID forms.
package checkpoint

import (
	"crypto"
	"fmt"

	fmtlog "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/tabularium/tabula/merkle"
)

// Checkpoint is a checkpoint's body: the log's origin, the tree size and the
// root hash.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   merkle.Hash
}

// Text is the note text of c: "<origin>\n<size>\n<base64 root>\n".
func (c Checkpoint) Text() []byte {
	return fmtlog.Checkpoint{Origin: c.Origin, Size: c.Size, Hash: c.Root[:]}.Marshal()
}

// Sign signs c as a signed note with exactly one signature line, by s.
func Sign(c Checkpoint, s note.Signer) ([]byte, error) {
	b, err := note.Sign(&note.Note{Text: string(c.Text())}, s)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: signing: %w", err)
	}
	return b, nil
}

// Parse verifies b, a signed checkpoint, with v and returns its body, whose
// origin must be origin. Signature lines by other keys are ignored, as
// signed-note requires; v's must be there and verify.
func Parse(b []byte, origin string, v note.Verifier) (Checkpoint, error) {
	cp, err := Open(b, note.VerifierList(v))
	if err != nil {
		return Checkpoint{}, err
	}
	if cp.Origin != origin {
		return Checkpoint{}, fmt.Errorf("checkpoint: origin %q, want %q", cp.Origin, origin)
	}
	return cp, nil
}

// Verify is [Parse] with the verifier of pub under the key name name and
// the key hint of form.
func Verify(b []byte, origin, name string, form KeyIDForm, pub crypto.PublicKey) (Checkpoint, error) {
	v, err := NewVerifier(name, form, pub)
	if err != nil {
		return Checkpoint{}, err
	}
	return Parse(b, origin, v)
}

// Open verifies b, a signed checkpoint, with known and returns its body,
// whatever its origin. At least one signature by a key of known must
// verify; signatures by unknown keys are ignored. Errors wrap
// *note.UnverifiedNoteError (no known signature) and
// *note.InvalidSignatureError (a known key's signature is wrong).
func Open(b []byte, known note.Verifiers) (Checkpoint, error) {
	n, err := note.Open(b, known)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: verifying the signed note: %w", err)
	}
	var cp fmtlog.Checkpoint
	if _, err := cp.Unmarshal([]byte(n.Text)); err != nil {
		return Checkpoint{}, fmt.Errorf("checkpoint: %w", err)
	}
	if len(cp.Hash) != merkle.HashSize {
		return Checkpoint{}, fmt.Errorf("checkpoint: root hash is %d bytes, want %d", len(cp.Hash), merkle.HashSize)
	}
	return Checkpoint{Origin: cp.Origin, Size: cp.Size, Root: merkle.Hash(cp.Hash)}, nil
}

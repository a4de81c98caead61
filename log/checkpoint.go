package log

import (
	"crypto"
	"errors"
	"fmt"

	fmtlog "github.com/transparency-dev/formats/log"
	"golang.org/x/mod/sumdb/note"

	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/signer"
)

// Checkpoint is a verified checkpoint's content.
type Checkpoint struct {
	Origin string
	Size   uint64
	Root   merkle.Hash
}

// signCheckpoint signs "<origin>\n<size>\n<base64 root>\n" as a signed note
// with exactly one signature line named after the hostname, keyed by the
// first four bytes of the log ID: Rekor v1's form, which sigstore-go,
// sigstore-python and sigstore-js all verify.
func (l *Log) signCheckpoint(origin string, size uint64, root merkle.Hash) ([]byte, error) {
	text := fmtlog.Checkpoint{Origin: origin, Size: size, Hash: root[:]}.Marshal()
	signed, err := note.Sign(&note.Note{Text: string(text)}, l.profile.NoteSigner(l.profile.KeyName, l.signer))
	if err != nil {
		return nil, fmt.Errorf("log: signing checkpoint: %w", err)
	}
	return signed, nil
}

// ParseCheckpoint verifies a signed checkpoint for origin, signed under key
// name keyName by pub, and returns its content. Signatures by other keys are
// ignored, as C2SP signed-note requires; at least the log's must verify.
func ParseCheckpoint(b []byte, origin, keyName string, pub crypto.PublicKey) (Checkpoint, error) {
	v, err := signer.NoteVerifier(keyName, pub)
	if err != nil {
		return Checkpoint{}, err
	}
	cp, _, _, err := fmtlog.ParseCheckpoint(b, origin, v)
	if err != nil {
		return Checkpoint{}, fmt.Errorf("parsing checkpoint: %w", err)
	}
	if len(cp.Hash) != merkle.HashSize {
		return Checkpoint{}, errors.New("parsing checkpoint: root hash is not 32 bytes")
	}
	var root merkle.Hash
	copy(root[:], cp.Hash)
	return Checkpoint{Origin: cp.Origin, Size: cp.Size, Root: root}, nil
}

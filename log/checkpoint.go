package log

import (
	"fmt"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/signer"
)

// signCheckpoint signs the log's checkpoint (see SignCheckpoint).
func (l *Log) signCheckpoint(origin string, size uint64, root merkle.Hash) ([]byte, error) {
	return SignCheckpoint(l.profile, l.signer, origin, size, root)
}

// SignCheckpoint signs "<origin>\n<size>\n<base64 root>\n" as a signed note
// with exactly one signature line, with s under the profile's key name and
// key ID form (Rekor v1's: the hostname, and the first four bytes of the
// log ID).
func SignCheckpoint(profile Profile, s signer.Signer, origin string, size uint64, root merkle.Hash) ([]byte, error) {
	ns, err := checkpoint.NewSigner(profile.KeyName, profile.KeyIDForm, s)
	if err != nil {
		return nil, fmt.Errorf("log: signing checkpoint: %w", err)
	}
	signed, err := checkpoint.Sign(checkpoint.Checkpoint{Origin: origin, Size: size, Root: root}, ns)
	if err != nil {
		return nil, fmt.Errorf("log: signing checkpoint: %w", err)
	}
	return signed, nil
}

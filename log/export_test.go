package log

import (
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/signer"
)

// SignCheckpoint is signCheckpoint for the external tests: the checkpoint
// a log with profile p and signer s signs for origin, size and root.
func SignCheckpoint(p Profile, s signer.Signer, origin string, size uint64, root merkle.Hash) ([]byte, error) {
	l := &Log{profile: p, signer: s}
	return l.signCheckpoint(origin, size, root)
}

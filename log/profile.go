package log

import (
	"errors"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/signer"
)

// Profile is everything a log does that depends on the protocol it speaks:
// what its checkpoints look like (origin, signature key name, key ID form)
// and whether its entries get a signed timestamp. The log itself batches,
// integrates, proves and caches one tree the same way for every profile.
// The Rekor v1 profile is in package profile/rekorv1.
type Profile struct {
	// Name names the profile in logs and errors, e.g. "rekor-v1".
	Name string
	// Origin is the checkpoint origin of the tree with the given tree ID.
	// Required.
	Origin func(treeID int64) string
	// KeyName is the key name on the checkpoint's signature line. Required.
	KeyName string
	// KeyIDForm is the key ID form of the checkpoint's signature line
	// (checkpoint.KeyIDRekorV1, or checkpoint.KeyIDC2SP for C2SP logs).
	KeyIDForm checkpoint.KeyIDForm
	// SignEntry, if not nil, signs each entry when it is integrated; its
	// result is stored as the entry's SET. Nil: entries get no SET.
	SignEntry EntrySigner
}

// EntrySigner signs one entry's timestamp with s: the entry's body, the
// time it was integrated (Unix seconds), the log ID and its index. It must be
// safe for concurrent use (the integrator signs a batch on several
// goroutines).
type EntrySigner func(s signer.Signer, body []byte, integratedTime int64, logID [32]byte, index uint64) ([]byte, error)

func (p *Profile) check() error {
	if p.Origin == nil || p.KeyName == "" || p.KeyIDForm == 0 {
		return errors.New("log: the profile needs Origin, KeyName and KeyIDForm")
	}
	return nil
}

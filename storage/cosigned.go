package storage

import "time"

// CosignedCheckpoint is a log's checkpoint with the cosignatures of the
// witnesses that cosigned it (c2sp.org/tlog-cosignature): the signed note
// carries the log's signature line and one line per witness.
type CosignedCheckpoint struct {
	// Size is the tree size the checkpoint commits to.
	Size uint64
	// Note is the signed note: the checkpoint body, the log's signature and
	// the cosignature lines.
	Note []byte
	// Stored is when the checkpoint was stored (set by the store; ignored
	// by StoreCosigned).
	Stored time.Time
}

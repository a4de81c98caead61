package storage

import (
	"context"
	"time"
)

// WitnessCheckpoint is the checkpoint a witness last cosigned for one log:
// the state a witness (c2sp.org/tlog-witness) keeps per origin.
type WitnessCheckpoint struct {
	// Origin is the log's origin line, the key of the state.
	Origin string
	// Size and Root are the tree the checkpoint commits to.
	Size uint64
	Root Hash
	// Note is the signed checkpoint as the witness chose to keep it.
	Note []byte
	// Updated is when the checkpoint was stored; drivers fill it on read
	// and ignore it on write.
	Updated time.Time
}

// WitnessState is a witness's durable per-log state. Several processes may
// share one database: the swap is a compare-and-swap that the database
// serialises, so two of them never both replace one stored checkpoint.
type WitnessState interface {
	// WitnessCheckpoint returns the stored checkpoint of origin or
	// ErrNotFound.
	WitnessCheckpoint(ctx context.Context, origin string) (WitnessCheckpoint, error)
	// SwapWitnessCheckpoint stores next if the stored one has size old.Size
	// and root old.Root (old nil: none stored). ErrStaleTree (wrapped) when
	// it does not match; nothing written. next.Origin names the row;
	// old.Origin is ignored.
	SwapWitnessCheckpoint(ctx context.Context, old *WitnessCheckpoint, next WitnessCheckpoint) error
}

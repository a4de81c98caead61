package monitor

import (
	"bytes"
	"context"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/merkle"
)

var rangeFactory = &compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}

// Misbehavior is an error that proves the log broke a promise: it forked,
// rolled back, or served entries or tiles that do not make its signed tree.
// A failure to reach the log is not one.
type Misbehavior struct {
	Kind AlertKind
	Err  error
}

func (m *Misbehavior) Error() string { return m.Err.Error() }
func (m *Misbehavior) Unwrap() error { return m.Err }

func misbehaved(kind AlertKind, format string, args ...any) error {
	return &Misbehavior{Kind: kind, Err: fmt.Errorf(format, args...)}
}

// IsMisbehavior reports whether err proves the log misbehaved, and how.
func IsMisbehavior(err error) (AlertKind, bool) {
	var m *Misbehavior
	if errors.As(err, &m) {
		return m.Kind, true
	}
	return "", false
}

// rangeAt reads, from the hash tiles, the compact range of the tree of the
// checkpoint's size and checks that it gives the checkpoint's root.
func rangeAt(ctx context.Context, l Log, cp checkpoint.Checkpoint) (*compact.Range, error) {
	ids := compact.RangeNodes(0, cp.Size, nil)
	hashes := make([][]byte, len(ids))
	r := tiles(l, cp.Size)
	for i, id := range ids {
		h, err := merkle.NodeHash(ctx, r, id.Level, id.Index)
		if err != nil {
			if errors.Is(err, merkle.ErrShortTile) {
				return nil, misbehaved(AlertTilesMismatch, "reading the tree of size %d: %v", cp.Size, err)
			}
			return nil, fmt.Errorf("reading the tree of size %d: %w", cp.Size, err)
		}
		hashes[i] = h[:]
	}
	rng, err := rangeFactory.NewRange(0, cp.Size, hashes)
	if err != nil {
		return nil, err
	}
	if err := checkRoot(rng, cp, AlertTilesMismatch, "the hash tiles"); err != nil {
		return nil, err
	}
	return rng, nil
}

// checkRoot checks that rng (which must start at 0) gives cp's root.
func checkRoot(rng *compact.Range, cp checkpoint.Checkpoint, kind AlertKind, what string) error {
	if rng.End() != cp.Size {
		return fmt.Errorf("internal error: range ends at %d, checkpoint size %d", rng.End(), cp.Size)
	}
	root := rfc6962.DefaultHasher.EmptyRoot()
	if cp.Size > 0 {
		var err error
		if root, err = rng.GetRootHash(nil); err != nil {
			return err
		}
	}
	if !bytes.Equal(root, cp.Root[:]) {
		return misbehaved(kind, "%s give root %x for tree size %d; the signed checkpoint says %x", what, root, cp.Size, cp.Root)
	}
	return nil
}

// proveConsistent proves, with a consistency proof computed from the hash
// tiles of the newer tree, that old is a prefix of cur. Both are verified
// checkpoints of one log.
func proveConsistent(ctx context.Context, l Log, old, cur checkpoint.Checkpoint) error {
	switch {
	case cur.Size < old.Size:
		return misbehaved(AlertInconsistent, "the log rolled back from tree size %d to %d", old.Size, cur.Size)
	case cur.Size == old.Size:
		if cur.Root != old.Root {
			return misbehaved(AlertInconsistent, "two signed checkpoints of tree size %d with different roots %x and %x: the log forked", cur.Size, old.Root, cur.Root)
		}
		return nil
	case old.Size == 0:
		return nil
	}
	p, err := merkle.ConsistencyProof(ctx, tiles(l, cur.Size), old.Size, cur.Size)
	if err != nil {
		if errors.Is(err, merkle.ErrShortTile) {
			return misbehaved(AlertTilesMismatch, "consistency proof %d → %d: %v", old.Size, cur.Size, err)
		}
		return fmt.Errorf("consistency proof %d → %d: %w", old.Size, cur.Size, err)
	}
	hs := make([][]byte, len(p))
	for i := range p {
		hs[i] = p[i][:]
	}
	if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old.Size, cur.Size, hs, old.Root[:], cur.Root[:]); err != nil {
		// Either the two signed trees disagree, or the tiles lie about the
		// new one: tell which.
		if root, rerr := merkle.RootHash(ctx, tiles(l, cur.Size), cur.Size); rerr == nil && root != cur.Root {
			return misbehaved(AlertTilesMismatch, "the hash tiles give root %x for tree size %d; the signed checkpoint says %x", root, cur.Size, cur.Root)
		}
		return misbehaved(AlertInconsistent, "the checkpoint of tree size %d (root %x) is not consistent with the earlier verified one of size %d (root %x): the log forked",
			cur.Size, cur.Root, old.Size, old.Root)
	}
	return nil
}

// bundle is one entry bundle read from the log, split into entries.
type bundle struct {
	index   uint64
	entries [][]byte
	tile    []byte // the level-0 tile of the same width, if asked for
	err     error
}

// readBundles reads the entry bundles holding entries [from, to) of the tree
// of size to, with up to workers requests in flight, and calls fn for each
// bundle in order. The first entry of the first bundle is index
// 256·bundle.index; fn must skip those before from. A bundle that does not
// split into exactly the entries the tree size implies is a Misbehavior.
// With withTiles, the level-0 hash tile under each bundle is read too.
func readBundles(ctx context.Context, l Log, from, to uint64, workers int, withTiles bool, fn func(b bundle) error) error {
	if from >= to {
		return nil
	}
	workers = max(workers, 1)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	queue := make(chan chan bundle, workers)
	go func() {
		defer close(queue)
		for i := from / merkle.TileWidth; i*merkle.TileWidth < to; i++ {
			ch := make(chan bundle, 1)
			select {
			case queue <- ch:
			case <-ctx.Done():
				return
			}
			go func(i uint64) { ch <- fetchBundle(ctx, l, i, to, withTiles) }(i)
		}
	}()
	for ch := range queue {
		b := <-ch
		if b.err != nil {
			return b.err
		}
		if err := fn(b); err != nil {
			return err
		}
	}
	return ctx.Err()
}

func fetchBundle(ctx context.Context, l Log, i, size uint64, withTile bool) bundle {
	w := int(min(merkle.TileWidth, size-i*merkle.TileWidth))
	var tile []byte
	if withTile {
		var err error
		if tile, err = l.Tile(ctx, 0, i, w); err != nil {
			return bundle{index: i, err: fmt.Errorf("reading tile %s: %w", merkle.TilePath{Index: i, Width: w}, err)}
		}
	}
	data, err := l.EntryBundle(ctx, i, w)
	if err != nil {
		return bundle{index: i, err: fmt.Errorf("reading entry bundle %s: %w", merkle.TilePath{Entries: true, Index: i, Width: w}, err)}
	}
	entries, err := merkle.ParseBundle(data)
	if err != nil {
		return bundle{index: i, err: misbehaved(AlertEntriesMismatch, "entry bundle %s: %v", merkle.TilePath{Entries: true, Index: i, Width: w}, err)}
	}
	if len(entries) != w {
		return bundle{index: i, err: misbehaved(AlertEntriesMismatch, "entry bundle %s holds %d entries, the tree of size %d puts %d there",
			merkle.TilePath{Entries: true, Index: i, Width: w}, len(entries), size, w)}
	}
	return bundle{index: i, entries: entries, tile: tile}
}

// encodeRange and decodeRange keep a compact range [0, end) in a state file.
func encodeRange(rng *compact.Range) []string {
	hs := rng.Hashes()
	out := make([]string, len(hs))
	for i, h := range hs {
		out[i] = hex.EncodeToString(h)
	}
	return out
}

func decodeRange(end uint64, hs []string) (*compact.Range, error) {
	hashes := make([][]byte, len(hs))
	for i, h := range hs {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != merkle.HashSize {
			return nil, fmt.Errorf("compact range hash %d: %q is not a 32-byte hex hash", i, h)
		}
		hashes[i] = b
	}
	rng, err := rangeFactory.NewRange(0, end, hashes)
	if err != nil {
		return nil, fmt.Errorf("compact range of size %d: %w", end, err)
	}
	return rng, nil
}

package log_test

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	tlog "github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/storage"
)

// tileCounting is a real store that counts its tile reads and its reads of
// an entry with its tile.
type tileCounting struct {
	storage.Storage
	mu    sync.Mutex
	tiles map[[2]uint64]int // reads by level and index
	both  atomic.Int64
}

func (c *tileCounting) ReadTile(ctx context.Context, level uint8, index uint64) ([]byte, error) {
	c.mu.Lock()
	c.tiles[[2]uint64{uint64(level), index}]++
	c.mu.Unlock()
	return c.Storage.ReadTile(ctx, level, index)
}

func (c *tileCounting) reads(level uint8, index uint64) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.tiles[[2]uint64{uint64(level), index}]
}

func (c *tileCounting) ReadEntryAndTile(ctx context.Context, index uint64) (storage.Entry, storage.EntryTile, error) {
	c.both.Add(1)
	return c.Storage.(storage.EntryTileReader).ReadEntryAndTile(ctx, index)
}

// noNodes is a real store written as a release that stored no upper nodes
// beside full tiles wrote it.
type noNodes struct{ storage.Storage }

func (n noNodes) Append(ctx context.Context, req storage.AppendRequest) error {
	req.Tiles = slices.Clone(req.Tiles)
	for i := range req.Tiles {
		req.Tiles[i].Nodes = nil
	}
	return n.Storage.Append(ctx, req)
}

// TestEntryWithTile: a log that did not write the entries (fresh caches)
// reads an old entry together with what its proof needs of its full
// level-0 tile, in one query, and proves its inclusion without reading
// that tile: the entry's group and the tile's upper nodes, or the whole
// tile when it was written without nodes. An entry whose tile (or group)
// is cached, or of the partial right-edge tile, is read alone. Every proof
// verifies, and the tile read whole is the tile.
func TestEntryWithTile(t *testing.T) {
	for _, e := range engines {
		for _, nodes := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/nodes=%v", e.name, nodes), func(t *testing.T) {
				open := e.open(t)
				sgn := newSigner(t)
				ctx := context.Background()
				var w storage.Storage = open(t)
				if !nodes {
					w = noNodes{w}
				}
				writer := openLog(t, w, sgn, nil)
				var wg sync.WaitGroup
				for i := range 600 {
					wg.Go(func() {
						if _, err := writer.Add(ctx, leaf(i)); err != nil {
							t.Error(err)
						}
					})
				}
				wg.Wait()
				want, err := writer.Tile(ctx, 0, 1, merkle.TileWidth)
				if err != nil {
					t.Fatal(err)
				}
				if err := writer.Close(ctx); err != nil {
					t.Fatal(err)
				}

				store := &tileCounting{Storage: open(t), tiles: map[[2]uint64]int{}}
				l := openLog(t, store, sgn, func(c *tlog.Config) { c.EntryCacheSize = -1 })
				head, err := l.Head(ctx)
				if err != nil {
					t.Fatal(err)
				}
				for _, tc := range []struct {
					index    uint64
					together bool
				}{
					{300, true},
					{301, false}, // 300's group (or tile) is cached
					{320, nodes}, // another group of that tile
					{10, true},   // another tile
					{590, false}, // the partial tile
					{305, false}, // read after the whole tile 1 was served below
				} {
					if tc.index == 305 {
						got, err := l.Tile(ctx, 0, 1, merkle.TileWidth)
						if err != nil || !bytes.Equal(got, want) {
							t.Fatalf("tile 0/1 after its group was cached: %v", err)
						}
					}
					tile := tc.index / merkle.TileWidth
					tiles, both := store.reads(0, tile), store.both.Load()
					got, err := l.Entry(ctx, tc.index)
					if err != nil {
						t.Fatal(err)
					}
					if got.Index != tc.index || got.LeafHash != merkle.LeafHash(got.Body) {
						t.Fatalf("entry %d: got index %d, leaf hash not its body's", tc.index, got.Index)
					}
					p, err := l.InclusionProof(ctx, tc.index, head.Size)
					if err != nil {
						t.Fatal(err)
					}
					if err := proof.VerifyInclusion(rfc6962.DefaultHasher, tc.index, head.Size, got.LeafHash[:], hashSlices(p), head.Root[:]); err != nil {
						t.Fatalf("entry %d: %v", tc.index, err)
					}
					if n := store.both.Load() - both; (n == 1) != tc.together {
						t.Errorf("entry %d: %d reads with its tile, want together=%v", tc.index, n, tc.together)
					}
					if n := store.reads(0, tile) - tiles; n != 0 && tile < 2 {
						t.Errorf("entry %d: its proof read its full tile %d times", tc.index, n)
					}
				}
			})
		}
	}
}

// corruptNodes is a real store whose stored upper nodes do not match the
// tiles' hashes: node (0..29) is flipped; with node -1, an entry comes
// with the next tile's part (nodes that belong together, of another tile).
type corruptNodes struct {
	*tileCounting
	node int
}

func (c corruptNodes) ReadEntryAndTile(ctx context.Context, index uint64) (storage.Entry, storage.EntryTile, error) {
	e, tile, err := c.tileCounting.ReadEntryAndTile(ctx, index)
	if c.node < 0 && err == nil {
		_, tile, err = c.Storage.(storage.EntryTileReader).ReadEntryAndTile(ctx, index+merkle.TileWidth)
		return e, tile, err
	}
	if tile.Nodes != nil {
		tile.Nodes = bytes.Clone(tile.Nodes)
		tile.Nodes[c.node*merkle.HashSize] ^= 1
	}
	return e, tile, err
}

// TestEntryWithCorruptNodes: upper nodes that do not match the tile's
// hashes never make a wrong proof, whichever is wrong (the node over the
// entry's group, its sibling, a height-7 node), nor another tile's part:
// the log reads the whole tile instead.
func TestEntryWithCorruptNodes(t *testing.T) {
	e := engines[0]
	open := e.open(t)
	sgn := newSigner(t)
	ctx := context.Background()
	writer := openLog(t, open(t), sgn, nil)
	for i := range 600 { // tiles 0 and 1 full
		if _, err := writer.Add(ctx, leaf(i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := writer.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for _, node := range []int{0, 1, 16, 28, 29, -1} {
		store := corruptNodes{&tileCounting{Storage: open(t), tiles: map[[2]uint64]int{}}, node}
		l := openLog(t, store, sgn, func(c *tlog.Config) { c.EntryCacheSize = -1 })
		head, err := l.Head(ctx)
		if err != nil {
			t.Fatal(err)
		}
		got, err := l.Entry(ctx, 5) // group 0
		if err != nil {
			t.Fatal(err)
		}
		p, err := l.InclusionProof(ctx, 5, head.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, 5, head.Size, got.LeafHash[:], hashSlices(p), head.Root[:]); err != nil {
			t.Fatalf("node %d wrong: %v", node, err)
		}
		if store.both.Load() != 1 || store.reads(0, 0) != 1 {
			t.Errorf("node %d wrong: %d reads with the tile, %d reads of the whole tile; want 1 and 1", node, store.both.Load(), store.reads(0, 0))
		}
	}
}

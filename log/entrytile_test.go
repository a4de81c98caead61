package log_test

import (
	"context"
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

func (c *tileCounting) ReadEntryAndTile(ctx context.Context, index, tileIndex uint64) (storage.Entry, []byte, error) {
	c.both.Add(1)
	return c.Storage.(storage.EntryTileReader).ReadEntryAndTile(ctx, index, tileIndex)
}

// TestEntryWithTile: a log that did not write the entries (fresh caches)
// reads an old entry together with its full level-0 tile, in one query,
// and proves its inclusion without reading that tile again; an entry of a
// tile already cached, or of the partial right-edge tile, is read alone.
// Every proof verifies.
func TestEntryWithTile(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			open := e.open(t)
			sgn := newSigner(t)
			ctx := context.Background()
			writer := openLog(t, open(t), sgn, nil)
			var wg sync.WaitGroup
			for i := range 600 {
				wg.Go(func() {
					if _, err := writer.Add(ctx, leaf(i)); err != nil {
						t.Error(err)
					}
				})
			}
			wg.Wait()
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
			}{{300, true}, {301, false}, {10, true}, {590, false}} {
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
				// Entry 301 shares 300's tile, now cached: read alone.
				if n := store.both.Load() - both; (n == 1) != tc.together {
					t.Errorf("entry %d: %d reads with its tile, want together=%v", tc.index, n, tc.together)
				}
				if n := store.reads(0, tile) - tiles; tc.together && n != 0 {
					t.Errorf("entry %d: its proof read its tile %d times after the entry came with it", tc.index, n)
				}
			}
		})
	}
}

package log_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	tlog "github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/log/diskcache"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage"
)

func openDiskCache(t *testing.T, dir string) *diskcache.Cache {
	t.Helper()
	c, err := diskcache.Open(dir, 1<<30, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// waitCached waits (a bounded while) until c holds full tile index of tree.
func waitCached(t *testing.T, c *diskcache.Cache, tree int64, index uint64) {
	t.Helper()
	for range 500 {
		if c.Has(tree, index) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("tile %d never reached the disk cache", index)
}

// readAndProve reads entry index from l and checks it is want's entry of
// that index (as written: its body, integrated time and SET), whose
// inclusion in l's head verifies.
func readAndProve(t *testing.T, l *tlog.Log, want written, index uint64) {
	t.Helper()
	ctx := context.Background()
	head, err := l.Head(ctx)
	if err != nil {
		t.Fatal(err)
	}
	e, err := l.Entry(ctx, index)
	if err != nil {
		t.Fatal(err)
	}
	w := want.entries[index]
	if e.Index != index || string(e.Body) != string(w.Body) || e.LeafHash != merkle.LeafHash(e.Body) ||
		e.IntegratedTime != w.IntegratedTime || string(e.SET) != string(w.SET) {
		t.Fatalf("entry %d: got index %d, body %q; want body %q", index, e.Index, e.Body, w.Body)
	}
	p, err := l.InclusionProof(ctx, index, head.Size)
	if err != nil {
		t.Fatal(err)
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, index, head.Size, e.LeafHash[:], hashSlices(p), head.Root[:]); err != nil {
		t.Fatalf("entry %d: %v", index, err)
	}
}

// written is what writeLeaves wrote: the log's tree ID and its entries.
type written struct {
	tree    int64
	entries map[uint64]storage.Entry
}

// writeLeaves adds leaves 0..n-1 to a log on s with the disk cache dc,
// waits for the full tiles to reach dc (a log's Close abandons the fills
// not done) and closes it.
func writeLeaves(t *testing.T, s storage.Storage, sgn signer.Signer, dc *diskcache.Cache, n int) written {
	t.Helper()
	ctx := context.Background()
	l := openLog(t, s, sgn, func(c *tlog.Config) { c.DiskCache = dc })
	var (
		wg sync.WaitGroup
		mu sync.Mutex
		w  = written{entries: map[uint64]storage.Entry{}}
	)
	for i := range n {
		wg.Go(func() {
			res, err := l.Add(ctx, leaf(i))
			if err != nil {
				t.Error(err)
				return
			}
			mu.Lock()
			w.entries[res.Entry.Index] = res.Entry
			mu.Unlock()
		})
	}
	wg.Wait()
	w.tree = l.TreeID()
	for tile := range uint64(n / merkle.TileWidth) {
		waitCached(t, dc, w.tree, tile)
	}
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	return w
}

// TestDiskCache: a log with a disk cache writes each full tile it
// integrates there, from its entry cache; another log (another process,
// fresh caches) on the same directory reads old entries from there, never
// from the storage, and proves them; one on an empty directory reads an
// old entry from the storage, caches its tile on disk, and reads the
// tile's other entries from there.
func TestDiskCache(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			open := e.open(t)
			sgn := newSigner(t)
			dir := t.TempDir()
			writer := &entryCountingStore{Storage: open(t)}
			want := writeLeaves(t, writer, sgn, openDiskCache(t, dir), 600)
			tree := want.tree
			dc := openDiskCache(t, dir)
			for _, tile := range []uint64{0, 1} {
				waitCached(t, dc, tree, tile)
			}
			if n := writer.reads.Load(); n != 0 {
				t.Errorf("the writer read %d times from the storage to fill the disk cache", n)
			}
			if dc.Has(tree, 2) {
				t.Error("the partial tile 2 is in the disk cache")
			}

			store := &entryCountingStore{Storage: open(t)}
			l := openLog(t, store, sgn, func(c *tlog.Config) { c.EntryCacheSize = -1; c.DiskCache = dc })
			for _, i := range []uint64{300, 301, 320, 10, 255, 256} {
				readAndProve(t, l, want, i)
			}
			if n := store.reads.Load(); n != 0 {
				t.Errorf("%d storage reads of entries in the disk cache", n)
			}
			readAndProve(t, l, want, 590) // the partial tile: the storage
			if n := store.reads.Load(); n != 1 {
				t.Errorf("%d storage reads of an entry of the partial tile, want 1", n)
			}

			empty := openDiskCache(t, t.TempDir())
			store = &entryCountingStore{Storage: open(t)}
			l = openLog(t, store, sgn, func(c *tlog.Config) { c.EntryCacheSize = -1; c.DiskCache = empty })
			readAndProve(t, l, want, 300)
			waitCached(t, empty, tree, 1)
			reads := store.reads.Load() // the entry and the fill
			for _, i := range []uint64{301, 400, 511} {
				readAndProve(t, l, want, i)
			}
			if n := store.reads.Load() - reads; n != 0 {
				t.Errorf("%d storage reads of entries of a tile filled on a read", n)
			}
		})
	}
}

// tileFile is a full tile as the disk cache holds it.
type tileFile struct {
	hashes, nodes []byte
	records       [][]byte
}

func readTileFile(t *testing.T, dc *diskcache.Cache, tree int64, index uint64) tileFile {
	t.Helper()
	var f tileFile
	for i := range merkle.TileWidth {
		p, err := dc.Read(tree, index, i)
		if err != nil {
			t.Fatal(err)
		}
		if i%merkle.GroupWidth == 0 {
			f.hashes = append(f.hashes, p.Group...)
		}
		f.nodes = p.Nodes
		f.records = append(f.records, slices.Clone(p.Record))
	}
	return f
}

// TestDiskCacheWrongFiles: a disk cache file whose content is whole (the
// cache's own checks pass) but not the tree's never makes a wrong answer:
// the entry and its proof come from the storage, and the file is removed.
func TestDiskCacheWrongFiles(t *testing.T) {
	e := engines[0]
	open := e.open(t)
	sgn := newSigner(t)
	dir := t.TempDir()
	want := writeLeaves(t, open(t), sgn, openDiskCache(t, dir), 600)
	tree := want.tree
	dc := openDiskCache(t, dir)
	waitCached(t, dc, tree, 0)
	waitCached(t, dc, tree, 1)
	good := [2]tileFile{readTileFile(t, dc, tree, 0), readTileFile(t, dc, tree, 1)}

	const index = 300 // tile 1, group 2, entry 12 of it
	for _, tc := range []struct {
		name   string
		mangle func(f *tileFile)
	}{
		{"another tile's file", func(f *tileFile) { *f = good[0] }},
		{"records swapped", func(f *tileFile) {
			f.records[44], f.records[45] = f.records[45], f.records[44]
		}},
		{"body changed, leaf hash kept", func(f *tileFile) {
			f.records[44][18+merkle.HashSize+2] ^= 1 // after the record's fixed fields and leaf hash
		}},
		{"a hash of the group changed", func(f *tileFile) { f.hashes[33*merkle.HashSize] ^= 1 }},
		{"an upper node changed", func(f *tileFile) { f.nodes[20*merkle.HashSize] ^= 1 }},
		{"a record too short", func(f *tileFile) { f.records[44] = f.records[44][:10] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := tileFile{slices.Clone(good[1].hashes), slices.Clone(good[1].nodes), nil}
			for _, r := range good[1].records {
				f.records = append(f.records, slices.Clone(r))
			}
			tc.mangle(&f)
			if err := dc.Write(tree, 1, f.hashes, f.nodes, f.records); err != nil {
				t.Fatal(err)
			}
			store := &entryCountingStore{Storage: open(t)}
			l := openLog(t, store, sgn, func(c *tlog.Config) { c.EntryCacheSize = -1; c.DiskCache = dc })
			readAndProve(t, l, want, index)
			if store.reads.Load() == 0 {
				t.Error("the entry did not come from the storage")
			}
			if dc.Has(tree, 1) {
				if _, err := dc.Read(tree, 1, 0); !errors.Is(err, diskcache.ErrMiss) {
					// The filler may have written the right file back.
					got := readTileFile(t, dc, tree, 1)
					if fmt.Sprint(got) != fmt.Sprint(good[1]) {
						t.Error("the wrong file is still in the disk cache")
					}
				}
			}
		})
	}
}

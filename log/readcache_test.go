package log_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	tlog "github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/log/diskcache"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/profile/rekorv1"
	"github.com/tabularium/tabula/storage"
)

// entryCountingStore counts the entry reads that reach storage, of any
// kind (it reads an entry with its tile as the store beneath does).
type entryCountingStore struct {
	storage.Storage
	reads atomic.Int64
}

func (s *entryCountingStore) ReadEntries(ctx context.Context, start, end uint64) ([]storage.Entry, error) {
	s.reads.Add(1)
	return s.Storage.ReadEntries(ctx, start, end)
}

func (s *entryCountingStore) ReadEntryByLeafHash(ctx context.Context, h merkle.Hash) (storage.Entry, error) {
	s.reads.Add(1)
	return s.Storage.ReadEntryByLeafHash(ctx, h)
}

func (s *entryCountingStore) ReadEntryAndTile(ctx context.Context, index uint64) (storage.Entry, storage.EntryTile, error) {
	s.reads.Add(1)
	return storage.ReadEntryAndTile(ctx, s.Storage, index)
}

func sameEntry(a, b storage.Entry) bool {
	return a.Index == b.Index && a.LeafHash == b.LeafHash && bytes.Equal(a.Body, b.Body) &&
		a.IntegratedTime == b.IntegratedTime && bytes.Equal(a.SET, b.SET) && bytes.Equal(a.Attestation, b.Attestation)
}

// TestEntryCache: entries this process integrates are cached as they are
// written (the newest, for the bounded caches); entries read by index or
// leaf hash are served from the cache on the next read (by either key),
// identical to what storage holds; the cache keeps to its count and byte
// bounds, skips entries too large for it, never caches a miss, and can be
// turned off.
func TestEntryCache(t *testing.T) {
	big := bytes.Repeat([]byte("a"), 20_000)
	for _, tc := range []struct {
		name   string
		size   int
		bytes  int64
		att    []byte // attestation of every entry
		cached int    // of the 20 entries, how many the second pass finds cached
	}{
		{"default", 0, 0, nil, 20},
		{"off", -1, 0, nil, 0},
		{"count-bound", 5, 0, nil, 5},
		{"byte-bound", 0, 1600, nil, 5}, // 288 to 292 bytes per entry with the overhead
		{"too-large", 0, 0, big, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			store := &entryCountingStore{Storage: engines[0].open(t)(t)}
			l := openLog(t, store, newSigner(t), func(c *tlog.Config) {
				c.EntryCacheSize, c.EntryCacheBytes = tc.size, tc.bytes
			})
			var added []storage.Entry
			for i := range 20 {
				lf := leaf(i)
				lf.Attestation = tc.att
				res, err := l.Add(ctx, lf)
				if err != nil {
					t.Fatal(err)
				}
				added = append(added, res.Entry)
			}
			// Cached on write: the newest entries need no storage read.
			for i := len(added) - 1; i >= len(added)-max(tc.cached, 1); i-- {
				before := store.reads.Load()
				got, err := l.Entry(ctx, added[i].Index)
				if err != nil {
					t.Fatal(err)
				}
				if reads := store.reads.Load() - before; !sameEntry(got, added[i]) || (reads == 0) != (tc.cached > 0) {
					t.Fatalf("entry %d after its write: %+v (storage reads %d), want %+v", i, got, reads, added[i])
				}
			}
			// First pass by index, oldest first: the entries the cache lost
			// (or never had) reach storage.
			for i, want := range added {
				before := store.reads.Load()
				got, err := l.Entry(ctx, want.Index)
				if err != nil {
					t.Fatal(err)
				}
				if reads := store.reads.Load() - before; !sameEntry(got, want) || reads > 1 || (tc.cached == 0 && reads != 1) {
					t.Fatalf("entry %d: %+v (storage reads %d), want %+v", i, got, reads, want)
				}
			}
			// Second pass, by leaf hash and then by index: the cached ones
			// (the most recent, for the bounded caches) skip storage.
			cached := 0
			for i := len(added) - 1; i >= 0; i-- {
				want := added[i]
				before := store.reads.Load()
				got, err := l.EntryByLeafHash(ctx, want.LeafHash)
				if err != nil {
					t.Fatal(err)
				}
				got2, err := l.Entry(ctx, want.Index)
				if err != nil {
					t.Fatal(err)
				}
				if !sameEntry(got, want) || !sameEntry(got2, want) {
					t.Fatalf("entry %d: %+v / %+v, want %+v", i, got, got2, want)
				}
				switch store.reads.Load() - before {
				case 0:
					cached++
				case 1: // missed by leaf hash, then cached
					if tc.size < 0 || tc.att != nil {
						t.Fatalf("entry %d cached with the cache off or too large", i)
					}
				case 2:
				}
			}
			if cached != tc.cached {
				t.Fatalf("%d entries came from the cache, want %d", cached, tc.cached)
			}
			// A miss is never cached.
			for range 2 {
				before := store.reads.Load()
				if _, err := l.Entry(ctx, 1000); !errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("entry beyond the tree: %v", err)
				}
				if _, err := l.EntryByLeafHash(ctx, merkle.LeafHash([]byte("absent"))); !errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("absent leaf hash: %v", err)
				}
				if store.reads.Load() != before+2 {
					t.Fatal("a miss did not reach storage")
				}
			}
		})
	}
}

// BenchmarkEntryRead is a read-entry's database part: a random entry of
// 4,096 by index, with the entry cache on (after a first pass warms it),
// off, and off with the disk cache on (after the full tiles reached it),
// on PostgreSQL.
func BenchmarkEntryRead(b *testing.B) {
	for _, tc := range []struct {
		name string
		size int
		disk bool
	}{{"cache", 0, false}, {"nocache", -1, false}, {"disk", -1, true}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			var dc *diskcache.Cache
			if tc.disk {
				var err error
				if dc, err = diskcache.Open(b.TempDir(), 1<<30, nil); err != nil {
					b.Fatal(err)
				}
			}
			l, err := tlog.Open(ctx, tlog.Config{Storage: engines[1].open(b)(b), Signer: newSigner(b), Profile: rekorv1.Profile("bench.local"), EntryCacheSize: tc.size, DiskCache: dc})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close(ctx)
			const n = 4096
			for i := range n {
				go func() { _, _ = l.Add(ctx, tlog.Leaf{Body: fmt.Appendf(nil, `{"entry-bench":%d}`, i)}) }()
			}
			for {
				if h, err := l.Head(ctx); err == nil && h.Size == n {
					break
				}
			}
			for i := range n {
				if _, err := l.Entry(ctx, uint64(i)); err != nil {
					b.Fatal(err)
				}
			}
			for tile := uint64(0); dc != nil && tile < n/merkle.TileWidth; tile++ {
				for !dc.Has(l.TreeID(), tile) {
					time.Sleep(time.Millisecond)
				}
			}
			rng := rand.New(rand.NewPCG(1, 2))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := l.Entry(ctx, rng.Uint64N(n)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestEdgeLoadedOnce: a process that did not write the head's right-edge
// tiles (here: one reopened on the tree, as after a restart) reads them from
// storage once; further proofs at that head, and into smaller trees, read no
// tile from storage and stay correct. When the tree grows, the new edge is
// read once again.
func TestEdgeLoadedOnce(t *testing.T) {
	ctx := context.Background()
	open := engines[0].open(t) // sqlite
	sgn := newSigner(t)
	writer := openLog(t, open(t), sgn, nil)
	var bodies [][]byte
	add := func(n int) {
		for range n {
			lf := leaf(len(bodies))
			if _, err := writer.Add(ctx, lf); err != nil {
				t.Fatal(err)
			}
			bodies = append(bodies, lf.Body)
		}
	}
	add(700) // two full level-0 tiles and a partial one; a partial level-1 tile
	store := &countingStore{Storage: open(t)}
	l := openLog(t, store, sgn, func(c *tlog.Config) { c.HeadMaxAge = time.Hour })
	for round, tc := range []struct {
		grow   int
		reads1 int64 // storage tile reads of the first pass at the head
	}{
		{0, 4},  // the full tiles 0/0 and 0/1, the edge tiles 0/2 and 1/0
		{50, 2}, // the new edge tiles 0/2 and 1/0
	} {
		add(tc.grow)
		head, err := l.HeadCovering(ctx, uint64(len(bodies)-1))
		if err != nil {
			t.Fatal(err)
		}
		for pass := range 2 {
			before := store.reads.Load()
			for i := range bodies {
				for _, size := range []uint64{head.Size, uint64(i) + 1} {
					root, err := l.RootHash(ctx, size)
					if err != nil {
						t.Fatal(err)
					}
					if size == head.Size && root != head.Root {
						t.Fatalf("root at the head: %x, want %x", root, head.Root)
					}
					p, err := l.InclusionProof(ctx, uint64(i), size)
					if err != nil {
						t.Fatal(err)
					}
					lh := merkle.LeafHash(bodies[i])
					if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(i), size, lh[:], hashSlices(p), root[:]); err != nil {
						t.Fatalf("round %d: inclusion of %d in %d: %v", round, i, size, err)
					}
				}
			}
			reads := store.reads.Load() - before
			if pass == 1 && reads != 0 {
				t.Fatalf("round %d: a second pass at a steady head read %d tiles from storage", round, reads)
			}
			if pass == 0 && reads != tc.reads1 {
				t.Fatalf("round %d: the first pass read %d tiles from storage, want %d", round, reads, tc.reads1)
			}
		}
	}
}

// BenchmarkProofReopened is a read-entry's proof on a server that did not
// write the tree (restarted, or a replica): 20,000 leaves written by one
// process, proofs of random entries at the head by another, on PostgreSQL.
func BenchmarkProofReopened(b *testing.B) {
	ctx := context.Background()
	open := engines[1].open(b)
	sgn := newSigner(b)
	w, err := tlog.Open(ctx, tlog.Config{Storage: open(b), Signer: sgn, Profile: rekorv1.Profile("bench.local")})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close(ctx)
	const n, writers = 20_000, 64
	done := make(chan error, writers)
	for wr := range writers {
		go func() {
			for i := wr; i < n; i += writers {
				if _, err := w.Add(ctx, tlog.Leaf{Body: fmt.Appendf(nil, `{"reopened-bench":%d}`, i)}); err != nil {
					done <- err
					return
				}
			}
			done <- nil
		}()
	}
	for range writers {
		if err := <-done; err != nil {
			b.Fatal(err)
		}
	}
	l, err := tlog.Open(ctx, tlog.Config{Storage: open(b), Signer: sgn, Profile: rekorv1.Profile("bench.local"), HeadMaxAge: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close(ctx)
	head, err := l.Head(ctx)
	if err != nil || head.Size != n {
		b.Fatalf("head %d, %v", head.Size, err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.InclusionProof(ctx, rng.Uint64N(n), n); err != nil {
			b.Fatal(err)
		}
	}
}

// TestReadsWhileGrowing: entry reads and proofs at the head, from many
// goroutines, while this process and another one grow the tree (the head's
// edge is replaced, reloaded and loaded lazily under them): every entry and
// every proof is right. Run with -race.
func TestReadsWhileGrowing(t *testing.T) {
	ctx := context.Background()
	open := engines[0].open(t) // sqlite
	sgn := newSigner(t)
	l := openLog(t, open(t), sgn, func(c *tlog.Config) { c.HeadMaxAge = time.Millisecond })
	other := openLog(t, open(t), sgn, nil)
	var bodies sync.Map // index → body
	add := func(lg *tlog.Log, i int) {
		lf := leaf(i)
		res, err := lg.Add(ctx, lf)
		if err != nil {
			t.Error(err)
			return
		}
		bodies.Store(res.Entry.Index, lf.Body)
	}
	for i := range 300 {
		add(l, i)
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 2 { // writers, one per process
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				add([]*tlog.Log{l, other}[w], 1000+2*i+w)
			}
		}()
	}
	var readers sync.WaitGroup
	for r := range 6 {
		readers.Add(1)
		go func() {
			defer readers.Done()
			rng := rand.New(rand.NewPCG(uint64(r), 1))
			for range 300 {
				head, err := l.Head(ctx)
				if err != nil {
					t.Error(err)
					return
				}
				idx := rng.Uint64N(head.Size)
				body, ok := bodies.Load(idx)
				if !ok {
					continue // written by the other process, not yet recorded
				}
				e, err := l.Entry(ctx, idx)
				if err == nil && r%2 == 0 {
					e, err = l.EntryByLeafHash(ctx, merkle.LeafHash(body.([]byte)))
				}
				if err != nil || !bytes.Equal(e.Body, body.([]byte)) || e.Index != idx {
					t.Errorf("entry %d: %v", idx, err)
					return
				}
				p, err := l.InclusionProof(ctx, idx, head.Size)
				if err != nil {
					t.Error(err)
					return
				}
				lh := merkle.LeafHash(e.Body)
				if err := proof.VerifyInclusion(rfc6962.DefaultHasher, idx, head.Size, lh[:], hashSlices(p), head.Root[:]); err != nil {
					t.Errorf("inclusion of %d in %d: %v", idx, head.Size, err)
					return
				}
			}
		}()
	}
	readers.Wait()
	close(stop)
	wg.Wait()
}

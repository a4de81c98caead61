package log_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/internal/pgtest"
	tlog "github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/profile/rekorv1"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/postgres"
	"github.com/tabularium/tabula/storage/sqlite"
)

// engines opens a fresh store of each engine; open may be called again to
// get a second handle on the same database (a second process).
type engine struct {
	name string
	open func(t testing.TB) func(t testing.TB) storage.Storage
}

var engines = []engine{
	{"sqlite", func(t testing.TB) func(t testing.TB) storage.Storage {
		path := filepath.Join(t.TempDir(), "tabula.db")
		return func(t testing.TB) storage.Storage {
			s, err := sqlite.Open(context.Background(), path)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return storage.Active(s, "test", nil)
		}
	}},
	{"postgres", func(t testing.TB) func(t testing.TB) storage.Storage {
		url := pgtest.NewDatabase(t)
		return func(t testing.TB) storage.Storage {
			s, err := postgres.Open(context.Background(), url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return storage.Active(s, "test", nil)
		}
	}},
}

func newSigner(t testing.TB) *signer.Local {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signer.New(k)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func openLog(t *testing.T, s storage.Storage, sgn signer.Signer, mod func(*tlog.Config)) *tlog.Log {
	t.Helper()
	cfg := tlog.Config{Storage: s, Signer: sgn, Profile: rekorv1.Profile("test.local")}
	if mod != nil {
		mod(&cfg)
	}
	l, err := tlog.Open(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close(context.Background()) })
	return l
}

func leaf(i int) tlog.Leaf {
	return tlog.Leaf{Body: fmt.Appendf(nil, `{"leaf":%d}`, i), SearchKeys: []storage.Hash{searchKey(i % 7)}}
}

// searchKey is the search key of the leaves i (mod 7).
func searchKey(i int) storage.Hash { return sha256.Sum256(fmt.Appendf(nil, "k%d", i)) }

// checkResult verifies everything a writer is given: the checkpoint's
// signature, the SET, and the inclusion proof against the checkpoint's root.
func checkResult(t *testing.T, l *tlog.Log, res tlog.Result) {
	t.Helper()
	ctx := context.Background()
	cp, err := checkpoint.Verify(res.Head.Checkpoint, l.Origin(), l.KeyName(), checkpoint.KeyIDRekorV1, l.Signer().Public())
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	if cp.Size != res.Head.Size || cp.Root != res.Head.Root {
		t.Fatalf("checkpoint (%d, %x) != head (%d, %x)", cp.Size, cp.Root, res.Head.Size, res.Head.Root)
	}
	e := res.Entry
	if err := signer.Verify(l.Signer().Public(), rekorv1.SETPayload(e.Body, e.IntegratedTime, l.LogID(), e.Index), e.SET); err != nil {
		t.Fatalf("SET of entry %d: %v", e.Index, err)
	}
	p, err := l.InclusionProof(ctx, e.Index, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	lh := merkle.LeafHash(e.Body)
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, e.Index, cp.Size, lh[:], hashSlices(p), cp.Root[:]); err != nil {
		t.Fatalf("inclusion of %d in %d: %v", e.Index, cp.Size, err)
	}
}

func hashSlices(hs []merkle.Hash) [][]byte {
	out := make([][]byte, len(hs))
	for i := range hs {
		out[i] = hs[i][:]
	}
	return out
}

// checkTree re-verifies the whole stored log, which must hold want entries:
// contiguous entries, tiles that reproduce the root, and consistency from
// every given earlier checkpoint.
func checkTree(t *testing.T, l *tlog.Log, want uint64, seen []storage.TreeState) storage.TreeState {
	t.Helper()
	ctx := context.Background()
	// Another process may have grown the tree since this one last looked.
	head, err := l.HeadCovering(ctx, want-1)
	if err != nil {
		t.Fatal(err)
	}
	if head.Size != want {
		t.Fatalf("tree size %d, want %d", head.Size, want)
	}
	var leaves [][]byte
	for i := uint64(0); i < head.Size; i++ {
		e, err := l.Entry(ctx, i)
		if err != nil {
			t.Fatalf("entry %d of %d: %v", i, head.Size, err)
		}
		if e.Index != i || e.LeafHash != merkle.LeafHash(e.Body) {
			t.Fatalf("entry %d: index %d, leaf hash mismatch", i, e.Index)
		}
		leaves = append(leaves, e.Body)
	}
	if _, err := l.Entry(ctx, head.Size); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("entry past the end: err = %v", err)
	}
	root := naiveRoot(leaves)
	if head.Root != root {
		t.Fatalf("root %x, recomputed from entries %x", head.Root, root)
	}
	got, err := l.RootHash(ctx, head.Size)
	if err != nil || got != root {
		t.Fatalf("root from tiles %x (%v), want %x", got, err, root)
	}
	for _, old := range seen {
		p, err := l.ConsistencyProof(ctx, old.Size, head.Size)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, old.Size, head.Size, hashSlices(p), old.Root[:], head.Root[:]); err != nil {
			t.Fatalf("consistency %d → %d: %v", old.Size, head.Size, err)
		}
	}
	return head
}

// naiveRoot is RFC 6962's MTH, written from the definition.
func naiveRoot(leaves [][]byte) merkle.Hash {
	var mth func(ls [][]byte) []byte
	mth = func(ls [][]byte) []byte {
		switch len(ls) {
		case 0:
			return rfc6962.DefaultHasher.EmptyRoot()
		case 1:
			return rfc6962.DefaultHasher.HashLeaf(ls[0])
		}
		k := 1
		for k*2 < len(ls) {
			k *= 2
		}
		return rfc6962.DefaultHasher.HashChildren(mth(ls[:k]), mth(ls[k:]))
	}
	var h merkle.Hash
	copy(h[:], mth(leaves))
	return h
}

func TestAddConcurrent(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			open := e.open(t)
			l := openLog(t, open(t), newSigner(t), func(c *tlog.Config) { c.BatchMaxSize = 64 })
			const n = 600
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				seen []storage.TreeState
				idx  = map[uint64]int{}
			)
			for w := 0; w < 16; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < n; i += 16 {
						res, err := l.Add(context.Background(), leaf(i))
						if err != nil {
							t.Errorf("add %d: %v", i, err)
							return
						}
						checkResult(t, l, res)
						mu.Lock()
						if prev, ok := idx[res.Entry.Index]; ok {
							t.Errorf("index %d given to leaves %d and %d", res.Entry.Index, prev, i)
						}
						idx[res.Entry.Index] = i
						seen = append(seen, res.Head)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			checkTree(t, l, n, seen)
			if len(idx) != n {
				t.Fatalf("%d distinct indexes, want %d", len(idx), n)
			}
			// Every leaf again is a duplicate pointing at its index.
			for index, i := range idx {
				_, err := l.Add(context.Background(), leaf(i))
				var dup *tlog.DuplicateError
				if !errors.As(err, &dup) || dup.Index != index {
					t.Fatalf("re-adding leaf %d: err = %v, want duplicate of %d", i, err, index)
				}
			}
			if h, _ := l.Head(context.Background()); h.Size != n {
				t.Fatalf("duplicates changed the tree size to %d", h.Size)
			}
			// Each leaf is found by its search key.
			for k := range 7 {
				got, err := l.Search(context.Background(), searchKey(k))
				if err != nil {
					t.Fatal(err)
				}
				var want []uint64
				for index, i := range idx {
					if i%7 == k {
						want = append(want, index)
					}
				}
				slices.Sort(want)
				if !slices.Equal(got, want) {
					t.Fatalf("Search(key %d) = %d indexes, want %d", k, len(got), len(want))
				}
			}
		})
	}
}

func TestDuplicateWithinBatch(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			l := openLog(t, e.open(t)(t), newSigner(t), func(c *tlog.Config) { c.BatchMaxAge = 50 * time.Millisecond })
			var wg sync.WaitGroup
			var ok, dups atomic.Int32
			for range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := l.Add(context.Background(), leaf(42))
					var dup *tlog.DuplicateError
					switch {
					case err == nil:
						ok.Add(1)
					case errors.As(err, &dup) && dup.Index == 0:
						dups.Add(1)
					default:
						t.Errorf("add: %v", err)
					}
				}()
			}
			wg.Wait()
			if ok.Load() != 1 || dups.Load() != 7 {
				t.Fatalf("%d accepted, %d duplicates; want 1 and 7", ok.Load(), dups.Load())
			}
			checkTree(t, l, 1, nil)
		})
	}
}

// faulty fails Append before or after the inner store commits, the two ways
// a crash can meet a transaction.
type faulty struct {
	storage.Storage
	mu                    sync.Mutex
	failBefore, failAfter int
}

var errInjected = errors.New("injected failure")

func (f *faulty) Append(ctx context.Context, req storage.AppendRequest) error {
	f.mu.Lock()
	before := f.failBefore > 0
	if before {
		f.failBefore--
	}
	f.mu.Unlock()
	if before {
		return errInjected
	}
	if err := f.Storage.Append(ctx, req); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failAfter > 0 {
		f.failAfter--
		return errInjected
	}
	return nil
}

func TestStorageFailures(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			open := e.open(t)
			f := &faulty{Storage: open(t)}
			sgn := newSigner(t)
			l := openLog(t, f, sgn, nil)
			ctx := context.Background()
			var seen []storage.TreeState
			acked := map[int]uint64{}
			add := func(i int) error {
				res, err := l.Add(ctx, leaf(i))
				if err == nil {
					checkResult(t, l, res)
					acked[i] = res.Entry.Index
					seen = append(seen, res.Head)
				}
				return err
			}
			for i := range 5 {
				if err := add(i); err != nil {
					t.Fatal(err)
				}
			}
			// Before commit: the leaf is refused and not written.
			f.failBefore = 1
			if err := add(100); !errors.Is(err, errInjected) {
				t.Fatalf("failing before commit: err = %v", err)
			}
			if err := add(101); err != nil {
				t.Fatal(err)
			}
			// After commit: the writer got an error, but the leaf is in:
			// adding it again says duplicate, and the tree goes on.
			f.failAfter = 1
			if err := add(102); !errors.Is(err, errInjected) {
				t.Fatalf("failing after commit: err = %v", err)
			}
			var dup *tlog.DuplicateError
			if err := add(102); !errors.As(err, &dup) {
				t.Fatalf("re-adding a leaf committed despite an error: err = %v", err)
			}
			for i := 200; i < 210; i++ {
				if err := add(i); err != nil {
					t.Fatal(err)
				}
			}
			// The refused leaf can be added now.
			if err := add(100); err != nil {
				t.Fatal(err)
			}
			// +1: leaf 102, committed but not acknowledged.
			size := uint64(len(acked) + 1)
			checkTree(t, l, size, seen)
			// A restart on the same database keeps everything.
			l.Close(ctx)
			l2 := openLog(t, open(t), sgn, nil)
			for i, index := range acked {
				got, err := l2.Entry(ctx, index)
				if err != nil || string(got.Body) != string(leaf(i).Body) {
					t.Fatalf("after restart, entry %d: %v", index, err)
				}
			}
			res, err := l2.Add(ctx, leaf(999))
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, l2, res)
			checkTree(t, l2, size+1, seen)
		})
	}
}

// TestTwoProcesses runs two logs on one database, as two replicas would:
// one tree, no index given twice, every proof verifies.
func TestTwoProcesses(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			open := e.open(t)
			sgn := newSigner(t)
			logs := []*tlog.Log{
				openLog(t, open(t), sgn, func(c *tlog.Config) { c.BatchMaxSize = 16 }),
				openLog(t, open(t), sgn, func(c *tlog.Config) { c.BatchMaxSize = 16 }),
			}
			if logs[0].TreeID() != logs[1].TreeID() {
				t.Fatalf("two tree IDs: %d, %d", logs[0].TreeID(), logs[1].TreeID())
			}
			const n = 400
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				idx  = map[uint64]int{}
				seen []storage.TreeState
			)
			for w := range 8 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					l := logs[w%2]
					for i := w; i < n; i += 8 {
						res, err := l.Add(context.Background(), leaf(i))
						if err != nil {
							t.Errorf("add %d: %v", i, err)
							return
						}
						checkResult(t, logs[(w+1)%2], res) // the other replica proves it too
						mu.Lock()
						if prev, ok := idx[res.Entry.Index]; ok {
							t.Errorf("index %d given to leaves %d and %d", res.Entry.Index, prev, i)
						}
						idx[res.Entry.Index] = i
						seen = append(seen, res.Head)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			for _, l := range logs {
				checkTree(t, l, n, seen)
			}
		})
	}
}

func TestReopenInterlocks(t *testing.T) {
	ctx := context.Background()
	open := engines[0].open(t)
	sgn := newSigner(t)
	l, err := tlog.Open(ctx, tlog.Config{Storage: open(t), Signer: sgn, Profile: rekorv1.Profile("a.example")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := l.Add(ctx, leaf(1)); err != nil {
		t.Fatal(err)
	}
	l.Close(ctx)
	tests := []struct {
		name     string
		sgn      signer.Signer
		hostname string
		tamper   bool
		want     string // substring of the error; "" for success
	}{
		{"same key and hostname", sgn, "a.example", false, ""},
		{"other key", newSigner(t), "a.example", false, "does not verify with the configured key"},
		{"other hostname", sgn, "b.example", false, "does not verify with the configured key and origin"},
		{"tiles disagree with the tree state", sgn, "a.example", true, "the stored tiles give root"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var s storage.Storage = open(t)
			if tt.tamper {
				s = tamperedTiles{s}
			}
			l, err := tlog.Open(ctx, tlog.Config{Storage: s, Signer: tt.sgn, Profile: rekorv1.Profile(tt.hostname)})
			if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
				t.Fatalf("Open: err = %v, want %q", err, tt.want)
			}
			if l != nil {
				l.Close(ctx)
			}
		})
	}
}

// tamperedTiles serves tiles with one bit flipped, as a corrupted or
// hand-edited database would.
type tamperedTiles struct{ storage.Storage }

func (s tamperedTiles) ReadTile(ctx context.Context, level uint8, index uint64) ([]byte, error) {
	t, err := s.Storage.ReadTile(ctx, level, index)
	if err == nil && len(t) > 0 {
		t = append([]byte(nil), t...)
		t[0] ^= 1
	}
	return t, err
}

// blocking holds every Append until released, to fill the queue.
type blocking struct {
	storage.Storage
	release chan struct{}
}

func (b *blocking) Append(ctx context.Context, req storage.AppendRequest) error {
	<-b.release
	return b.Storage.Append(ctx, req)
}

func TestPushback(t *testing.T) {
	b := &blocking{Storage: engines[0].open(t)(t), release: make(chan struct{})}
	l := openLog(t, b, newSigner(t), func(c *tlog.Config) { c.BatchMaxSize = 1; c.MaxPending = 2 })
	ctx := context.Background()
	errs := make(chan error, 4)
	for i := range 4 {
		go func() { _, err := l.Add(ctx, leaf(i)); errs <- err }()
		// Let each reach the queue (the first is taken by the integrator,
		// the second prepared while the first's append waits).
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := l.Add(ctx, leaf(99)); !errors.Is(err, tlog.ErrPushback) {
		t.Fatalf("full queue: err = %v, want ErrPushback", err)
	}
	close(b.release)
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Add(ctx, leaf(99)); err != nil {
		t.Fatalf("after draining: %v", err)
	}
}

func TestCloseDrains(t *testing.T) {
	l := openLog(t, engines[0].open(t)(t), newSigner(t), func(c *tlog.Config) { c.BatchMaxAge = 100 * time.Millisecond; c.BatchMaxSize = 1000 })
	ctx := context.Background()
	errs := make(chan error, 10)
	for i := range 10 {
		go func() { _, err := l.Add(ctx, leaf(i)); errs <- err }()
	}
	time.Sleep(20 * time.Millisecond)
	if err := l.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for range 10 {
		if err := <-errs; err != nil {
			t.Fatalf("a leaf queued before Close: %v", err)
		}
	}
	if _, err := l.Add(ctx, leaf(11)); !errors.Is(err, tlog.ErrClosed) {
		t.Fatalf("after Close: err = %v", err)
	}
}

// TestEd25519Key runs a log with an Ed25519 key: checkpoints and SETs are
// Ed25519 signatures that verify with the public key.
func TestEd25519Key(t *testing.T) {
	priv, err := signer.Generate(signer.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	sgn, err := signer.New(priv)
	if err != nil {
		t.Fatal(err)
	}
	l := openLog(t, engines[0].open(t)(t), sgn, nil)
	for i := range 3 {
		res, err := l.Add(context.Background(), leaf(i))
		if err != nil {
			t.Fatal(err)
		}
		checkResult(t, l, res)
	}
	checkTree(t, l, 3, nil)
}

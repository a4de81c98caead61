package log

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"math/bits"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/sqlite"
)

// testPayload is what testProfile's entries sign: the entry's fields, in a
// form of this test's own (the Rekor v1 payload is tested in rekorv1).
func testPayload(body []byte, integratedTime int64, logID [32]byte, index uint64) []byte {
	return fmt.Appendf(nil, "%q %d %x index=%d", body, integratedTime, logID, index)
}

func testSignEntry(s signer.Signer, body []byte, integratedTime int64, logID [32]byte, index uint64) ([]byte, error) {
	return s.SignMessage(testPayload(body, integratedTime, logID, index))
}

// testProfile is a profile for this package's own tests, which cannot import
// a real one (profile/rekorv1 imports log).
var testProfile = Profile{
	Name:      "test",
	Origin:    func(treeID int64) string { return fmt.Sprintf("test.local/%d", treeID) },
	KeyName:   "test.local",
	KeyIDForm: checkpoint.KeyIDRekorV1,
	SignEntry: testSignEntry,
}

// digestSigner "signs" with SHA-256 of the message, so a SET shows which
// payload it was made over, and fails on the messages of the listed indexes.
type digestSigner struct {
	signer.Signer
	failAt map[uint64]bool
	calls  atomic.Int64
}

func (d *digestSigner) SignMessage(msg []byte) ([]byte, error) {
	d.calls.Add(1)
	for i := range d.failAt {
		if strings.HasSuffix(string(msg), fmt.Sprintf(" index=%d", i)) {
			return nil, fmt.Errorf("no signature for index %d", i)
		}
	}
	sum := sha256.Sum256(msg)
	return sum[:], nil
}

func setTestEntries(n int) []storage.Entry {
	entries := make([]storage.Entry, n)
	for i := range entries {
		entries[i] = storage.Entry{
			Index:          uint64(100 + i),
			Body:           fmt.Appendf(nil, `{"entry":%d}`, i),
			IntegratedTime: 1700000000 + int64(i%3),
		}
	}
	return entries
}

// TestSignSETs checks that every entry gets the SET over its own payload,
// whatever the batch size and the number of workers, and that a failure
// reports the first failing entry in batch order.
func TestSignSETs(t *testing.T) {
	logID := [32]byte{1, 2, 3}
	for _, n := range []int{0, 1, 2, 3, 7, 64, 65} {
		for _, workers := range []int{0, 1, 2, 3, 8, 100} {
			t.Run(fmt.Sprintf("n=%d/workers=%d", n, workers), func(t *testing.T) {
				s := &digestSigner{}
				entries := setTestEntries(n)
				if err := signEntries(testSignEntry, s, logID, entries, workers); err != nil {
					t.Fatal(err)
				}
				for i, e := range entries {
					want := sha256.Sum256(testPayload(e.Body, e.IntegratedTime, logID, e.Index))
					if string(e.SET) != string(want[:]) {
						t.Fatalf("entry %d: SET over another payload", i)
					}
				}
				if got := s.calls.Load(); got != int64(n) {
					t.Fatalf("%d signatures for %d entries", got, n)
				}
			})
		}
	}

	errTests := []struct {
		name    string
		n       int
		failAt  []uint64
		wantIdx uint64
	}{
		{name: "only entry", n: 1, failAt: []uint64{100}, wantIdx: 100},
		{name: "last entry", n: 9, failAt: []uint64{108}, wantIdx: 108},
		{name: "first of several runs", n: 9, failAt: []uint64{107, 101, 104}, wantIdx: 101},
		{name: "two in one run", n: 9, failAt: []uint64{106, 105}, wantIdx: 105},
	}
	for _, tt := range errTests {
		for _, workers := range []int{1, 2, 4} {
			t.Run(fmt.Sprintf("%s/workers=%d", tt.name, workers), func(t *testing.T) {
				s := &digestSigner{failAt: map[uint64]bool{}}
				for _, i := range tt.failAt {
					s.failAt[i] = true
				}
				err := signEntries(testSignEntry, s, logID, setTestEntries(tt.n), workers)
				want := fmt.Sprintf("signing entry timestamp: no signature for index %d", tt.wantIdx)
				if err == nil || err.Error() != want {
					t.Fatalf("err = %v, want %q", err, want)
				}
			})
		}
	}
}

// TestSignSETsLocal signs a batch in parallel with the real signer: every
// SET verifies over its entry's payload.
func TestSignSETsLocal(t *testing.T) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := signer.New(k)
	if err != nil {
		t.Fatal(err)
	}
	entries := setTestEntries(33)
	if err := signEntries(testSignEntry, s, s.LogID(), entries, 4); err != nil {
		t.Fatal(err)
	}
	for i, e := range entries {
		if err := signer.Verify(s.Public(), testPayload(e.Body, e.IntegratedTime, s.LogID(), e.Index), e.SET); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
		// The SET must not verify for a neighbour's payload.
		if j := (i + 1) % len(entries); signer.Verify(s.Public(), testPayload(entries[j].Body, entries[j].IntegratedTime, s.LogID(), entries[j].Index), e.SET) == nil {
			t.Fatalf("entry %d's SET verifies for entry %d", i, j)
		}
	}
}

// BenchmarkSignSETs is the integrator's signing of one full batch: serial
// (workers=1) against GOMAXPROCS workers. ns/op is the critical-path time
// for the batch.
func BenchmarkSignSETs(b *testing.B) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	s, err := signer.New(k)
	if err != nil {
		b.Fatal(err)
	}
	for _, workers := range []int{1, 0} {
		name := fmt.Sprintf("workers=%d", workers)
		if workers == 0 {
			workers = runtime.GOMAXPROCS(0)
			name = "workers=GOMAXPROCS"
		}
		b.Run(name, func(b *testing.B) {
			entries := setTestEntries(64)
			for b.Loop() {
				if err := signEntries(testSignEntry, s, s.LogID(), entries, workers); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// refuser is a real store whose Append refuses, writing nothing, every batch
// holding an entry with a body in bad: naming it (entryLevel) or not.
type refuser struct {
	storage.Storage
	bad        map[string]bool
	entryLevel bool
	appends    int // Append calls; the test calls integrate on its own goroutine
}

func (r *refuser) Append(ctx context.Context, req storage.AppendRequest) error {
	r.appends++
	for _, e := range req.Entries {
		switch {
		case !r.bad[string(e.Body)]:
		case r.entryLevel:
			return &storage.EntryError{Index: e.Index, Err: errors.New("bad body")}
		default:
			return fmt.Errorf("%w: bad body", storage.ErrRejected)
		}
	}
	return r.Storage.Append(ctx, req)
}

// TestRejectionCost integrates one batch of 64 leaves, some of which the
// store refuses, and counts the transactions: an entry the store names costs
// one more (the batch rebuilt without it); a refusal of unknown data costs
// at most two per level of halving per bad entry (1 + 2·k·log2(n) in all).
// Every good leaf is committed, in batch order, with no index skipped.
func TestRejectionCost(t *testing.T) {
	const n = 64
	every := func(step int) []int {
		var out []int
		for i := 0; i < n; i += step {
			out = append(out, i)
		}
		return out
	}
	tests := []struct {
		name string
		bad  []int
	}{
		{"none", nil},
		{"first", []int{0}},
		{"last", []int{n - 1}},
		{"middle", []int{n / 2}},
		{"two apart", []int{5, 40}},
		{"two adjacent", []int{20, 21}},
		{"every eighth", every(8)},
		{"all", every(1)},
	}
	for _, entryLevel := range []bool{true, false} {
		for _, tt := range tests {
			t.Run(fmt.Sprintf("entryLevel=%t/%s", entryLevel, tt.name), func(t *testing.T) {
				st, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tabula.db"))
				if err != nil {
					t.Fatal(err)
				}
				defer st.Close()
				store := &refuser{Storage: storage.Active(st, "test", nil), bad: map[string]bool{}, entryLevel: entryLevel}
				k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				sgn, err := signer.New(k)
				if err != nil {
					t.Fatal(err)
				}
				l, err := Open(context.Background(), Config{Storage: store, Signer: sgn, Profile: testProfile})
				if err != nil {
					t.Fatal(err)
				}
				defer l.Close(context.Background())

				// Nothing is queued, so the integrator goroutine is idle:
				// integrate runs here, alone.
				batch := make([]*pending, n)
				for i := range batch {
					body := fmt.Appendf(nil, `{"leaf":%d}`, i)
					if slices.Contains(tt.bad, i) {
						store.bad[string(body)] = true
					}
					batch[i] = &pending{leaf: Leaf{Body: body}, hash: merkle.LeafHash(body), done: make(chan outcome, 1)}
				}
				l.integrate(batch)

				var next uint64
				for i, p := range batch {
					var o outcome
					select {
					case o = <-p.done:
					default:
						t.Fatalf("leaf %d: no answer", i)
					}
					var rej *RejectedError
					switch {
					case store.bad[string(p.leaf.Body)]:
						if !errors.As(o.err, &rej) {
							t.Fatalf("bad leaf %d: err = %v, want a RejectedError", i, o.err)
						}
					case o.err != nil:
						t.Fatalf("good leaf %d: %v", i, o.err)
					case o.res.Entry.Index != next:
						t.Fatalf("good leaf %d at index %d, want %d", i, o.res.Entry.Index, next)
					default:
						next++
					}
				}
				if head, err := l.store.LatestTreeState(context.Background()); err != nil || head.Size != next {
					t.Fatalf("stored tree size %d (%v), want %d", head.Size, err, next)
				}

				bad := len(tt.bad)
				want := 1 + 2*bad*(bits.Len(n)-1) // at most
				if entryLevel {
					want = bad // one refusal each
					if bad < n {
						want++ // and the commit of the rest
					}
				}
				if store.appends > want || entryLevel && store.appends != want {
					t.Fatalf("%d transactions for %d bad leaves of %d, want at most %d", store.appends, bad, n, want)
				}
				t.Logf("%d transactions", store.appends)
			})
		}
	}
}

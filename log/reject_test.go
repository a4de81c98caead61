package log_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	tlog "github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/storage"
)

// poison marks the bodies refusing refuses.
var poison = []byte(`"poison"`)

// refusing is a real store that cannot hold poisoned entries: its Append
// refuses every batch holding one, writing nothing, as a database refuses
// data it cannot hold (an index row too large, a value out of range). With
// entryLevel it names the first poisoned entry (a *storage.EntryError, as a
// driver's own checks do); without, it refuses the batch as a whole
// (storage.ErrRejected, as the database's own errors do).
type refusing struct {
	storage.Storage
	entryLevel bool
	appends    atomic.Int64 // Append calls
	mixed      atomic.Int64 // refused batches that also held good entries
}

func (r *refusing) Append(ctx context.Context, req storage.AppendRequest) error {
	r.appends.Add(1)
	for _, e := range req.Entries {
		if !bytes.Contains(e.Body, poison) {
			continue
		}
		if len(req.Entries) > 1 {
			r.mixed.Add(1)
		}
		if r.entryLevel {
			return fmt.Errorf("refusing: %w", &storage.EntryError{Index: e.Index, Err: errors.New("poisoned body")})
		}
		return fmt.Errorf("refusing: %w: poisoned body in the batch", storage.ErrRejected)
	}
	return r.Storage.Append(ctx, req)
}

// counterValue is the value of the counter name in reg.
func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			return mf.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no metric %s", name)
	return 0
}

// TestRejectedEntriesAlone writes 60 good entries and 12 poisoned ones at
// once, so batches mix them: every good entry is committed with an
// inclusion proof against its checkpoint, every poisoned one alone gets a
// RejectedError, and the tree holds exactly the good ones, with no index
// skipped or given twice.
func TestRejectedEntriesAlone(t *testing.T) {
	for _, e := range engines {
		for _, level := range []string{"entry", "batch"} {
			t.Run(e.name+"/"+level, func(t *testing.T) {
				store := &refusing{Storage: e.open(t)(t), entryLevel: level == "entry"}
				reg := prometheus.NewRegistry()
				l := openLog(t, store, newSigner(t), func(c *tlog.Config) {
					c.BatchMaxSize = 32
					c.BatchMaxAge = 30 * time.Millisecond
					c.Registerer = reg
				})
				const good, bad = 60, 12
				var (
					wg       sync.WaitGroup
					mu       sync.Mutex
					seen     []storage.TreeState
					idx      = map[uint64]int{}
					rejected atomic.Int32
					start    = make(chan struct{})
				)
				for i := range good + bad {
					wg.Go(func() {
						poisoned := i%6 == 5 // 12 of 72, spread through the stream
						body := fmt.Appendf(nil, `{"good":%d}`, i)
						if poisoned {
							body = fmt.Appendf(nil, `{%s:%d}`, poison, i)
						}
						<-start
						res, err := l.Add(context.Background(), tlog.Leaf{Body: body})
						if poisoned {
							var rej *tlog.RejectedError
							sentinel := storage.ErrRejected
							if store.entryLevel {
								sentinel = storage.ErrEntryRejected
							}
							reason := "poisoned body" // the driver's words for the entry it names
							if !store.entryLevel {
								reason = "the database refused its data" // the driver's words stay in the server log
							}
							if !errors.As(err, &rej) || !errors.Is(err, sentinel) || !strings.Contains(rej.Reason, reason) {
								t.Errorf("poisoned entry %d: err = %v, want a RejectedError matching %v", i, err, sentinel)
								return
							}
							rejected.Add(1)
							return
						}
						if err != nil {
							t.Errorf("good entry %d: %v", i, err)
							return
						}
						checkResult(t, l, res)
						mu.Lock()
						defer mu.Unlock()
						if prev, ok := idx[res.Entry.Index]; ok {
							t.Errorf("index %d given to entries %d and %d", res.Entry.Index, prev, i)
						}
						idx[res.Entry.Index] = i
						seen = append(seen, res.Head)
					})
				}
				close(start)
				wg.Wait()
				if t.Failed() {
					t.FailNow()
				}
				if rejected.Load() != bad || len(idx) != good {
					t.Fatalf("%d rejected and %d committed, want %d and %d", rejected.Load(), len(idx), bad, good)
				}
				// Every index below the size was given to a good entry, and
				// the tree reproduces from its entries and tiles.
				checkTree(t, l, good, seen)
				if store.mixed.Load() == 0 {
					t.Fatal("no refused batch held a good entry: isolation was not exercised")
				}
				if got := counterValue(t, reg, "tabula_rejected_entries_total"); got != bad {
					t.Fatalf("tabula_rejected_entries_total = %v, want %d", got, bad)
				}
				// A poisoned entry again is refused again (it was never
				// written), and the log goes on.
				if _, err := l.Add(context.Background(), tlog.Leaf{Body: fmt.Appendf(nil, `{%s:5}`, poison)}); !errors.Is(err, storage.ErrRejected) && !errors.Is(err, storage.ErrEntryRejected) {
					t.Fatalf("poisoned entry again: err = %v", err)
				}
				res, err := l.Add(context.Background(), tlog.Leaf{Body: []byte(`{"good":"after"}`)})
				if err != nil {
					t.Fatal(err)
				}
				checkResult(t, l, res)
				checkTree(t, l, good+1, seen)
				t.Logf("%d Append calls for %d good and %d poisoned entries", store.appends.Load(), good+1, bad+1)
			})
		}
	}
}

// TestEntryTooLarge: a body of merkle.MaxBundleEntry bytes is logged and
// served in its entry bundle; one byte more is refused by Add, before it is
// queued, with an EntryTooLargeError.
func TestEntryTooLarge(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			l := openLog(t, e.open(t)(t), newSigner(t), nil)
			ctx := context.Background()
			body := func(n int, fill byte) []byte {
				b := bytes.Repeat([]byte{fill}, n)
				copy(b, `{"big":"`)
				b[n-1] = '}'
				return b
			}
			tests := []struct {
				size int
				ok   bool
			}{
				{merkle.MaxBundleEntry, true},
				{merkle.MaxBundleEntry + 1, false},
				{4 << 20, false},
			}
			var want [][]byte
			for _, tt := range tests {
				b := body(tt.size, 'a'+byte(len(want)))
				res, err := l.Add(ctx, tlog.Leaf{Body: b})
				if tt.ok {
					if err != nil {
						t.Fatalf("%d bytes: %v", tt.size, err)
					}
					checkResult(t, l, res)
					want = append(want, b)
					continue
				}
				var tooLarge *tlog.EntryTooLargeError
				if !errors.As(err, &tooLarge) || tooLarge.Size != tt.size || tooLarge.Limit != merkle.MaxBundleEntry {
					t.Fatalf("%d bytes: err = %v, want EntryTooLargeError{%d, %d}", tt.size, err, tt.size, merkle.MaxBundleEntry)
				}
				if _, err := l.EntryByLeafHash(ctx, merkle.LeafHash(b)); !errors.Is(err, storage.ErrNotFound) {
					t.Fatalf("%d bytes: the refused entry is stored (%v)", tt.size, err)
				}
			}
			// Nothing refused was queued: the next entry follows the
			// accepted ones directly.
			next := body(100, 'z')
			res, err := l.Add(ctx, tlog.Leaf{Body: next})
			if err != nil {
				t.Fatal(err)
			}
			if res.Entry.Index != uint64(len(want)) {
				t.Fatalf("next entry at index %d, want %d", res.Entry.Index, len(want))
			}
			want = append(want, next)
			checkTree(t, l, uint64(len(want)), nil)
			// The bundle holding the largest entry is served and holds it.
			bundle, err := l.EntryBundle(ctx, 0, len(want))
			if err != nil {
				t.Fatal(err)
			}
			got, err := merkle.ParseBundle(bundle)
			if err != nil {
				t.Fatal(err)
			}
			if len(got) != len(want) || !bytes.Equal(got[0], want[0]) {
				t.Fatalf("bundle holds %d entries (first %d bytes), want %d (first %d bytes)", len(got), len(got[0]), len(want), len(want[0]))
			}
			// After Close the size is still checked first: a too-large
			// entry never reaches the queue.
			l.Close(ctx)
			var tooLarge *tlog.EntryTooLargeError
			if _, err := l.Add(ctx, tlog.Leaf{Body: body(merkle.MaxBundleEntry+1, 'y')}); !errors.As(err, &tooLarge) {
				t.Fatalf("after Close: err = %v, want EntryTooLargeError", err)
			}
		})
	}
}

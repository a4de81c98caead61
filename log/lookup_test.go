package log_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	tlog "github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/storage"
)

// counting is a real store that counts its duplicate lookups and appends.
type counting struct {
	storage.Storage
	lookups atomic.Int64
	appends atomic.Int64
}

func (c *counting) LookupLeafHashes(ctx context.Context, hashes []storage.Hash) (map[storage.Hash]uint64, error) {
	c.lookups.Add(1)
	return c.Storage.LookupLeafHashes(ctx, hashes)
}

func (c *counting) Append(ctx context.Context, req storage.AppendRequest) error {
	c.appends.Add(1)
	return c.Storage.Append(ctx, req)
}

// TestOptimisticLookup checks the duplicate check's round trips: batches
// are appended without a lookup; a duplicate is refused by the store and
// answered, after a rebuild with the lookup, with the entry it repeats;
// for 30 s after that, batches look up first (one refused append per
// stream of duplicates, not one per batch); then they stop again.
func TestOptimisticLookup(t *testing.T) {
	for _, e := range engines {
		t.Run(e.name, func(t *testing.T) {
			store := &counting{Storage: e.open(t)(t)}
			reg := prometheus.NewRegistry()
			var offset atomic.Int64 // the clock's lead over time.Now
			l := openLog(t, store, newSigner(t), func(c *tlog.Config) {
				c.Registerer = reg
				c.Now = func() time.Time { return time.Now().Add(time.Duration(offset.Load())) }
			})
			ctx := context.Background()
			add := func(i int) (tlog.Result, error) {
				t.Helper()
				return l.Add(ctx, leaf(i))
			}
			for i := range 5 {
				res, err := add(i)
				if err != nil {
					t.Fatal(err)
				}
				checkResult(t, l, res)
			}
			if n := store.lookups.Load(); n != 0 {
				t.Fatalf("%d lookups for 5 new leaves, want 0", n)
			}

			// A duplicate: refused by the store, then found by the lookup.
			appends := store.appends.Load()
			_, err := add(3)
			var dup *tlog.DuplicateError
			if !errors.As(err, &dup) || dup.Index != 3 {
				t.Fatalf("re-adding leaf 3: err = %v, want a duplicate of entry 3", err)
			}
			if got := store.appends.Load() - appends; got != 1 {
				t.Fatalf("%d appends for the duplicate, want 1 (refused)", got)
			}
			if store.lookups.Load() == 0 {
				t.Fatal("the duplicate was answered without a lookup")
			}
			if got := labeledCounter(t, reg, "tabula_integrations_total", "result", "duplicate"); got != 1 {
				t.Fatalf("integrations{result=duplicate} = %v, want 1", got)
			}

			// Within the window, duplicates cost no refused append.
			appends, lookups := store.appends.Load(), store.lookups.Load()
			if _, err := add(1); !errors.As(err, &dup) || dup.Index != 1 {
				t.Fatalf("re-adding leaf 1: err = %v, want a duplicate of entry 1", err)
			}
			res, err := add(5)
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, l, res)
			if store.appends.Load()-appends != 1 || store.lookups.Load()-lookups != 2 {
				t.Fatalf("within the window: %d appends, %d lookups; want 1 and 2",
					store.appends.Load()-appends, store.lookups.Load()-lookups)
			}

			// After it, batches append at once again.
			offset.Store(int64(31 * time.Second))
			lookups = store.lookups.Load()
			if _, err := add(6); err != nil {
				t.Fatal(err)
			}
			if n := store.lookups.Load() - lookups; n != 0 {
				t.Fatalf("%d lookups after the window, want 0", n)
			}
			if got := labeledCounter(t, reg, "tabula_integrations_total", "result", "duplicate"); got != 1 {
				t.Fatalf("integrations{result=duplicate} = %v, want 1", got)
			}
			checkTree(t, l, 7, nil)
		})
	}
}

// labeledCounter is the value of the counter name{label=value} in reg, 0
// when it has not counted.
func labeledCounter(t *testing.T, reg *prometheus.Registry, name, label, value string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == label && lp.GetValue() == value {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

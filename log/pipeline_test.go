package log_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	tlog "github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage"
)

// gated is a real store whose first Append waits, once entered, until the
// test releases it with the error it should return (nil: append for real).
type gated struct {
	storage.Storage
	entered chan struct{}
	release chan error
	once    sync.Once

	mu      sync.Mutex
	appends []int // entries per Append call
}

func (g *gated) Append(ctx context.Context, req storage.AppendRequest) error {
	g.mu.Lock()
	g.appends = append(g.appends, len(req.Entries))
	g.mu.Unlock()
	first := false
	g.once.Do(func() { first = true })
	if first {
		close(g.entered)
		if err := <-g.release; err != nil {
			return err
		}
	}
	return g.Storage.Append(ctx, req)
}

// TestPipelinedBatch checks the batch the integrator prepares while an
// append is in flight: leaves queued meanwhile are signed and built on the
// head that append will commit, and appended together right after it; if
// that append fails, they are built again on the real head and commit
// there, with proofs that verify, and nothing is skipped or given twice.
func TestPipelinedBatch(t *testing.T) {
	for _, e := range engines {
		for _, fail := range []bool{false, true} {
			name := e.name + "/first-ok"
			if fail {
				name = e.name + "/first-fails"
			}
			t.Run(name, func(t *testing.T) {
				g := &gated{Storage: e.open(t)(t), entered: make(chan struct{}), release: make(chan error, 1)}
				reg := prometheus.NewRegistry()
				sgn := &countingSigner{Signer: newSigner(t)}
				l := openLog(t, g, sgn, func(c *tlog.Config) { c.Registerer = reg })
				ctx := context.Background()

				type result struct {
					i   int
					res tlog.Result
					err error
				}
				results := make(chan result, 4)
				add := func(i int) {
					res, err := l.Add(ctx, leaf(i))
					results <- result{i, res, err}
				}
				go add(0)
				<-g.entered // leaf 0's append is in flight
				// Leaf 1 comes while it waits: the integrator takes it off
				// the queue and prepares it on the head leaf 0's append
				// commits (its SET signed: the queue's length cannot tell
				// leaf 1 taken from leaf 1 not yet queued). Leaves 2 and 3
				// come after that, and wait.
				signed := sgn.n.Load()
				go add(1)
				waitSigned(t, sgn, signed+1)
				go add(2)
				waitPending(t, reg, 1)
				go add(3)
				waitPending(t, reg, 2)
				if fail {
					g.release <- errInjected
				} else {
					g.release <- nil
				}

				got := map[int]uint64{}
				var seen []storage.TreeState
				for range 4 {
					r := <-results
					if r.i == 0 && fail {
						if !errors.Is(r.err, errInjected) {
							t.Fatalf("leaf 0: err = %v, want the injected failure", r.err)
						}
						continue
					}
					if r.err != nil {
						t.Fatalf("leaf %d: %v", r.i, r.err)
					}
					checkResult(t, l, r.res)
					got[r.i] = r.res.Entry.Index
					seen = append(seen, r.res.Head)
				}
				want := map[int]uint64{0: 0, 1: 1, 2: 2, 3: 3}
				if fail {
					want = map[int]uint64{1: 0, 2: 1, 3: 2}
				}
				for i, idx := range want {
					if got[i] != idx {
						t.Errorf("leaf %d at index %d, want %d", i, got[i], idx)
					}
				}
				checkTree(t, l, uint64(len(want)), seen)
				g.mu.Lock()
				defer g.mu.Unlock()
				// Leaf 1 went alone, prepared during leaf 0's append (and,
				// when that failed, built again), then leaves 2 and 3.
				if want := []int{1, 1, 2}; !slices.Equal(g.appends, want) {
					t.Fatalf("appends of %v entries, want %v", g.appends, want)
				}
			})
		}
	}
}

// waitPending waits until the log's queue holds n leaves.
func waitPending(t *testing.T, reg *prometheus.Registry, n float64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		for _, mf := range mfs {
			if mf.GetName() == "tabula_pending_leaves" && mf.GetMetric()[0].GetGauge().GetValue() == n {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the queue never held %v leaves", n)
		}
		time.Sleep(time.Millisecond)
	}
}

// countingSigner counts its signatures.
type countingSigner struct {
	signer.Signer
	n atomic.Int64
}

func (c *countingSigner) SignMessage(msg []byte) ([]byte, error) {
	c.n.Add(1)
	return c.Signer.SignMessage(msg)
}

// waitSigned waits until s has made at least n signatures.
func waitSigned(t *testing.T, s *countingSigner, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for s.n.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d signatures, never %d", s.n.Load(), n)
		}
		time.Sleep(time.Millisecond)
	}
}

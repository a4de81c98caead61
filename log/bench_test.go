package log_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tlog "github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/profile/rekorv1"
)

// BenchmarkAdd measures batch integration end to end: leaves from
// concurrent writers, batched, with SETs and checkpoints signed, tiles
// extended and committed. One op is one acknowledged leaf; entries/s is the
// integration rate, and with writers=1 ns/op is a lone writer's latency.
func BenchmarkAdd(b *testing.B) {
	for _, e := range engines {
		for _, writers := range []int{1, 64} {
			b.Run(fmt.Sprintf("%s/writers=%d", e.name, writers), func(b *testing.B) {
				benchAdd(b, e, writers)
			})
		}
	}
}

func benchAdd(b *testing.B, e engine, writers int) {
	l, err := tlog.Open(context.Background(), tlog.Config{Storage: e.open(b)(b), Signer: newSigner(b), Profile: rekorv1.Profile("bench.local")})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close(context.Background())
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(b.N) {
					return
				}
				body := fmt.Appendf(nil, `{"bench":%d,"pad":"%0600d"}`, i, 0)
				if _, err := l.Add(context.Background(), tlog.Leaf{Body: body}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "entries/s")
}

// BenchmarkProofAtHead measures the inclusion proofs answers carry, in the
// tree of the head (70,000 leaves: partial right-edge tiles at levels 0, 1
// and 2): "last" is a write's (the newest entry), "random" a read-entry's.
func BenchmarkProofAtHead(b *testing.B) {
	for _, e := range engines {
		b.Run(e.name, func(b *testing.B) {
			ctx := context.Background()
			l, err := tlog.Open(ctx, tlog.Config{Storage: e.open(b)(b), Signer: newSigner(b), Profile: rekorv1.Profile("bench.local")})
			if err != nil {
				b.Fatal(err)
			}
			defer l.Close(ctx)
			var wg sync.WaitGroup
			var last atomic.Pointer[tlog.Result]
			for w := range 64 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := w; i < 70_000; i += 64 {
						r, err := l.Add(ctx, tlog.Leaf{Body: fmt.Appendf(nil, `{"proof-bench":%d}`, i)})
						if err != nil {
							b.Error(err)
							return
						}
						if p := last.Load(); p == nil || r.Head.Size > p.Head.Size {
							last.Store(&r)
						}
					}
				}()
			}
			wg.Wait()
			r := last.Load()
			b.Run("last", func(b *testing.B) {
				for b.Loop() {
					if _, err := l.InclusionProof(ctx, r.Head.Size-1, r.Head.Size); err != nil {
						b.Fatal(err)
					}
				}
			})
			// A read-entry's proof: a random entry, mostly in full tiles.
			b.Run("random", func(b *testing.B) {
				rng := rand.New(rand.NewPCG(1, 2))
				for b.Loop() {
					if _, err := l.InclusionProof(ctx, rng.Uint64N(r.Head.Size), r.Head.Size); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}

// BenchmarkTileServing measures what GET /tile/0/<N> and
// /tile/entries/<N> cost the log for a random full tile of a 10,240-entry
// tree: "cached" from the cache of immutable tiles and bundles, "miss" read
// from storage (and, for a bundle, encoded) every time.
func BenchmarkTileServing(b *testing.B) {
	const tiles = 40
	for _, e := range engines {
		open := e.open(b)
		store := open(b)
		sgn := newSigner(b)
		ctx := context.Background()
		l, err := tlog.Open(ctx, tlog.Config{Storage: store, Signer: sgn, Profile: rekorv1.Profile("bench.local")})
		if err != nil {
			b.Fatal(err)
		}
		var wg sync.WaitGroup
		for w := range 64 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := w; i < tiles*256; i += 64 {
					if _, err := l.Add(ctx, tlog.Leaf{Body: fmt.Appendf(nil, `{"tile-bench":%d,"pad":"%0500d"}`, i, 0)}); err != nil {
						b.Error(err)
						return
					}
				}
			}()
		}
		wg.Wait()
		if err := l.Close(ctx); err != nil {
			b.Fatal(err)
		}
		for _, cache := range []struct {
			name string
			size int
		}{{"cached", 0}, {"miss", 1}} {
			l, err := tlog.Open(ctx, tlog.Config{Storage: store, Signer: sgn, Profile: rekorv1.Profile("bench.local"),
				TileCacheSize: cache.size, BundleCacheSize: cache.size})
			if err != nil {
				b.Fatal(err)
			}
			rng := rand.New(rand.NewPCG(1, 2))
			b.Run(e.name+"/tile/"+cache.name, func(b *testing.B) {
				for b.Loop() {
					if _, err := l.Tile(ctx, 0, rng.Uint64N(tiles), 256); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run(e.name+"/bundle/"+cache.name, func(b *testing.B) {
				for b.Loop() {
					if _, err := l.EntryBundle(ctx, rng.Uint64N(tiles), 256); err != nil {
						b.Fatal(err)
					}
				}
			})
			l.Close(ctx)
		}
	}
}

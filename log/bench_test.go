package log_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	tlog "github.com/tabularium/tabula/log"
)

// BenchmarkAdd measures batch integration end to end: leaves from many
// concurrent writers, batched, with SETs and checkpoints signed, tiles
// extended and committed. One op is one acknowledged leaf.
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
	l, err := tlog.Open(context.Background(), tlog.Config{Storage: e.open(b)(b), Signer: newSigner(b), Hostname: "bench.local"})
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close(context.Background())
	var n atomic.Int64
	b.SetParallelism((writers + 1) / 2) // GOMAXPROCS is 2 on the reference machine
	start := time.Now()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := n.Add(1)
			if _, err := l.Add(context.Background(), tlog.Leaf{Body: fmt.Appendf(nil, `{"bench":%d,"pad":"%0600d"}`, i, 0)}); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(n.Load())/time.Since(start).Seconds(), "entries/s")
}

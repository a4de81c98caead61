package readroute_test

import (
	"context"
	"crypto/sha256"
	"fmt"
	"testing"

	"github.com/tabularium/tabula/internal/pgtest"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/postgres"
	"github.com/tabularium/tabula/storage/readroute"
)

// BenchmarkReadEntry reads one entry by index, from PostgreSQL directly and
// through the router to a replica (here the same database, caught up): the
// router's cost per read.
func BenchmarkReadEntry(b *testing.B) {
	url := pgtest.NewDatabase(b)
	ctx := context.Background()
	p, err := postgres.Open(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	const n = 256
	req := storage.AppendRequest{State: storage.TreeState{TreeID: 7, Size: n, Checkpoint: []byte("cp")}}
	var tile []byte
	for i := range n {
		body := fmt.Appendf(nil, "entry %d", i)
		e := storage.Entry{Index: uint64(i), LeafHash: sha256.Sum256(body), Body: body, IntegratedTime: 1, SET: []byte("set")}
		req.Entries = append(req.Entries, e)
		tile = append(tile, e.LeafHash[:]...)
	}
	req.Tiles = []storage.Tile{{Level: 0, Index: 0, Hashes: tile}}
	direct := storage.Active(p, "bench", nil)
	if err := direct.CreateTree(ctx, storage.TreeState{TreeID: 7}); err != nil {
		b.Fatal(err)
	}
	if err := direct.Append(ctx, req); err != nil {
		b.Fatal(err)
	}
	r, err := postgres.OpenReplica(ctx, url)
	if err != nil {
		b.Fatal(err)
	}
	set, err := readroute.New(readroute.Config{Primary: p, Replica: r})
	if err != nil {
		b.Fatal(err)
	}
	defer set.Close()
	routed := storage.Active(set, "bench", nil)
	if _, err := routed.LatestTreeState(ctx); err != nil {
		b.Fatal(err)
	}
	for _, s := range []struct {
		name string
		st   storage.Storage
	}{{"direct", direct}, {"routed", routed}} {
		b.Run(s.name, func(b *testing.B) {
			// A server's reads carry the request's context, which can
			// be cancelled (so pgx watches it either way).
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			i := uint64(0)
			for b.Loop() {
				es, err := s.st.ReadEntries(ctx, i%n, i%n+1)
				if err != nil || len(es) != 1 {
					b.Fatal(len(es), err)
				}
				i++
			}
		})
	}
}

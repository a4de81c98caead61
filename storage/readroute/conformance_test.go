package readroute_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"

	"github.com/tabularium/tabula/internal/pgtest"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/postgres"
	"github.com/tabularium/tabula/storage/readroute"
	"github.com/tabularium/tabula/storage/storagetest"
)

// replicaKinds are the replicas the conformance suites run the router
// with: the primary's own database (a replica that never lags, so reads go
// to it as soon as the poller has seen its sizes), and a replica whose
// every call fails (its pool closed), so every read falls back to the
// primary. Either way the routed set must keep the whole storage contract.
var replicaKinds = []struct {
	name   string
	broken bool
}{{"caught-up replica", false}, {"failing replica", true}}

// routed opens the router over the database at url.
func routed(t *testing.T, url string, broken bool) *readroute.Set {
	t.Helper()
	ctx := context.Background()
	p, err := postgres.Open(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	r, err := postgres.OpenReplica(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	if broken {
		r.Close()
	}
	s, err := readroute.New(readroute.Config{Primary: p, Replica: r, PollInterval: time.Millisecond, Backoff: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	for _, k := range replicaKinds {
		t.Run(k.name, func(t *testing.T) {
			storagetest.Run(t, func(t *testing.T) (storage.Storage, func(*testing.T) storage.Storage) {
				url := pgtest.NewDatabase(t)
				active := func(t *testing.T) storage.Storage { return storage.Active(routed(t, url, k.broken), "test", nil) }
				return active(t), active
			})
		})
	}
}

// TestLogSetConformance runs the set's suite with the caught-up replica
// only: its methods other than OpenLog's reads go to the primary whatever
// the replica, and TestConformance covers reads with a failing one.
func TestLogSetConformance(t *testing.T) {
	for _, k := range replicaKinds[:1] {
		t.Run(k.name, func(t *testing.T) {
			storagetest.RunLogSet(t, func(t *testing.T) (storage.LogSet, func(*testing.T, int64)) {
				url := pgtest.NewDatabase(t)
				return routed(t, url, k.broken), func(t *testing.T, treeID int64) {
					db, err := sql.Open("pgx", url)
					if err != nil {
						t.Fatal(err)
					}
					defer db.Close()
					if _, err := db.Exec(storagetest.FreezeSQL("$1"), treeID); err != nil {
						t.Fatalf("freeze log %d: %v", treeID, err)
					}
				}
			})
		})
	}
}

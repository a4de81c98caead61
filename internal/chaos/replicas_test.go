package chaos

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tabularium/tabula/internal/pgtest"
)

// TestReplicas runs several `tabula serve` processes on one PostgreSQL
// database, each taking writes at once, and audits the result through every
// replica in turn: one tree, no index given twice, every inclusion proof
// verifies against its checkpoint, and every checkpoint any replica served is
// consistent with the final tree (proved by another replica).
// TABULA_CHAOS_REPLICAS and TABULA_CHAOS_REPLICA_TIME set the number of
// replicas (default 3) and how long they take writes (default 3s).
func TestReplicas(t *testing.T) {
	n := envInt(t, envReplicas, 3)
	d := envDuration(t, envReplicaTime, 3*time.Second)
	writers := envInt(t, envWriters, 2*n)
	db := pgtest.NewDatabase(t)
	key, pub := keygen(t)
	var urls []string
	var servers []*server
	for i := range n {
		s := newServer(t, fmt.Sprintf("replica%d", i), "--key", key,
			"--data-dir", filepath.Join(t.TempDir(), "data"), "--database-url", db)
		servers = append(servers, s)
		urls = append(urls, s.start())
	}
	rec := newRecord()
	l := startLoad(t, rec, writers, func(g int) string { return urls[g%n] }, func() []string { return urls })
	time.Sleep(d)
	l.stop()

	f := mustAudit(t, urls, pub, rec)
	reportLoad(t, rec)
	perReplica := make([]int, n)
	acks, cps := rec.snapshot()
	for _, a := range acks {
		for i, u := range urls {
			if a.via == u {
				perReplica[i]++
			}
		}
	}
	cpsBy := make([]int, n)
	for _, from := range cps {
		for i, u := range urls {
			if from == u {
				cpsBy[i]++
			}
		}
	}
	for i, c := range perReplica {
		if c == 0 {
			t.Errorf("replica %d acknowledged no write: the replicas did not all take writes", i)
		}
	}
	for _, s := range servers {
		if races := s.raceReports(); len(races) > 0 {
			t.Errorf("%s reported data races: see %v", s.name, races)
		}
	}
	t.Logf("FIGURES replicas: %d replicas on one PostgreSQL database for %s, %d writers; acknowledged per replica %v; "+
		"checkpoints first seen per replica %v; %s", n, d, writers, perReplica, cpsBy, f)
}

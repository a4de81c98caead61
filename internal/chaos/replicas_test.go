package chaos

import (
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tabularium/tabula/internal/pgtest"
)

// TestReplicas runs several `tabula serve` processes on one PostgreSQL
// database, each taking writes at once, and audits the result through every
// replica in turn: one tree, no index given twice, every inclusion proof
// verifies against its checkpoint, and every checkpoint any replica served is
// consistent with the final tree (proved by another replica).
//
// Meanwhile a random replica is killed with SIGKILL and restarted now and
// then, so some die holding the tree-state row lock or mid-COMMIT.
// TABULA_CHAOS_REPLICAS, TABULA_CHAOS_REPLICA_TIME and
// TABULA_CHAOS_REPLICA_KILLS set the number of replicas (default 3), how
// long they take writes (default 3s) and how many kills happen meanwhile
// (default 2).
func TestReplicas(t *testing.T) {
	t.Parallel()
	n := envInt(t, envReplicas, 3)
	d := envDuration(t, envReplicaTime, 3*time.Second)
	kills := envInt(t, envReplicaKills, 2)
	writers := envInt(t, envWriters, 2*n)
	db := pgtest.NewDatabase(t)
	key, pub := keygen(t)

	servers := make([]*server, n)
	live := make([]atomic.Value, n) // each replica's URL, "" while it is down
	owner := make(map[string]int)   // every URL a replica served on → replica
	for i := range n {
		servers[i] = newServer(t, fmt.Sprintf("replica%d", i), "--key", key,
			"--data-dir", filepath.Join(t.TempDir(), "data"), "--database-url", db)
		u := servers[i].start()
		live[i].Store(u)
		owner[u] = i
	}
	url := func(g int) string { return live[g%n].Load().(string) }
	urls := func() []string {
		out := make([]string, n)
		for i := range n {
			out[i] = url(i)
		}
		return out
	}
	rec := newRecord()
	l := startLoad(t, rec, writers, url, urls)
	start := time.Now()
	for k := range kills {
		time.Sleep(time.Until(start.Add(d * time.Duration(k+1) / time.Duration(kills+1))))
		i := rand.IntN(n)
		live[i].Store("")
		servers[i].kill()
		u := servers[i].start()
		t.Logf("SIGKILLed and restarted replica %d at %d acknowledged entries", i, ackCount(rec))
		owner[u] = i
		live[i].Store(u)
	}
	time.Sleep(time.Until(start.Add(d)))
	l.stop()

	f := mustAudit(t, urls(), pub, rec)
	reportLoad(t, rec, f)
	perReplica := make([]int, n)
	cpsBy := make([]int, n)
	acks, cps := rec.snapshot()
	for _, a := range acks {
		perReplica[owner[a.via]]++
	}
	for _, from := range cps {
		if i, ok := owner[from]; ok {
			cpsBy[i]++
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
	t.Logf("FIGURES replicas: %d replicas on one PostgreSQL database for %s, %d writers, %d replica SIGKILLs; "+
		"acknowledged per replica %v; checkpoints first seen per replica %v; %s", n, d, writers, kills, perReplica, cpsBy, f)
}

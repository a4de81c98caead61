package main

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/internal/pgcluster"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/storage/postgres"
	"github.com/tabularium/tabula/verify"
)

// TestReadReplica runs a writer `tabula serve` on a primary and a reader
// with --read-database-url on a streaming hot standby of it (two throwaway
// clusters, pg_basebackup -R), and checks that every read the reader
// answers verifies (inclusion proof against the checkpoint it serves, SET)
// while the standby is caught up (reads served by it: its metric counts
// them), lagging (replay paused: the new entries and the proofs against the
// new head come from the primary), stopped (every read still 200, from the
// primary) and started again (reads back on the standby).
func TestReadReplica(t *testing.T) {
	primary := pgcluster.New(t)
	ctx := context.Background()
	// Migrate before the standby is cloned, so it starts with the schema.
	s, err := postgres.Open(ctx, primary.URL())
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	standby := pgcluster.NewStandby(t, primary)

	keyDir := t.TempDir()
	wc := defaultConfig(t)
	wc.DatabaseURL, wc.DataDir = primary.URL(), keyDir
	writer, _ := startServe(t, wc)
	rc := defaultConfig(t)
	rc.DatabaseURL, rc.ReadDatabaseURL, rc.DataDir = primary.URL(), standby.URL(), keyDir
	// Caches off (or tiny), so that reads reach the database.
	rc.EntryCacheMiB, rc.TileCacheSize = 0, 1
	reader, _ := startServe(t, rc)
	metrics := "http://" + rc.MetricsListen + "/metrics"

	_, pemKey := httpDo(t, "GET", reader+"/api/v1/log/publicKey", nil)
	key, err := verify.ParseLogKeyPEM(pemKey)
	if err != nil {
		t.Fatal(err)
	}
	sg, err := testentry.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	var artifacts []string
	write := func(n int) {
		t.Helper()
		first := len(artifacts)
		for i := range n {
			artifacts = append(artifacts, fmt.Sprintf("replica artifact %d", first+i))
		}
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for w := range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := first + w; i < first+n; i += 8 {
					body, err := sg.HashedRekord([]byte(artifacts[i]))
					if err != nil {
						errs <- err
						return
					}
					resp, err := http.Post(writer+"/api/v1/log/entries", "application/json", strings.NewReader(string(body)))
					if err != nil {
						errs <- err
						return
					}
					resp.Body.Close()
					if resp.StatusCode != 201 {
						errs <- fmt.Errorf("write %d: %s", i, resp.Status)
					}
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatal(err)
		}
	}
	// readAll reads entries [from, to) from the reader and verifies each
	// against the log key; it returns the largest checkpoint size seen.
	readAll := func(from, to int) uint64 {
		t.Helper()
		var size uint64
		for i := from; i < to; i++ {
			resp, b := httpDo(t, "GET", reader+"/api/v1/log/entries?logIndex="+strconv.Itoa(i), nil)
			if resp.StatusCode != 200 {
				t.Fatalf("read %d: %d %s", i, resp.StatusCode, b)
			}
			var le models.LogEntry
			if err := json.Unmarshal(b, &le); err != nil {
				t.Fatal(err)
			}
			for uuid, e := range le {
				cp, err := verify.Entry(uuid, e, key)
				if err != nil {
					t.Fatalf("entry %d does not verify: %v", i, err)
				}
				size = max(size, cp.Size)
			}
		}
		return size
	}
	search := func(i int) {
		t.Helper()
		q := fmt.Sprintf(`{"hash":"sha256:%s"}`, hex.EncodeToString(sg.Digest([]byte(artifacts[i]))))
		resp, b := httpDo(t, "POST", reader+"/api/v1/index/retrieve", []byte(q))
		var uuids []string
		if resp.StatusCode != 200 || json.Unmarshal(b, &uuids) != nil || len(uuids) != 1 {
			t.Fatalf("search for artifact %d: %d %s", i, resp.StatusCode, b)
		}
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("waited 20 s for %s; metrics:\n%s", what, grepMetrics(t, metrics, "tabula_storage_reads_total", "tabula_read_replica"))
			}
		}
	}
	lag := func() float64 { return metricSum(t, metrics, "tabula_read_replica_lag_entries", "") }
	reads := func(target string) float64 {
		return metricSum(t, metrics, "tabula_storage_reads_total", `target="`+target+`"`)
	}

	// Caught up: 300 entries (a full level-0 tile and a partial one).
	write(300)
	readAll(299, 300) // the reader learns the head
	waitFor("the standby to catch up", func() bool { return lag() == 0 })
	p0, r0 := reads("primary"), reads("replica")
	if size := readAll(0, 300); size != 300 {
		t.Fatalf("caught up: proofs against size %d, want 300", size)
	}
	for i := 0; i < 300; i += 37 {
		search(i)
	}
	p1, r1 := reads("primary"), reads("replica")
	t.Logf("caught up: %v reads on the replica, %v on the primary", r1-r0, p1-p0)
	if r1-r0 < 300 || p1 != p0 {
		t.Errorf("caught up: %v reads on the replica (want ≥ 300), %v on the primary (want 0)", r1-r0, p1-p0)
	}

	// Lagging: replay paused, 40 more entries. The reader's head moves on
	// (it reloads it from the primary); the standby's tiles and tree stay
	// at 300.
	if err := standby.Exec(ctx, `SELECT pg_wal_replay_pause()`); err != nil {
		t.Fatal(err)
	}
	waitFor("replay to pause", func() bool {
		st, err := standby.QueryString(ctx, `SELECT pg_get_wal_replay_pause_state()`)
		return err == nil && st == "paused"
	})
	write(40)
	waitFor("the reader to see the new head", func() bool { readAll(339, 340); return lag() == 40 })
	p2, r2 := reads("primary"), reads("replica")
	if size := readAll(250, 340); size != 340 {
		t.Fatalf("lagging: proofs against size %d, want 340", size)
	}
	search(310)
	p3, r3 := reads("primary"), reads("replica")
	t.Logf("lagging: %v reads on the replica, %v on the primary", r3-r2, p3-p2)
	if p3-p2 < 40 {
		t.Errorf("lagging: %v reads on the primary, want at least the 40 new entries", p3-p2)
	}
	if err := standby.Exec(ctx, `SELECT pg_wal_replay_resume()`); err != nil {
		t.Fatal(err)
	}
	waitFor("the standby to catch up after replay resumed", func() bool { return lag() == 0 })

	// Stopped: every read still 200 and verified, from the primary.
	standby.Stop("immediate")
	if size := readAll(0, 340); size != 340 {
		t.Fatalf("stopped: proofs against size %d, want 340", size)
	}
	search(5)
	if up := metricSum(t, metrics, "tabula_read_replica_up", ""); up != 0 {
		t.Errorf("stopped: tabula_read_replica_up %v, want 0", up)
	}
	if resp, b := httpDo(t, "GET", reader+"/readyz", nil); resp.StatusCode != 200 {
		t.Errorf("stopped: /readyz %d %s, want 200", resp.StatusCode, b)
	}

	// Started again: reads go back to the standby.
	standby.Start()
	waitFor("reads to go back to the standby", func() bool {
		r := reads("replica")
		readAll(0, 20)
		return reads("replica") > r
	})
	readAll(0, 340)
}

// metricSum sums the samples of metric whose labels contain match.
func metricSum(t *testing.T, url, metric, match string) float64 {
	t.Helper()
	var sum float64
	for _, line := range strings.Split(grepMetrics(t, url, metric), "\n") {
		name, rest, _ := strings.Cut(line, " ")
		if !strings.HasPrefix(name, metric) || !strings.Contains(name, match) {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// grepMetrics returns the metric lines starting with one of prefixes.
func grepMetrics(t *testing.T, url string, prefixes ...string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		for _, p := range prefixes {
			if strings.HasPrefix(sc.Text(), p) {
				out = append(out, sc.Text())
			}
		}
	}
	return strings.Join(out, "\n")
}

// TestReadReplicaNeedsPostgres: --read-database-url without --database-url
// (the embedded SQLite database, which has no replicas) is refused, saying
// why.
func TestReadReplicaNeedsPostgres(t *testing.T) {
	c := defaultConfig(t)
	c.ReadDatabaseURL = "postgres://127.0.0.1:1/none"
	err := serve(context.Background(), c, discardLogger(), nil)
	if err == nil || !strings.Contains(err.Error(), "--read-database-url needs --database-url") {
		t.Fatalf("serve with --read-database-url on SQLite: %v, want a refusal naming the flags", err)
	}
}

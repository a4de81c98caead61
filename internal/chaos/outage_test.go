package chaos

import (
	"io"
	"net/http"
	"path/filepath"
	"testing"
	"time"
)

// writeBound is the longest any write may take, outage or not: a client must
// get an answer (201, or 503 to retry) rather than hang.
const writeBound = 15 * time.Second

// recoveryBound is how soon after the database is back the server must
// acknowledge writes again, by itself.
const recoveryBound = 30 * time.Second

// TestDatabaseOutage stops PostgreSQL abruptly (pg_ctl stop -m immediate)
// under write load, on a throwaway cluster of its own: writes must answer 503
// (never 500, never hang), /readyz must say not ready, and once PostgreSQL is
// back the same server process must recover by itself with nothing
// acknowledged lost. TABULA_CHAOS_OUTAGE sets how long the database stays
// down (default 3s).
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	outage := envDuration(t, envOutage, 3*time.Second)
	writers := envInt(t, envWriters, 4)
	cluster := newPGCluster(t)
	key, pub := keygen(t)
	srv := newServer(t, "outage", "--key", key, "--data-dir", filepath.Join(t.TempDir(), "data"), "--database-url", cluster.URL())
	url := srv.start()
	rec := newRecord()
	l := startLoad(t, rec, writers, func(int) string { return url }, func() []string { return []string{url} })
	probe := &http.Client{Timeout: writeBound}

	time.Sleep(time.Second)
	if code := status(probe, url+"/readyz"); code != http.StatusOK {
		t.Fatalf("/readyz before the outage: %d", code)
	}

	// Down. Writes in flight while pg_ctl stops it may still commit.
	down := time.Now()
	cluster.Stop("immediate")
	stopped := time.Now()
	readyzDown := 0
	for time.Since(down) < outage {
		switch code := status(probe, url+"/readyz"); code {
		case http.StatusServiceUnavailable:
			readyzDown++
		default:
			t.Errorf("/readyz while the database is down: %d, want 503", code)
		}
		// Alive, though not ready: an orchestrator must not restart it.
		if code := status(probe, url+"/healthz"); code != http.StatusOK {
			t.Errorf("/healthz while the database is down: %d, want 200", code)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Up again: the same server process must recover by itself.
	up := time.Now()
	cluster.Start()
	var ready, writing time.Duration
	for ready == 0 || writing == 0 {
		if ready == 0 && status(probe, url+"/readyz") == http.StatusOK {
			ready = time.Since(up)
		}
		if writing == 0 && acksAfter(rec, up) > 0 {
			writing = time.Since(up)
		}
		if time.Since(up) > recoveryBound {
			t.Fatalf("no recovery %s after PostgreSQL came back (readyz after %s, first write after %s)", recoveryBound, ready, writing)
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second) // load on the recovered server
	l.stop()

	// Every write answered within the bound, and only with 201, 503 or (a
	// retry whose earlier attempt committed) 409; during the outage, 503.
	var unavailable, slow, overlapping int
	var longest time.Duration
	for _, a := range rec.attemptsCopy() {
		longest = max(longest, a.took)
		if a.took > writeBound {
			slow++
		}
		end := a.start.Add(a.took)
		switch {
		case !a.start.Before(stopped) && !end.After(up): // wholly while down
			overlapping++
			if a.status != http.StatusServiceUnavailable {
				t.Errorf("a write while the database was down (started %s after the stop, took %s) answered %d %s, want 503",
					a.start.Sub(stopped).Round(time.Millisecond), a.took.Round(time.Millisecond), a.status, a.err)
			}
		case end.After(down) && a.start.Before(up): // across a stop or start
			if a.status != http.StatusServiceUnavailable && a.status != http.StatusCreated && a.status != http.StatusConflict {
				t.Errorf("a write across the database stop or start answered %d %s, want 201 or 503", a.status, a.err)
			}
		}
		switch a.status {
		case http.StatusServiceUnavailable:
			unavailable++
		case 0:
			t.Errorf("a write got no HTTP answer (the server never went down): %s", a.err)
		}
	}
	if slow > 0 {
		t.Errorf("%d writes took longer than %s (longest %s)", slow, writeBound, longest)
	}
	if overlapping == 0 || unavailable == 0 || readyzDown == 0 {
		t.Errorf("the outage was not exercised: %d writes during it, %d answered 503, %d /readyz probes answered 503",
			overlapping, unavailable, readyzDown)
	}

	f := mustAudit(t, []string{url}, pub, rec)
	reportLoad(t, rec, f)
	if races := srv.raceReports(); len(races) > 0 {
		t.Errorf("the server reported data races: see %v", races)
	}
	t.Logf("FIGURES outage: PostgreSQL down %s (pg_ctl stop -m immediate); %d writes during it answered 503, /readyz 503 ×%d; "+
		"after restart ready in %s, first acknowledged write in %s, no server restart; longest write %s; %s",
		up.Sub(down).Round(time.Millisecond), overlapping, readyzDown,
		ready.Round(time.Millisecond), writing.Round(time.Millisecond), longest.Round(time.Millisecond), f)
}

// status GETs url and returns the status code (0 if there was no answer).
func status(c *http.Client, url string) int {
	resp, err := c.Get(url)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

// acksAfter counts the writes acknowledged that started after t.
func acksAfter(rec *record, t time.Time) int {
	n := 0
	for _, a := range rec.attemptsCopy() {
		if a.status == http.StatusCreated && a.start.After(t) {
			n++
		}
	}
	return n
}

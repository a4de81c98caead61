package chaos

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/internal/pgcluster"
)

// envFreeze enables TestDatabaseFrozen and says how long PostgreSQL stays
// frozen; make chaos sets it. It is off in make test: exercising the
// integration timeout takes over 30 s.
const envFreeze = "TABULA_CHAOS_FREEZE"

// frozenWriteBound is the longest a write may take while the database hangs:
// the API's write wait plus a margin for a loaded machine, well before the
// server's own --write-timeout (60 s by default) would cut the connection.
const frozenWriteBound = api.DefaultWriteWait + 5*time.Second

// TestDatabaseFrozen freezes PostgreSQL (SIGSTOP to the postmaster and every
// backend: it neither answers nor refuses, like a network partition) under
// write load: writes must still be answered, 503 after the API's write wait
// (api.DefaultWriteWait), within frozenWriteBound; /readyz must answer 503 within its ping
// timeout; and after SIGCONT the server recovers by itself with nothing
// acknowledged lost.
func TestDatabaseFrozen(t *testing.T) {
	t.Parallel()
	if os.Getenv(envFreeze) == "" {
		t.Skipf("set %s=45s (make chaos does) to freeze PostgreSQL for that long; it takes over 30 s", envFreeze)
	}
	freeze := envDuration(t, envFreeze, 45*time.Second)
	writers := envInt(t, envWriters, 4)
	cluster := newPGCluster(t)
	key, pub := keygen(t)
	srv := newServer(t, "frozen", "--key", key, "--data-dir", filepath.Join(t.TempDir(), "data"), "--database-url", cluster.URL())
	url := srv.start()
	rec := newRecord()
	l := startLoad(t, rec, writers, func(int) string { return url }, func() []string { return []string{url} })
	probe := &http.Client{Timeout: frozenWriteBound}
	time.Sleep(time.Second)

	pids, err := clusterPIDs(cluster)
	if err != nil {
		t.Skipf("cannot list PostgreSQL's processes: %v", err)
	}
	signal := func(sig syscall.Signal) {
		for _, p := range pids {
			if err := syscall.Kill(p, sig); err != nil && err != syscall.ESRCH {
				t.Errorf("kill -%d %d: %v", sig, p, err)
			}
		}
	}
	frozen := time.Now()
	signal(syscall.SIGSTOP)
	thawed := false
	thaw := func() {
		if !thawed {
			thawed = true
			signal(syscall.SIGCONT)
		}
	}
	defer thaw()
	var readyzSlowest time.Duration
	for time.Since(frozen) < freeze {
		s := time.Now()
		if code := status(probe, url+"/readyz"); code != http.StatusServiceUnavailable {
			t.Errorf("/readyz while the database is frozen: %d, want 503", code)
		}
		readyzSlowest = max(readyzSlowest, time.Since(s))
		time.Sleep(500 * time.Millisecond)
	}
	thaw()
	up := time.Now()
	var writing time.Duration
	for writing == 0 {
		if acksAfter(rec, up) > 0 {
			writing = time.Since(up)
		}
		if time.Since(up) > recoveryBound+frozenWriteBound {
			t.Fatalf("no write acknowledged %s after PostgreSQL was thawed", time.Since(up))
		}
		time.Sleep(50 * time.Millisecond)
	}
	time.Sleep(time.Second)
	l.stop()

	var unavailable int
	var longest time.Duration
	for _, a := range rec.attemptsCopy() {
		longest = max(longest, a.took)
		switch {
		case a.took > frozenWriteBound:
			t.Errorf("a write took %s (> %s): %d %s", a.took, frozenWriteBound, a.status, a.err)
		case a.status == 0:
			t.Errorf("a write got no HTTP answer after %s: %s", a.took, a.err)
		case a.status == http.StatusServiceUnavailable:
			unavailable++
		}
	}
	if unavailable == 0 {
		t.Errorf("no write answered 503 in a %s freeze: the integration timeout was not exercised", freeze)
	}
	if readyzSlowest > 5*time.Second {
		t.Errorf("/readyz took %s to answer while the database was frozen", readyzSlowest)
	}
	f := mustAudit(t, []string{url}, pub, rec)
	reportLoad(t, rec, f)
	t.Logf("FIGURES frozen: PostgreSQL frozen (SIGSTOP) %s; %d writes answered 503, the longest write took %s; "+
		"/readyz 503 within %s; first acknowledged write %s after SIGCONT, no server restart; %s",
		up.Sub(frozen).Round(time.Millisecond), unavailable, longest.Round(time.Millisecond),
		readyzSlowest.Round(time.Millisecond), writing.Round(time.Millisecond), f)
}

// pids returns the postmaster's PID and its children's (the backends).
func clusterPIDs(c *pgcluster.Cluster) ([]int, error) {
	b, err := os.ReadFile(filepath.Join(c.DataDir(), "postmaster.pid"))
	if err != nil {
		return nil, err
	}
	pm, err := strconv.Atoi(strings.TrimSpace(strings.SplitN(string(b), "\n", 2)[0]))
	if err != nil {
		return nil, fmt.Errorf("postmaster.pid: %w", err)
	}
	pids := []int{pm}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil, err
	}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		// pid (comm) state ppid …: comm may hold spaces, so cut after ')'.
		i := strings.LastIndexByte(string(st), ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(string(st[i+1:]))
		if len(f) > 1 && f[1] == strconv.Itoa(pm) {
			pids = append(pids, pid)
		}
	}
	return pids, nil
}

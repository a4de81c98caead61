package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tabularium/tabula/internal/lyinglog"
	"github.com/tabularium/tabula/internal/witnesstest"
)

// witnessedLyingServer serves a lying log set as a Tabula with witnesses
// does: /logs/{treeID}/checkpoint is the newest cosigned checkpoint (the
// test sets it; none: the log's latest), /logs/{treeID}/latest-checkpoint
// the log's latest.
type witnessedLyingServer struct {
	set      *lyinglog.Set
	mu       sync.Mutex
	cosigned []byte
}

func (s *witnessedLyingServer) handler() http.Handler {
	inner := s.set.Handler()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := s.set.Active().TreeID()
		switch r.URL.Path {
		case "/logs/" + id + "/latest-checkpoint":
			b, _ := s.set.Active().Checkpoint(r.Context())
			_, _ = w.Write(b)
			return
		case "/logs/" + id + "/checkpoint":
			s.mu.Lock()
			b := s.cosigned
			s.mu.Unlock()
			if b != nil {
				_, _ = w.Write(b)
				return
			}
		}
		inner.ServeHTTP(w, r)
	})
}

// TestMonitorWitnessPolicy: monitor --once --witness-policy, over HTTP,
// is quiet on an honest witnessed log (a witness door down is a warning),
// and reports a log that forked to the size witnesses cosigned as a split
// view with both notes as evidence files.
func TestMonitorWitnessPolicy(t *testing.T) {
	set, err := lyinglog.NewSet()
	if err != nil {
		t.Fatal(err)
	}
	l := set.Active()
	if err := l.Append(monEntries("honest", 300)...); err != nil {
		t.Fatal(err)
	}
	ls := &witnessedLyingServer{set: set}
	srv := httptest.NewServer(ls.handler())
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	key := writeFile(t, dir, "key.pem", l.PublicKeyPEM())
	ws := []*witnesstest.Witness{witnesstest.New(t, 0, nil), witnesstest.New(t, 1, nil)}
	var urls []string
	for _, w := range ws {
		d := httptest.NewServer(w.Handler())
		t.Cleanup(d.Close)
		urls = append(urls, d.URL)
	}
	pol := writeFile(t, dir, "policy.txt", []byte(witnesstest.PolicyText(2, ws, urls...)))
	cp, _ := l.Checkpoint(t.Context())
	for _, w := range ws {
		w.Witness(t, l.Origin(), cp)
	}
	ls.cosigned = witnesstest.Cosign(t, cp, ws...)
	state := filepath.Join(dir, "state")
	mon := func() (int, string, string) {
		return monRun(t, "monitor", "--once", "--server", srv.URL, "--log-key", key, "--state-dir", state, "--witness-policy", pol, "--uncosigned-after", "1h")
	}

	if code, out, errOut := mon(); code != 0 || strings.Contains(out+errOut, "ALERT") {
		t.Fatalf("honest witnessed log: exit %d\n%s%s", code, out, errOut)
	}
	ws[1].SetDown(true)
	if code, out, errOut := mon(); code != 0 || !strings.Contains(errOut, "reading a witness's checkpoint failed") {
		t.Fatalf("a witness door down: exit %d, want 0 and a warning\n%s%s", code, out, errOut)
	}
	ws[1].SetDown(false)

	if err := l.Fork(100, monEntries("forged", 200)...); err != nil {
		t.Fatal(err)
	}
	ls.mu.Lock()
	ls.cosigned = nil // the server shows the forged tree; the witnesses keep the old
	ls.mu.Unlock()
	code, out, errOut := mon()
	if code != 1 || !strings.Contains(out, "split-view: split view of "+l.Origin()+" at tree size 300") || !strings.Contains(out, "evidence: ") {
		t.Fatalf("fork to the cosigned size: exit %d, want 1 with a split-view alert and evidence\n%s%s", code, out, errOut)
	}
	t.Logf("monitor --once after the fork:\n%s", out)
	for _, line := range strings.Split(out, "\n") {
		if path, ok := strings.CutPrefix(strings.TrimSpace(line), "evidence: "); ok {
			b, err := os.ReadFile(path)
			if err != nil || !strings.HasPrefix(string(b), l.Origin()+"\n300\n") {
				t.Errorf("evidence %s: %v\n%s", path, err, b)
			}
		}
	}
}

package monitor_test

import (
	"context"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tabularium/tabula/internal/lyinglog"
	"github.com/tabularium/tabula/internal/witnesstest"
	"github.com/tabularium/tabula/monitor"
)

// witnessedSet is a lyinglog set served as a Tabula with witnesses serves
// it: GET checkpoint answers the newest cosigned checkpoint (set by the
// test), GET latest-checkpoint the log's own latest.
type witnessedSet struct {
	*lyinglog.Set
	mu       sync.Mutex
	cosigned map[string][]byte // by tree ID
}

func (s *witnessedSet) setCosigned(treeID string, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cosigned[treeID] = b
}

func (s *witnessedSet) Log(id string) monitor.Log {
	return &witnessedLog{Log: s.Set.Log(id), s: s, id: id}
}

type witnessedLog struct {
	monitor.Log
	s  *witnessedSet
	id string
}

func (l *witnessedLog) Checkpoint(ctx context.Context) ([]byte, error) {
	l.s.mu.Lock()
	b := l.s.cosigned[l.id]
	l.s.mu.Unlock()
	if b != nil {
		return b, nil
	}
	return l.Log.Checkpoint(ctx)
}

func (l *witnessedLog) LatestCheckpoint(ctx context.Context) ([]byte, error) {
	return l.Log.Checkpoint(ctx)
}

// witnessEnv is a witnessed log (300 entries, cosigned by both witnesses
// of a 2-of-2 policy, whose doors serve it) and its monitor, checked once.
type witnessEnv struct {
	set    *witnessedSet
	log    *lyinglog.Log
	ws     []*witnesstest.Witness
	mon    *monitor.SetMonitor
	alerts *collector
	dir    string
	now    time.Time
}

const uncosignedAfter = 10 * time.Minute

func newWitnessEnv(t *testing.T) *witnessEnv {
	t.Helper()
	s, err := lyinglog.NewSet()
	if err != nil {
		t.Fatal(err)
	}
	e := &witnessEnv{set: &witnessedSet{Set: s, cosigned: map[string][]byte{}}, log: s.Active(), dir: t.TempDir(), now: time.Unix(1800000000, 0)}
	clock := func() time.Time { return e.now }
	var urls []string
	for i := range 2 {
		w := witnesstest.New(t, i, clock)
		srv := httptest.NewServer(w.Handler())
		t.Cleanup(srv.Close)
		e.ws = append(e.ws, w)
		urls = append(urls, srv.URL+"/")
	}
	if err := e.log.Append(cheap("a", 300)...); err != nil {
		t.Fatal(err)
	}
	e.cosignAll(t)
	e.alerts = &collector{}
	e.mon, err = monitor.NewSet(monitor.SetConfig{
		Set: e.set, Verifiers: setVerifiers(t, s), StateDir: e.dir, Notifiers: []monitor.Notifier{e.alerts},
		Witness: &monitor.WitnessConfig{Policy: witnesstest.Policy(t, 2, e.ws, urls...), UncosignedAfter: uncosignedAfter, Now: clock},
	})
	if err != nil {
		t.Fatal(err)
	}
	if res := mustCheckSet(t, e.mon); len(res.AllAlerts()) > 0 {
		t.Fatalf("first check of an honest witnessed log: alerts %v", res.AllAlerts())
	}
	return e
}

// cosignAll makes both witnesses cosign the log's current checkpoint,
// and the server serve it.
func (e *witnessEnv) cosignAll(t *testing.T) {
	b, err := e.log.Checkpoint(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range e.ws {
		w.Witness(t, e.log.Origin(), b)
	}
	e.set.setCosigned(e.log.TreeID(), witnesstest.Cosign(t, b, e.ws...))
}

func kinds(alerts []monitor.Alert) []monitor.AlertKind {
	var out []monitor.AlertKind
	for _, a := range alerts {
		out = append(out, a.Kind)
	}
	return out
}

// TestMonitorWitnesses: an honest witnessed log raises nothing, a witness
// down is no alert, and a log that forks after witnesses cosigned its tree
// is a split view (same size) or a fork (larger), with both notes kept as
// evidence.
func TestMonitorWitnesses(t *testing.T) {
	tests := []struct {
		name string
		act  func(t *testing.T, e *witnessEnv)
		want monitor.AlertKind // "": no alert
	}{
		{"honest log, witnesses keep up", func(t *testing.T, e *witnessEnv) {
			if err := e.log.Append(cheap("b", 10)...); err != nil {
				t.Fatal(err)
			}
			e.cosignAll(t)
		}, ""},
		{"honest log, a witness door down", func(t *testing.T, e *witnessEnv) {
			e.ws[1].SetDown(true)
			if err := e.log.Append(cheap("b", 10)...); err != nil {
				t.Fatal(err)
			}
		}, ""},
		{"fork to the cosigned size: split view", func(t *testing.T, e *witnessEnv) {
			if err := e.log.Fork(100, cheap("forged", 200)...); err != nil {
				t.Fatal(err)
			}
			e.set.setCosigned(e.log.TreeID(), nil) // the server shows the forged tree
		}, monitor.AlertSplitView},
		{"fork past the cosigned size: fork", func(t *testing.T, e *witnessEnv) {
			if err := e.log.Fork(100, cheap("forged", 250)...); err != nil {
				t.Fatal(err)
			}
			e.set.setCosigned(e.log.TreeID(), nil)
		}, monitor.AlertInconsistent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newWitnessEnv(t)
			tt.act(t, e)
			res, err := e.mon.Check(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tt.want == "" {
				if len(e.alerts.alerts) > 0 || len(res.AllAlerts()) > 0 {
					t.Fatalf("alerts %v", kinds(e.alerts.alerts))
				}
				return
			}
			i := slices.IndexFunc(e.alerts.alerts, func(a monitor.Alert) bool { return a.Kind == tt.want && len(a.Evidence) == 2 })
			if i < 0 {
				t.Fatalf("alerts %v, want %s with two evidence files", kinds(e.alerts.alerts), tt.want)
			}
			a := e.alerts.alerts[i]
			if !strings.Contains(a.Verified+a.Checkpoint, "— witness0.test ") {
				t.Errorf("the evidence of %s holds no cosigned checkpoint:\n%s\n%s", a.Kind, a.Verified, a.Checkpoint)
			}
			for j, path := range a.Evidence {
				b, err := os.ReadFile(path)
				if err != nil {
					t.Fatal(err)
				}
				if want := []string{a.Verified, a.Checkpoint}[j]; string(b) != want {
					t.Errorf("evidence file %s holds\n%s\nwant\n%s", path, b, want)
				}
			}
			// Said once: the next check repeats nothing.
			n := len(e.alerts.alerts)
			if _, err := e.mon.Check(ctx); err != nil {
				t.Fatal(err)
			}
			if len(e.alerts.alerts) != n {
				t.Errorf("the second check raised %v again", kinds(e.alerts.alerts[n:]))
			}
		})
	}
}

// TestMonitorUncosigned: a head that no quorum-cosigned checkpoint covers
// for longer than the threshold raises one uncosigned alert per episode;
// covering it ends the episode, and a new one alerts again.
func TestMonitorUncosigned(t *testing.T) {
	e := newWitnessEnv(t)
	steps := []struct {
		name    string
		act     func(t *testing.T)
		advance time.Duration
		want    []monitor.AlertKind
	}{
		{"head grows, not cosigned yet", func(t *testing.T) {
			if err := e.log.Append(cheap("b", 5)...); err != nil {
				t.Fatal(err)
			}
		}, 0, nil},
		{"within the threshold", nil, uncosignedAfter, nil},
		{"past the threshold", nil, time.Second, []monitor.AlertKind{monitor.AlertUncosigned}},
		{"still uncovered: said once", nil, time.Hour, nil},
		{"one witness cosigns: still no quorum", func(t *testing.T) {
			b, _ := e.log.Checkpoint(ctx)
			e.ws[0].Witness(t, e.log.Origin(), b)
		}, time.Hour, nil},
		{"both cosign: cleared", func(t *testing.T) { e.cosignAll(t) }, 0, nil},
		{"a new head, past the threshold: a new episode", func(t *testing.T) {
			if err := e.log.Append(cheap("c", 5)...); err != nil {
				t.Fatal(err)
			}
			if _, err := e.mon.Check(ctx); err != nil {
				t.Fatal(err)
			}
		}, uncosignedAfter + time.Second, []monitor.AlertKind{monitor.AlertUncosigned}},
	}
	for _, s := range steps {
		if s.act != nil {
			s.act(t)
		}
		e.now = e.now.Add(s.advance)
		n := len(e.alerts.alerts)
		if _, err := e.mon.Check(ctx); err != nil {
			t.Fatalf("%s: %v", s.name, err)
		}
		if got := kinds(e.alerts.alerts[n:]); !slices.Equal(got, s.want) {
			t.Fatalf("%s: alerts %v, want %v", s.name, got, s.want)
		}
	}
}

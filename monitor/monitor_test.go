package monitor_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tabularium/tabula/internal/lyinglog"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/monitor"
)

var ctx = context.Background()

// bodies makes n hashedrekord entries signed by s (artifacts "<tag> i").
func bodies(t testing.TB, s *testentry.Signer, tag string, n int) [][]byte {
	t.Helper()
	out := make([][]byte, n)
	for i := range out {
		b, err := s.HashedRekord(fmt.Appendf(nil, "%s %d", tag, i))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = b
	}
	return out
}

var (
	keySignerOnce sync.Once
	keySigner     *testentry.Signer
)

func plainSigner(t testing.TB) *testentry.Signer {
	keySignerOnce.Do(func() {
		var err error
		if keySigner, err = testentry.NewSigner(); err != nil {
			panic(err)
		}
	})
	return keySigner
}

func newLog(t testing.TB, n int) *lyinglog.Log {
	t.Helper()
	l, err := lyinglog.New()
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Append(bodies(t, plainSigner(t), "honest", n)...); err != nil {
		t.Fatal(err)
	}
	return l
}

// collector is a Notifier that keeps the alerts.
type collector struct{ alerts []monitor.Alert }

func (c *collector) Notify(_ context.Context, a monitor.Alert) error {
	c.alerts = append(c.alerts, a)
	return nil
}

func newMonitor(t testing.TB, l monitor.Log, pubPEM []byte, state string, watch monitor.Watch, fromStart bool) (*monitor.Monitor, *collector) {
	t.Helper()
	v, err := monitor.NewVerifier(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	m, err := monitor.New(monitor.Config{Log: l, Verifier: v, StatePath: state, Watch: watch, FromStart: fromStart, Notifiers: []monitor.Notifier{c}})
	if err != nil {
		t.Fatal(err)
	}
	return m, c
}

func mustCheck(t *testing.T, m *monitor.Monitor) monitor.Result {
	t.Helper()
	res, err := m.Check(ctx)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	return res
}

func TestMonitorFollows(t *testing.T) {
	l := newLog(t, 300)
	state := filepath.Join(t.TempDir(), "state.json")
	m, _ := newMonitor(t, l, l.PublicKeyPEM(), state, monitor.Watch{}, false)

	// First run: trust on first use, nothing read.
	res := mustCheck(t, m)
	if res.Checkpoint.Size != 300 || res.Entries != 0 || len(res.Alerts) != 0 {
		t.Fatalf("first check = %+v", res)
	}
	for _, grow := range []int{1, 255, 256, 700, 0, 3} {
		if err := l.Append(bodies(t, plainSigner(t), fmt.Sprint("grow", grow), grow)...); err != nil {
			t.Fatal(err)
		}
		// A new Monitor each time: the state on disk is the memory.
		m, _ := newMonitor(t, l, l.PublicKeyPEM(), state, monitor.Watch{}, false)
		before := res.Checkpoint.Size
		res = mustCheck(t, m)
		if res.Entries != uint64(grow) || res.Checkpoint.Size != before+uint64(grow) || len(res.Alerts) != 0 || res.Previous.Size != before {
			t.Fatalf("after %d more: %+v", grow, res)
		}
	}
	st, err := monitor.LoadState(state)
	if err != nil || st.Size != l.Size() {
		t.Fatalf("state %+v, %v; log size %d", st, err, l.Size())
	}
}

func TestMonitorFromStartAndWatch(t *testing.T) {
	alice, err := testentry.NewCertSigner("Alice@Example.com")
	if err != nil {
		t.Fatal(err)
	}
	l := newLog(t, 200)
	aliceEntries := bodies(t, alice, "alice", 2)
	if err := l.Append(aliceEntries[0]); err != nil { // index 200
		t.Fatal(err)
	}
	if err := l.Append(bodies(t, plainSigner(t), "more", 100)...); err != nil {
		t.Fatal(err)
	}
	if err := l.Append(aliceEntries[1]); err != nil { // index 301
		t.Fatal(err)
	}
	facts, err := monitor.ParseBody(aliceEntries[0])
	if err != nil {
		t.Fatal(err)
	}
	plainFacts, err := monitor.ParseBody(bodies(t, plainSigner(t), "x", 1)[0])
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		watch monitor.Watch
		want  []uint64 // matching indexes
	}{
		{"nothing", monitor.Watch{}, nil},
		{"email", monitor.Watch{Emails: []string{"alice@example.com"}}, []uint64{200, 301}},
		{"email suffix", monitor.Watch{Emails: []string{"*@EXAMPLE.com"}}, []uint64{200, 301}},
		{"other email", monitor.Watch{Emails: []string{"bob@example.com"}}, nil},
		{"issuer", monitor.Watch{OIDCIssuers: []string{testentry.OIDCIssuer}}, []uint64{200, 301}},
		{"plain key fingerprint", monitor.Watch{KeyFingerprints: []string{"sha256:" + plainFacts.KeyFingerprints[0]}}, append(seq(0, 200), seq(201, 301)...)},
		{"digest", monitor.Watch{Digests: []string{facts.Digests[0]}}, []uint64{200}},
		{"bare digest", monitor.Watch{Digests: []string{strings.TrimPrefix(facts.Digests[0], "sha256:")}}, []uint64{200}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, c := newMonitor(t, l, l.PublicKeyPEM(), filepath.Join(t.TempDir(), "s.json"), tt.watch, true)
			res := mustCheck(t, m)
			if res.Entries != l.Size() {
				t.Errorf("read %d entries, want %d", res.Entries, l.Size())
			}
			var got []uint64
			for _, a := range res.Alerts {
				if a.Kind != monitor.AlertWatchMatch || len(a.Matches) == 0 || a.LeafHash == "" {
					t.Errorf("alert %+v", a)
				}
				got = append(got, *a.Index)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("matches at %v, want %v", got, tt.want)
			}
			if len(c.alerts) != len(res.Alerts) {
				t.Errorf("%d alerts notified, %d raised", len(c.alerts), len(res.Alerts))
			}
		})
	}
}

// seq is [a, b).
func seq(a, b uint64) []uint64 {
	var out []uint64
	for i := a; i < b; i++ {
		out = append(out, i)
	}
	return out
}

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o600) }

// TestMonitorCatchesLyingLog: after a first honest check, the log lies; the
// next check must raise the right alert, keep the verified state, and raise
// it again on the following check.
func TestMonitorCatchesLyingLog(t *testing.T) {
	other := bodies(t, plainSigner(t), "forged", 600)
	tests := []struct {
		name string
		lie  func(l *lyinglog.Log) error
		want monitor.AlertKind
	}{
		{"fork and grow", func(l *lyinglog.Log) error { return l.Fork(250, other[:100]...) }, monitor.AlertInconsistent},
		{"fork, same size", func(l *lyinglog.Log) error { return l.Fork(299, other[:1]...) }, monitor.AlertInconsistent},
		{"fork of entry 0", func(l *lyinglog.Log) error { return l.Fork(0, other[:301]...) }, monitor.AlertInconsistent},
		{"rollback", func(l *lyinglog.Log) error { return l.Fork(299) }, monitor.AlertInconsistent},
		{"drop a new entry", func(l *lyinglog.Log) error {
			return errors.Join(l.Append(other[:600]...), l.DropEntry(700))
		}, monitor.AlertEntriesMismatch},
		{"drop the last entry", func(l *lyinglog.Log) error {
			return errors.Join(l.Append(other[:10]...), l.DropEntry(309))
		}, monitor.AlertEntriesMismatch},
		{"drop an old entry", func(l *lyinglog.Log) error {
			return errors.Join(l.Append(other[:10]...), l.DropEntry(5))
		}, monitor.AlertEntriesMismatch},
		{"replace a new entry", func(l *lyinglog.Log) error {
			return errors.Join(l.Append(other[:10]...), l.ReplaceEntry(305, other[20]))
		}, monitor.AlertEntriesMismatch},
		{"corrupt a tile", func(l *lyinglog.Log) error {
			return errors.Join(l.Append(other[:10]...), l.CorruptTile(0, 1))
		}, monitor.AlertTilesMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLog(t, 300)
			state := filepath.Join(t.TempDir(), "state.json")
			m, c := newMonitor(t, l, l.PublicKeyPEM(), state, monitor.Watch{}, false)
			first := mustCheck(t, m)
			if err := tt.lie(l); err != nil {
				t.Fatal(err)
			}
			for round := range 2 {
				res := mustCheck(t, m)
				if len(res.Alerts) != 1 || res.Alerts[0].Kind != tt.want {
					t.Fatalf("round %d: alerts %+v, want one %s", round, res.Alerts, tt.want)
				}
				a := res.Alerts[0]
				if a.Verified == "" || a.Checkpoint == "" || a.Message == "" {
					t.Errorf("alert lacks its evidence: %+v", a)
				}
				t.Logf("%s: %s", a.Kind, a.Message)
				st, err := monitor.LoadState(state)
				if err != nil || st.Size != first.Checkpoint.Size {
					t.Fatalf("state moved to %+v, %v", st, err)
				}
			}
			// Notified once by this process, not at every poll.
			if len(c.alerts) != 1 {
				t.Errorf("%d notifications, want 1", len(c.alerts))
			}
			// A new process (--once) says it again.
			m2, c2 := newMonitor(t, l, l.PublicKeyPEM(), state, monitor.Watch{}, false)
			mustCheck(t, m2)
			if len(c2.alerts) != 1 {
				t.Errorf("new monitor: %d notifications, want 1", len(c2.alerts))
			}
		})
	}
}

func TestMonitorRejectsBadCheckpoint(t *testing.T) {
	l := newLog(t, 10)
	other := newLog(t, 0)
	state := filepath.Join(t.TempDir(), "state.json")
	m, _ := newMonitor(t, l, other.PublicKeyPEM(), state, monitor.Watch{}, false)
	_, err := m.Check(ctx)
	if !errors.Is(err, monitor.ErrBadCheckpoint) {
		t.Fatalf("Check with the wrong key: %v", err)
	}
	if st, _ := monitor.LoadState(state); st != nil {
		t.Errorf("state saved: %+v", st)
	}
}

// failingLog fails every read after the checkpoint.
type failingLog struct{ *lyinglog.Log }

func (failingLog) Tile(context.Context, uint8, uint64, int) ([]byte, error) {
	return nil, errors.New("connection refused")
}

func (failingLog) EntryBundle(context.Context, uint64, int) ([]byte, error) {
	return nil, errors.New("connection refused")
}

func TestMonitorUnreachableIsNotAnAlert(t *testing.T) {
	l := newLog(t, 10)
	state := filepath.Join(t.TempDir(), "state.json")
	m, _ := newMonitor(t, l, l.PublicKeyPEM(), state, monitor.Watch{}, false)
	mustCheck(t, m)
	if err := l.Append(bodies(t, plainSigner(t), "x", 5)...); err != nil {
		t.Fatal(err)
	}
	m2, c := newMonitor(t, failingLog{l}, l.PublicKeyPEM(), state, monitor.Watch{}, false)
	res, err := m2.Check(ctx)
	if err == nil || len(res.Alerts) != 0 || len(c.alerts) != 0 {
		t.Fatalf("Check = %+v, %v; want an error and no alert", res, err)
	}
	if _, bad := monitor.IsMisbehavior(err); bad {
		t.Errorf("an unreachable log called misbehaving: %v", err)
	}
}

func TestWebhookAndMetrics(t *testing.T) {
	var (
		mu  sync.Mutex
		got []monitor.Alert
	)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		var a monitor.Alert
		if err := json.Unmarshal(b, &a); err != nil || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("webhook got %q (%v)", b, err)
		}
		mu.Lock()
		got = append(got, a)
		mu.Unlock()
	}))
	defer hook.Close()

	l := newLog(t, 20)
	v, err := monitor.NewVerifier(l.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	metrics, err := monitor.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	m, err := monitor.New(monitor.Config{
		Log: l, Verifier: v, StatePath: filepath.Join(t.TempDir(), "s.json"),
		Notifiers: []monitor.Notifier{monitor.WebhookNotifier{URL: hook.URL}}, Metrics: metrics,
	})
	if err != nil {
		t.Fatal(err)
	}
	mustCheck(t, m)
	if err := l.Append(bodies(t, plainSigner(t), "y", 7)...); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, m)
	if err := l.Fork(3, bodies(t, plainSigner(t), "z", 30)...); err != nil {
		t.Fatal(err)
	}
	mustCheck(t, m)
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0].Kind != monitor.AlertInconsistent || got[0].Origin != l.Origin() || got[0].Verified == "" {
		t.Errorf("webhook got %+v", got)
	}
	want := map[string]float64{
		"tabula_monitor_verified_tree_size":                           27,
		"tabula_monitor_entries_read_total":                           7,
		`tabula_monitor_alerts_total{kind="inconsistent-checkpoint"}`: 1,
		`tabula_monitor_alerts_total{kind="entries-mismatch"}`:        0,
		`tabula_monitor_alerts_total{kind="watch-match"}`:             0,
		`tabula_monitor_checks_total{result="alert"}`:                 1,
		`tabula_monitor_checks_total{result="error"}`:                 0,
		`tabula_monitor_checks_total{result="ok"}`:                    2,
	}
	got2 := gather(t, reg)
	for k, v := range want {
		if g, ok := got2[k]; !ok || g != v {
			t.Errorf("%s = %v (present %v), want %v", k, g, ok, v)
		}
	}
}

// gather returns every metric value by "name{label="value"}".
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := make(map[string]float64)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			if len(m.GetLabel()) > 0 {
				var ls []string
				for _, l := range m.GetLabel() {
					ls = append(ls, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
				}
				name += "{" + strings.Join(ls, ",") + "}"
			}
			switch {
			case m.GetGauge() != nil:
				out[name] = m.GetGauge().GetValue()
			case m.GetCounter() != nil:
				out[name] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

func TestMonitorCorruptState(t *testing.T) {
	l := newLog(t, 10)
	state := filepath.Join(t.TempDir(), "state.json")
	m, _ := newMonitor(t, l, l.PublicKeyPEM(), state, monitor.Watch{}, false)
	mustCheck(t, m)
	st, _ := monitor.LoadState(state)
	st.Root = strings.Repeat("00", 32)
	b, _ := json.Marshal(st)
	if err := writeFile(state, b); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Check(ctx); err == nil || !strings.Contains(err.Error(), "corrupt") {
		t.Errorf("Check with an edited state: %v", err)
	}
}

// A watch match is an alert, but the log behaved: the check still counts as
// verified in the metrics.
func TestMetricsWatchMatchStillVerifies(t *testing.T) {
	l := newLog(t, 5)
	v, err := monitor.NewVerifier(l.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	metrics, err := monitor.NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	facts, err := monitor.ParseBody(bodies(t, plainSigner(t), "x", 1)[0])
	if err != nil {
		t.Fatal(err)
	}
	m, err := monitor.New(monitor.Config{Log: l, Verifier: v, StatePath: filepath.Join(t.TempDir(), "s.json"), FromStart: true,
		Watch: monitor.Watch{KeyFingerprints: facts.KeyFingerprints[:1]}, Metrics: metrics})
	if err != nil {
		t.Fatal(err)
	}
	if res := mustCheck(t, m); len(res.Alerts) != 5 {
		t.Fatalf("%d alerts, want 5", len(res.Alerts))
	}
	got := gather(t, reg)
	if got["tabula_monitor_verified_tree_size"] != 5 || got["tabula_monitor_last_verified_timestamp_seconds"] == 0 ||
		got[`tabula_monitor_alerts_total{kind="watch-match"}`] != 5 || got[`tabula_monitor_checks_total{result="alert"}`] != 1 {
		t.Errorf("metrics %v", got)
	}
}

package monitor_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/internal/lyinglog"
	"github.com/tabularium/tabula/monitor"
)

// rotatedSet is a set whose first log (tree 4242424242) has n1 entries and
// is frozen, and whose active log has n2, signed by a new key.
func rotatedSet(t testing.TB, n1, n2 int) (*lyinglog.Set, []*monitor.Verifier) {
	t.Helper()
	s, err := lyinglog.NewSet()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Active().Append(cheap("first", n1)...); err != nil {
		t.Fatal(err)
	}
	l2, err := s.Rotate(true)
	if err != nil {
		t.Fatal(err)
	}
	if err := l2.Append(cheap("second", n2)...); err != nil {
		t.Fatal(err)
	}
	return s, setVerifiers(t, s)
}

func setVerifiers(t testing.TB, s *lyinglog.Set) []*monitor.Verifier {
	t.Helper()
	var vs []*monitor.Verifier
	for _, l := range s.Logs() {
		v, err := monitor.NewVerifier(l.PublicKeyPEM())
		if err != nil {
			t.Fatal(err)
		}
		vs = append(vs, v)
	}
	return vs
}

func newSetMonitor(t testing.TB, s *lyinglog.Set, vs []*monitor.Verifier, dir, legacy string) (*monitor.SetMonitor, *collector) {
	t.Helper()
	c := &collector{}
	m, err := monitor.NewSet(monitor.SetConfig{Set: s, Verifiers: vs, StateDir: dir, LegacyState: legacy, Notifiers: []monitor.Notifier{c}})
	if err != nil {
		t.Fatal(err)
	}
	return m, c
}

func mustCheckSet(t *testing.T, m *monitor.SetMonitor) monitor.SetResult {
	t.Helper()
	res, err := m.Check(ctx)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if err := res.Err(); err != nil {
		t.Fatalf("Check: %v", err)
	}
	return res
}

// TestSetMonitorFollowsRotation: a monitor following one log goes on
// across a rotation: it reads the old log to its final checkpoint, reports
// the new log and reads it from index 0, and then only compares the frozen
// log's checkpoints with its final one.
func TestSetMonitorFollowsRotation(t *testing.T) {
	s, err := lyinglog.NewSet()
	if err != nil {
		t.Fatal(err)
	}
	l1 := s.Active()
	if err := l1.Append(cheap("first", 300)...); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	m, _ := newSetMonitor(t, s, setVerifiers(t, s), dir, "")
	res := mustCheckSet(t, m)
	if len(res.Logs) != 1 || res.Logs[0].Checkpoint.Size != 300 || res.Logs[0].New || len(res.AllAlerts()) != 0 {
		t.Fatalf("first check: %+v", res)
	}
	if err := l1.Append(cheap("last", 50)...); err != nil {
		t.Fatal(err)
	}
	l2, err := s.Rotate(true)
	if err != nil {
		t.Fatal(err)
	}
	if err := l2.Append(cheap("second", 70)...); err != nil {
		t.Fatal(err)
	}
	// The new key is pinned too; a new monitor reads the state from disk.
	m, c := newSetMonitor(t, s, setVerifiers(t, s), dir, "")
	res = mustCheckSet(t, m)
	if len(res.Logs) != 2 || len(res.AllAlerts()) != 0 || len(c.alerts) != 0 {
		t.Fatalf("check after the rotation: %+v", res)
	}
	old, cur := res.Logs[0], res.Logs[1]
	if !old.Frozen || old.New || old.Entries != 50 || old.Checkpoint.Size != 350 || old.Checked {
		t.Errorf("frozen log: %+v", old)
	}
	if cur.Frozen || !cur.New || cur.Entries != 70 || cur.Checkpoint.Size != 70 || cur.TreeID != l2.TreeID() {
		t.Errorf("new log: %+v", cur)
	}
	st, _, err := monitor.LoadSetState(dir)
	if err != nil || !st.Logs[l1.TreeID()].Frozen || st.Logs[l1.TreeID()].Size != 350 || st.Logs[l2.TreeID()].Frozen {
		t.Fatalf("set state %+v, %v", st, err)
	}
	res = mustCheckSet(t, m)
	if !res.Logs[0].Checked || res.Logs[0].Checkpoint.Size != 350 || res.Logs[1].Entries != 0 || len(res.AllAlerts()) != 0 {
		t.Fatalf("third check: %+v", res)
	}
}

// TestSetMonitorCatchesFrozenLogChanges: a frozen log that grows, forks or
// comes back to life is an alert, with the final checkpoint as evidence;
// the other logs are still followed.
func TestSetMonitorCatchesFrozenLogChanges(t *testing.T) {
	tests := []struct {
		name string
		lie  func(s *lyinglog.Set) error
		want string
	}{
		{"frozen log grows", func(s *lyinglog.Set) error { return s.Logs()[0].Append(cheap("late", 3)...) }, "frozen log 4242424242"},
		{"frozen log forks at its size", func(s *lyinglog.Set) error { return s.Logs()[0].Fork(399, cheap("forged", 1)...) }, "frozen log 4242424242"},
		{"frozen log rolls back", func(s *lyinglog.Set) error { return s.Logs()[0].Fork(10) }, "frozen log 4242424242"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, vs := rotatedSet(t, 400, 20)
			dir := t.TempDir()
			m, c := newSetMonitor(t, s, vs, dir, "")
			if res := mustCheckSet(t, m); len(res.AllAlerts()) != 0 {
				t.Fatalf("honest set: %+v", res.AllAlerts())
			}
			if err := tt.lie(s); err != nil {
				t.Fatal(err)
			}
			if err := s.Active().Append(cheap("more", 5)...); err != nil {
				t.Fatal(err)
			}
			res := mustCheckSet(t, m)
			if len(res.Alerts) == 0 || res.Alerts[0].Kind != monitor.AlertFrozenChanged || !strings.Contains(res.Alerts[0].Message, tt.want) ||
				res.Alerts[0].Verified == "" || res.Alerts[0].Checkpoint == "" || res.Alerts[0].Verified == res.Alerts[0].Checkpoint {
				t.Fatalf("alerts %+v", res.Alerts)
			}
			if len(c.alerts) != len(res.Alerts) {
				t.Errorf("notified %d alerts, want %d", len(c.alerts), len(res.Alerts))
			}
			if res.Logs[1].Entries != 5 {
				t.Errorf("the active log was not followed: %+v", res.Logs[1])
			}
			t.Logf("alert: %s", res.Alerts[0].Message)
			// The same evidence is notified once per process.
			res = mustCheckSet(t, m)
			if len(res.Alerts) == 0 || len(c.alerts) != len(res.Alerts) {
				t.Errorf("second check: %d alerts, %d notified", len(res.Alerts), len(c.alerts))
			}
		})
	}
}

// TestSetMonitorFrozenBeyondListed: a log listed as frozen whose served
// checkpoint is larger than its listed final one is an alert on the check
// that first sees it frozen.
func TestSetMonitorFrozenBeyondListed(t *testing.T) {
	s, vs := rotatedSet(t, 100, 1)
	listed := &listingSet{Set: s}
	li, _ := s.LogInfo(ctx)
	listed.frozen = li.InactiveShards
	if err := s.Logs()[0].Append(cheap("late", 1)...); err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	m, err := monitor.NewSet(monitor.SetConfig{Set: listed, Verifiers: vs, StateDir: t.TempDir(), FromStart: true, Notifiers: []monitor.Notifier{c}})
	if err != nil {
		t.Fatal(err)
	}
	res := mustCheckSet(t, m)
	if len(res.Alerts) != 1 || res.Alerts[0].Kind != monitor.AlertFrozenChanged || !strings.Contains(res.Alerts[0].Message, "lists its final checkpoint at size 100") {
		t.Fatalf("alerts %+v", res.AllAlerts())
	}
}

// TestSetMonitorUnpinnedKey: a log signed by a key not pinned is not
// followed, and says so; the others are.
func TestSetMonitorUnpinnedKey(t *testing.T) {
	s, vs := rotatedSet(t, 10, 10)
	m, _ := newSetMonitor(t, s, vs[:1], t.TempDir(), "")
	res, err := m.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Logs[0].Err != nil || res.Logs[1].Err == nil || !strings.Contains(res.Logs[1].Err.Error(), "none of the 1 pinned keys") {
		t.Fatalf("results %+v", res.Logs)
	}
}

// TestSetMonitorUpgradesLegacyState: a state file written by a monitor of
// one log (before log sets) is taken over by the log it is about, and a log
// that appeared since is read from index 0.
func TestSetMonitorUpgradesLegacyState(t *testing.T) {
	s, err := lyinglog.NewSet()
	if err != nil {
		t.Fatal(err)
	}
	l1 := s.Active()
	if err := l1.Append(cheap("first", 300)...); err != nil {
		t.Fatal(err)
	}
	legacy := filepath.Join(t.TempDir(), "legacy.json")
	old, _ := newMonitor(t, l1, l1.PublicKeyPEM(), legacy, monitor.Watch{}, false)
	if _, err := old.Check(ctx); err != nil {
		t.Fatal(err)
	}
	before, err := os.ReadFile(legacy)
	if err != nil {
		t.Fatal(err)
	}
	if err := l1.Append(cheap("last", 10)...); err != nil {
		t.Fatal(err)
	}
	l2, err := s.Rotate(false)
	if err != nil {
		t.Fatal(err)
	}
	if err := l2.Append(cheap("second", 5)...); err != nil {
		t.Fatal(err)
	}
	m, _ := newSetMonitor(t, s, setVerifiers(t, s)[:1], t.TempDir(), legacy)
	res := mustCheckSet(t, m)
	if res.Logs[0].Previous.Size != 300 || res.Logs[0].Entries != 10 || res.Logs[0].New {
		t.Errorf("the old log did not go on from the legacy state: %+v", res.Logs[0])
	}
	if !res.Logs[1].New || res.Logs[1].Entries != 5 {
		t.Errorf("the new log: %+v", res.Logs[1])
	}
	if after, _ := os.ReadFile(legacy); string(after) != string(before) {
		t.Error("the legacy state file was changed")
	}
}

// listingSet lists fixed inactive shards, whatever its logs serve now.
type listingSet struct {
	*lyinglog.Set
	frozen []*models.InactiveShardLogInfo
}

func (s *listingSet) LogInfo(c context.Context) (models.LogInfo, error) {
	li, err := s.Set.LogInfo(c)
	li.InactiveShards = s.frozen
	return li, err
}

// TestAuditSet audits every log of a set across a rotation, resumes, and
// fails when a frozen log changes after its final checkpoint was audited.
func TestAuditSet(t *testing.T) {
	tests := []struct {
		name string
		lie  func(s *lyinglog.Set) error
		want monitor.AlertKind
	}{
		{"honest", nil, ""},
		{"frozen log grows", func(s *lyinglog.Set) error { return s.Logs()[0].Append(cheap("late", 1)...) }, monitor.AlertFrozenChanged},
		{"frozen log forks", func(s *lyinglog.Set) error { return s.Logs()[0].Fork(1000, cheap("forged", 300)...) }, monitor.AlertFrozenChanged},
		{"active log forks", func(s *lyinglog.Set) error { return s.Active().Fork(100, cheap("forged", 300)...) }, monitor.AlertInconsistent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, vs := rotatedSet(t, 1300, 300)
			dir := t.TempDir()
			cfg := monitor.AuditSetConfig{Set: s, Verifiers: vs, StateDir: dir, Workers: 3}
			res, err := monitor.AuditSet(ctx, cfg)
			if err != nil || len(res.Logs) != 2 || len(res.Alerts) != 0 {
				t.Fatalf("first audit: %+v, %v", res, err)
			}
			for i, want := range []uint64{1300, 300} {
				if r := res.Logs[i]; r.Err != nil || r.Entries != want || r.Checkpoint.Size != want {
					t.Fatalf("first audit of %s: %+v", r, r.AuditResult)
				}
			}
			if tt.lie != nil {
				if err := tt.lie(s); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.Active().Append(cheap("more", 7)...); err != nil {
				t.Fatal(err)
			}
			res, err = monitor.AuditSet(ctx, cfg)
			if err != nil {
				t.Fatal(err)
			}
			var got monitor.AlertKind
			for _, r := range res.Logs {
				if kind, ok := monitor.IsMisbehavior(r.Err); ok && got == "" {
					got = kind
				} else if r.Err != nil && !ok {
					t.Fatalf("%s: %v", r, r.Err)
				}
			}
			if got != tt.want {
				t.Fatalf("second audit found %q, want %q: %+v", got, tt.want, res.Logs)
			}
			if tt.want == "" && (res.Logs[0].Entries != 0 || res.Logs[1].Entries != 7 || res.Logs[1].From != 300) {
				t.Errorf("second audit did not resume: %+v", res.Logs)
			}
		})
	}
}

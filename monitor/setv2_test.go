package monitor_test

import (
	"strings"
	"testing"

	"github.com/tabularium/tabula/internal/lyinglog"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/monitor"
	"github.com/tabularium/tabula/types/rekorv2"
)

// v2Set is a set of one Rekor v1 log of n1 entries, and a Rekor v2 log
// (origin a.v2.example, tree lyinglog.V2TreeID) frozen at n2 entries and an
// active one (b.v2.example, the same key) with n3; with the verifiers of
// every key.
func v2Set(t testing.TB, n1, n2, n3 int) (*lyinglog.Set, []*monitor.Verifier) {
	t.Helper()
	s, err := lyinglog.NewSet()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Active().Append(cheap("v1", n1)...); err != nil {
		t.Fatal(err)
	}
	for i, c := range []struct {
		origin string
		n      int
	}{{"a.v2.example", n2}, {"b.v2.example", n3}} {
		l, err := s.RotateV2(c.origin, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Append(cheap(c.origin, c.n)...); err != nil {
			t.Fatal(err)
		}
		if i == 1 && string(l.PublicKeyPEM()) != string(s.V2()[0].PublicKeyPEM()) {
			t.Fatal("the v2 rotation changed the key")
		}
	}
	return s, v2Verifiers(t, s)
}

// v2Verifiers are the verifiers of the set's v1 logs and of its first v2
// log's key.
func v2Verifiers(t testing.TB, s *lyinglog.Set) []*monitor.Verifier {
	t.Helper()
	v, err := monitor.NewVerifier(s.V2()[0].PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	return append(setVerifiers(t, s), v)
}

// TestSetMonitorFollowsV2Logs: a monitor follows the Rekor v2 logs of a
// set beside its v1 log, with the v2 key pinned (one Ed25519 key, two
// origins): it proves each new checkpoint consistent, reads the new
// entries, reports a new v2 log and reads it from index 0, remembers the
// frozen one at its final checkpoint, and alerts on watched v2 entries.
func TestSetMonitorFollowsV2Logs(t *testing.T) {
	s, vs := v2Set(t, 10, 300, 20)
	dir := t.TempDir()
	signer, err := testentry.NewCertSigner("alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	c := &collector{}
	m, err := monitor.NewSet(monitor.SetConfig{Set: s, Verifiers: vs, StateDir: dir, Notifiers: []monitor.Notifier{c},
		Watch: monitor.Watch{Emails: []string{"alice@example.com"}}})
	if err != nil {
		t.Fatal(err)
	}
	res := mustCheckSet(t, m)
	if len(res.Logs) != 3 || len(res.AllAlerts()) != 0 {
		t.Fatalf("first check: %+v", res)
	}
	for i, want := range []struct {
		api    string
		frozen bool
		origin string
		size   uint64
	}{{"", false, s.Active().Origin(), 10}, {"v2", true, "a.v2.example", 300}, {"v2", false, "b.v2.example", 20}} {
		if l := res.Logs[i]; l.API != want.api || l.Frozen != want.frozen || l.Checkpoint.Origin != want.origin || l.Checkpoint.Size != want.size || l.New {
			t.Errorf("log %d: %+v", i, l)
		}
	}
	st, _, err := monitor.LoadSetState(dir)
	if err != nil || st.Logs[lyinglog.V2TreeID] == nil || !st.Logs[lyinglog.V2TreeID].Frozen || st.Logs[lyinglog.V2TreeID].API != "v2" || st.Logs[lyinglog.V2TreeID].Size != 300 {
		t.Fatalf("set state %+v, %v", st, err)
	}

	// New v2 entries, one by a watched identity; then a v2 rotation.
	req, err := signer.HashedRekordV2([]byte("watched"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := rekorv2.CanonicalizeJSON(req)
	if err != nil {
		t.Fatal(err)
	}
	b := s.V2()[1]
	if err := b.Append(append(cheap("more", 4), e.Body)...); err != nil {
		t.Fatal(err)
	}
	res = mustCheckSet(t, m)
	if l := res.Logs[2]; l.Entries != 5 || l.Previous.Size != 20 || len(l.Alerts) != 1 || l.Alerts[0].Kind != monitor.AlertWatchMatch ||
		*l.Alerts[0].Index != 24 || l.Alerts[0].Matches[0] != "email:alice@example.com" || !res.Logs[1].Checked {
		t.Fatalf("second check: %+v", res.Logs)
	}
	if err := b.Append(cheap("last", 6)...); err != nil {
		t.Fatal(err)
	}
	next, err := s.RotateV2("c.v2.example", false)
	if err != nil {
		t.Fatal(err)
	}
	if err := next.Append(cheap("next", 3)...); err != nil {
		t.Fatal(err)
	}
	res = mustCheckSet(t, m)
	if len(res.Logs) != 4 || len(res.AllAlerts()) != 0 {
		t.Fatalf("check after the v2 rotation: %+v", res)
	}
	if l := res.Logs[2]; !l.Frozen || l.Entries != 6 || l.Checkpoint.Size != 31 {
		t.Errorf("the v2 log frozen by the rotation: %+v", l)
	}
	if l := res.Logs[3]; l.Frozen || !l.New || l.API != "v2" || l.Entries != 3 || l.Checkpoint.Origin != "c.v2.example" {
		t.Errorf("the new v2 log: %+v", l)
	}
	res = mustCheckSet(t, m)
	if !res.Logs[1].Checked || !res.Logs[2].Checked || res.Logs[3].Entries != 0 || len(res.AllAlerts()) != 0 {
		t.Fatalf("fourth check: %+v", res.Logs)
	}
}

// TestSetMonitorCatchesV2Lies: a frozen Rekor v2 log that changes is the
// frozen-log alert; an active v2 log that forks or whose bundles disagree
// with its tree is the alert a v1 log gets.
func TestSetMonitorCatchesV2Lies(t *testing.T) {
	tests := []struct {
		name    string
		lie     func(s *lyinglog.Set) error
		kind    monitor.AlertKind
		setWide bool // the alert is the set's, not the log's
		want    string
	}{
		{"frozen v2 log grows", func(s *lyinglog.Set) error { return s.V2()[0].Append(cheap("late", 1)...) },
			monitor.AlertFrozenChanged, true, "frozen log " + lyinglog.V2TreeID + " (a.v2.example) changed"},
		{"frozen v2 log forks at its size", func(s *lyinglog.Set) error { return s.V2()[0].Fork(299, cheap("forged", 1)...) },
			monitor.AlertFrozenChanged, true, "frozen log " + lyinglog.V2TreeID},
		{"frozen v2 log rolls back", func(s *lyinglog.Set) error { return s.V2()[0].Fork(3) },
			monitor.AlertFrozenChanged, true, "frozen log " + lyinglog.V2TreeID},
		{"active v2 log forks", func(s *lyinglog.Set) error { return s.V2()[1].Fork(5, cheap("forged", 30)...) },
			monitor.AlertInconsistent, false, "the log forked"},
		{"active v2 log's bundle lies", func(s *lyinglog.Set) error {
			if err := s.V2()[1].Append(cheap("new", 4)...); err != nil {
				return err
			}
			return s.V2()[1].ReplaceEntry(21, []byte(`{"other":1}`))
		}, monitor.AlertEntriesMismatch, false, "entries 20..23"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, vs := v2Set(t, 5, 300, 20)
			m, c := newSetMonitor(t, s, vs, t.TempDir(), "")
			if res := mustCheckSet(t, m); len(res.AllAlerts()) != 0 {
				t.Fatalf("honest set: %+v", res.AllAlerts())
			}
			if err := tt.lie(s); err != nil {
				t.Fatal(err)
			}
			res := mustCheckSet(t, m)
			alerts := res.Logs[2].Alerts
			if tt.setWide {
				alerts = res.Alerts
			}
			if len(alerts) == 0 || alerts[0].Kind != tt.kind || !strings.Contains(alerts[0].Message, tt.want) ||
				alerts[0].Verified == "" || alerts[0].Checkpoint == "" || alerts[0].Verified == alerts[0].Checkpoint {
				t.Fatalf("alerts %+v", res.AllAlerts())
			}
			if len(c.alerts) != len(res.AllAlerts()) {
				t.Errorf("notified %d alerts, want %d", len(c.alerts), len(res.AllAlerts()))
			}
			t.Logf("alert: %s", alerts[0].Message)
		})
	}
}

// TestSetMonitorUnpinnedV2Key: a Rekor v2 log whose key is not pinned is
// not followed, and says so; the v1 log is.
func TestSetMonitorUnpinnedV2Key(t *testing.T) {
	s, vs := v2Set(t, 10, 10, 10)
	m, _ := newSetMonitor(t, s, vs[:1], t.TempDir(), "")
	res, err := m.Check(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Logs[0].Err != nil || res.Logs[1].Err == nil || !strings.Contains(res.Logs[1].Err.Error(), "none of the 1 pinned keys") {
		t.Fatalf("results %+v", res.Logs)
	}
}

// TestAuditSetV2 audits the Rekor v2 logs of a set beside its v1 log,
// resumes, and fails when a v2 log misbehaves.
func TestAuditSetV2(t *testing.T) {
	tests := []struct {
		name string
		lie  func(s *lyinglog.Set) error
		want monitor.AlertKind
	}{
		{"honest", nil, ""},
		{"frozen v2 log grows", func(s *lyinglog.Set) error { return s.V2()[0].Append(cheap("late", 1)...) }, monitor.AlertFrozenChanged},
		{"frozen v2 log forks", func(s *lyinglog.Set) error { return s.V2()[0].Fork(100, cheap("forged", 200)...) }, monitor.AlertFrozenChanged},
		{"active v2 log forks", func(s *lyinglog.Set) error { return s.V2()[1].Fork(100, cheap("forged", 300)...) }, monitor.AlertInconsistent},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, vs := v2Set(t, 10, 300, 270)
			cfg := monitor.AuditSetConfig{Set: s, Verifiers: vs, StateDir: t.TempDir(), Workers: 3}
			res, err := monitor.AuditSet(ctx, cfg)
			if err != nil || len(res.Logs) != 3 || len(res.Alerts) != 0 {
				t.Fatalf("first audit: %+v, %v", res, err)
			}
			for i, want := range []uint64{10, 300, 270} {
				if r := res.Logs[i]; r.Err != nil || r.Entries != want || r.Checkpoint.Size != want || (i > 0) != (r.API == "v2") {
					t.Fatalf("first audit of %s: %+v, %v", r, r.AuditResult, r.Err)
				}
			}
			if tt.lie != nil {
				if err := tt.lie(s); err != nil {
					t.Fatal(err)
				}
			}
			if err := s.V2()[1].Append(cheap("more", 7)...); err != nil {
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
			if tt.want == "" && (res.Logs[1].Entries != 0 || res.Logs[2].Entries != 7 || res.Logs[2].From != 270) {
				t.Errorf("second audit did not resume: %+v", res.Logs)
			}
		})
	}
}

package main

import (
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tabularium/tabula/internal/lyinglog"
	"github.com/tabularium/tabula/monitor"
)

// TestMonitorAndAuditFollowRotation: over HTTP, monitor and audit follow a
// server whose log is rotated (with a new key): the state a one-log release
// saved is taken over, the new log is reported and read from its first
// entry, and a frozen log that then changes is an alert and fails the audit.
func TestMonitorAndAuditFollowRotation(t *testing.T) {
	tests := []struct {
		name string
		lie  func(s *lyinglog.Set) error
		want string
	}{
		{"frozen log grows", func(s *lyinglog.Set) error { return s.Logs()[0].Append(monEntries("late", 2)...) }, "frozen-log-changed"},
		{"frozen log forks", func(s *lyinglog.Set) error { return s.Logs()[0].Fork(100, monEntries("forged", 200)...) }, "frozen-log-changed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := lyinglog.NewSet()
			if err != nil {
				t.Fatal(err)
			}
			l1 := s.Active()
			if err := l1.Append(monEntries("first", 290)...); err != nil {
				t.Fatal(err)
			}
			srv := httptest.NewServer(s.Handler())
			t.Cleanup(srv.Close)
			dir := t.TempDir()
			key1 := writeFile(t, dir, "key1.pem", l1.PublicKeyPEM())
			state := t.TempDir()

			// The state a monitor and an audit of one log saved before log
			// sets, where they saved it.
			v1, err := monitor.NewVerifier(l1.PublicKeyPEM())
			if err != nil {
				t.Fatal(err)
			}
			old, err := monitor.New(monitor.Config{Log: l1, Verifier: v1, StatePath: filepath.Join(state, "monitor", v1.KeyID()[:16]+".json")})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := old.Check(context.Background()); err != nil {
				t.Fatal(err)
			}
			if _, err := monitor.Audit(context.Background(), monitor.AuditConfig{Log: l1, Verifier: v1, StatePath: filepath.Join(state, "audit", v1.KeyID()[:16]+".json")}); err != nil {
				t.Fatal(err)
			}

			if err := l1.Append(monEntries("last", 10)...); err != nil {
				t.Fatal(err)
			}
			l2, err := s.Rotate(true)
			if err != nil {
				t.Fatal(err)
			}
			if err := l2.Append(monEntries("second", 20)...); err != nil {
				t.Fatal(err)
			}
			key2 := writeFile(t, dir, "key2.pem", l2.PublicKeyPEM())
			args := []string{"--server", srv.URL, "--log-key", key1, "--log-key", key2, "--state-dir", state}

			code, out, errOut := monRun(t, append([]string{"monitor", "--once"}, args...)...)
			if code != 0 || !strings.Contains(out, "Log:          4242424242 (frozen)") || !strings.Contains(out, "consistent with size 290; 10 new entries") ||
				!strings.Contains(out, "Log:          4242424243 (active, new since the last check: read from its first entry)") ||
				!strings.Contains(out, "consistent with size 0; 20 new entries") {
				t.Fatalf("monitor after the rotation: %d\n%s%s", code, out, errOut)
			}
			t.Logf("monitor:\n%s", out)
			code, out, errOut = monRun(t, append([]string{"audit", "--progress", "none"}, args...)...)
			if code != 0 || !strings.Contains(out, "Resumed at:   290") || !strings.Contains(out, "Entries read: 10 ") || !strings.Contains(out, "Entries read: 20 ") {
				t.Fatalf("audit after the rotation: %d\n%s%s", code, out, errOut)
			}
			// Without the new key, the new log is not followed, and says why.
			code, out, errOut = monRun(t, "monitor", "--once", "--server", srv.URL, "--log-key", key1, "--state-dir", state)
			if code != 1 || !strings.Contains(out, "NOT CHECKED") || !strings.Contains(out, "pin the log's key") {
				t.Fatalf("monitor without the new key: %d\n%s%s", code, out, errOut)
			}
			code, out, errOut = monRun(t, append([]string{"monitor", "--once"}, args...)...)
			if code != 0 || !strings.Contains(out, "frozen; its listed and served checkpoints are its final one") {
				t.Fatalf("monitor with nothing new: %d\n%s%s", code, out, errOut)
			}

			if err := tt.lie(s); err != nil {
				t.Fatal(err)
			}
			code, out, errOut = monRun(t, append([]string{"monitor", "--once"}, args...)...)
			if code != 1 || !strings.Contains(out, "Log set alerts: ") || !strings.Contains(out, "NO — the frozen log changed") || !strings.Contains(out, tt.want+": frozen log 4242424242") ||
				!strings.Contains(errOut, "level=ERROR msg=\"ALERT: frozen log") {
				t.Errorf("monitor of the changed frozen log: %d\n%s%s", code, out, errOut)
			}
			t.Logf("monitor:\n%s", out)
			code, out, errOut = monRun(t, append([]string{"audit", "--progress", "none"}, args...)...)
			if code != 1 || !strings.Contains(out, "AUDIT FAILED ("+tt.want+")") {
				t.Errorf("audit of the changed frozen log: %d\n%s%s", code, out, errOut)
			}
			t.Logf("audit:\n%s", out)
			if _, err := os.Stat(filepath.Join(state, "monitor", v1.KeyID()[:16], "logs.json")); err != nil {
				t.Errorf("no set state: %v", err)
			}
		})
	}
}

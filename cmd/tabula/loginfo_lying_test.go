package main

import (
	"strings"
	"testing"

	"github.com/tabularium/tabula/internal/lyinglog"
)

// TestLogInfoCatchesLyingLog: loginfo proves consistency with the last
// checkpoint it verified, so a log that forks (even at the same size) or
// rolls back fails it.
func TestLogInfoCatchesLyingLog(t *testing.T) {
	tests := []struct {
		name string
		lie  func(l *lyinglog.Log) error
	}{
		{"fork and grow", func(l *lyinglog.Log) error { return l.Fork(500, monEntries("forged", 600)...) }},
		{"same-size fork", func(l *lyinglog.Log) error { return l.Fork(1009, monEntries("forged", 1)...) }},
		{"rollback", func(l *lyinglog.Log) error { return l.Fork(900) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, url, key := monLyingServer(t, 1000)
			args := []string{"loginfo", "--server", url, "--log-key", key, "--state-dir", t.TempDir()}
			if code, out, errOut := monRun(t, args...); code != 0 || !strings.Contains(out, "1000") {
				t.Fatalf("loginfo of the honest log: %d\n%s%s", code, out, errOut)
			}
			if err := l.Append(monEntries("more", 10)...); err != nil {
				t.Fatal(err)
			}
			if code, out, errOut := monRun(t, args...); code != 0 || !strings.Contains(out, "consistent") {
				t.Fatalf("loginfo after honest growth: %d\n%s%s", code, out, errOut)
			}
			if err := tt.lie(l); err != nil {
				t.Fatal(err)
			}
			code, out, errOut := monRun(t, args...)
			if code == 0 {
				t.Fatalf("loginfo accepted the lying log:\n%s%s", out, errOut)
			}
			t.Logf("loginfo: exit %d\n%s%s", code, out, errOut)
		})
	}
}

package main

import (
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tabularium/tabula/internal/lyinglog"
)

// TestLogInfoCatchesAForkedLog: loginfo remembers a checkpoint, the log
// rewrites its history, and the next loginfo fails and keeps the old one.
func TestLogInfoCatchesAForkedLog(t *testing.T) {
	l, err := lyinglog.New()
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(l.Handler())
	defer ts.Close()
	dir := t.TempDir()
	key := writeFile(t, dir, "log.pub", l.PublicKeyPEM())
	state := filepath.Join(dir, "state")
	args := []string{"loginfo", "--server", ts.URL, "--log-key", key, "--state-dir", state}
	entries := func(prefix string, n int) [][]byte {
		var out [][]byte
		for i := range n {
			out = append(out, []byte(fmt.Sprintf("%s %d", prefix, i)))
		}
		return out
	}

	if err := l.Append(entries("a", 5)...); err != nil {
		t.Fatal(err)
	}
	if out := mustTabula(t, args...); !strings.Contains(out, "Tree size:    5") {
		t.Fatalf("loginfo:\n%s", out)
	}
	if err := l.Append(entries("b", 3)...); err != nil {
		t.Fatal(err)
	}
	if out := mustTabula(t, args...); !strings.Contains(out, "consistent with the last verified checkpoint (size 5)") {
		t.Fatalf("loginfo after growth:\n%s", out)
	}
	saved, err := os.ReadDir(filepath.Join(state, "checkpoints"))
	if err != nil || len(saved) != 1 {
		t.Fatalf("state: %v, %v", saved, err)
	}
	before, _ := os.ReadFile(filepath.Join(state, "checkpoints", saved[0].Name()))

	// Rewrite history after entry 4 and grow past the old size.
	if err := l.Fork(4, entries("evil", 10)...); err != nil {
		t.Fatal(err)
	}
	code, out, errs := tabula(t, args...)
	if code != 1 || !strings.Contains(errs, "LOG INCONSISTENT") {
		t.Fatalf("loginfo on a forked log: exit %d\n%s%s", code, out, errs)
	}
	after, _ := os.ReadFile(filepath.Join(state, "checkpoints", saved[0].Name()))
	if string(before) != string(after) {
		t.Fatal("the forked log's checkpoint replaced the remembered one")
	}
	// Still caught on the next call.
	if code, _, _ := tabula(t, args...); code != 1 {
		t.Fatalf("second loginfo on a forked log: exit %d", code)
	}

	// Without --log-key the key is trusted on first use, then must not change.
	tofu := []string{"loginfo", "--server", ts.URL, "--state-dir", filepath.Join(dir, "tofu")}
	if code, _, errs := tabula(t, tofu...); code != 0 || !strings.Contains(errs, "trusted on first use") {
		t.Fatalf("first loginfo without --log-key: exit %d %s", code, errs)
	}
	l3, err := lyinglog.New()
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = l3.Handler() // same URL, another key
	if code, _, errs := tabula(t, tofu...); code != 1 || !strings.Contains(errs, "LOG KEY CHANGED") {
		t.Fatalf("loginfo after a key change: exit %d %s", code, errs)
	}

	// A log that shrinks is caught too.
	l2, err := lyinglog.New()
	if err != nil {
		t.Fatal(err)
	}
	ts2 := httptest.NewServer(l2.Handler())
	defer ts2.Close()
	key2 := writeFile(t, dir, "log2.pub", l2.PublicKeyPEM())
	args2 := []string{"loginfo", "--server", ts2.URL, "--log-key", key2, "--state-dir", state}
	if err := l2.Append(entries("c", 6)...); err != nil {
		t.Fatal(err)
	}
	mustTabula(t, args2...)
	if err := l2.Fork(2, entries("d", 1)...); err != nil {
		t.Fatal(err)
	}
	if code, _, errs := tabula(t, args2...); code != 1 || !strings.Contains(errs, "shrank") {
		t.Fatalf("loginfo on a shrunk log: exit %d %s", code, errs)
	}
}

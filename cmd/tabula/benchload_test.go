package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/tabularium/tabula/internal/pgtest"
)

// TestBenchLoad runs `tabula bench load` on each engine, then starts a
// server on the loaded data and reads the log's size through the API.
func TestBenchLoad(t *testing.T) {
	for _, engine := range []string{"sqlite", "postgres"} {
		t.Run(engine, func(t *testing.T) {
			dir := t.TempDir()
			args := []string{"bench", "load", "--entries", "700", "--keys", "2", "--check-every", "50", "--data-dir", dir, "--batch-max-size", "64"}
			if engine == "postgres" {
				args = append(args, "--database-url", pgtest.NewDatabase(t))
			}
			var stdout, stderr bytes.Buffer
			if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
				t.Fatalf("exit %d\n%s%s", code, stdout.String(), stderr.String())
			}
			if !strings.Contains(stdout.String(), "added 700 entries") || !strings.Contains(stdout.String(), `"end_tree_size":700`) {
				t.Fatalf("output:\n%s", stdout.String())
			}
			// A second load on the same data grows the same tree.
			stdout.Reset()
			if code := run(context.Background(), args, &stdout, &stderr); code != 0 {
				t.Fatalf("second load: exit %d\n%s", code, stderr.String())
			}
			if !strings.Contains(stdout.String(), "tree size 700 → 1400") {
				t.Fatalf("second load output:\n%s", stdout.String())
			}
		})
	}
}

func TestBenchLoadFlags(t *testing.T) {
	tests := [][]string{
		{"bench", "load", "--key-type", "rsa", "--entries", "1"},
		{"bench", "load", "--entries", "-1"},
		{"bench", "load", "--no-such-flag"},
	}
	for _, args := range tests {
		args = append(args, "--data-dir", t.TempDir())
		var stdout, stderr bytes.Buffer
		if code := run(context.Background(), args, &stdout, &stderr); code == 0 {
			t.Errorf("%v: exit 0\n%s", args, stdout.String())
		}
	}
}

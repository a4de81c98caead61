package main

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/sqlite"
)

// TestLogCommand runs `tabula log list` and `tabula log rotate` on an
// embedded database made as serve makes it: rotations with the data
// directory's key and with another one freeze the active log and start the
// next, and the refusals say why.
func TestLogCommand(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	runLogCmd := func(args ...string) (int, string, string) {
		var out, errOut bytes.Buffer
		code := run(ctx, append([]string{"log"}, args...), &out, &errOut)
		return code, out.String(), errOut.String()
	}

	// No database logs yet: nothing to rotate.
	if _, _, err := signer.LoadOrCreate(filepath.Join(dir, "log-key.pem"), filepath.Join(dir, "log-key.pub.pem")); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runLogCmd("rotate", "--data-dir", dir); code != 1 || !strings.Contains(errOut, "no active rekor-v1 log") {
		t.Fatalf("rotate on an empty database: exit %d, %q", code, errOut)
	}

	// The log serve creates, with one entry.
	set, err := sqlite.Open(ctx, filepath.Join(dir, "tabula.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer set.Close()
	keys, _, err := loadKeys(&serveConfig{DataDir: dir}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	logs, err := openLogs(ctx, set, "cmd.test", keys, log.Config{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer logs.Close(ctx)
	if _, _, err := logs.Add(ctx, log.Leaf{Body: []byte(`{"entry":0}`)}); err != nil {
		t.Fatal(err)
	}

	other := filepath.Join(t.TempDir(), "new.pem")
	if code := run(ctx, []string{"keygen", "--out", other}, &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
		t.Fatalf("keygen: exit %d", code)
	}
	otherKey, err := signer.LoadFile(other)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		args     []string
		code     int
		out      string // in stdout
		startKey []byte // the new log's key
	}{
		{"usage", nil, 2, "", nil},
		{"unknown subcommand", []string{"grow"}, 2, "", nil},
		{"list", []string{"list", "--data-dir", dir}, 0, "cmd.test - ", nil},
		{"rotate, same key", []string{"rotate", "--data-dir", dir}, 0, "at size 1", keys[0].PublicKeyDER()},
		{"rotate, new key and hostname", []string{"rotate", "--data-dir", dir, "--key", other, "--hostname", "next.test"}, 0,
			"(next.test - ", otherKey.PublicKeyDER()},
		{"rotate, a missing key file", []string{"rotate", "--data-dir", dir, "--key", filepath.Join(dir, "none.pem")}, 1, "", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before, err := set.Logs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			code, out, errOut := runLogCmd(tt.args...)
			if code != tt.code || !strings.Contains(out, tt.out) {
				t.Fatalf("exit %d, stdout %q, stderr %q; want exit %d and %q", code, out, errOut, tt.code, tt.out)
			}
			after, err := set.Logs(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if tt.startKey == nil {
				if len(after) != len(before) {
					t.Fatalf("%d logs, was %d", len(after), len(before))
				}
				return
			}
			if len(after) != len(before)+1 {
				t.Fatalf("%d logs after a rotation, was %d", len(after), len(before))
			}
			frozen, next := after[len(after)-2], after[len(after)-1]
			if frozen.State != storage.LogFrozen || next.State != storage.LogActive ||
				next.StartIndex != frozen.StartIndex+frozen.FinalSize || !bytes.Equal(next.PublicKey, tt.startKey) {
				t.Fatalf("after rotating: frozen %+v, next %+v", frozen, next)
			}
		})
	}
	if code, out, _ := runLogCmd("list", "--data-dir", dir); code != 0 || strings.Count(out, "frozen") != 2 || strings.Count(out, "active") != 1 {
		t.Fatalf("list after two rotations: %q", out)
	}
}

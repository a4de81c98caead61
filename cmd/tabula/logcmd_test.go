package main

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

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

	// vkeys: a witness log list whose keys verify every log's checkpoint,
	// the Rekor v1 logs' (ECDSA) and a Rekor v2 log's (Ed25519).
	if code, out, errOut := runLogCmd("create", "--api", "v2", "--origin", "v2.cmd.test", "--data-dir", dir); code != 0 {
		t.Fatalf("log create: exit %d, %q %q", code, out, errOut)
	}
	code, out, errOut := runLogCmd("vkeys", "--data-dir", dir)
	if code != 0 {
		t.Fatalf("vkeys: exit %d, %q", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if lines[0] != "logs/v0" || len(lines) != 1+2*4 {
		t.Fatalf("vkeys printed %q, want a header and 4 logs", out)
	}
	all, err := set.Logs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i, l := range all {
		vkey, origin := strings.TrimPrefix(lines[1+2*i], "vkey "), strings.TrimPrefix(lines[2+2*i], "origin ")
		if origin != l.Origin {
			t.Fatalf("log %d: origin line %q, want %q", i, origin, l.Origin)
		}
		v, err := fnote.NewVerifier(vkey)
		if err != nil {
			t.Fatalf("log %d: vkey %q: %v", i, vkey, err)
		}
		cp := l.FinalCheckpoint
		if l.State == storage.LogActive {
			s, err := set.OpenLog(ctx, l.TreeID)
			if err != nil {
				t.Fatal(err)
			}
			st, err := s.LatestTreeState(ctx)
			if err != nil {
				t.Fatal(err)
			}
			cp = st.Checkpoint
		}
		if _, err := note.Open(cp, note.VerifierList(v)); err != nil {
			t.Errorf("log %d (%s): its vkey does not verify its checkpoint: %v", i, l.Profile, err)
		}
	}
}

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/sumdb/note"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/witness/policy"
)

// startWitness runs `tabula witness` in-process until stop or the end of
// the test, and returns its base URL.
func startWitness(t *testing.T, c *witnessConfig) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- runWitnessServer(ctx, c, slog.New(slog.NewTextHandler(io.Discard, nil)), ready) }()
	select {
	case addr := <-ready:
		stopped := false
		stop := func() {
			if stopped {
				return
			}
			stopped = true
			cancel()
			if err := <-done; err != nil {
				t.Errorf("witness: %v", err)
			}
		}
		t.Cleanup(stop)
		return "http://" + addr, stop
	case err := <-done:
		cancel()
		t.Fatalf("witness exited: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("witness did not start")
	}
	return "", nil
}

func TestWitnessCommand(t *testing.T) {
	const origin = "log.example/test"
	skey, vkey, err := note.GenerateKey(rand.Reader, origin)
	if err != nil {
		t.Fatal(err)
	}
	logSigner, _ := note.NewSigner(skey)
	dir := t.TempDir()
	listPath := filepath.Join(dir, "logs.txt")
	if err := os.WriteFile(listPath, []byte("logs/v0\nvkey "+vkey+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := witnessFlags(flagSetForTest())
	c.Listen = "127.0.0.1:0"
	c.MetricsListen = ""
	c.DataDir = filepath.Join(dir, "data")
	c.Logs = listPath
	c.Name = "witness.example"
	url, stop := startWitness(t, c)

	keyPath := filepath.Join(c.DataDir, witnessKeyFile)
	fi, err := os.Stat(keyPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v, mode %v", err, fi.Mode())
	}
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"witness", "vkey", "--key", keyPath, "--name", c.Name}, &stdout, &stderr); code != 0 {
		t.Fatalf("witness vkey: %d %s", code, stderr.String())
	}
	wvkey := strings.TrimSpace(stdout.String())
	if _, err := checkpoint.ParseCosignatureVKey(wvkey); err != nil {
		t.Fatalf("witness vkey %q: %v", wvkey, err)
	}

	root := sha256.Sum256(nil)
	signed, err := note.Sign(&note.Note{Text: fmt.Sprintf("%s\n0\n%s\n", origin, base64.StdEncoding.EncodeToString(root[:]))}, logSigner)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post(url+"/add-checkpoint", "text/plain", bytes.NewReader(append([]byte("old 0\n\n"), signed...)))
	if err != nil {
		t.Fatal(err)
	}
	lines, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("add-checkpoint: %d %q", resp.StatusCode, lines)
	}
	p, err := policy.Parse([]byte(fmt.Sprintf("log %s\nwitness w %s %s\nquorum w\n", vkey, wvkey, url)))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Verify(append(signed, lines...)); err != nil {
		t.Fatalf("the cosigned checkpoint does not meet the policy: %v", err)
	}

	// Restarted on the same data directory, it has the same key and state.
	stop()
	url, _ = startWitness(t, c)
	resp, err = http.Post(url+"/add-checkpoint", "text/plain", bytes.NewReader(append([]byte("old 0\n\n"), signed...)))
	if err != nil {
		t.Fatal(err)
	}
	again, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("after restart: %d %q", resp.StatusCode, again)
	}
	if _, err := p.Verify(append(signed, again...)); err != nil {
		t.Fatalf("after restart, the key changed: %v", err)
	}
}

func TestWitnessCommandErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.txt")
	if err := os.WriteFile(bad, []byte("vkey x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		code int
	}{
		{[]string{"witness", "--listen", "127.0.0.1:0", "--data-dir", dir}, 1},                // no --logs
		{[]string{"witness", "--listen", "127.0.0.1:0", "--data-dir", dir, "--logs", bad}, 1}, // bad list
		{[]string{"witness", "--data-dir", dir, "extra"}, 2},                                  // argument
		{[]string{"witness", "vkey"}, 2},                                                      // no --key
		{[]string{"witness", "vkey", "--key", filepath.Join(dir, "missing.pem")}, 1},          // not created
		{[]string{"witness", "--no-such-flag"}, 2},
	} {
		var stderr bytes.Buffer
		if code := run(context.Background(), tt.args, io.Discard, &stderr); code != tt.code {
			t.Errorf("%q: exit %d, want %d (%s)", tt.args, code, tt.code, stderr.String())
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "missing.pem")); err == nil {
		t.Error("witness vkey created a key")
	}
}

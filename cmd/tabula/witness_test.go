package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/internal/testentry"
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

// TestWitnessTabulaLog: a witness whose log list is `tabula log vkeys`
// cosigns a Tabula server's Rekor v1 checkpoints (ECDSA, Rekor v1 key
// hint), first from size 0 and then with the server's consistency proof.
func TestWitnessTabulaLog(t *testing.T) {
	sc := defaultConfig(t)
	logURL, _ := startServe(t, sc)
	s, err := testentry.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	monUpload(t, logURL, s, "a", 3)
	code, list, errOut := monRun(t, "log", "vkeys", "--data-dir", sc.DataDir)
	if code != 0 {
		t.Fatalf("log vkeys: %d %s", code, errOut)
	}
	dir := t.TempDir()
	listPath := filepath.Join(dir, "logs.txt")
	if err := os.WriteFile(listPath, []byte(list), 0o644); err != nil {
		t.Fatal(err)
	}
	c := witnessFlags(flagSetForTest())
	c.Listen, c.MetricsListen, c.DataDir, c.Logs, c.Name = "127.0.0.1:0", "", dir, listPath, "witness.example"
	wURL, _ := startWitness(t, c)

	getCheckpoint := func() []byte {
		resp, b := httpDo(t, "GET", logURL+"/api/v1/log", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET /api/v1/log: %d", resp.StatusCode)
		}
		var info struct {
			SignedTreeHead string `json:"signedTreeHead"`
		}
		if err := json.Unmarshal(b, &info); err != nil {
			t.Fatal(err)
		}
		return []byte(info.SignedTreeHead)
	}
	add := func(old uint64, proof []string, signed []byte) []byte {
		var b bytes.Buffer
		fmt.Fprintf(&b, "old %d\n", old)
		for _, h := range proof {
			raw, err := hex.DecodeString(h)
			if err != nil {
				t.Fatal(err)
			}
			b.WriteString(base64.StdEncoding.EncodeToString(raw) + "\n")
		}
		b.WriteString("\n")
		b.Write(signed)
		resp, got := httpDo(t, "POST", wURL+"/add-checkpoint", b.Bytes())
		if resp.StatusCode != 200 {
			t.Fatalf("add-checkpoint old %d: %d %q", old, resp.StatusCode, got)
		}
		return got
	}
	cp3 := getCheckpoint()
	if !bytes.Contains(cp3, []byte("\n3\n")) {
		t.Fatalf("checkpoint %q, want size 3", cp3)
	}
	add(0, nil, cp3)
	monUpload(t, logURL, s, "b", 2)
	cp5 := getCheckpoint()
	resp, b := httpDo(t, "GET", logURL+"/api/v1/log/proof?firstSize=3&lastSize=5", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("proof: %d %s", resp.StatusCode, b)
	}
	var proof struct {
		Hashes []string `json:"hashes"`
	}
	if err := json.Unmarshal(b, &proof); err != nil {
		t.Fatal(err)
	}
	lines := add(3, proof.Hashes, cp5)

	// The cosigned checkpoint verifies with the log's vkey (from the list)
	// and the witness's vkey (tabula witness vkey). (witness/policy's Verify
	// also wants the origin to be the log's key name, which a Rekor v1
	// origin, "<host> - <treeID>", is not.)
	code, wvkey, errOut := monRun(t, "witness", "vkey", "--key", filepath.Join(dir, witnessKeyFile), "--name", c.Name)
	if code != 0 {
		t.Fatalf("witness vkey: %d %s", code, errOut)
	}
	var logVKey string
	for _, l := range strings.Split(list, "\n") {
		if v, ok := strings.CutPrefix(l, "vkey "); ok && logVKey == "" {
			logVKey = v
		}
	}
	lv, err := fnote.NewVerifier(logVKey)
	if err != nil {
		t.Fatal(err)
	}
	wv, err := checkpoint.ParseCosignatureVKey(strings.TrimSpace(wvkey))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []note.Verifier{lv, wv} {
		if _, err := note.Open(append(cp5, lines...), note.VerifierList(v)); err != nil {
			t.Fatalf("cosigned checkpoint, key %s: %v", v.Name(), err)
		}
	}
}

// TestWitnessEnvironment: `tabula witness` reads TABULA_WITNESS_*, never a
// log server's TABULA_* (TABULA_KEY is a log key, not a cosigning key).
func TestWitnessEnvironment(t *testing.T) {
	keyPath := filepath.Join(t.TempDir(), "w.pem")
	if code := run(context.Background(), []string{"keygen", "--algorithm", "ed25519", "--out", keyPath}, &bytes.Buffer{}, &bytes.Buffer{}); code != 0 {
		t.Fatalf("keygen: exit %d", code)
	}
	t.Setenv("TABULA_KEY", filepath.Join(t.TempDir(), "log-key.pem"))
	t.Setenv("TABULA_NAME", "log.example")
	t.Setenv("TABULA_WITNESS_KEY", keyPath)
	t.Setenv("TABULA_WITNESS_NAME", "env.example/w")
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"witness", "vkey"}, &stdout, &stderr); code != 0 {
		t.Fatalf("witness vkey: %d %s", code, stderr.String())
	}
	if v := stdout.String(); !strings.HasPrefix(v, "env.example/w+") {
		t.Fatalf("witness vkey = %q, want the key named by TABULA_WITNESS_NAME", v)
	}
}

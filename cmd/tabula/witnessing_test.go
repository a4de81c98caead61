package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/internal/fakewitness"
	"github.com/tabularium/tabula/signer"
)

// TestServeWitnessPolicy runs `tabula serve --witness-policy` with two
// test witnesses (2 of 2): a write that waits gets a cosigned checkpoint,
// /checkpoint serves it, /latest-checkpoint the log's own, /metrics counts
// the submissions. Bad flags are refused.
func TestServeWitnessPolicy(t *testing.T) {
	dir := t.TempDir()
	c := defaultConfig(t)
	c.DataDir = dir
	url, stop := startServe(t, c) // creates the log and its key
	resp, pem := httpDo(t, "GET", url+"/api/v1/log/publicKey", nil)
	if resp.StatusCode != 200 {
		t.Fatalf("publicKey: %d", resp.StatusCode)
	}
	stop()
	pub, err := signer.ParsePublicKeyPEM(pem)
	if err != nil {
		t.Fatal(err)
	}
	logV, err := checkpoint.NewVerifier(c.Hostname, checkpoint.KeyIDRekorV1, pub)
	if err != nil {
		t.Fatal(err)
	}
	w1, w2 := fakewitness.New(t, "w1.example", logV), fakewitness.New(t, "w2.example", logV)
	policy := filepath.Join(dir, "policy")
	if err := os.WriteFile(policy, []byte(w1.PolicyLine()+w2.PolicyLine()+"group both all w1.example w2.example\nquorum both\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	for _, bad := range []func(*serveConfig){
		func(c *serveConfig) { c.WitnessPolicy = filepath.Join(dir, "missing") },
		func(c *serveConfig) { c.WitnessPolicy = pemPath(t, dir) },
		func(c *serveConfig) { c.WitnessPolicy, c.WitnessWait = policy, -1 },
		func(c *serveConfig) { c.WitnessPolicy, c.WitnessWait = policy, c.WitnessWaitMax+1 },
	} {
		c := defaultConfig(t)
		c.DataDir = dir
		bad(c)
		if err := serve(t.Context(), c, discardLogger(), nil); err == nil {
			t.Errorf("serve with --witness-policy %q, --witness-wait %v: no error", c.WitnessPolicy, c.WitnessWait)
		}
	}

	c = defaultConfig(t)
	c.DataDir = dir
	c.WitnessPolicy = policy
	c.WitnessWait, c.WitnessWaitMax = 20e9, 20e9 // every write waits
	url, _ = startServe(t, c)
	resp, b := httpDo(t, "POST", url+"/api/v1/log/entries", opensslEntry(t, t.TempDir(), "witnessed"))
	if resp.StatusCode != 201 || resp.Header.Get("Tabula-Witnessed") != "true" {
		t.Fatalf("POST: %d %q %s", resp.StatusCode, resp.Header.Get("Tabula-Witnessed"), b)
	}
	cosigners := func(b []byte) int {
		n, err := note.Open(b, note.VerifierList(logV, w1.Signer.Verifier(), w2.Signer.Verifier()))
		if err != nil {
			t.Fatalf("%v\n%s", err, b)
		}
		return len(n.Sigs) - 1
	}
	for path, want := range map[string]int{"/checkpoint": 2, "/latest-checkpoint": 0} {
		resp, b := httpDo(t, "GET", url+path, nil)
		if resp.StatusCode != 200 || cosigners(b) != want {
			t.Errorf("GET %s: %d, %d cosignatures, want %d:\n%s", path, resp.StatusCode, cosigners(b), want, b)
		}
	}
	resp, b = httpDo(t, "GET", "http://"+c.MetricsListen+"/metrics", nil)
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), `tabula_witness_submissions_total{outcome="cosigned",tree_id=`) {
		t.Errorf("/metrics lacks the submissions:\n%s", b)
	}
}

// pemPath is a file that is no policy.
func pemPath(t *testing.T, dir string) string {
	t.Helper()
	p := filepath.Join(dir, "not-a-policy")
	if err := os.WriteFile(p, []byte("-----BEGIN PUBLIC KEY-----\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

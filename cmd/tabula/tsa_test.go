package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/tsa"
)

// TestServeTSA: a first start creates the TSA key (0600) and chain in the
// data directory and serves that chain; a restart keeps them; a key and
// chain given with --tsa-key and --tsa-cert-chain are served instead.
func TestServeTSA(t *testing.T) {
	c := defaultConfig(t)
	url, stop := startServe(t, c)
	keyPath, chainPath := filepath.Join(c.DataDir, tsa.KeyFile), filepath.Join(c.DataDir, tsa.ChainFile)
	fi, err := os.Stat(keyPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("%s: %v %v", keyPath, fi, err)
	}
	chainFile, err := os.ReadFile(chainPath)
	if err != nil {
		t.Fatal(err)
	}
	served := func(url string) []byte {
		t.Helper()
		resp, b := httpDo(t, "GET", url+"/api/v1/timestamp/certchain", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("certchain: %d %s", resp.StatusCode, b)
		}
		return b
	}
	if !bytes.Equal(served(url), chainFile) {
		t.Fatal("the served chain is not the data directory's")
	}
	stop()
	url, stop = startServe(t, c)
	if !bytes.Equal(served(url), chainFile) {
		t.Fatal("a restart serves another chain")
	}
	stop()

	// Given files.
	dir := t.TempDir()
	key, err := signer.Generate(signer.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := tsa.GenerateChain(key, "given", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a, err := tsa.New(tsa.Config{Signer: key, Chain: chain})
	if err != nil {
		t.Fatal(err)
	}
	given := defaultConfig(t)
	given.TSAKey, given.TSACertChain = filepath.Join(dir, "tsa.pem"), filepath.Join(dir, "chain.pem")
	if err := signer.WriteFiles(key, given.TSAKey, ""); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(given.TSACertChain, a.ChainPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	url, _ = startServe(t, given)
	if !bytes.Equal(served(url), a.ChainPEM()) {
		t.Fatal("the given chain is not served")
	}
	if _, err := os.Stat(filepath.Join(given.DataDir, tsa.KeyFile)); err == nil {
		t.Fatal("a TSA key was created beside the given one")
	}
}

// TestServeTSARefuses: serve does not start with half a TSA, a chain of
// another key, a chain whose signing certificate is a CA,
// or a malformed policy.
func TestServeTSARefuses(t *testing.T) {
	dir := t.TempDir()
	key, err := signer.Generate(signer.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	other, err := signer.Generate(signer.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	keyPath, otherPath := filepath.Join(dir, "key.pem"), filepath.Join(dir, "other.pem")
	if err := signer.WriteFiles(key, keyPath, ""); err != nil {
		t.Fatal(err)
	}
	if err := signer.WriteFiles(other, otherPath, ""); err != nil {
		t.Fatal(err)
	}
	chain, err := tsa.GenerateChain(key, "x", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a, err := tsa.New(tsa.Config{Signer: key, Chain: chain})
	if err != nil {
		t.Fatal(err)
	}
	chainPath := filepath.Join(dir, "chain.pem")
	if err := os.WriteFile(chainPath, a.ChainPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	// The chain's root alone: its "signing certificate" is a CA without the EKU.
	rootPath := filepath.Join(dir, "root.pem")
	rootPEM := a.ChainPEM()[bytes.Index(a.ChainPEM()[1:], []byte("-----BEGIN"))+1:]
	if err := os.WriteFile(rootPath, append(append([]byte{}, rootPEM...), rootPEM...), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name        string
		key, chain  string
		policy, err string
	}{
		{"key alone", keyPath, "", "", "go together"},
		{"chain alone", "", chainPath, "", "go together"},
		{"another key", otherPath, chainPath, "", "does not hold the TSA key"},
		{"a CA as signing certificate", keyPath, rootPath, "", "is a CA"},
		{"bad policy", "", "", "1.x", "--tsa-policy-oid"},
		{"policy of one arc", "", "", "1", "--tsa-policy-oid"},
		{"policy ASN.1 refuses", "", "", "7.1", "policy OID"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := defaultConfig(t)
			c.TSAKey, c.TSACertChain = tt.key, tt.chain
			if tt.policy != "" {
				c.TSAPolicyOID = tt.policy
			}
			err := serve(context.Background(), c, discardLogger(), nil)
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("serve: %v, want an error with %q", err, tt.err)
			}
		})
	}
}

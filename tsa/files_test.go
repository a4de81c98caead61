package tsa_test

import (
	"crypto"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/tsa"
)

// TestLoadOrCreate: the first start creates a 0600 key and its chain, later
// starts load them unchanged, a key without a chain gets a new chain, and a
// chain without its key or a key others can read is refused.
func TestLoadOrCreate(t *testing.T) {
	dir := t.TempDir()
	keyPath, chainPath := filepath.Join(dir, tsa.KeyFile), filepath.Join(dir, tsa.ChainFile)
	key, chain, created, err := tsa.LoadOrCreate(dir, "tabula.test", time.Now())
	if err != nil || !created {
		t.Fatalf("first start: created %v, %v", created, err)
	}
	fi, err := os.Stat(keyPath)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file: %v %v", fi.Mode(), err)
	}
	if _, err := tsa.New(tsa.Config{Signer: key, Chain: chain}); err != nil {
		t.Fatal(err)
	}

	key2, chain2, created, err := tsa.LoadOrCreate(dir, "tabula.test", time.Now())
	if err != nil || created {
		t.Fatalf("second start: created %v, %v", created, err)
	}
	if !chain2[0].Equal(chain[0]) || !chain2[1].Equal(chain[1]) || !sameKey(key2, key) {
		t.Fatal("the second start loaded another key or chain")
	}
	k, c, err := tsa.LoadFiles(keyPath, chainPath)
	if err != nil || !c[0].Equal(chain[0]) || !sameKey(k, key) {
		t.Fatalf("LoadFiles: %v", err)
	}

	// A start cut between the key and the chain: the key gets a chain.
	if err := os.Remove(chainPath); err != nil {
		t.Fatal(err)
	}
	key3, chain3, created, err := tsa.LoadOrCreate(dir, "tabula.test", time.Now())
	if err != nil || !created || !sameKey(key3, key) || chain3[0].Equal(chain[0]) {
		t.Fatalf("key without a chain: created %v, %v", created, err)
	}

	// A chain without its key.
	if err := os.Rename(keyPath, keyPath+".moved"); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := tsa.LoadOrCreate(dir, "tabula.test", time.Now()); err == nil || !strings.Contains(err.Error(), "does not") {
		t.Fatalf("a chain without its key: %v", err)
	}
	if err := os.Rename(keyPath+".moved", keyPath); err != nil {
		t.Fatal(err)
	}

	// A key others can read.
	if err := os.Chmod(keyPath, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := tsa.LoadOrCreate(dir, "tabula.test", time.Now()); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("a readable key: %v", err)
	}
	if _, _, err := tsa.LoadFiles(keyPath, chainPath); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("LoadFiles of a readable key: %v", err)
	}
}

func sameKey(a, b crypto.Signer) bool {
	return a.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(b.Public())
}

// TestParseChainPEM: only CERTIFICATE blocks, and nothing else.
func TestParseChainPEM(t *testing.T) {
	key, err := signer.Generate(signer.ECDSAP256)
	if err != nil {
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
	good := a.ChainPEM()
	keyPEM, err := signer.PrivateKeyPEM(key)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		in    []byte
		certs int
	}{
		{"chain", good, 2},
		{"chain with blank lines", append(append([]byte("\n"), good...), "\n\n"...), 2},
		{"empty", nil, 0},
		{"text", []byte("hello"), 0},
		{"chain then text", append(append([]byte{}, good...), "junk"...), 0},
		{"a key among certificates", append(append([]byte{}, good...), keyPEM...), 0},
		{"a broken certificate", []byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := tsa.ParseChainPEM(tt.in)
			if tt.certs == 0 {
				if err == nil {
					t.Fatalf("accepted: %d certificates", len(c))
				}
				return
			}
			if err != nil || len(c) != tt.certs {
				t.Fatalf("%d certificates, %v", len(c), err)
			}
			if !c[0].Equal(chain[0]) || !c[1].Equal(chain[1]) {
				t.Fatal("parsed another chain")
			}
		})
	}
}

package pki_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/pem"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tabularium/tabula/pki"
)

// TestKeyCacheParsePEM checks that the cache answers as ParsePEM does, that
// it caches exactly the parsed keys that fit, and that a hit is the same key.
func TestKeyCacheParsePEM(t *testing.T) {
	f := fixture(t)
	chain3 := slices.Concat(certPEM(f.leafDER), certPEM(f.interDER), certPEM(f.rootDER))
	// A key that parses but is longer than MaxCachedPEM (trailing whitespace
	// is trimmed by ParsePEM).
	long := append([]byte(rekorKeyPEM), bytes.Repeat([]byte("\n"), pki.MaxCachedPEM)...)
	tests := []struct {
		name       string
		in         []byte
		wantCached bool
	}{
		{name: "public key", in: []byte(rekorKeyPEM), wantCached: true},
		{name: "public key, not canonical", in: []byte("\n" + strings.ReplaceAll(rekorKeyPEM, "\n", "\r\n")), wantCached: true},
		{name: "certificate", in: certPEM(f.leafDER), wantCached: true},
		{name: "chain", in: chain3, wantCached: true},
		{name: "too long to cache", in: long},
		{name: "not PEM", in: []byte("hello")},
		{name: "empty", in: nil},
		{name: "unknown type", in: pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})},
		{name: "bad certificate", in: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: []byte{1}})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := pki.NewKeyCache(8)
			if err != nil {
				t.Fatal(err)
			}
			want, wantErr := pki.ParsePEM(tt.in)
			for round := range 2 { // a miss, then (when cached) a hit
				got, err := c.ParsePEM(tt.in)
				if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
					t.Fatalf("round %d: err = %v, want %v", round, err, wantErr)
				}
				if wantErr != nil {
					continue
				}
				sameKey(t, got, want)
			}
			wantLen := 0
			if tt.wantCached {
				wantLen = 1
			}
			if c.Len() != wantLen {
				t.Fatalf("Len = %d, want %d", c.Len(), wantLen)
			}
			if tt.wantCached {
				k1, _ := c.ParsePEM(tt.in)
				k2, _ := c.ParsePEM(slices.Clone(tt.in))
				if k1 != k2 {
					t.Fatal("a hit parsed again")
				}
			}
		})
	}
}

// sameKey compares everything a caller can read of two keys.
func sameKey(t *testing.T, got, want *pki.Key) {
	t.Helper()
	gc, err := got.CanonicalPEM()
	if err != nil {
		t.Fatal(err)
	}
	wc, err := want.CanonicalPEM()
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(gc, wc) {
		t.Fatalf("CanonicalPEM\n%s\nwant\n%s", gc, wc)
	}
	if eq, ok := got.PublicKey().(interface{ Equal(crypto.PublicKey) bool }); !ok || !eq.Equal(want.PublicKey()) {
		t.Fatal("PublicKey differs")
	}
	if len(got.Certificates()) != len(want.Certificates()) {
		t.Fatalf("%d certificates, want %d", len(got.Certificates()), len(want.Certificates()))
	}
	for i, c := range got.Certificates() {
		if !c.Equal(want.Certificates()[i]) {
			t.Fatalf("certificate %d differs", i)
		}
	}
	if !slices.Equal(got.Subjects(), want.Subjects()) || got.IsChain() != want.IsChain() {
		t.Fatal("subjects or chain shape differ")
	}
}

// TestKeyCacheCanonicalPEMCopy: a caller that writes into the canonical PEM
// of a cached key does not change what the next caller gets.
func TestKeyCacheCanonicalPEMCopy(t *testing.T) {
	c, err := pki.NewKeyCache(8)
	if err != nil {
		t.Fatal(err)
	}
	k, err := c.ParsePEM([]byte(rekorKeyPEM))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := k.CanonicalPEM()
	clear(b)
	k, _ = c.ParsePEM([]byte(rekorKeyPEM))
	if b, _ := k.CanonicalPEM(); string(b) != rekorKeyPEM {
		t.Fatalf("cached canonical PEM changed: %q", b)
	}
}

// TestKeyCacheVerifies: a cached key still verifies every signature, so a
// bad signature fails on a hit as on a miss.
func TestKeyCacheVerifies(t *testing.T) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pemBytes := pubPEM(t, priv.Public())
	digest := sha256.Sum256([]byte("artifact"))
	good, err := ecdsa.SignASN1(rand.Reader, priv, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	other := sha256.Sum256([]byte("other"))
	c, err := pki.NewKeyCache(8)
	if err != nil {
		t.Fatal(err)
	}
	for round := range 3 {
		k, err := c.ParsePEM(pemBytes)
		if err != nil {
			t.Fatal(err)
		}
		if err := k.VerifyDigest(good, digest[:], crypto.SHA256); err != nil {
			t.Fatalf("round %d: good signature: %v", round, err)
		}
		if err := k.VerifyDigest(good, other[:], crypto.SHA256); err == nil {
			t.Fatalf("round %d: signature verified over another digest", round)
		}
	}
}

// TestKeyCacheBounded: the cache keeps at most its size, dropping the least
// recently used key, and a nil cache parses every time.
func TestKeyCacheBounded(t *testing.T) {
	c, err := pki.NewKeyCache(2)
	if err != nil {
		t.Fatal(err)
	}
	keys := make([][]byte, 3)
	for i := range keys {
		priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = pubPEM(t, priv.Public())
	}
	first, _ := c.ParsePEM(keys[0])
	c.ParsePEM(keys[1])
	c.ParsePEM(keys[2]) // drops keys[0]
	if c.Len() != 2 {
		t.Fatalf("Len = %d, want 2", c.Len())
	}
	if again, _ := c.ParsePEM(keys[0]); again == first {
		t.Fatal("evicted key still cached")
	}
	if _, err := pki.NewKeyCache(0); err == nil {
		t.Fatal("size 0 accepted")
	}
	var none *pki.KeyCache
	k, err := none.ParsePEM(keys[1])
	if err != nil || none.Len() != 0 {
		t.Fatalf("nil cache: %v, Len %d", err, none.Len())
	}
	sameKey(t, k, mustParse(t, keys[1]))
}

func mustParse(t *testing.T, b []byte) *pki.Key {
	t.Helper()
	k, err := pki.ParsePEM(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestKeyCacheConcurrent parses the same and different keys from several
// goroutines (run with -race).
func TestKeyCacheConcurrent(t *testing.T) {
	f := fixture(t)
	inputs := [][]byte{[]byte(rekorKeyPEM), certPEM(f.leafDER), slices.Concat(certPEM(f.leafDER), certPEM(f.interDER), certPEM(f.rootDER))}
	c, err := pki.NewKeyCache(2) // smaller than the inputs: evictions too
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				in := inputs[(g+i)%len(inputs)]
				k, err := c.ParsePEM(in)
				if err == nil {
					_, err = k.CanonicalPEM()
				}
				if err == nil && len(k.Certificates()) == 3 {
					err = k.VerifyChain()
				}
				if err != nil {
					errs <- fmt.Errorf("goroutine %d: %w", g, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// BenchmarkParsePEM compares parsing (and re-encoding) a key with a cache
// hit: what a signer who logs again costs.
func BenchmarkParsePEM(b *testing.B) {
	f := fixture(b)
	for _, bc := range []struct {
		name string
		in   []byte
	}{{"public-key", []byte(rekorKeyPEM)}, {"certificate", certPEM(f.leafDER)}} {
		b.Run(bc.name+"/uncached", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				k, err := pki.ParsePEM(bc.in)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := k.CanonicalPEM(); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"/cached", func(b *testing.B) {
			c, err := pki.NewKeyCache(16)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				k, err := c.ParsePEM(bc.in)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := k.CanonicalPEM(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

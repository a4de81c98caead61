package minisign_test

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/tabularium/tabula/pki/minisign"
	"github.com/tabularium/tabula/pki/minisign/minisigntest"
)

var msg = []byte("minisign test artifact\n")

func testKey() *minisigntest.Key {
	return minisigntest.NewKey([32]byte{7, 7, 7}, [8]byte{1, 2, 3, 4, 5, 6, 7, 8})
}

func TestAccept(t *testing.T) {
	k := testKey()
	raw := []byte(k.Priv.Public().(ed25519.PublicKey))
	tests := []struct {
		name     string
		key, sig []byte
	}{
		{"key file, prehashed signature", k.PublicFile(), k.Sign(msg, true, "timestamp:1\tfile:a")},
		{"key file, legacy signature", k.PublicFile(), k.Sign(msg, false, "t")},
		{"base64 key line", []byte(k.PublicLine()), k.Sign(msg, true, "t")},
		{"raw 32-byte key", raw, k.Sign(msg, false, "t")},
		{"signify signature", []byte(k.PublicLine()), k.Signify(msg)},
		{"CRLF signature file", k.PublicFile(), bytes.ReplaceAll(k.Sign(msg, true, "t"), []byte("\n"), []byte("\r\n"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			key, err := minisign.ParsePublicKey(tt.key)
			if err != nil {
				t.Fatal(err)
			}
			sig, err := minisign.ParseSignature(tt.sig)
			if err != nil {
				t.Fatal(err)
			}
			if err := sig.Verify(msg, key); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if err := sig.Verify(msg[1:], key); err == nil || err.Error() != "failed to verify signature" {
				t.Fatalf("tampered message: %v", err)
			}
			// Canonical forms: the key line; the comment and signature line.
			ck, _ := key.Canonical()
			if tt.name != "raw 32-byte key" && string(ck) != k.PublicLine() {
				t.Fatalf("canonical key %q, want %q", ck, k.PublicLine())
			}
			cs, _ := sig.Canonical()
			line := strings.TrimRight(strings.Split(string(tt.sig), "\n")[1], "\r")
			if want := "untrusted comment:\n" + line; string(cs) != want {
				t.Fatalf("canonical signature %q, want %q", cs, want)
			}
			// The canonical signature parses (as signify) and verifies.
			sig2, err := minisign.ParseSignature(cs)
			if err != nil {
				t.Fatal(err)
			}
			if err := sig2.Verify(msg, key); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestLegacyRawKeyCanonical: a bare key is stored with algorithm "Ed" and a
// zero key id, as Rekor does.
func TestLegacyRawKeyCanonical(t *testing.T) {
	k := testKey()
	pub := []byte(k.Priv.Public().(ed25519.PublicKey))
	key, err := minisign.ParsePublicKey(pub[:32])
	if err != nil {
		t.Fatal(err)
	}
	ck, _ := key.Canonical()
	want := base64.StdEncoding.EncodeToString(append(append([]byte("Ed"), make([]byte, 8)...), pub[:32]...))
	if string(ck) != want {
		t.Fatalf("canonical %q, want %q", ck, want)
	}
}

func TestReject(t *testing.T) {
	k := testKey()
	keyTests := map[string][]byte{
		"empty":      nil,
		"short b64":  []byte("RWQ="),
		"two lines ": []byte("comment\nnot base64!\n"),
	}
	for name, b := range keyTests {
		if _, err := minisign.ParsePublicKey(b); err == nil || !strings.HasPrefix(err.Error(), "unable to read minisign public key: ") {
			t.Errorf("key %s: %v", name, err)
		}
	}
	sigTests := []struct {
		name string
		sig  []byte
		want string
	}{
		{"empty", nil, "invalid signature provided: 1 lines detected"},
		{"three lines", []byte("a\nb\nc\n"), "invalid signature provided: 3 lines detected"},
		{"bad base64", []byte("c\n!!!\n"), "invalid signature provided: base64 decoding failed"},
		{"short", []byte("c\nRWQ=\n"), "invalid signature provided: incorrect size 2 detected"},
		{"bad global line", bytes.Replace(k.Sign(msg, true, "t"), []byte("trusted comment: t\n"), []byte("trusted comment: t\n!"), 1),
			"invalid signature provided: 4 lines detected"},
	}
	for _, tt := range sigTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := minisign.ParseSignature(tt.sig)
			if err == nil || err.Error() != tt.want {
				t.Fatalf("error %v, want %q", err, tt.want)
			}
		})
	}
	// Another key does not verify; the key id is not what fails.
	other := minisigntest.NewKey([32]byte{8}, k.ID)
	okey, _ := minisign.ParsePublicKey(other.PublicFile())
	sig, _ := minisign.ParseSignature(k.Sign(msg, true, "t"))
	if err := sig.Verify(msg, okey); err == nil {
		t.Fatal("verified with another key")
	}
}

func FuzzParsePublicKey(f *testing.F) {
	k := testKey()
	f.Add(k.PublicFile())
	f.Add([]byte(k.PublicLine()))
	f.Add(bytes.Repeat([]byte{1}, 32))
	f.Fuzz(func(t *testing.T, b []byte) {
		key, err := minisign.ParsePublicKey(b)
		if err != nil {
			return
		}
		c, err := key.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		key2, err := minisign.ParsePublicKey(c)
		if err != nil {
			t.Fatalf("canonical key does not parse: %v", err)
		}
		if c2, _ := key2.Canonical(); !bytes.Equal(c, c2) {
			t.Fatal("canonical key is not a fixed point")
		}
	})
}

func FuzzParseSignature(f *testing.F) {
	k := testKey()
	f.Add(k.Sign(msg, true, "t"))
	f.Add(k.Sign(msg, false, "t"))
	f.Add(k.Signify(msg))
	key, _ := minisign.ParsePublicKey(k.PublicFile())
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := minisign.ParseSignature(b)
		if err != nil {
			return
		}
		ok := s.Verify(msg, key) == nil
		c, err := s.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		s2, err := minisign.ParseSignature(c)
		if err != nil {
			t.Fatalf("canonical signature does not parse: %v", err)
		}
		if ok && s2.Verify(msg, key) != nil {
			t.Fatal("canonical signature no longer verifies")
		}
	})
}

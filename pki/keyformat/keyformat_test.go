package keyformat_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tabularium/tabula/pki"
	"github.com/tabularium/tabula/pki/keyformat"
	"github.com/tabularium/tabula/pki/minisign/minisigntest"
)

// vectors reuses the rekord type's fixed keys.
func vector(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "types", "rekord", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestCanonicalKey(t *testing.T) {
	mk := minisigntest.NewKey([32]byte{3}, [8]byte{4})
	p256 := vector(t, "x509-p256.pub.pem")
	blk, _ := pem.Decode(p256)
	sshKey := strings.Fields(string(vector(t, "ssh-ed25519.pub")))
	tests := []struct {
		format string
		key    []byte
		want   []byte
	}{
		{"x509", append([]byte("\n  "), p256...), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: blk.Bytes})},
		{"pgp", vector(t, "pgp-ed25519.pub.asc"), vector(t, "pgp-ed25519.canonical.asc")},
		{"minisign", mk.PublicFile(), []byte(mk.PublicLine())},
		{"ssh", vector(t, "ssh-ed25519.pub"), []byte(sshKey[0] + " " + sshKey[1] + "\n")},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			got, err := keyformat.CanonicalKey(tt.format, tt.key)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, tt.want) {
				t.Fatalf("canonical key\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestX509FingerprintMatchesHashedrekord: a publicKey search for an x509 key
// finds hashedrekord entries, which index pki.FingerprintPEM.
func TestX509FingerprintMatchesHashedrekord(t *testing.T) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(k.Public())
	text := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Headers: map[string]string{"a": "b"}, Bytes: der})
	c, err := keyformat.CanonicalKey("x509", text)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := pki.ParsePEM(text)
	if err != nil {
		t.Fatal(err)
	}
	fp, _ := pk.Fingerprint()
	if keyformat.Fingerprint(c) != fp {
		t.Fatalf("fingerprint %s, hashedrekord's %s", keyformat.Fingerprint(c), fp)
	}
}

func TestErrors(t *testing.T) {
	for _, f := range []string{"tuf", "X509", "", "pkcs7"} {
		_, err := keyformat.CanonicalKey(f, []byte("x"))
		if err == nil || err.Error() != f+" is not a supported PKI format" {
			t.Errorf("format %q: %v", f, err)
		}
		if _, err := keyformat.ParseSignature(f, []byte("x")); err == nil {
			t.Errorf("format %q: signature parsed", f)
		}
	}
	// A signature of one format with a key of another.
	x509Key, err := keyformat.ParseKey("x509", vector(t, "x509-p256.pub.pem"))
	if err != nil {
		t.Fatal(err)
	}
	art := vector(t, "artifact.txt")
	for _, c := range []struct{ format, sig string }{
		{"pgp", "artifact.txt.pgp.asc"},
		{"ssh", "artifact.txt.ssh-ed25519.sig"},
	} {
		s, err := keyformat.ParseSignature(c.format, vector(t, c.sig))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Verify(art, x509Key); err == nil {
			t.Errorf("%s signature verified with an x509 key", c.format)
		}
	}
	mk := minisigntest.NewKey([32]byte{3}, [8]byte{4})
	ms, _ := keyformat.ParseSignature("minisign", mk.Signify(art))
	if err := ms.Verify(art, x509Key); err == nil {
		t.Error("minisign signature verified with an x509 key")
	}
	pgpKey, _ := keyformat.ParseKey("pgp", vector(t, "pgp-ed25519.pub.asc"))
	xs, _ := keyformat.ParseSignature("x509", vector(t, "artifact.txt.x509-p256.sig"))
	if err := xs.Verify(art, pgpKey); err == nil {
		t.Error("x509 signature verified with a pgp key")
	}
	empty, _ := keyformat.ParseSignature("x509", nil)
	if err := empty.Verify(art, x509Key); err == nil || err.Error() != "X509 signature has not been initialized" {
		t.Errorf("empty x509 signature: %v", err)
	}
}

func FuzzCanonicalKey(f *testing.F) {
	mk := minisigntest.NewKey([32]byte{3}, [8]byte{4})
	for _, s := range []struct {
		format string
		key    []byte
	}{
		{"x509", vector(f, "x509-p256.pub.pem")},
		{"pgp", vector(f, "pgp-ed25519.pub.asc")},
		{"minisign", mk.PublicFile()},
		{"ssh", vector(f, "ssh-ed25519.pub")},
	} {
		f.Add(s.format, s.key)
	}
	f.Fuzz(func(t *testing.T, format string, key []byte) {
		c, err := keyformat.CanonicalKey(format, key)
		if err != nil {
			return
		}
		// Canonical keys are fixed points.
		c2, err := keyformat.CanonicalKey(format, c)
		if err != nil {
			t.Fatalf("canonical %s key does not parse: %v\n%q", format, err, c)
		}
		if !bytes.Equal(c, c2) {
			t.Fatalf("canonical %s key is not a fixed point", format)
		}
	})
}

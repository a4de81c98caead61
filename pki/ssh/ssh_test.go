package ssh

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
)

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestOpenSSHVectors verifies signatures made by ssh-keygen -Y sign -n file
// (testdata/README.md), and pins the canonical forms: the key without its
// comment, the signature re-armored at 64 columns (ssh-keygen writes 70).
func TestOpenSSHVectors(t *testing.T) {
	msg := readFile(t, "artifact.txt")
	for _, alg := range []string{"ed25519", "rsa", "ecdsa"} {
		t.Run(alg, func(t *testing.T) {
			keyText := readFile(t, "id_"+alg+".pub")
			sigText := readFile(t, "artifact.txt."+alg+".sig")
			k, err := ParsePublicKey(keyText)
			if err != nil {
				t.Fatal(err)
			}
			s, err := ParseSignature(sigText)
			if err != nil {
				t.Fatal(err)
			}
			if s.HashAlgorithm() != "sha512" {
				t.Fatalf("hash algorithm %q", s.HashAlgorithm())
			}
			if err := s.Verify(msg, k); err != nil {
				t.Fatalf("Verify: %v", err)
			}
			if err := s.Verify(append(bytes.Clone(msg), '\n'), k); err == nil {
				t.Fatal("verified a tampered message")
			}
			ck, err := k.Canonical()
			if err != nil {
				t.Fatal(err)
			}
			f := strings.Fields(string(keyText))
			if want := f[0] + " " + f[1] + "\n"; string(ck) != want {
				t.Fatalf("canonical key %q, want %q", ck, want)
			}
			cs, err := s.Canonical()
			if err != nil {
				t.Fatal(err)
			}
			blk, _ := pem.Decode(sigText)
			if want := pem.EncodeToMemory(blk); !bytes.Equal(cs, want) {
				t.Fatalf("canonical signature\n got %q\nwant %q", cs, want)
			}
		})
	}
}

func TestEmails(t *testing.T) {
	tests := []struct {
		key  string
		want []string
	}{
		{"id_ed25519.pub", []string{"Tester@Example.com"}},
		{"id_rsa.pub", nil}, // comment "rsa tester"
		{"id_ecdsa.pub", nil},
	}
	for _, tt := range tests {
		k, err := ParsePublicKey(readFile(t, tt.key))
		if err != nil {
			t.Fatal(err)
		}
		if got := k.Emails(); !slices.Equal(got, tt.want) {
			t.Errorf("%s: emails %q, want %q", tt.key, got, tt.want)
		}
	}
}

func TestSignGenerated(t *testing.T) {
	msg := []byte("generated ssh artifact")
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	ec, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for name, priv := range map[string]any{"ed25519": ed, "ecdsa-p384": ec, "rsa": rk} {
		t.Run(name, func(t *testing.T) {
			signer, err := ssh.NewSignerFromKey(priv)
			if err != nil {
				t.Fatal(err)
			}
			armored, err := Sign(signer, msg)
			if err != nil {
				t.Fatal(err)
			}
			s, err := ParseSignature(armored)
			if err != nil {
				t.Fatal(err)
			}
			k, err := ParsePublicKey(ssh.MarshalAuthorizedKey(signer.PublicKey()))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Verify(msg, k); err != nil {
				t.Fatal(err)
			}
			if cs, _ := s.Canonical(); !bytes.Equal(cs, armored) {
				t.Fatal("a signature this package made is not canonical")
			}
		})
	}
}

// sshsigBlob re-encodes a vector's blob with fields changed.
func sshsigBlob(t testing.TB, f func(w *wrappedSig)) []byte {
	t.Helper()
	blk, _ := pem.Decode(readFile(t, "artifact.txt.ed25519.sig"))
	var w wrappedSig
	if err := ssh.Unmarshal(blk.Bytes, &w); err != nil {
		t.Fatal(err)
	}
	f(&w)
	return pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: ssh.Marshal(w)})
}

func TestRejectSignatures(t *testing.T) {
	tests := []struct {
		name string
		sig  []byte
		want string // prefix
	}{
		{"empty", nil, "unable to decode pem file"},
		{"wrong type", pem.EncodeToMemory(&pem.Block{Type: "PGP SIGNATURE", Bytes: []byte{1}}), "wrong pem block type: PGP SIGNATURE. Expected SSH-SIGNATURE"},
		{"not a blob", pem.EncodeToMemory(&pem.Block{Type: pemType, Bytes: []byte{1, 2, 3}}), "ssh: "},
		{"git namespace", readFile(t, "artifact.txt.git-namespace.sig"), "invalid signature namespace: git"},
		{"version 2", sshsigBlob(t, func(w *wrappedSig) { w.Version = 2 }), "unsupported signature version: 2"},
		{"bad magic", sshsigBlob(t, func(w *wrappedSig) { copy(w.MagicHeader[:], "SSHSIH") }), "invalid magic header: SSHSIH"},
		{"md5", sshsigBlob(t, func(w *wrappedSig) { w.HashAlgorithm = "md5" }), "unsupported hash algorithm: md5"},
		{"bad inner signature", sshsigBlob(t, func(w *wrappedSig) { w.Signature = "xx" }), "ssh: "},
		{"bad inner key", sshsigBlob(t, func(w *wrappedSig) { w.PublicKey = "xx" }), "ssh: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := ParseSignature(tt.sig)
			if err == nil {
				t.Fatalf("accepted: %v", s)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("error %q, want prefix %q", err, tt.want)
			}
		})
	}
}

func TestRejectKeys(t *testing.T) {
	big := append(bytes.Repeat([]byte(" "), MaxKeySize), readFile(t, "id_ed25519.pub")...)
	for name, key := range map[string][]byte{
		"empty":    nil,
		"garbage":  []byte("ssh-ed25519 !!!"),
		"pem":      pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}),
		"too long": big,
	} {
		if k, err := ParsePublicKey(key); err == nil {
			t.Errorf("%s: accepted %v", name, k)
		}
	}
}

// TestReservedAndHashDropped: the canonical signature empties the reserved
// field and names sha512, whatever the input said; a sha256 signature
// therefore no longer verifies (as in Rekor).
func TestReservedAndHashDropped(t *testing.T) {
	msg := readFile(t, "artifact.txt")
	k, err := ParsePublicKey(readFile(t, "id_ed25519.pub"))
	if err != nil {
		t.Fatal(err)
	}
	withReserved := sshsigBlob(t, func(w *wrappedSig) { w.Reserved = "r" })
	s, err := ParseSignature(withReserved)
	if err != nil {
		t.Fatal(err)
	}
	cs, _ := s.Canonical()
	if bytes.Equal(cs, withReserved) || s.Verify(msg, k) != nil {
		t.Fatal("reserved field was kept, or the signature no longer verifies")
	}
	// The hash algorithm field is not trusted: a sha512 signature that
	// claims sha256 still verifies...
	claims256 := sshsigBlob(t, func(w *wrappedSig) { w.HashAlgorithm = "sha256" })
	if s, err = ParseSignature(claims256); err != nil || s.Verify(msg, k) != nil {
		t.Fatalf("relabelled signature: %v", err)
	}
	// ...and a real sha256 one (ssh-keygen -O hashalg=sha256) does not.
	s, err = ParseSignature(readFile(t, "artifact.txt.ed25519-sha256.sig"))
	if err != nil {
		t.Fatal(err)
	}
	if s.HashAlgorithm() != "sha256" {
		t.Fatalf("hash algorithm %q", s.HashAlgorithm())
	}
	if err := s.Verify(msg, k); err == nil || err.Error() != "ssh: signature did not verify" {
		t.Fatalf("Verify: %v", err)
	}
}

func FuzzParsePublicKey(f *testing.F) {
	for _, n := range []string{"id_ed25519.pub", "id_rsa.pub", "id_ecdsa.pub"} {
		f.Add(readFile(f, n))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := ParsePublicKey(b)
		if err != nil {
			return
		}
		k.Emails()
		c, err := k.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		k2, err := ParsePublicKey(c)
		if err != nil {
			t.Fatalf("canonical key does not parse: %v", err)
		}
		if c2, _ := k2.Canonical(); !bytes.Equal(c, c2) {
			t.Fatal("canonical key is not a fixed point")
		}
	})
}

func FuzzParseSignature(f *testing.F) {
	for _, n := range []string{"artifact.txt.ed25519.sig", "artifact.txt.rsa.sig", "artifact.txt.ecdsa.sig", "artifact.txt.git-namespace.sig"} {
		f.Add(readFile(f, n))
	}
	key, err := ParsePublicKey(readFile(f, "id_ed25519.pub"))
	if err != nil {
		f.Fatal(err)
	}
	msg := readFile(f, "artifact.txt")
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := ParseSignature(b)
		if err != nil {
			return
		}
		ok := s.Verify(msg, key) == nil
		c, err := s.Canonical()
		if err != nil {
			t.Fatal(err)
		}
		s2, err := ParseSignature(c)
		if err != nil {
			t.Fatalf("canonical signature does not parse: %v", err)
		}
		if ok && s2.Verify(msg, key) != nil {
			t.Fatal("canonical signature no longer verifies")
		}
	})
}

package checkpoint_test

import (
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"os"
	"strings"
	"testing"

	fnote "github.com/transparency-dev/formats/note"
	"golang.org/x/mod/sumdb/note"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/merkle"
)

// TestVKey: a log key's vkey, read by transparency-dev/formats (what
// witnesses and tlog-policy readers use), verifies the log's checkpoints;
// a key with no vkey form is refused.
func TestVKey(t *testing.T) {
	c := checkpoint.Checkpoint{Origin: "log.example - 42", Size: 7, Root: merkle.Hash{1, 2, 3}}
	for _, tc := range []struct {
		name string
		form checkpoint.KeyIDForm
		key  crypto.Signer
		ok   bool
	}{
		{"ecdsa rekor-v1", checkpoint.KeyIDRekorV1, ecdsaKey(t), true},
		{"ecdsa c2sp", checkpoint.KeyIDC2SP, ecdsaKey(t), true},
		{"ed25519 c2sp", checkpoint.KeyIDC2SP, ed25519Key(t), true},
		{"ed25519 rekor-v1", checkpoint.KeyIDRekorV1, ed25519Key(t), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newSigner(t, tc.key)
			vkey, err := checkpoint.VKey("log.example", tc.form, s.Public())
			if !tc.ok {
				if err == nil {
					t.Fatalf("VKey = %q, want an error", vkey)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			v, err := fnote.NewVerifier(vkey)
			if err != nil {
				t.Fatalf("formats cannot read %q: %v", vkey, err)
			}
			signed := sign(t, c, "log.example", tc.form, s)
			if _, err := note.Open(signed, note.VerifierList(v)); err != nil {
				t.Fatalf("the vkey does not verify the log's checkpoint: %v", err)
			}
			if _, err := note.Open(flipSignature(t, signed), note.VerifierList(v)); err == nil {
				t.Fatal("a flipped signature verified")
			}
		})
	}
	if _, err := checkpoint.VKey("bad name", checkpoint.KeyIDC2SP, ed25519Key(t).Public()); err == nil {
		t.Error("a key name with a space got a vkey")
	}
}

// TestVKeyPublicGood: the vkey of the public Rekor v1 log's key verifies
// its production checkpoint (testdata/rekor/public-good-checkpoint.txt, from
// shared/testdata/public-good), and has the key hint its signature lines
// carry.
func TestVKeyPublicGood(t *testing.T) {
	der, err := base64.StdEncoding.DecodeString(rekorPublicGoodKey)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := os.ReadFile("testdata/rekor/public-good-checkpoint.txt")
	if err != nil {
		t.Fatal(err)
	}
	vkey, err := checkpoint.VKey("rekor.sigstore.dev", checkpoint.KeyIDRekorV1, pub)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(vkey, "rekor.sigstore.dev+c0d23d6a+AjBZ") {
		t.Fatalf("vkey %q", vkey)
	}
	v, err := fnote.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(cp, note.VerifierList(v)); err != nil {
		t.Fatalf("the public-good checkpoint: %v", err)
	}
}

// TestSignaturesOf keeps the lines of one key and drops the rest: other
// keys', lines with the name but another hint, and refuses a note without
// the key's line.
func TestSignaturesOf(t *testing.T) {
	text := "log.example - 42\n7\nAQIDAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n"
	logLine := "— log.example AAAAAXNpZw==\n"       // hint 0x00000001
	otherHint := "— log.example AAAAAnNpZw==\n"     // hint 0x00000002
	witness := "— witness.example/w AAAAAXNpZw==\n" // another name, same hint
	for _, tc := range []struct {
		name, in, want string
		ok             bool
	}{
		{"log alone", text + "\n" + logLine, text + "\n" + logLine, true},
		{"cosignatures dropped", text + "\n" + witness + logLine + otherHint, text + "\n" + logLine, true},
		{"no line of the key", text + "\n" + witness + otherHint, "", false},
		{"not a note", text, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := checkpoint.SignaturesOf([]byte(tc.in), "log.example", 1)
			if (err == nil) != tc.ok || string(got) != tc.want {
				t.Fatalf("SignaturesOf = %q, %v; want %q (ok %v)", got, err, tc.want, tc.ok)
			}
		})
	}
}

package checkpoint_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"

	"golang.org/x/mod/sumdb/note"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/signer"
)

// Golden values computed independently of Go with Python 3 (hashlib and
// the cryptography package's Ed25519) for the Ed25519 key whose seed is 32
// bytes of 0x07 (fuzzEd25519):
//
//	pub = ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c
//	SHA-256(DER SPKI)                              = 324be2de…
//	SHA-256("tabula.test/c2sp" ‖ 0x0A ‖ 0x01 ‖ pub) = 1df71701d7cd984a…
//
// and the signed notes of the body ("<origin>\n12345\n" + base64 of 32
// bytes of 0xab) under each form (Ed25519 signatures are deterministic).
const (
	goldenEd25519Pub    = "ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c"
	goldenEd25519SPKIID = "324be2dea8bc44461b0233e51fa48902ed6b1cc671e7739af2551e0bfe68f54e"
	goldenEd25519C2SPID = "1df71701d7cd984a9ddf4f5a54dc67161c33d10630e6395c444b274d8bb7c82b"

	goldenNoteRekorV1 = "tabula.test - 1\n12345\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n\n" +
		"— tabula.test Mkvi3h1rqOeZoDaYVYpFyf+n8V0kiF+VmenJOg0VJ+ZbgQW0cTz10Y6D/QBiCSP2ROUiyQcRGn6EL3F24YDB0iQjQwU=\n"
	goldenNoteC2SP = "tabula.test/c2sp\n12345\nq6urq6urq6urq6urq6urq6urq6urq6urq6urq6urq6s=\n\n" +
		"— tabula.test/c2sp HfcXAQ39w6O9LaC2HWmnTSZnKnUdoW8vTsp/B2EUOqoJtkm/SGXATMP38NxkZYNrx8JBXvRc7tKB9EnnCKHHwHol8Ac=\n"

	// rekorPublicGoodLogID is the public-good Rekor v1 log ID (SHA-256 of
	// rekorPublicGoodKey's DER), as its trusted root lists it.
	rekorPublicGoodLogID = "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"
)

var goldenBody = func(origin string) checkpoint.Checkpoint {
	return checkpoint.Checkpoint{Origin: origin, Size: 12345, Root: merkle.Hash(bytes.Repeat([]byte{0xab}, 32))}
}

func newSigner(t *testing.T, priv crypto.Signer) *signer.Local {
	t.Helper()
	s, err := signer.New(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ecdsaKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ed25519Key(t *testing.T) ed25519.PrivateKey {
	t.Helper()
	_, k, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func sign(t *testing.T, c checkpoint.Checkpoint, name string, form checkpoint.KeyIDForm, s signer.Signer) []byte {
	t.Helper()
	ns, err := checkpoint.NewSigner(name, form, s)
	if err != nil {
		t.Fatal(err)
	}
	b, err := checkpoint.Sign(c, ns)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// flipSignature changes one bit of the signature (not the hint) on the
// note's last signature line.
func flipSignature(t *testing.T, b []byte) []byte {
	t.Helper()
	at := bytes.LastIndexByte(b[:len(b)-1], ' ') + 1
	sig, err := base64.StdEncoding.DecodeString(string(b[at : len(b)-1]))
	if err != nil {
		t.Fatal(err)
	}
	sig[len(sig)-1] ^= 1
	return append(append(append([]byte{}, b[:at]...), base64.StdEncoding.EncodeToString(sig)...), '\n')
}

// sigHint is the key hint on the note's last signature line.
func sigHint(t *testing.T, b []byte) []byte {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	fields := strings.Fields(lines[len(lines)-1])
	sig, err := base64.StdEncoding.DecodeString(fields[len(fields)-1])
	if err != nil || len(sig) < 4 {
		t.Fatalf("signature line %q", lines[len(lines)-1])
	}
	return sig[:4]
}

func TestGoldenKeyIDs(t *testing.T) {
	priv := fuzzEd25519()
	pub := priv.Public().(ed25519.PublicKey)
	if hex.EncodeToString(pub) != goldenEd25519Pub {
		t.Fatalf("public key %x", pub)
	}
	der, _ := base64.StdEncoding.DecodeString(rekorPublicGoodKey)
	ecPub, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		form checkpoint.KeyIDForm
		key  string
		pub  crypto.PublicKey
		want string
	}{
		{"ed25519 rekor-v1", checkpoint.KeyIDRekorV1, "tabula.test/c2sp", pub, goldenEd25519SPKIID},
		{"ed25519 c2sp", checkpoint.KeyIDC2SP, "tabula.test/c2sp", pub, goldenEd25519C2SPID},
		// The Rekor v1 form does not depend on the key name.
		{"ed25519 rekor-v1 other name", checkpoint.KeyIDRekorV1, "other.example", pub, goldenEd25519SPKIID},
		// ECDSA: both forms are SHA-256 of the DER SPKI, the v1 log ID.
		{"ecdsa rekor-v1", checkpoint.KeyIDRekorV1, "rekor.sigstore.dev", ecPub, rekorPublicGoodLogID},
		{"ecdsa c2sp", checkpoint.KeyIDC2SP, "rekor.sigstore.dev", ecPub, rekorPublicGoodLogID},
		{"ecdsa c2sp other name", checkpoint.KeyIDC2SP, "other.example", ecPub, rekorPublicGoodLogID},
	} {
		t.Run(c.name, func(t *testing.T) {
			id, err := c.form.KeyID(c.key, c.pub)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(id[:]); got != c.want {
				t.Fatalf("key ID %s, want %s", got, c.want)
			}
			if want, _ := hex.DecodeString(c.want[:8]); checkpoint.Hint(id) != uint32(want[0])<<24|uint32(want[1])<<16|uint32(want[2])<<8|uint32(want[3]) {
				t.Fatalf("hint %08x, want %s", checkpoint.Hint(id), c.want[:8])
			}
		})
	}
}

func TestKeyIDErrors(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		form checkpoint.KeyIDForm
		pub  crypto.PublicKey
	}{
		{"zero form", 0, fuzzEd25519().Public()},
		{"unknown form", 9, fuzzEd25519().Public()},
		{"rsa rekor-v1", checkpoint.KeyIDRekorV1, &rsaKey.PublicKey},
		{"rsa c2sp", checkpoint.KeyIDC2SP, &rsaKey.PublicKey},
		{"short ed25519", checkpoint.KeyIDC2SP, ed25519.PublicKey{1, 2, 3}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := c.form.KeyID("tabula.test", c.pub); err == nil {
				t.Fatal("key ID without error")
			}
			if _, err := checkpoint.NewVerifier("tabula.test", c.form, c.pub); err == nil {
				t.Fatal("verifier without error")
			}
		})
	}
	if s := checkpoint.KeyIDRekorV1.String() + " " + checkpoint.KeyIDC2SP.String(); s != "rekor-v1 c2sp" {
		t.Fatalf("names %q", s)
	}
}

// TestGoldenNotes: what we sign today is byte for byte what an independent
// implementation signs (Ed25519 signatures are deterministic).
func TestGoldenNotes(t *testing.T) {
	s := newSigner(t, fuzzEd25519())
	for _, c := range []struct {
		origin, name string
		form         checkpoint.KeyIDForm
		want         string
	}{
		{"tabula.test - 1", "tabula.test", checkpoint.KeyIDRekorV1, goldenNoteRekorV1},
		{"tabula.test/c2sp", "tabula.test/c2sp", checkpoint.KeyIDC2SP, goldenNoteC2SP},
	} {
		t.Run(c.form.String(), func(t *testing.T) {
			if got := sign(t, goldenBody(c.origin), c.name, c.form, s); string(got) != c.want {
				t.Fatalf("signed\n%s\nwant\n%s", got, c.want)
			}
			cp, err := checkpoint.Verify([]byte(c.want), c.origin, c.name, c.form, s.Public())
			if err != nil || cp != goldenBody(c.origin) {
				t.Fatalf("Verify: %+v, %v", cp, err)
			}
		})
	}
}

// TestRekorV1Checkpoint verifies a checkpoint signed by a real Rekor v1
// server (rekor.local, ECDSA P-256).
func TestRekorV1Checkpoint(t *testing.T) {
	var info struct {
		SignedTreeHead string `json:"signedTreeHead"`
		RootHash       string `json:"rootHash"`
	}
	b, err := os.ReadFile("testdata/rekor/loginfo.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &info); err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile("testdata/rekor/publicKey.pem")
	if err != nil {
		t.Fatal(err)
	}
	pub, err := signer.ParsePublicKeyPEM(pem)
	if err != nil {
		t.Fatal(err)
	}
	for _, form := range []checkpoint.KeyIDForm{checkpoint.KeyIDRekorV1, checkpoint.KeyIDC2SP} {
		cp, err := checkpoint.Verify([]byte(info.SignedTreeHead), "rekor.local - 1218770045811791574", "rekor.local", form, pub)
		if err != nil {
			t.Fatalf("%s: %v", form, err)
		}
		if cp.Size != 3 || hex.EncodeToString(cp.Root[:]) != info.RootHash {
			t.Fatalf("%s: checkpoint %+v", form, cp)
		}
	}
}

// TestRoundTrip signs and verifies with ECDSA P-256 and Ed25519 keys under
// both key ID forms, and rejects every change.
func TestRoundTrip(t *testing.T) {
	keys := []struct {
		name        string
		priv, other crypto.Signer
	}{
		{"ecdsa-p256", ecdsaKey(t), ecdsaKey(t)},
		{"ed25519", ed25519Key(t), ed25519Key(t)},
	}
	forms := []checkpoint.KeyIDForm{checkpoint.KeyIDRekorV1, checkpoint.KeyIDC2SP}
	const origin, name = "tabula.test - 42", "tabula.test"
	body := checkpoint.Checkpoint{Origin: origin, Size: 7, Root: merkle.Hash(bytes.Repeat([]byte{1}, 32))}
	for _, k := range keys {
		for _, form := range forms {
			t.Run(k.name+"/"+form.String(), func(t *testing.T) {
				s, other := newSigner(t, k.priv), newSigner(t, k.other)
				b := sign(t, body, name, form, s)
				id, err := form.KeyID(name, s.Public())
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(sigHint(t, b), id[:4]) {
					t.Fatalf("hint %x, want %x", sigHint(t, b), id[:4])
				}
				cp, err := checkpoint.Verify(b, origin, name, form, s.Public())
				if err != nil || cp != body {
					t.Fatalf("Verify: %+v, %v", cp, err)
				}
				// Open with the key under any name gives the same body.
				if cp, err := checkpoint.Open(b, checkpoint.AnyName(form, s.Public())); err != nil || cp != body {
					t.Fatalf("Open(AnyName): %+v, %v", cp, err)
				}

				// A witness's signature beside the log's is ignored...
				witness, err := checkpoint.NewSigner("witness.example", checkpoint.KeyIDC2SP, other)
				if err != nil {
					t.Fatal(err)
				}
				logSigner, err := checkpoint.NewSigner(name, form, s)
				if err != nil {
					t.Fatal(err)
				}
				both, err := note.Sign(&note.Note{Text: string(body.Text())}, witness, logSigner)
				if err != nil {
					t.Fatal(err)
				}
				if cp, err := checkpoint.Verify(both, origin, name, form, s.Public()); err != nil || cp != body {
					t.Fatalf("with a witness signature: %+v, %v", cp, err)
				}
				if cp, err := checkpoint.Open(both, checkpoint.AnyName(form, s.Public())); err != nil || cp != body {
					t.Fatalf("Open(AnyName) with a witness signature: %+v, %v", cp, err)
				}
				// ...but a note signed by the witness alone is not the log's.
				alone, err := checkpoint.Sign(body, witness)
				if err != nil {
					t.Fatal(err)
				}
				var unverified *note.UnverifiedNoteError
				if _, err := checkpoint.Verify(alone, origin, name, form, s.Public()); !errors.As(err, &unverified) {
					t.Fatalf("witness-only note: %v, want an UnverifiedNoteError", err)
				}

				otherForm := checkpoint.KeyIDC2SP
				if form == checkpoint.KeyIDC2SP {
					otherForm = checkpoint.KeyIDRekorV1
				}
				tampered := bytes.Replace(b, []byte("\n7\n"), []byte("\n8\n"), 1)
				badSig := flipSignature(t, b)
				for _, r := range []struct {
					what         string
					b            []byte
					origin, name string
					form         checkpoint.KeyIDForm
					pub          crypto.PublicKey
				}{
					{"wrong origin", b, "tabula.test - 43", name, form, s.Public()},
					{"wrong key", b, origin, name, form, other.Public()},
					{"wrong name", b, origin, "other.test", form, s.Public()},
					{"tampered body", tampered, origin, name, form, s.Public()},
					{"tampered signature", badSig, origin, name, form, s.Public()},
					{"other form", b, origin, name, otherForm, s.Public()},
				} {
					_, err := checkpoint.Verify(r.b, r.origin, r.name, r.form, r.pub)
					if r.what == "other form" && k.name == "ecdsa-p256" {
						// Both forms give an ECDSA key the same key ID.
						if err != nil {
							t.Errorf("ECDSA under the other form: %v", err)
						}
						continue
					}
					if err == nil {
						t.Errorf("%s: accepted", r.what)
					}
				}
				if _, err := checkpoint.Open(b, checkpoint.AnyName(form, other.Public())); err == nil {
					t.Error("Open(AnyName) accepted another key")
				}
			})
		}
	}
}

// TestSumdbNoteVerifierKey: x/mod/sumdb/note's own Ed25519 verifier key
// (name+hash+base64(0x01‖pub), whose hash it checks against the key)
// accepts a note signed here under the C2SP form, and a note signed by
// sumdb/note's own signer is byte for byte the one signed here.
func TestSumdbNoteVerifierKey(t *testing.T) {
	const name = "tabula.test/c2sp"
	priv := fuzzEd25519()
	s := newSigner(t, priv)
	b := sign(t, goldenBody(name), name, checkpoint.KeyIDC2SP, s)

	vkey, err := note.NewEd25519VerifierKey(name, priv.Public().(ed25519.PublicKey))
	if err != nil {
		t.Fatal(err)
	}
	if want := name + "+" + goldenEd25519C2SPID[:8] + "+"; !strings.HasPrefix(vkey, want) {
		t.Fatalf("sumdb verifier key %s, want prefix %s", vkey, want)
	}
	v, err := note.NewVerifier(vkey)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := note.Open(b, note.VerifierList(v)); err != nil {
		t.Fatalf("sumdb/note rejects our C2SP note: %v", err)
	}
	if cp, err := checkpoint.Parse(b, name, v); err != nil || cp != goldenBody(name) {
		t.Fatalf("Parse with the sumdb verifier: %+v, %v", cp, err)
	}
	// The Rekor v1 form's hint is not the C2SP one: sumdb/note does not
	// know the key then.
	v1 := sign(t, goldenBody(name), name, checkpoint.KeyIDRekorV1, s)
	var unverified *note.UnverifiedNoteError
	if _, err := note.Open(v1, note.VerifierList(v)); !errors.As(err, &unverified) {
		t.Fatalf("sumdb/note on the Rekor v1 form: %v, want an UnverifiedNoteError", err)
	}

	// sumdb/note's signer, from the same seed, signs the same bytes.
	skey := "PRIVATE+KEY+" + name + "+" + goldenEd25519C2SPID[:8] + "+" +
		base64.StdEncoding.EncodeToString(append([]byte{1}, priv.Seed()...))
	ns, err := note.NewSigner(skey)
	if err != nil {
		t.Fatal(err)
	}
	theirs, err := checkpoint.Sign(goldenBody(name), ns)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(theirs, b) || string(b) != goldenNoteC2SP {
		t.Fatalf("sumdb/note signed\n%s\nwe signed\n%s", theirs, b)
	}
}

func TestInvalidKeyNames(t *testing.T) {
	s := newSigner(t, fuzzEd25519())
	for _, name := range []string{"", "a b", "a+b", "a\nb", "a\u00a0b"} {
		if _, err := checkpoint.NewSigner(name, checkpoint.KeyIDRekorV1, s); err == nil {
			t.Errorf("signer for key name %q", name)
		}
		if _, err := checkpoint.NewVerifier(name, checkpoint.KeyIDRekorV1, s.Public()); err == nil {
			t.Errorf("verifier for key name %q", name)
		}
	}
	if _, err := checkpoint.NewVerifierWithID("tabula.test", []byte{1, 2, 3}, s.Public()); err == nil {
		t.Error("verifier for a 3-byte key ID")
	}
}

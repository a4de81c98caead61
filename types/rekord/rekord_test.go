package rekord_test

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/packet"
	gossh "golang.org/x/crypto/ssh"

	"github.com/tabularium/tabula/pki/keyformat"
	"github.com/tabularium/tabula/pki/minisign/minisigntest"
	"github.com/tabularium/tabula/pki/ssh"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/rekord"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func registry() *types.Registry { return types.NewRegistry(rekord.New()) }

func canonicalize(t testing.TB, proposed []byte) (types.Canonical, error) {
	t.Helper()
	return registry().Canonicalize(context.Background(), proposed)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// proposal builds a rekord proposed entry; hash is omitted when empty.
func proposal(format string, sig, key, content []byte, hash string) []byte {
	data := map[string]any{"content": b64(content)}
	if hash != "" {
		data["hash"] = map[string]any{"algorithm": "sha256", "value": hash}
	}
	b, err := json.Marshal(map[string]any{
		"apiVersion": "0.0.1", "kind": "rekord",
		"spec": map[string]any{
			"signature": map[string]any{"format": format, "content": b64(sig), "publicKey": map[string]any{"content": b64(key)}},
			"data":      data,
		},
	})
	if err != nil {
		panic(err)
	}
	return b
}

// rekorBody is the canonical body Rekor's code path produces, assembled by
// hand from its source: json.Marshal of models.Rekord (apiVersion, kind,
// spec{data{hash{algorithm,value}}, signature{content, format,
// publicKey{content}}}, data.content omitted) and then RFC 8785, which sorts
// the keys as written here. Base64 is standard with padding (strfmt.Base64).
func rekorBody(format string, canonicalSig, canonicalKey []byte, hexDigest string) []byte {
	return fmt.Appendf(nil, `{"apiVersion":"0.0.1","kind":"rekord","spec":{"data":{"hash":{"algorithm":"sha256","value":"%s"}},"signature":{"content":"%s","format":"%s","publicKey":{"content":"%s"}}}}`,
		hexDigest, b64(canonicalSig), format, b64(canonicalKey))
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// minisignKey is fixed, so its vectors (Ed25519 is deterministic) are too.
func minisignKey() *minisigntest.Key {
	return minisigntest.NewKey([32]byte{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, [8]byte{0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18})
}

// pemReflow re-encodes every PEM block with encoding/pem (64 columns).
func pemReflow(t testing.TB, b []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	for {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			return out.Bytes()
		}
		blk.Headers = nil
		pem.Encode(&out, blk)
	}
}

// goldenCase is a proposal made from fixed vectors (testdata/README.md) and
// the canonical signature and key Rekor keeps for it, each derived
// independently of this package.
type goldenCase struct {
	name     string
	format   string
	sig, key []byte
	canonSig []byte
	canonKey []byte
	subjects []string
	withHash bool
}

func goldenCases(t testing.TB) []goldenCase {
	t.Helper()
	// ssh: the canonical key is the authorized_keys line without its
	// comment; ssh-keygen's signature in the file namespace with sha512 is
	// kept, re-armored at 64 columns.
	sshKey := func(name string) []byte {
		f := strings.Fields(string(readFile(t, name)))
		return []byte(f[0] + " " + f[1] + "\n")
	}
	mk := minisignKey()
	msig := mk.Sign(readFile(t, "artifact.txt"), true, "timestamp:1700000000\tfile:artifact.txt\thashed")
	// minisign: the canonical signature is the bare untrusted comment and
	// the signature line; the canonical key is the key file's base64 line.
	msigLine := strings.Split(string(msig), "\n")[1]
	return []goldenCase{
		{name: "x509-ed25519", format: "x509", sig: readFile(t, "artifact.txt.x509-ed25519.sig"), key: readFile(t, "x509-ed25519.pub.pem"),
			canonSig: readFile(t, "artifact.txt.x509-ed25519.sig"), canonKey: pemReflow(t, readFile(t, "x509-ed25519.pub.pem"))},
		{name: "x509-p256", format: "x509", sig: readFile(t, "artifact.txt.x509-p256.sig"), key: readFile(t, "x509-p256.pub.pem"), withHash: true,
			canonSig: readFile(t, "artifact.txt.x509-p256.sig"), canonKey: pemReflow(t, readFile(t, "x509-p256.pub.pem"))},
		{name: "x509-rsa", format: "x509", sig: readFile(t, "artifact.txt.x509-rsa.sig"), key: readFile(t, "x509-rsa.pub.pem"),
			canonSig: readFile(t, "artifact.txt.x509-rsa.sig"), canonKey: pemReflow(t, readFile(t, "x509-rsa.pub.pem"))},
		{name: "pgp-ed25519", format: "pgp", sig: readFile(t, "artifact.txt.pgp.asc"), key: readFile(t, "pgp-ed25519.pub.asc"), withHash: true,
			canonSig: readFile(t, "artifact.txt.pgp.asc"), canonKey: readFile(t, "pgp-ed25519.canonical.asc"),
			subjects: []string{"tabula.test@example.com"}},
		{name: "pgp-rsa-binary", format: "pgp", sig: readFile(t, "artifact.txt.pgp-rsa.sig"), key: readFile(t, "pgp-rsa.pub.asc"),
			canonSig: readFile(t, "artifact.txt.pgp-rsa.canonical.asc"), canonKey: readFile(t, "pgp-rsa.canonical.asc"),
			subjects: []string{"rsa@example.org"}},
		{name: "ssh-ed25519", format: "ssh", sig: readFile(t, "artifact.txt.ssh-ed25519.sig"), key: readFile(t, "ssh-ed25519.pub"),
			// The key's comment is an email, but Rekor indexes the canonical
			// key, which has no comment.
			canonSig: pemReflow(t, readFile(t, "artifact.txt.ssh-ed25519.sig")), canonKey: sshKey("ssh-ed25519.pub")},
		{name: "ssh-rsa", format: "ssh", sig: readFile(t, "artifact.txt.ssh-rsa.sig"), key: readFile(t, "ssh-rsa.pub"), withHash: true,
			canonSig: pemReflow(t, readFile(t, "artifact.txt.ssh-rsa.sig")), canonKey: sshKey("ssh-rsa.pub")},
		{name: "minisign-prehashed", format: "minisign", sig: msig, key: mk.PublicFile(), withHash: true,
			canonSig: []byte("untrusted comment:\n" + msigLine), canonKey: []byte(mk.PublicLine())},
	}
}

// TestGolden checks, for every format, that a proposal made from fixed
// vectors canonicalizes to the body Rekor's code path makes (rekorBody, from
// independently derived canonical forms), that the body is the golden file
// testdata/<name>.body.json, and the search keys.
func TestGolden(t *testing.T) {
	artifact := readFile(t, "artifact.txt")
	digest := sha256Hex(artifact)
	for _, gc := range goldenCases(t) {
		t.Run(gc.name, func(t *testing.T) {
			hash := ""
			if gc.withHash {
				hash = digest
			}
			proposed := proposal(gc.format, gc.sig, gc.key, artifact, hash)
			c, err := canonicalize(t, proposed)
			if err != nil {
				t.Fatal(err)
			}
			want := rekorBody(gc.format, gc.canonSig, gc.canonKey, digest)
			if !bytes.Equal(c.Body, want) {
				t.Fatalf("body\n got %s\nwant %s", c.Body, want)
			}
			golden := filepath.Join("testdata", gc.name+".body.json")
			if *update {
				if err := os.WriteFile(golden, c.Body, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join("testdata", gc.name+".request.json"), proposed, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if g := readFile(t, gc.name+".body.json"); !bytes.Equal(c.Body, g) {
				t.Fatalf("body differs from %s\n got %s\nwant %s", golden, c.Body, g)
			}
			wantKeys := append([]types.SearchKey{{Kind: types.KindKey, Value: sha256Hex(gc.canonKey)}}, emailKeys(gc.subjects)...)
			wantKeys = append(wantKeys, types.Digest("sha256", digest))
			if !slices.Equal(c.SearchKeys, wantKeys) {
				t.Fatalf("search keys\n got %q\nwant %q", c.SearchKeys, wantKeys)
			}
			// The fingerprint search key is what a publicKey search computes.
			ck, err := keyformat.CanonicalKey(gc.format, gc.key)
			if err != nil {
				t.Fatal(err)
			}
			if (types.SearchKey{Kind: types.KindKey, Value: keyformat.Fingerprint(ck)}) != c.SearchKeys[0] {
				t.Fatalf("CanonicalKey fingerprint %s, search key %s", keyformat.Fingerprint(ck), c.SearchKeys[0])
			}
		})
	}
}

// TestGoldenRequests replays the committed request files: the same proposal
// always gives the same body, hence the same UUID.
func TestGoldenRequests(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.request.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 8 {
		t.Fatalf("found %d golden requests, want 8", len(files))
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".request.json")
		t.Run(name, func(t *testing.T) {
			c, err := canonicalize(t, readFile(t, name+".request.json"))
			if err != nil {
				t.Fatal(err)
			}
			if want := readFile(t, name+".body.json"); !bytes.Equal(c.Body, want) {
				t.Fatalf("body\n got %s\nwant %s", c.Body, want)
			}
			// A logged body has no data.content: it is not a valid proposal.
			_, err = canonicalize(t, c.Body)
			if err == nil || err.Error() != "entry not insertable into log: missing data content" {
				t.Fatalf("re-proposed body: %v", err)
			}
		})
	}
}

var rsaKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

// signed is a generated key and a signature over the test artifact.
type signed struct {
	name, format string
	sig, key     []byte
	subjects     []string
}

func pemPub(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func selfSigned(t testing.TB, key crypto.Signer, email string) []byte {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber:   big.NewInt(7),
		Subject:        pkix.Name{CommonName: "rekord test"},
		NotBefore:      time.Now().Add(-time.Hour),
		NotAfter:       time.Now().Add(time.Hour),
		EmailAddresses: []string{email},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// generated signs msg with freshly generated keys of every format.
func generated(t testing.TB, msg []byte) []signed {
	t.Helper()
	digest := sha256.Sum256(msg)
	var out []signed
	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	p384, _ := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	for _, c := range []struct {
		name string
		key  *ecdsa.PrivateKey
	}{{"x509-ecdsa-p256", p256}, {"x509-ecdsa-p384-sha256", p384}} {
		sig, err := ecdsa.SignASN1(rand.Reader, c.key, digest[:])
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, signed{c.name, "x509", sig, pemPub(t, c.key.Public()), nil})
	}
	rsaSig, err := rsa.SignPKCS1v15(rand.Reader, rsaKey(), crypto.SHA256, digest[:])
	if err != nil {
		t.Fatal(err)
	}
	out = append(out, signed{"x509-rsa", "x509", rsaSig, pemPub(t, rsaKey().Public()), nil})
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	out = append(out, signed{"x509-ed25519", "x509", ed25519.Sign(ed, msg), pemPub(t, ed.Public()), nil})
	certSig, _ := ecdsa.SignASN1(rand.Reader, p256, digest[:])
	out = append(out, signed{"x509-certificate", "x509", certSig, selfSigned(t, p256, "Cert@Example.com"), []string{"cert@example.com"}})

	e, err := openpgp.NewEntity("Gen", "", "Gen.PGP@example.com", &packet.Config{Algorithm: packet.PubKeyAlgoEdDSA})
	if err != nil {
		t.Fatal(err)
	}
	var pgpKey, pgpSig bytes.Buffer
	if err := e.Serialize(&pgpKey); err != nil {
		t.Fatal(err)
	}
	if err := openpgp.DetachSign(&pgpSig, e, bytes.NewReader(msg), nil); err != nil {
		t.Fatal(err)
	}
	out = append(out, signed{"pgp-binary", "pgp", pgpSig.Bytes(), pgpKey.Bytes(), []string{"gen.pgp@example.com"}})

	_, sshPriv, _ := ed25519.GenerateKey(rand.Reader)
	signer, err := gossh.NewSignerFromKey(sshPriv)
	if err != nil {
		t.Fatal(err)
	}
	sshSig, err := ssh.Sign(signer, msg)
	if err != nil {
		t.Fatal(err)
	}
	sshPub := append(bytes.TrimSpace(gossh.MarshalAuthorizedKey(signer.PublicKey())), " ssh@example.com\n"...)
	out = append(out, signed{"ssh-ed25519", "ssh", sshSig, sshPub, nil})

	mk := minisigntest.NewKey([32]byte{42}, [8]byte{1})
	out = append(out, signed{"minisign-legacy", "minisign", mk.Sign(msg, false, "t"), mk.PublicFile(), nil})
	out = append(out, signed{"signify", "minisign", mk.Signify(msg), []byte(mk.PublicLine()), nil})
	return out
}

var artifact = []byte("tabula rekord generated artifact\n")

// TestAcceptGenerated: every format verifies, with and without a hash, and a
// tampered artifact or signature is refused.
func TestAcceptGenerated(t *testing.T) {
	digest := sha256Hex(artifact)
	for _, s := range generated(t, artifact) {
		t.Run(s.name, func(t *testing.T) {
			c, err := canonicalize(t, proposal(s.format, s.sig, s.key, artifact, ""))
			if err != nil {
				t.Fatal(err)
			}
			c2, err := canonicalize(t, proposal(s.format, s.sig, s.key, artifact, digest))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(c.Body, c2.Body) {
				t.Fatalf("a given hash changed the body\n%s\n%s", c.Body, c2.Body)
			}
			for _, k := range c.SearchKeys {
				if k.Value != strings.ToLower(k.Value) {
					t.Errorf("search key %q is not lower-case", k)
				}
			}
			if len(c.SearchKeys) != 2+len(s.subjects) || !slices.Equal(c.SearchKeys[1:1+len(s.subjects)], emailKeys(s.subjects)) || c.SearchKeys[len(c.SearchKeys)-1] != types.Digest("sha256", digest) {
				t.Errorf("search keys %q, subjects %q", c.SearchKeys, s.subjects)
			}
			// The body carries no artifact content.
			if bytes.Contains(c.Body, []byte(b64(artifact))) {
				t.Error("body carries the artifact")
			}
			// The canonical signature and key verify the artifact again.
			var body struct {
				Spec struct {
					Signature struct {
						Content   []byte `json:"content"`
						PublicKey struct {
							Content []byte `json:"content"`
						} `json:"publicKey"`
					} `json:"signature"`
				} `json:"spec"`
			}
			if err := json.Unmarshal(c.Body, &body); err != nil {
				t.Fatal(err)
			}
			again, err := canonicalize(t, proposal(s.format, body.Spec.Signature.Content, body.Spec.Signature.PublicKey.Content, artifact, ""))
			if err != nil {
				t.Fatalf("canonical signature and key do not verify: %v", err)
			}
			if !bytes.Equal(again.Body, c.Body) {
				t.Fatalf("canonical forms are not a fixed point\n%s\n%s", c.Body, again.Body)
			}

			tampered := append(bytes.Clone(artifact), '!')
			if _, err := canonicalize(t, proposal(s.format, s.sig, s.key, tampered, "")); err == nil {
				t.Error("accepted a tampered artifact")
			}
			if _, err := canonicalize(t, proposal(s.format, tamperSig(t, s.format, s.sig), s.key, artifact, "")); err == nil {
				t.Error("accepted a tampered signature")
			}
		})
	}
}

// tamperSig flips a bit of the signature value itself, wherever the format
// keeps it.
func tamperSig(t testing.TB, format string, sig []byte) []byte {
	t.Helper()
	switch format {
	case "x509", "pgp":
		out := bytes.Clone(sig)
		out[len(out)-3] ^= 0x10
		return out
	case "ssh":
		blk, _ := pem.Decode(sig)
		blk.Bytes[len(blk.Bytes)-3] ^= 0x10
		return pem.EncodeToMemory(blk)
	case "minisign":
		lines := strings.Split(string(sig), "\n")
		bin, err := base64.StdEncoding.DecodeString(lines[1])
		if err != nil {
			t.Fatal(err)
		}
		bin[len(bin)-3] ^= 0x10
		lines[1] = b64(bin)
		return []byte(strings.Join(lines, "\n"))
	}
	t.Fatalf("format %s", format)
	return nil
}

func mutate(t testing.TB, proposed []byte, f func(spec map[string]any)) []byte {
	t.Helper()
	var pe map[string]any
	if err := json.Unmarshal(proposed, &pe); err != nil {
		t.Fatal(err)
	}
	f(pe["spec"].(map[string]any))
	b, err := json.Marshal(pe)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func sigMap(s map[string]any) map[string]any  { return s["signature"].(map[string]any) }
func dataMap(s map[string]any) map[string]any { return s["data"].(map[string]any) }
func keyMap(s map[string]any) map[string]any  { return sigMap(s)["publicKey"].(map[string]any) }

func mustP256(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestReject: the schema, decoding, cross-field, hash and garbage-input
// messages were checked against Rekor v1.5.4's own rekord type
// (types.CreateVersionedEntry, then CanonicalizeEntry) on the same inputs.
// Nested schema failures report only their first error, as the generated
// code's errors.As does.
func TestReject(t *testing.T) {
	gcs := goldenCases(t)
	art := readFile(t, "artifact.txt")
	digest := sha256Hex(art)
	good := proposal("x509", gcs[0].sig, gcs[0].key, art, digest)
	if _, err := canonicalize(t, good); err != nil {
		t.Fatalf("base entry rejected: %v", err)
	}
	pgpGood := proposal("pgp", readFile(t, "artifact.txt.pgp.asc"), readFile(t, "pgp-ed25519.pub.asc"), art, "")
	sshGood := proposal("ssh", readFile(t, "artifact.txt.ssh-ed25519.sig"), readFile(t, "ssh-ed25519.pub"), art, "")
	mk := minisignKey()
	miniGood := proposal("minisign", mk.Sign(art, true, "t"), mk.PublicFile(), art, "")
	otherKey := func(s map[string]any) {
		keyMap(s)["content"] = b64(readFile(t, "x509-p256.pub.pem"))
	}
	tests := []struct {
		name     string
		proposed []byte
		want     string // exact, or a prefix when it ends with "…"
	}{
		{"empty spec", []byte(`{"apiVersion":"0.0.1","kind":"rekord","spec":{}}`),
			"validation failure list:\ndata in body is required\nsignature in body is required"},
		{"spec is an array", []byte(`{"apiVersion":"0.0.1","kind":"rekord","spec":[1]}`),
			"unsupported input type []interface {} for DecodeEntry"},
		{"empty signature and data", mutate(t, good, func(s map[string]any) {
			s["signature"] = map[string]any{}
			s["data"] = map[string]any{}
		}), "validation failure list:\nsignature.signature.content in body is required"},
		{"unknown format", mutate(t, good, func(s map[string]any) { sigMap(s)["format"] = "X509" }),
			"validation failure list:\nsignature.signature.format in body should be one of [pgp minisign x509 ssh]"},
		{"format not a string", mutate(t, good, func(s map[string]any) { sigMap(s)["format"] = 1 }),
			"validation failure list:\nsignature.signature.format in body is required"},
		{"empty public key", mutate(t, good, func(s map[string]any) { sigMap(s)["publicKey"] = map[string]any{} }),
			"validation failure list:\nsignature.signature.publicKey.signature.publicKey.content in body is required"},
		{"empty hash", mutate(t, good, func(s map[string]any) { dataMap(s)["hash"] = map[string]any{} }),
			"validation failure list:\ndata.data.hash.data.hash.algorithm in body is required"},
		{"sha512 hash", mutate(t, good, func(s map[string]any) {
			dataMap(s)["hash"] = map[string]any{"algorithm": "sha512", "value": strings.Repeat("0", 128)}
		}), "validation failure list:\ndata.data.hash.data.hash.algorithm in body should be one of [sha256]"},
		{"bad base64 signature", mutate(t, good, func(s map[string]any) { sigMap(s)["content"] = "AAA!" }),
			"failed parsing base64 data for signature content: illegal base64 data at input byte 3"},
		{"bad base64 key", mutate(t, good, func(s map[string]any) { keyMap(s)["content"] = "AB" }),
			"failed parsing base64 data for signature publicKey content: illegal base64 data at input byte 0"},
		{"bad base64 data", mutate(t, good, func(s map[string]any) { dataMap(s)["content"] = "A=B=" }),
			"failed parsing base64 data for data content: illegal base64 data at input byte 1"},
		{"signature decodes to nothing", mutate(t, good, func(s map[string]any) { sigMap(s)["content"] = "\n" }),
			"'content' must be specified for signature"},
		{"key decodes to nothing", mutate(t, good, func(s map[string]any) { keyMap(s)["content"] = "\r\n" }),
			"'content' must be specified for publicKey"},
		{"short hash", mutate(t, good, func(s map[string]any) {
			dataMap(s)["hash"].(map[string]any)["value"] = digest[:62]
		}), "invalid value for hash"},
		{"hash not hex", mutate(t, good, func(s map[string]any) {
			dataMap(s)["hash"].(map[string]any)["value"] = strings.Repeat("z", 64)
		}), "invalid value for hash"},
		{"no content nor hash", mutate(t, good, func(s map[string]any) { s["data"] = map[string]any{} }),
			"'content' must be specified for data"},
		{"hash without content", mutate(t, good, func(s map[string]any) { delete(dataMap(s), "content") }),
			"entry not insertable into log: missing data content"},
		{"hash mismatch", mutate(t, good, func(s map[string]any) {
			dataMap(s)["hash"].(map[string]any)["value"] = strings.Repeat("0", 64)
		}), "SHA mismatch: " + digest + " != " + strings.Repeat("0", 64)},
		{"upper-case hash", mutate(t, good, func(s map[string]any) {
			dataMap(s)["hash"].(map[string]any)["value"] = strings.ToUpper(digest)
		}), "SHA mismatch: " + digest + " != " + strings.ToUpper(digest)},
		{"data url", mutate(t, good, func(s map[string]any) { dataMap(s)["url"] = "https://example.com/a" }),
			"data.url is not supported: this log never fetches URLs; send the bytes inline in data.content"},
		{"signature url", mutate(t, good, func(s map[string]any) { sigMap(s)["url"] = "https://example.com/s" }),
			"signature.url is not supported: this log never fetches URLs; send the bytes inline in signature.content"},
		{"public key url", mutate(t, good, func(s map[string]any) {
			s["signature"].(map[string]any)["publicKey"] = map[string]any{"url": "https://example.com/k"}
		}), "signature.publicKey.url is not supported: this log never fetches URLs; send the bytes inline in signature.publicKey.content"},
		// x509
		{"x509 garbage key", mutate(t, good, func(s map[string]any) { keyMap(s)["content"] = b64([]byte("nope")) }),
			"invalid public key: failure decoding PEM"},
		// A 64-byte signature is tried as ASN.1, then as IEEE P1363 (sigstore).
		{"x509 signature by another key", mutate(t, good, otherKey), "invalid signature when validating IEEE_P1363 encoded signature"},
		{"x509 p256 signature by another key", proposal("x509", gcs[1].sig, pemPub(t, mustP256(t).Public()), art, ""),
			"invalid signature when validating ASN.1 encoded signature"},
		{"x509 tampered ed25519", mutate(t, good, func(s map[string]any) {
			sig := bytes.Clone(gcs[0].sig)
			sig[0] ^= 1
			sigMap(s)["content"] = b64(sig)
		}), "failed to verify signature"},
		{"x509 rsa tampered", proposal("x509", append(bytes.Clone(gcs[2].sig[:255]), gcs[2].sig[255]^1), gcs[2].key, art, ""),
			"crypto/rsa: verification error"},
		// pgp
		{"pgp key is x509", mutate(t, pgpGood, func(s map[string]any) { keyMap(s)["content"] = b64(gcs[0].key) }),
			"error reading binary PGP public key: …"},
		{"pgp signature is garbage", mutate(t, pgpGood, func(s map[string]any) { sigMap(s)["content"] = b64([]byte("garbage")) }),
			"invalid PGP signature: …"},
		{"pgp wrong key", mutate(t, pgpGood, func(s map[string]any) { keyMap(s)["content"] = b64(readFile(t, "pgp-rsa.pub.asc")) }),
			"openpgp: signature made by unknown entity"},
		{"pgp tampered artifact", mutate(t, pgpGood, func(s map[string]any) {
			dataMap(s)["content"] = b64(append(bytes.Clone(art), 'x'))
		}), "openpgp: invalid signature: …"},
		// ssh
		{"ssh key is x509", mutate(t, sshGood, func(s map[string]any) { keyMap(s)["content"] = b64(gcs[0].key) }),
			"ssh: no key found…"},
		{"ssh signature not PEM", mutate(t, sshGood, func(s map[string]any) { sigMap(s)["content"] = b64([]byte("x")) }),
			"unable to decode pem file"},
		{"ssh signature is a PGP armor", mutate(t, sshGood, func(s map[string]any) {
			sigMap(s)["content"] = b64(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: []byte{1}}))
		}), "wrong pem block type: PUBLIC KEY. Expected SSH-SIGNATURE"},
		{"ssh wrong key", mutate(t, sshGood, func(s map[string]any) { keyMap(s)["content"] = b64(readFile(t, "ssh-rsa.pub")) }),
			"ssh: signature type ssh-ed25519 for key type ssh-rsa"},
		// Rekor verifies every SSHSIG as sha512 (see package pki/ssh).
		{"ssh sha256 signature", mutate(t, sshGood, func(s map[string]any) {
			sigMap(s)["content"] = b64(readFile(t, "artifact.txt.ssh-ed25519-sha256.sig"))
		}), "ssh: signature did not verify"},
		// minisign
		{"minisign bad key", mutate(t, miniGood, func(s map[string]any) { keyMap(s)["content"] = b64([]byte("nope")) }),
			"unable to read minisign public key: Invalid encoded public key"},
		{"minisign bad signature", mutate(t, miniGood, func(s map[string]any) { sigMap(s)["content"] = b64([]byte("a\nb\nc")) }),
			"invalid signature provided: 3 lines detected"},
		{"minisign wrong key", mutate(t, miniGood, func(s map[string]any) {
			keyMap(s)["content"] = b64(minisigntest.NewKey([32]byte{9}, [8]byte{9}).PublicFile())
		}), "failed to verify signature"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := canonicalize(t, tt.proposed)
			if err == nil {
				t.Fatal("accepted, want rejection")
			}
			var ie *types.InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v (%T) is not a *types.InvalidError", err, err)
			}
			if prefix, ok := strings.CutSuffix(tt.want, "…"); ok {
				if !strings.HasPrefix(err.Error(), prefix) {
					t.Fatalf("error\n got %q\nwant prefix %q", err, prefix)
				}
			} else if err.Error() != tt.want {
				t.Fatalf("error\n got %q\nwant %q", err, tt.want)
			}
		})
	}
}

// TestLenientInput: what Rekor ignores or normalizes away.
func TestLenientInput(t *testing.T) {
	gc := goldenCases(t)[3] // pgp, armored
	art := readFile(t, "artifact.txt")
	good := proposal(gc.format, gc.sig, gc.key, art, "")
	want, err := canonicalize(t, good)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		proposed []byte
	}{
		{"unknown fields and extraData", mutate(t, good, func(s map[string]any) {
			s["extra"] = 1
			s["extraData"] = map[string]any{"a": "b"}
			dataMap(s)["extra"] = true
			sigMap(s)["extra"] = "x"
		})},
		{"empty url fields", mutate(t, good, func(s map[string]any) {
			dataMap(s)["url"] = ""
			sigMap(s)["url"] = nil
		})},
		{"base64 with line breaks", mutate(t, good, func(s map[string]any) {
			c := dataMap(s)["content"].(string)
			dataMap(s)["content"] = c[:8] + "\r\n" + c[8:]
		})},
		{"hash given", proposal(gc.format, gc.sig, gc.key, art, sha256Hex(art))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := canonicalize(t, tt.proposed)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Body, want.Body) || !slices.Equal(got.SearchKeys, want.SearchKeys) {
				t.Fatalf("body\n got %s\nwant %s", got.Body, want.Body)
			}
		})
	}
}

func TestTypeMetadata(t *testing.T) {
	ty := rekord.New()
	if ty.Kind() != "rekord" || !slices.Equal(ty.Versions(), []string{"0.0.1"}) {
		t.Fatalf("kind %q versions %q", ty.Kind(), ty.Versions())
	}
	_, err := ty.Canonicalize(context.Background(), "0.0.2", json.RawMessage(`{}`))
	if !errors.Is(err, types.ErrUnknownKind) {
		t.Fatalf("apiVersion 0.0.2: %v, want ErrUnknownKind", err)
	}
	_, err = registry().Canonicalize(context.Background(), []byte(`{"kind":"rekord","apiVersion":"0.0.2","spec":{}}`))
	if !types.IsUnsupportedVersion(err) {
		t.Fatalf("registry, apiVersion 0.0.2: %v, want an unsupported version", err)
	}
}

func FuzzCanonicalize(f *testing.F) {
	files, _ := filepath.Glob(filepath.Join("testdata", "*.request.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"apiVersion":"0.0.1","kind":"rekord","spec":{}}`))
	f.Add([]byte(`{"apiVersion":"0.0.1","kind":"rekord","spec":{"signature":{"format":"ssh","content":"","publicKey":{}},"data":{"hash":{}}}}`))
	reg := registry()
	f.Fuzz(func(t *testing.T, proposed []byte) {
		c, err := reg.Canonicalize(context.Background(), proposed)
		if err != nil {
			var ie *types.InvalidError
			if !errors.As(err, &ie) && !errors.Is(err, types.ErrUnknownKind) {
				t.Fatalf("error %v (%T) is neither InvalidError nor ErrUnknownKind", err, err)
			}
			return
		}
		if !json.Valid(c.Body) || len(c.SearchKeys) < 2 {
			t.Fatalf("accepted with a bad result: %s %q", c.Body, c.SearchKeys)
		}
	})
}

// emailKeys are the email search keys of the given addresses.
func emailKeys(emails []string) []types.SearchKey {
	var out []types.SearchKey
	for _, e := range emails {
		out = append(out, types.SearchKey{Kind: types.KindEmail, Value: e})
	}
	return out
}

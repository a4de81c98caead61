package hashedrekord_test

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
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/pki"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/hashedrekord"
	"github.com/tabularium/tabula/types/internal/envelope/envelopetest"
)

var artifact = []byte("tabula hashedrekord test artifact\n")

func registry() *types.Registry { return types.NewRegistry(hashedrekord.New()) }

func readFile(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// canonicalize runs a whole proposed entry through the registry, as the API does.
func canonicalize(t testing.TB, proposed []byte) (types.Canonical, error) {
	t.Helper()
	return registry().Canonicalize(context.Background(), proposed)
}

func mustInvalid(t *testing.T, err error) *types.InvalidError {
	t.Helper()
	var ie *types.InvalidError
	if !errors.As(err, &ie) {
		t.Fatalf("error %v (%T) is not a *types.InvalidError", err, err)
	}
	return ie
}

// TestGolden checks bodies and messages captured from a real Rekor v1.
func TestGolden(t *testing.T) {
	tests := []struct {
		name     string
		request  string
		wantBody string // file with the expected canonical body
		wantErr  string // file with the expected message (after "error processing entry: ")
	}{
		{"01 post entries 201", "01-request.json", "01-body.json", ""},
		{"12 stored body re-proposed", "12-body.json", "12-body.json", ""},
		{"03 bad signature", "03-bad-signature-request.json", "", "03-bad-signature.err"},
		{"05 missing fields", "05-missing-fields-request.json", "", "05-missing-fields.err"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := canonicalize(t, readFile(t, tt.request))
			if tt.wantErr != "" {
				if err == nil {
					t.Fatal("accepted, want error")
				}
				mustInvalid(t, err)
				if want := string(readFile(t, tt.wantErr)); err.Error() != want {
					t.Fatalf("error\n got %q\nwant %q", err.Error(), want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if want := readFile(t, tt.wantBody); !bytes.Equal(c.Body, want) {
				t.Fatalf("body\n got %s\nwant %s", c.Body, want)
			}
		})
	}
}

// TestGoldenSearchKeys pins the keys of the 01 sample: hex(sha256(canonical
// PEM)) of its P-256 key and the artifact hash.
func TestGoldenSearchKeys(t *testing.T) {
	c, err := canonicalize(t, readFile(t, "01-request.json"))
	if err != nil {
		t.Fatal(err)
	}
	var body struct {
		Spec struct {
			Signature struct {
				PublicKey struct {
					Content []byte `json:"content"`
				} `json:"publicKey"`
			} `json:"signature"`
		} `json:"spec"`
	}
	if err := json.Unmarshal(c.Body, &body); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(body.Spec.Signature.PublicKey.Content)
	want := []types.SearchKey{
		{Kind: types.KindKey, Value: hex.EncodeToString(sum[:])},
		{Kind: types.KindDigest, Value: "sha256:617ec5eb00d6e54edda531ab64150883647094b4cd8ac8fb9b4bfd37aa4ff47c"},
	}
	if !slices.Equal(c.SearchKeys, want) {
		t.Fatalf("search keys %q, want %q", c.SearchKeys, want)
	}
}

// TestPublicGood re-proposes bodies logged by the public-good Rekor (extracted
// from the bundles in ../shared/testdata/public-good, see testdata/README.md):
// a canonical body is itself a valid proposed entry and must come back
// unchanged.
func TestPublicGood(t *testing.T) {
	// Bodies that must not canonicalize, with the error's prefix.
	reject := map[string]string{
		// The bundle's certificate was swapped: the signature no longer verifies.
		"reject-body-tampered-public-key.body.json": "verifying signature: ",
		// Logged in August 2024, before Rekor enforced its algorithm registry:
		// a P-384 key with a SHA-256 digest, which today's default
		// --client-signing-algorithms reject.
		"bundle-v0.1-hashedrekord-proof-no-checkpoint-cpython-3.12.5.body.json": "entry algorithms are not allowed",
	}
	files, err := filepath.Glob(filepath.Join("testdata", "public-good", "*.body.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 7 {
		t.Fatalf("found %d public-good bodies, want at least 7", len(files))
	}
	for _, f := range files {
		name := filepath.Base(f)
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			c, err := canonicalize(t, body)
			if want, ok := reject[name]; ok {
				if err == nil {
					t.Fatal("accepted a tampered body")
				}
				mustInvalid(t, err)
				if !strings.HasPrefix(err.Error(), want) {
					t.Fatalf("error %q, want prefix %q", err, want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(c.Body, body) {
				t.Fatalf("body changed\n got %s\nwant %s", c.Body, body)
			}
		})
	}
}

// keyCase is a generated key and the PEM its entries carry.
type keyCase struct {
	name   string
	signer *testentry.Signer
}

func pemKey(t testing.TB, pub crypto.PublicKey) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

func signerFor(t testing.TB, key crypto.Signer, content []byte) *testentry.Signer {
	t.Helper()
	s, err := testentry.NewSignerFromKey(key, content)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// chain returns a leaf key and the PEM of leaf + root, the root signing the
// leaf (envelopetest.Cert's Fulcio-like chain).
func chain(t testing.TB, email string) (crypto.Signer, []byte) {
	t.Helper()
	k := envelopetest.Cert(t, email)
	return k.Signer, k.ChainPEM
}

// rsa2048 is generated once: it is the slow key.
var rsa2048 = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		panic(err)
	}
	return k
})

func acceptedKeys(t *testing.T) []keyCase {
	t.Helper()
	var cases []keyCase
	for _, c := range []struct {
		name  string
		curve elliptic.Curve
	}{{"ecdsa-p256-sha256", elliptic.P256()}, {"ecdsa-p384-sha384", elliptic.P384()}, {"ecdsa-p521-sha512", elliptic.P521()}} {
		k, err := ecdsa.GenerateKey(c.curve, rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, keyCase{c.name, signerFor(t, k, pemKey(t, k.Public()))})
	}
	r := rsa2048()
	cases = append(cases, keyCase{"rsa2048-pkcs1v15-sha256", signerFor(t, r, pemKey(t, r.Public()))})
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases, keyCase{"ed25519ph-sha512", signerFor(t, ed, pemKey(t, ed.Public()))})
	cs, err := testentry.NewCertSigner("Signer@Example.COM")
	if err != nil {
		t.Fatal(err)
	}
	cases = append(cases, keyCase{"fulcio-style-certificate", cs})
	leaf, chainPEM := chain(t, "chain@example.com")
	cases = append(cases, keyCase{"two-certificate-chain", signerFor(t, leaf, chainPEM)})
	return cases
}

func TestAcceptGenerated(t *testing.T) {
	for _, kc := range acceptedKeys(t) {
		t.Run(kc.name, func(t *testing.T) {
			proposed, err := kc.signer.HashedRekord(artifact)
			if err != nil {
				t.Fatal(err)
			}
			c, err := canonicalize(t, proposed)
			if err != nil {
				t.Fatal(err)
			}
			// The body is a fixed point: re-proposing it yields it again.
			c2, err := canonicalize(t, c.Body)
			if err != nil {
				t.Fatalf("re-canonicalizing the body: %v", err)
			}
			if !bytes.Equal(c.Body, c2.Body) {
				t.Fatalf("body is not a fixed point\n1st %s\n2nd %s", c.Body, c2.Body)
			}
			key, err := pki.ParsePEM(kc.signer.PublicKeyPEM())
			if err != nil {
				t.Fatal(err)
			}
			fp, err := key.Fingerprint()
			if err != nil {
				t.Fatal(err)
			}
			if c.SearchKeys[0] != (types.SearchKey{Kind: types.KindKey, Value: fp}) {
				t.Errorf("first search key %q, want fingerprint %q", c.SearchKeys[0], fp)
			}
			last := c.SearchKeys[len(c.SearchKeys)-1]
			if last.Kind != types.KindDigest || !strings.HasPrefix(last.Value, "sha") || !strings.Contains(last.Value, ":") {
				t.Errorf("last search key %q is not <alg>:<digest>", last)
			}
			for _, k := range c.SearchKeys {
				if k.Value != strings.ToLower(k.Value) {
					t.Errorf("search key %q is not lower-case", k)
				}
			}
		})
	}
}

func TestSearchKeysCertificate(t *testing.T) {
	s, err := testentry.NewCertSigner("Alice@Example.COM")
	if err != nil {
		t.Fatal(err)
	}
	proposed, err := s.HashedRekord(artifact)
	if err != nil {
		t.Fatal(err)
	}
	c, err := canonicalize(t, proposed)
	if err != nil {
		t.Fatal(err)
	}
	key, _ := pki.ParsePEM(s.PublicKeyPEM())
	fp, _ := key.Fingerprint()
	sum := sha256.Sum256(artifact)
	want := []types.SearchKey{
		{Kind: types.KindKey, Value: fp},
		{Kind: types.KindEmail, Value: "alice@example.com"},
		types.Digest("sha256", hex.EncodeToString(sum[:])),
	}
	if !slices.Equal(c.SearchKeys, want) {
		t.Fatalf("search keys\n got %q\nwant %q", c.SearchKeys, want)
	}
}

// mutate decodes a proposed entry, applies f to its spec and re-encodes it.
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

func sigMap(s map[string]any) map[string]any { return s["signature"].(map[string]any) }
func hashMap(s map[string]any) map[string]any {
	return s["data"].(map[string]any)["hash"].(map[string]any)
}
func setKey(s map[string]any, pemText []byte) {
	sigMap(s)["publicKey"].(map[string]any)["content"] = base64.StdEncoding.EncodeToString(pemText)
}

// entryFor signs digest (made with h, named alg) with key and returns a proposed
// entry carrying content as its key.
func entryFor(t testing.TB, key crypto.Signer, opts crypto.SignerOpts, alg string, digest, content []byte) []byte {
	t.Helper()
	sig, err := key.Sign(rand.Reader, digest, opts)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(map[string]any{
		"apiVersion": "0.0.1", "kind": "hashedrekord",
		"spec": map[string]any{
			"data":      map[string]any{"hash": map[string]any{"algorithm": alg, "value": hex.EncodeToString(digest)}},
			"signature": map[string]any{"content": sig, "publicKey": map[string]any{"content": content}},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// dsaPEM is a DSA SubjectPublicKeyInfo (Go parses DSA keys but nothing signs
// with them any more); the numbers need only be positive.
func dsaPEM(t testing.TB) []byte {
	t.Helper()
	params, err := asn1.Marshal(struct{ P, Q, G *big.Int }{big.NewInt(23), big.NewInt(11), big.NewInt(4)})
	if err != nil {
		t.Fatal(err)
	}
	y, err := asn1.Marshal(big.NewInt(8))
	if err != nil {
		t.Fatal(err)
	}
	spki, err := asn1.Marshal(struct {
		Algorithm pkix.AlgorithmIdentifier
		PublicKey asn1.BitString
	}{
		Algorithm: pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10040, 4, 1}, Parameters: asn1.RawValue{FullBytes: params}},
		PublicKey: asn1.BitString{Bytes: y, BitLength: 8 * len(y)},
	})
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: spki})
}

func TestReject(t *testing.T) {
	signer, err := testentry.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	good, err := signer.HashedRekord(artifact)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := canonicalize(t, good); err != nil {
		t.Fatalf("base entry rejected: %v", err)
	}

	p256, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	rsa1024, err := rsa.GenerateKey(rand.Reader, 1024)
	if err != nil {
		t.Fatal(err)
	}
	_, ed, _ := ed25519.GenerateKey(rand.Reader)
	d256 := sha256.Sum256(artifact)
	d512 := sha512.Sum512(artifact)
	privDER, _ := x509.MarshalPKCS8PrivateKey(p256)
	privPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})
	otherLeaf, chainPEM := chain(t, "x@example.com")
	// A chain whose leaf is not signed by its last certificate.
	_, chain2 := chain(t, "y@example.com")
	blocks := func(b []byte) [][]byte {
		var out [][]byte
		for {
			var blk *pem.Block
			blk, b = pem.Decode(b)
			if blk == nil {
				return out
			}
			out = append(out, pem.EncodeToMemory(blk))
		}
	}
	brokenChain := slices.Concat(blocks(chainPEM)[0], blocks(chain2)[1])
	elevenCerts := bytes.Repeat(blocks(chainPEM)[1], 11)

	tests := []struct {
		name     string
		proposed []byte
		want     string // exact message, or prefix if it ends with "…"
	}{
		{"missing fields", []byte(`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{}}`),
			"validation failure list:\ndata in body is required\nsignature in body is required"},
		{"missing signature", mutate(t, good, func(s map[string]any) { delete(s, "signature") }),
			"validation failure list:\nsignature in body is required"},
		{"signature not an object", mutate(t, good, func(s map[string]any) { s["signature"] = "x" }),
			"validation failure list:\nsignature in body is required"},
		{"data without hash", mutate(t, good, func(s map[string]any) { s["data"] = map[string]any{} }),
			"validation failure list:\ndata in body is required"},
		{"empty hash", mutate(t, good, func(s map[string]any) { s["data"] = map[string]any{"hash": map[string]any{}} }),
			"validation failure list:\ndata.data.hash.data.hash.algorithm in body is required"},
		{"unknown algorithm", mutate(t, good, func(s map[string]any) { hashMap(s)["algorithm"] = "SHA256" }),
			"validation failure list:\ndata.data.hash.data.hash.algorithm in body should be one of [sha256 sha384 sha512]"},
		{"spec is an array", []byte(`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":[1]}`),
			"unsupported input type []interface {} for DecodeEntry"},
		{"bad base64 signature", mutate(t, good, func(s map[string]any) { sigMap(s)["content"] = "MEUC!" }),
			"failed parsing base64 data for signature content: illegal base64 data at input byte 4"},
		{"unpadded base64 key", mutate(t, good, func(s map[string]any) { sigMap(s)["publicKey"].(map[string]any)["content"] = "YWJj" + "ZA" }),
			"failed parsing base64 data for public key content: illegal base64 data at input byte 4"},
		{"missing public key", mutate(t, good, func(s map[string]any) { delete(sigMap(s), "publicKey") }),
			"missing public key"},
		{"empty public key", mutate(t, good, func(s map[string]any) { sigMap(s)["publicKey"] = map[string]any{} }),
			"invalid public key: failure decoding PEM"},
		{"garbage PEM", mutate(t, good, func(s map[string]any) { setKey(s, []byte("not a key at all")) }),
			"invalid public key: failure decoding PEM"},
		{"private key PEM", mutate(t, good, func(s map[string]any) { setKey(s, privPEM) }),
			"invalid public key: cannot handle type PRIVATE KEY"},
		// More than one block (or trailing bytes) makes Rekor parse every block
		// as a certificate, a PUBLIC KEY first block included.
		{"key followed by junk", mutate(t, good, func(s map[string]any) {
			setKey(s, append(signer.PublicKeyPEM(), "junk"...))
		}), "x509: malformed…"},
		{"certificate followed by junk", mutate(t, good, func(s map[string]any) {
			setKey(s, append(blocks(chainPEM)[0], "junk"...))
		}), "error during PEM decoding"},
		{"eleven certificates", mutate(t, good, func(s map[string]any) { setKey(s, elevenCerts) }),
			"too many certificates specified in PEM block"},
		{"chain not to its root", entryFor(t, otherLeaf, crypto.SHA256, "sha256", d256[:], brokenChain),
			"verifying signature: x509: certificate signed by unknown authority…"},
		{"digest too short", mutate(t, good, func(s map[string]any) { hashMap(s)["value"] = hex.EncodeToString(d256[:31]) }),
			"invalid value for hash"},
		{"sha512 length under sha256", mutate(t, good, func(s map[string]any) { hashMap(s)["value"] = hex.EncodeToString(d512[:]) }),
			"invalid value for hash"},
		{"digest not hex", mutate(t, good, func(s map[string]any) { hashMap(s)["value"] = strings.Repeat("g", 64) }),
			"encoding/hex: invalid byte: U+0067 'g'"},
		{"wrong digest", mutate(t, good, func(s map[string]any) { hashMap(s)["value"] = strings.Repeat("0", 64) }),
			"verifying signature: invalid signature when validating ASN.1 encoded signature"},
		{"empty signature", mutate(t, good, func(s map[string]any) { sigMap(s)["content"] = "" }),
			"verifying signature: X509 signature has not been initialized"},
		{"signature by another key", mutate(t, good, func(s map[string]any) { setKey(s, pemKey(t, p256.Public())) }),
			"verifying signature: invalid signature when validating ASN.1 encoded signature"},
		{"p256 with sha512", entryFor(t, p256, crypto.SHA512, "sha512", d512[:], pemKey(t, p256.Public())),
			"entry algorithms are not allowed"},
		{"rsa1024", entryFor(t, rsa1024, crypto.SHA256, "sha256", d256[:], pemKey(t, rsa1024.Public())),
			"entry algorithms are not allowed"},
		{"rsa2048 with sha512", entryFor(t, rsa2048(), crypto.SHA512, "sha512", d512[:], pemKey(t, rsa2048().Public())),
			"entry algorithms are not allowed"},
		{"ed25519 with sha256", mutate(t, good, func(s map[string]any) { setKey(s, pemKey(t, ed.Public())) }),
			`verifying signature: unsupported hash algorithm: "SHA-256" not in [SHA-512]`},
		{"dsa key", mutate(t, good, func(s map[string]any) { setKey(s, dsaPEM(t)) }),
			"verifying signature: unsupported public key type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := canonicalize(t, tt.proposed)
			if err == nil {
				t.Fatal("accepted, want rejection")
			}
			mustInvalid(t, err)
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

// TestSchemaMessages pins the schema validation messages to those of
// Rekor v1.5.4's own hashedrekord v0.0.1 type (UnmarshalEntry on the same
// inputs): a nested object reports only its first failure, one "validation
// failure list" level deep, while the top level lists one error per property.
func TestSchemaMessages(t *testing.T) {
	signer, err := testentry.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	good, err := signer.HashedRekord(artifact)
	if err != nil {
		t.Fatal(err)
	}
	const (
		list     = "validation failure list:\n"
		algReq   = "data.data.hash.data.hash.algorithm in body is required"
		algEnum  = "data.data.hash.data.hash.algorithm in body should be one of [sha256 sha384 sha512]"
		valueReq = "data.data.hash.data.hash.value in body is required"
		dataReq  = "data in body is required"
		sigReq   = "signature in body is required"
	)
	setHash := func(h any) func(map[string]any) {
		return func(s map[string]any) { s["data"] = map[string]any{"hash": h} }
	}
	tests := []struct {
		name     string
		proposed []byte
		want     string
	}{
		{"spec empty", []byte(`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{}}`), list + dataReq + "\n" + sigReq},
		{"no data, no signature", mutate(t, good, func(s map[string]any) { delete(s, "data"); delete(s, "signature") }), list + dataReq + "\n" + sigReq},
		{"data empty", mutate(t, good, func(s map[string]any) { s["data"] = map[string]any{} }), list + dataReq},
		{"data a string", mutate(t, good, func(s map[string]any) { s["data"] = "x" }), list + dataReq},
		{"hash a string", mutate(t, good, setHash("x")), list + dataReq},
		{"hash empty", mutate(t, good, setHash(map[string]any{})), list + algReq},
		{"hash without value", mutate(t, good, func(s map[string]any) { delete(hashMap(s), "value") }), list + valueReq},
		{"hash without algorithm", mutate(t, good, func(s map[string]any) { delete(hashMap(s), "algorithm") }), list + algReq},
		{"unknown algorithm, no value", mutate(t, good, setHash(map[string]any{"algorithm": "SHA256"})), list + algEnum},
		{"unknown algorithm", mutate(t, good, func(s map[string]any) { hashMap(s)["algorithm"] = "md5" }), list + algEnum},
		{"algorithm a number", mutate(t, good, func(s map[string]any) { hashMap(s)["algorithm"] = 1 }), list + algReq},
		{"value a number", mutate(t, good, func(s map[string]any) { hashMap(s)["value"] = 1 }), list + valueReq},
		{"hash empty, no signature", mutate(t, good, func(s map[string]any) { s["data"] = map[string]any{"hash": map[string]any{}}; delete(s, "signature") }),
			list + algReq + "\n" + sigReq},
		{"hash empty, signature empty", mutate(t, good, func(s map[string]any) {
			s["data"] = map[string]any{"hash": map[string]any{}}
			s["signature"] = map[string]any{}
		}),
			list + algReq},
		{"signature a string", mutate(t, good, func(s map[string]any) { s["signature"] = "x" }), list + sigReq},
		{"no signature", mutate(t, good, func(s map[string]any) { delete(s, "signature") }), list + sigReq},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := canonicalize(t, tt.proposed)
			if err == nil {
				t.Fatal("accepted, want rejection")
			}
			mustInvalid(t, err)
			if err.Error() != tt.want {
				t.Fatalf("error\n got %q\nwant %q", err, tt.want)
			}
		})
	}
}

// TestLenientInput covers what Rekor accepts and normalizes away: unknown
// fields (its decoder ignores them; the schema's objects are open), extra
// "data.content"/"url" fields, PEM whitespace and line lengths, base64 line
// breaks. An upper-case digest is kept as sent in the body (Rekor copies the
// hash object) but lower-cased in the search key.
func TestLenientInput(t *testing.T) {
	signer, err := testentry.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	good, _ := signer.HashedRekord(artifact)
	want, err := canonicalize(t, good)
	if err != nil {
		t.Fatal(err)
	}
	reflowed := func() []byte {
		blk, _ := pem.Decode(signer.PublicKeyPEM())
		b64 := base64.StdEncoding.EncodeToString(blk.Bytes)
		var b strings.Builder
		b.WriteString("\r\n  -----BEGIN PUBLIC KEY-----\r\n")
		for len(b64) > 40 {
			b.WriteString(b64[:40] + "\r\n")
			b64 = b64[40:]
		}
		b.WriteString(b64 + "\r\n-----END PUBLIC KEY-----\r\n\n")
		return []byte(b.String())
	}()
	tests := []struct {
		name     string
		proposed []byte
	}{
		{"unknown fields everywhere", mutate(t, good, func(s map[string]any) {
			s["extra"] = 1
			s["data"].(map[string]any)["content"] = "aGVsbG8="
			s["data"].(map[string]any)["url"] = "https://example.com/a"
			hashMap(s)["extra"] = true
			sigMap(s)["format"] = "x509"
			sigMap(s)["publicKey"].(map[string]any)["url"] = "https://example.com/k"
		})},
		{"reflowed PEM", mutate(t, good, func(s map[string]any) { setKey(s, reflowed) })},
		{"base64 with line breaks", mutate(t, good, func(s map[string]any) {
			c := sigMap(s)["content"].(string)
			sigMap(s)["content"] = c[:10] + "\n" + c[10:] + "\r\n"
		})},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := canonicalize(t, tt.proposed)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got.Body, want.Body) {
				t.Fatalf("body\n got %s\nwant %s", got.Body, want.Body)
			}
			if !slices.Equal(got.SearchKeys, want.SearchKeys) {
				t.Fatalf("search keys %q, want %q", got.SearchKeys, want.SearchKeys)
			}
		})
	}

	t.Run("upper-case digest", func(t *testing.T) {
		var upper string
		got, err := canonicalize(t, mutate(t, good, func(s map[string]any) {
			upper = strings.ToUpper(hashMap(s)["value"].(string))
			hashMap(s)["value"] = upper
		}))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(got.Body, []byte(`"value":"`+upper+`"`)) {
			t.Fatalf("body does not keep the digest as sent: %s", got.Body)
		}
		if last := got.SearchKeys[len(got.SearchKeys)-1]; last != types.Digest("sha256", strings.ToLower(upper)) {
			t.Fatalf("hash search key %q", last)
		}
	})
}

func TestTypeMetadata(t *testing.T) {
	ty := hashedrekord.New()
	if ty.Kind() != "hashedrekord" || !slices.Equal(ty.Versions(), []string{"0.0.1"}) {
		t.Fatalf("kind %q versions %q", ty.Kind(), ty.Versions())
	}
	_, err := ty.Canonicalize(context.Background(), "0.0.2", json.RawMessage(`{}`))
	if !errors.Is(err, types.ErrUnknownKind) {
		t.Fatalf("apiVersion 0.0.2: %v, want ErrUnknownKind", err)
	}
}

func FuzzCanonicalize(f *testing.F) {
	for _, name := range []string{"01-request.json", "03-bad-signature-request.json", "05-missing-fields-request.json", "12-body.json"} {
		f.Add(readFile(f, name))
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "public-good", "*.body.json"))
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
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
		// Whatever is accepted canonicalizes to a fixed point.
		c2, err := reg.Canonicalize(context.Background(), c.Body)
		if err != nil {
			t.Fatalf("body rejected on re-proposal: %v\n%s", err, c.Body)
		}
		if !bytes.Equal(c.Body, c2.Body) {
			t.Fatalf("body not a fixed point\n1st %s\n2nd %s", c.Body, c2.Body)
		}
	})
}

func BenchmarkCanonicalize(b *testing.B) {
	keySigner, err := testentry.NewSigner()
	if err != nil {
		b.Fatal(err)
	}
	certSigner, err := testentry.NewCertSigner("bench@example.com")
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name   string
		signer *testentry.Signer
	}{{"ecdsa-p256-key", keySigner}, {"ecdsa-p256-certificate", certSigner}} {
		proposed, err := bc.signer.HashedRekord(artifact)
		if err != nil {
			b.Fatal(err)
		}
		var pe types.ProposedEntry
		if err := json.Unmarshal(proposed, &pe); err != nil {
			b.Fatal(err)
		}
		ty := hashedrekord.New()
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := ty.Canonicalize(context.Background(), pe.APIVersion, pe.Spec); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestKeyCache proposes entries of each accepted key kind to a Type that
// caches parsed keys, several times, and to the zero Type, which does not:
// bodies, search keys and errors are the same, and a signature that does not
// verify is rejected when its key comes from the cache.
func TestKeyCache(t *testing.T) {
	ctx := context.Background()
	cached := types.NewRegistry(hashedrekord.New())
	uncached := types.NewRegistry(&hashedrekord.Type{})
	for _, kc := range acceptedKeys(t) {
		t.Run(kc.name, func(t *testing.T) {
			proposed, err := kc.signer.HashedRekord(artifact)
			if err != nil {
				t.Fatal(err)
			}
			other, err := kc.signer.HashedRekord([]byte("another artifact"))
			if err != nil {
				t.Fatal(err)
			}
			var otherSig any
			mutate(t, other, func(s map[string]any) { otherSig = sigMap(s)["content"] })
			badSig := mutate(t, proposed, func(s map[string]any) { sigMap(s)["content"] = otherSig })

			want, err := uncached.Canonicalize(ctx, proposed)
			if err != nil {
				t.Fatal(err)
			}
			_, wantErr := uncached.Canonicalize(ctx, badSig)
			mustInvalid(t, wantErr)
			for round := range 3 {
				got, err := cached.Canonicalize(ctx, proposed)
				if err != nil {
					t.Fatalf("round %d: %v", round, err)
				}
				if !bytes.Equal(got.Body, want.Body) || !slices.Equal(got.SearchKeys, want.SearchKeys) {
					t.Fatalf("round %d: cached result differs\n got %s %q\nwant %s %q", round, got.Body, got.SearchKeys, want.Body, want.SearchKeys)
				}
				if _, err := cached.Canonicalize(ctx, badSig); err == nil || err.Error() != wantErr.Error() {
					t.Fatalf("round %d: bad signature with a cached key: %v, want %v", round, err, wantErr)
				}
			}
		})
	}
}

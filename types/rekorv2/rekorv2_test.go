package rekorv2_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/sigstore/rekor-tiles/v2/pkg/generated/protobuf"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/pki"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/hashedrekord"
	"github.com/tabularium/tabula/types/rekorv2"
)

var artifact = []byte("tabula rekor v2 test artifact\n")

// goldenBodies are the hashedrekord 0.0.2 canonicalized bodies of the
// public-good bundles (testdata/README.md).
func goldenBodies(t testing.TB) map[string][]byte {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "public-good", "*.body.json"))
	if err != nil || len(files) != 4 {
		t.Fatalf("golden bodies: %v, %d files, want 4", err, len(files))
	}
	out := make(map[string][]byte)
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(f)] = b
	}
	return out
}

// requestFromBody rebuilds the request a logged body was made from: its
// digest and its signature (content and verifier), as protojson.
func requestFromBody(t testing.TB, body []byte) []byte {
	t.Helper()
	var e pb.Entry
	if err := protojson.Unmarshal(body, &e); err != nil {
		t.Fatal(err)
	}
	hr := e.GetSpec().GetHashedRekordV002()
	req := &pb.CreateEntryRequest{Spec: &pb.CreateEntryRequest_HashedRekordRequestV002{HashedRekordRequestV002: &pb.HashedRekordRequestV002{
		Digest:    hr.GetData().GetDigest(),
		Signature: hr.GetSignature(),
	}}}
	b, err := protojson.Marshal(req)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestGoldenPublicGood reproduces, byte for byte, the bodies logged by the
// public-good and staging Rekor v2 logs from the requests rebuilt from them,
// signatures verified.
func TestGoldenPublicGood(t *testing.T) {
	for name, body := range goldenBodies(t) {
		t.Run(name, func(t *testing.T) {
			e, err := rekorv2.CanonicalizeJSON(requestFromBody(t, body))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(e.Body, body) {
				t.Fatalf("body\n got %s\nwant %s", e.Body, body)
			}
			if e.LeafHash != merkle.LeafHash(body) {
				t.Error("leaf hash is not the body's")
			}
			if !slices.Contains(e.SearchKeys, types.SearchKey{Kind: types.KindDigest, Value: "sha256:" + hex.EncodeToString(e.Digest)}) {
				t.Errorf("no digest search key in %v", e.SearchKeys)
			}
			if e.Key.Leaf() != nil {
				emails, others := e.Key.Identities()
				if len(emails)+len(others) == 0 {
					t.Errorf("certificate with no identity")
				}
				for _, id := range append(emails, others...) {
					if !slices.ContainsFunc(e.SearchKeys, func(k types.SearchKey) bool { return k.Value == strings.ToLower(id) }) {
						t.Errorf("identity %q not in search keys %v", id, e.SearchKeys)
					}
				}
			}
		})
	}
}

// key is a test signing key with the keyDetails it is sent with.
type key struct {
	name       string
	signer     crypto.Signer
	keyDetails string
	hash       crypto.Hash
}

var keys = sync.OnceValues(func() ([]key, error) {
	var out []key
	for _, bits := range []int{2048, 3072, 4096} {
		k, err := rsa.GenerateKey(rand.Reader, bits)
		if err != nil {
			return nil, err
		}
		out = append(out, key{fmt.Sprintf("rsa%d", bits), k, fmt.Sprintf("PKIX_RSA_PKCS1V15_%d_SHA256", bits), crypto.SHA256})
	}
	for _, c := range []struct {
		curve elliptic.Curve
		kd    string
		hash  crypto.Hash
	}{
		{elliptic.P256(), "PKIX_ECDSA_P256_SHA_256", crypto.SHA256},
		{elliptic.P384(), "PKIX_ECDSA_P384_SHA_384", crypto.SHA384},
		{elliptic.P521(), "PKIX_ECDSA_P521_SHA_512", crypto.SHA512},
	} {
		k, err := ecdsa.GenerateKey(c.curve, rand.Reader)
		if err != nil {
			return nil, err
		}
		out = append(out, key{"ecdsa-" + c.curve.Params().Name, k, c.kd, c.hash})
	}
	_, ed, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	return append(out, key{"ed25519ph", ed, "PKIX_ED25519_PH", crypto.SHA512}), nil
})

func testKeys(t testing.TB) []key {
	t.Helper()
	ks, err := keys()
	if err != nil {
		t.Fatal(err)
	}
	return ks
}

func keyByName(t testing.TB, name string) key {
	t.Helper()
	for _, k := range testKeys(t) {
		if k.name == name {
			return k
		}
	}
	t.Fatalf("no key %s", name)
	return key{}
}

func (k key) digest(msg []byte) []byte {
	h := k.hash.New()
	h.Write(msg)
	return h.Sum(nil)
}

func (k key) sign(t testing.TB, digest []byte) []byte {
	t.Helper()
	var opts crypto.SignerOpts = k.hash
	if _, ok := k.signer.(ed25519.PrivateKey); ok {
		opts = &ed25519.Options{Hash: crypto.SHA512}
	}
	sig, err := k.signer.Sign(rand.Reader, digest, opts)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func (k key) spki(t testing.TB) []byte {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(k.signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// cert is a self-signed certificate for k with an email and a URI SAN, and
// an extra extension of pad bytes.
func (k key) cert(t testing.TB, pad int) []byte {
	t.Helper()
	u, _ := url.Parse("https://github.com/tabularium/tabula/.github/workflows/release.yml@refs/heads/main")
	tmpl := &x509.Certificate{
		SerialNumber:   big.NewInt(7),
		NotBefore:      time.Unix(1_700_000_000, 0),
		NotAfter:       time.Unix(1_700_000_600, 0),
		KeyUsage:       x509.KeyUsageDigitalSignature,
		ExtKeyUsage:    []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		EmailAddresses: []string{"Signer@Example.com"},
		URIs:           []*url.URL{u},
	}
	if pad > 0 {
		tmpl.ExtraExtensions = []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 57264, 99}, Value: make([]byte, pad)}}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, k.signer.Public(), k.signer)
	if err != nil {
		t.Fatal(err)
	}
	return der
}

// names are the two field-name styles protojson accepts.
type names struct{ req, sig, ver, pk, cert, raw, kd string }

var (
	camel = names{"hashedRekordRequestV002", "signature", "verifier", "publicKey", "x509Certificate", "rawBytes", "keyDetails"}
	snake = names{"hashed_rekord_request_v002", "signature", "verifier", "public_key", "x509_certificate", "raw_bytes", "key_details"}
)

// request is a CreateEntryRequest's JSON; fields left nil are omitted.
type request struct {
	digest, content []byte
	spki, cert      []byte
	keyDetails      any // a name or a number
}

func (r request) json(t testing.TB, n names) []byte {
	t.Helper()
	b64 := base64.StdEncoding.EncodeToString
	ver := map[string]any{}
	if r.spki != nil {
		ver[n.pk] = map[string]any{n.raw: b64(r.spki)}
	}
	if r.cert != nil {
		ver[n.cert] = map[string]any{n.raw: b64(r.cert)}
	}
	if r.keyDetails != nil {
		ver[n.kd] = r.keyDetails
	}
	sig := map[string]any{n.ver: ver}
	if r.content != nil {
		sig["content"] = b64(r.content)
	}
	hr := map[string]any{n.sig: sig}
	if r.digest != nil {
		hr["digest"] = b64(r.digest)
	}
	b, err := json.Marshal(map[string]any{n.req: hr})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signed is a valid request by k over artifact, with its public key or, if
// cert, a certificate.
func signed(t testing.TB, k key, cert bool) request {
	t.Helper()
	d := k.digest(artifact)
	r := request{digest: d, content: k.sign(t, d), keyDetails: k.keyDetails}
	if cert {
		r.cert = k.cert(t, 0)
	} else {
		r.spki = k.spki(t)
	}
	return r
}

// wantBody is the canonical body written out by hand, for comparison with
// what protojson and RFC 8785 make.
func wantBody(r request, alg string) []byte {
	b64 := base64.StdEncoding.EncodeToString
	ver := `"publicKey":{"rawBytes":"` + b64(r.spki) + `"}`
	if r.cert != nil {
		ver = `"x509Certificate":{"rawBytes":"` + b64(r.cert) + `"}`
	}
	return fmt.Appendf(nil, `{"apiVersion":"0.0.2","kind":"hashedrekord","spec":{"hashedRekordV002":{"data":{"algorithm":"%s","digest":"%s"},"signature":{"content":"%s","verifier":{"keyDetails":"%s",%s}}}}}`,
		alg, b64(r.digest), b64(r.content), r.keyDetails, ver)
}

var algOf = map[crypto.Hash]string{crypto.SHA256: "SHA2_256", crypto.SHA384: "SHA2_384", crypto.SHA512: "SHA2_512"}

// TestAccepts: every keyDetails accepted, with a key and with a
// certificate, in both name styles, canonicalizes to the same hand-written
// body, with the search keys v1 hashedrekord gives the same signature.
func TestAccepts(t *testing.T) {
	for _, k := range testKeys(t) {
		for _, cert := range []bool{false, true} {
			r := signed(t, k, cert)
			want := wantBody(r, algOf[k.hash])
			for _, n := range []names{camel, snake} {
				t.Run(fmt.Sprintf("%s/cert=%v/%s", k.name, cert, n.pk), func(t *testing.T) {
					e, err := rekorv2.CanonicalizeJSON(r.json(t, n))
					if err != nil {
						t.Fatal(err)
					}
					if !bytes.Equal(e.Body, want) {
						t.Fatalf("body\n got %s\nwant %s", e.Body, want)
					}
					if e.KeyDetails.String() != k.keyDetails || e.HashAlgorithm.String() != algOf[k.hash] || !bytes.Equal(e.Digest, r.digest) {
						t.Errorf("entry says %s %s %x", e.KeyDetails, e.HashAlgorithm, e.Digest)
					}
					if c := e.Canonical(); !bytes.Equal(c.Body, e.Body) || len(c.SearchKeys) != len(e.SearchKeys) {
						t.Error("Canonical differs from the entry")
					}
					var fp string
					if cert {
						fp = pki.FingerprintPEM(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: r.cert}))
					} else {
						fp = pki.FingerprintPEM(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: r.spki}))
					}
					wantKeys := []types.SearchKey{{Kind: types.KindKey, Value: fp}}
					if cert {
						wantKeys = append(wantKeys,
							types.SearchKey{Kind: types.KindEmail, Value: "signer@example.com"},
							types.SearchKey{Kind: types.KindSubject, Value: "https://github.com/tabularium/tabula/.github/workflows/release.yml@refs/heads/main"})
					}
					wantKeys = append(wantKeys, types.SearchKey{Kind: types.KindDigest, Value: strings.ToLower(strings.ReplaceAll(algOf[k.hash], "SHA2_", "sha")) + ":" + hex.EncodeToString(r.digest)})
					if !slices.Equal(e.SearchKeys, wantKeys) {
						t.Errorf("search keys\n got %v\nwant %v", e.SearchKeys, wantKeys)
					}
				})
			}
		}
	}
}

// TestAcceptsEncodings: what protojson accepts besides the canonical
// encoding (base64url, no padding, enum numbers, spaces) makes the same body.
func TestAcceptsEncodings(t *testing.T) {
	k := keyByName(t, "ecdsa-P-256")
	r := signed(t, k, false)
	want := wantBody(r, "SHA2_256")
	b64url := base64.RawURLEncoding.EncodeToString
	for name, body := range map[string]string{
		"base64url unpadded": fmt.Sprintf(`{"hashedRekordRequestV002":{"digest":%q,"signature":{"content":%q,"verifier":{"publicKey":{"rawBytes":%q},"keyDetails":"PKIX_ECDSA_P256_SHA_256"}}}}`, b64url(r.digest), b64url(r.content), b64url(r.spki)),
		"enum number":        strings.Replace(string(r.json(t, camel)), `"PKIX_ECDSA_P256_SHA_256"`, `5`, 1),
		"whitespace":         " \n" + strings.ReplaceAll(string(r.json(t, camel)), ":", " :\t") + "\r\n ",
		"mixed name styles":  strings.Replace(string(r.json(t, camel)), `"rawBytes"`, `"raw_bytes"`, 1),
	} {
		t.Run(name, func(t *testing.T) {
			e, err := rekorv2.CanonicalizeJSON([]byte(body))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(e.Body, want) {
				t.Fatalf("body\n got %s\nwant %s", e.Body, want)
			}
		})
	}
}

// TestSearchKeysMatchV1: a v1 hashedrekord entry and a v2 entry of the same
// signature are indexed under the same key, identity and digest keys, so a
// search finds both.
func TestSearchKeysMatchV1(t *testing.T) {
	for _, name := range []string{"key", "certificate"} {
		t.Run(name, func(t *testing.T) {
			var s *testentry.Signer
			var err error
			if name == "key" {
				s, err = testentry.NewSigner()
			} else {
				s, err = testentry.NewCertSigner("Someone@Example.org")
			}
			if err != nil {
				t.Fatal(err)
			}
			d := s.Digest(artifact)
			sig, err := s.SignDigest(d)
			if err != nil {
				t.Fatal(err)
			}
			v1, err := s.HashedRekordSigned(d, sig)
			if err != nil {
				t.Fatal(err)
			}
			c1, err := types.NewRegistry(hashedrekord.New()).Canonicalize(t.Context(), v1)
			if err != nil {
				t.Fatal(err)
			}
			v2, err := s.HashedRekordV2Signed(d, sig)
			if err != nil {
				t.Fatal(err)
			}
			e, err := rekorv2.CanonicalizeJSON(v2)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(e.SearchKeys, c1.SearchKeys) {
				t.Fatalf("v2 keys %v\nv1 keys %v", e.SearchKeys, c1.SearchKeys)
			}
		})
	}
}

// TestRefuses is the hostile-input table: every check, in both name styles
// where names matter. want is the whole message, or its start when it ends
// with "…".
func TestRefuses(t *testing.T) {
	for _, c := range refuseCases(t) {
		for style, body := range c.bodies(t) {
			t.Run(c.name+"/"+style, func(t *testing.T) {
				e, err := rekorv2.CanonicalizeJSON(body)
				if err == nil {
					t.Fatalf("accepted: %s", e.Body)
				}
				var re *rekorv2.Error
				if !errors.As(err, &re) || re.Code != rekorv2.CodeInvalidArgument {
					t.Fatalf("error %v (%T) is not an *Error with code 3", err, err)
				}
				if errors.Is(err, rekorv2.ErrEntryTooLarge) != strings.HasPrefix(c.name, "oversize") {
					t.Errorf("errors.Is(err, ErrEntryTooLarge) = %v", !strings.HasPrefix(c.name, "oversize"))
				}
				msg := strings.ReplaceAll(re.Message, "\u00a0", " ")
				if prefix, cut := strings.CutSuffix(c.want, "…"); cut {
					if !strings.HasPrefix(msg, prefix) {
						t.Fatalf("message %q\nwant prefix %q", msg, prefix)
					}
				} else if msg != c.want {
					t.Fatalf("message %q\n     want %q", msg, c.want)
				}
			})
		}
	}
}

// refuseCase is a request Tabula refuses, with the message, and what
// rekor-tiles v2.3.0's ToLogEntry does with it: "" refuses, "accepts" (a
// keyDetails that does not describe the key but whose hash, with the key,
// is an allowed pair), "panics" (pure Ed25519).
type refuseCase struct {
	name     string
	body     string  // a raw body; else req
	req      request // rendered in both name styles
	want     string
	upstream string
}

// bodies are the case's request bodies, by name style.
func (c refuseCase) bodies(t testing.TB) map[string][]byte {
	if c.body != "" || c.name == "empty body" {
		return map[string][]byte{"raw": []byte(c.body)}
	}
	return map[string][]byte{"camel": c.req.json(t, camel), "snake": c.req.json(t, snake)}
}

func refuseCases(t testing.TB) []refuseCase {
	p256, p384, p521 := keyByName(t, "ecdsa-P-256"), keyByName(t, "ecdsa-P-384"), keyByName(t, "ecdsa-P-521")
	rsa2048, ed := keyByName(t, "rsa2048"), keyByName(t, "ed25519ph")
	ok := signed(t, p256, false)
	okCert := signed(t, p256, true)
	with := func(f func(*request)) request { r := ok; f(&r); return r }
	other := signed(t, p384, false)
	certDER := p256.cert(t, 0)
	pureEd := func() request {
		r := signed(t, ed, false)
		r.keyDetails = "PKIX_ED25519"
		r.content = ed25519.Sign(ed.signer.(ed25519.PrivateKey), artifact)
		return r
	}()
	// mismatch signs d with k and sends keyDetails kd.
	mismatch := func(k key, kd string, h crypto.Hash) request {
		d := key{hash: h}.digest(artifact)
		return request{digest: d, content: key{signer: k.signer, hash: h}.sign(t, d), spki: k.spki(t), keyDetails: kd}
	}
	const inv = "invalid hashedrekord request: "
	return []refuseCase{
		{name: "empty body", body: "", want: "invalid type, must be hashedrekord: the request has no hashedRekordRequestV002"},
		{name: "blank body", body: " \n\t", want: "invalid type, must be hashedrekord: the request has no hashedRekordRequestV002"},
		{name: "empty object", body: "{}", want: "invalid type, must be hashedrekord: the request has no hashedRekordRequestV002"},
		{name: "null request", body: `{"hashedRekordRequestV002":null}`, want: "invalid type, must be hashedrekord: the request has no hashedRekordRequestV002"},
		{name: "dsse camel", body: `{"dsseRequestV002":{}}`, want: "invalid type, must be hashedrekord: dsseRequestV002 is no longer accepted…"},
		{name: "dsse snake", body: `{"dsse_request_v002":{"envelope":null}}`, want: "invalid type, must be hashedrekord: dsseRequestV002 is no longer accepted…"},
		{name: "top-level null", body: "null", want: "proto: syntax error (line 1:1): unexpected token null"},
		{name: "array", body: "[]", want: "proto: syntax error (line 1:1): unexpected token ["},
		{name: "not JSON", body: "x", want: "invalid character 'x' looking for beginning of value (at byte 1)"},
		{name: "truncated", body: `{"hashedRekordRequestV002":{`, want: "unexpected EOF"},
		{name: "trailing data", body: `{} {}`, want: "invalid request body: data after the JSON value, at byte 2"},
		{name: "unknown field", body: `{"foo":1}`, want: `proto: (line 1:2): unknown field "foo"`},
		{name: "unknown nested field", body: `{"hashedRekordRequestV002":{"signature":{"verifier":{"publicKey":{"rawBytes":"AA==","pem":"x"}}}}}`, want: `proto: (line 1:85): unknown field "pem"`},
		{name: "both kinds", body: `{"hashedRekordRequestV002":{},"dsseRequestV002":{}}`, want: `proto: (line 1:31): error parsing "dsseRequestV002", oneof dev.sigstore.rekor.v2.CreateEntryRequest.spec is already set`},
		{name: "both name styles", body: `{"hashedRekordRequestV002":{},"hashed_rekord_request_v002":{}}`, want: `proto: (line 1:31): duplicate field "hashed_rekord_request_v002"`},
		{name: "duplicate field", body: `{"hashedRekordRequestV002":{"digest":"AA==","digest":"AA=="}}`, want: `proto: (line 1:45): duplicate field "digest"`},
		{name: "bad base64", body: `{"hashedRekordRequestV002":{"digest":"!!"}}`, want: `proto: (line 1:38): invalid value for bytes field digest: "!!"`},
		{name: "digest a number", body: `{"hashedRekordRequestV002":{"digest":1}}`, want: `proto: (line 1:38): invalid value for bytes field digest: 1`},
		{name: "unknown keyDetails name", req: with(func(r *request) { r.keyDetails = "PKIX_FOO" }), want: `proto: (line 1:…`},
		{name: "empty request", body: `{"hashedRekordRequestV002":{}}`, want: inv + "missing signature: the request has no signature"},
		{name: "no content", req: with(func(r *request) { r.content = nil }), want: inv + "missing signature: signature.content is empty"},
		{name: "empty content", req: with(func(r *request) { r.content = []byte{} }), want: inv + "missing signature: signature.content is empty"},
		{name: "no verifier", body: `{"hashedRekordRequestV002":{"digest":"AA==","signature":{"content":"AA=="}}}`, want: inv + "missing verifier: the signature has no verifier"},
		{name: "null verifier", body: `{"hashedRekordRequestV002":{"digest":"AA==","signature":{"content":"AA==","verifier":null}}}`, want: inv + "missing verifier: the signature has no verifier"},
		{name: "no digest", req: with(func(r *request) { r.digest = nil }), want: inv + "missing digest: digest is empty"},
		{name: "empty digest", req: with(func(r *request) { r.digest = []byte{} }), want: inv + "missing digest: digest is empty"},
		{name: "no key", req: with(func(r *request) { r.spki = nil }), want: inv + "invalid verifier: missing signature public key or X.509 certificate: the verifier has neither publicKey nor x509Certificate"},
		{name: "empty key", req: with(func(r *request) { r.spki = []byte{} }), want: inv + "invalid verifier: missing public key raw bytes: publicKey.rawBytes is empty"},
		{name: "empty certificate", req: with(func(r *request) { r.spki, r.cert = nil, []byte{} }), want: inv + "invalid verifier: missing X.509 certificate raw bytes: x509Certificate.rawBytes is empty"},
		{name: "key and certificate", req: with(func(r *request) { r.cert = certDER }), want: "proto: (line 1:…"},
		{name: "key garbage", req: with(func(r *request) { r.spki = []byte("garbage") }), want: inv + "parsing verifier: parsing public key: publicKey.rawBytes is not a DER PKIX public key: …"},
		{name: "key is a certificate", req: with(func(r *request) { r.spki = certDER }), want: inv + "parsing verifier: parsing public key: …"},
		{name: "key with trailing byte", req: with(func(r *request) { r.spki = append(slices.Clone(r.spki), 0) }), want: inv + "parsing verifier: parsing public key: publicKey.rawBytes is not a DER PKIX public key: x509: trailing data after ASN.1 of public-key"},
		{name: "certificate is a key", req: with(func(r *request) { r.spki, r.cert = nil, ok.spki }), want: inv + "parsing verifier: parsing certificate: x509Certificate.rawBytes is not a DER X.509 certificate: …"},
		{name: "no keyDetails", req: with(func(r *request) { r.keyDetails = nil }), want: inv + "getting key algorithm details: keyDetails PUBLIC_KEY_DETAILS_UNSPECIFIED is not a signing algorithm; this log accepts PKIX_RSA_PKCS1V15_2048_SHA256, PKIX_RSA_PKCS1V15_3072_SHA256, PKIX_RSA_PKCS1V15_4096_SHA256, PKIX_ECDSA_P256_SHA_256, PKIX_ECDSA_P384_SHA_384, PKIX_ECDSA_P521_SHA_512, PKIX_ED25519_PH"},
		{name: "keyDetails number unknown", req: with(func(r *request) { r.keyDetails = 999 }), want: inv + "getting key algorithm details: keyDetails 999 is not a signing algorithm; …"},
		{name: "keyDetails ML-DSA", req: with(func(r *request) { r.keyDetails = "ML_DSA_65" }), want: inv + "getting key algorithm details: keyDetails ML_DSA_65 is not a signing algorithm; …"},
		{name: "pure Ed25519", req: pureEd, want: inv + "unsupported entry algorithm: keyDetails PKIX_ED25519 is pure Ed25519, which signs a message, not a digest; sign the digest with Ed25519ph and send PKIX_ED25519_PH", upstream: "panics"},
		{name: "RSA-PSS keyDetails", req: mismatch(rsa2048, "PKIX_RSA_PSS_2048_SHA256", crypto.SHA256), want: inv + "unsupported entry algorithm: keyDetails PKIX_RSA_PSS_2048_SHA256 is not accepted; …", upstream: "accepts"},
		{name: "P-384 with SHA-256", req: mismatch(p384, "PKIX_ECDSA_P384_SHA_256", crypto.SHA256), want: inv + "unsupported entry algorithm: keyDetails PKIX_ECDSA_P384_SHA_256 is not accepted; …"},
		{name: "keyDetails of another curve, same hash", req: mismatch(p256, "PKIX_ECDSA_P384_SHA_256", crypto.SHA256), want: inv + "unsupported entry algorithm: keyDetails PKIX_ECDSA_P384_SHA_256 is not accepted; …", upstream: "accepts"},
		{name: "P-384 keyDetails for a P-256 key", req: mismatch(p256, "PKIX_ECDSA_P384_SHA_384", crypto.SHA384), want: inv + "unsupported entry algorithm: keyDetails PKIX_ECDSA_P384_SHA_384 does not describe the verifier's key, an ECDSA P-256 key"},
		{name: "RSA 3072 keyDetails for a 2048-bit key", req: mismatch(rsa2048, "PKIX_RSA_PKCS1V15_3072_SHA256", crypto.SHA256), want: inv + "unsupported entry algorithm: keyDetails PKIX_RSA_PKCS1V15_3072_SHA256 does not describe the verifier's key, an RSA 2048-bit key", upstream: "accepts"},
		{name: "ECDSA keyDetails for an RSA key", req: mismatch(rsa2048, "PKIX_ECDSA_P256_SHA_256", crypto.SHA256), want: inv + "unsupported entry algorithm: keyDetails PKIX_ECDSA_P256_SHA_256 does not describe the verifier's key, an RSA 2048-bit key", upstream: "accepts"},
		{name: "Ed25519ph keyDetails for a P-521 key", req: mismatch(p521, "PKIX_ED25519_PH", crypto.SHA512), want: inv + "unsupported entry algorithm: keyDetails PKIX_ED25519_PH does not describe the verifier's key, an ECDSA P-521 key", upstream: "accepts"},
		{name: "P-256 keyDetails for an Ed25519 key", req: mismatch(ed, "PKIX_ECDSA_P256_SHA_256", crypto.SHA512), want: inv + "unsupported entry algorithm: keyDetails PKIX_ECDSA_P256_SHA_256 does not describe the verifier's key, an Ed25519 key"},
		{name: "digest short", req: with(func(r *request) { r.digest = r.digest[:31] }), want: inv + "the digest is 31 bytes; PKIX_ECDSA_P256_SHA_256 needs 32 (SHA-256)"},
		{name: "digest long", req: with(func(r *request) { r.digest = append(slices.Clone(r.digest), 0) }), want: inv + "the digest is 33 bytes; PKIX_ECDSA_P256_SHA_256 needs 32 (SHA-256)"},
		{name: "SHA-256 digest for P-384", req: func() request { r := other; r.digest = ok.digest; return r }(), want: inv + "the digest is 32 bytes; PKIX_ECDSA_P384_SHA_384 needs 48 (SHA-384)"},
		{name: "SHA-256 digest for Ed25519ph", req: func() request { r := signed(t, ed, false); r.digest = ok.digest; return r }(), want: inv + "the digest is 32 bytes; PKIX_ED25519_PH needs 64 (SHA-512)"},
		{name: "signature over another digest", req: with(func(r *request) { r.digest = p256.digest([]byte("other")) }), want: inv + "verifying signature: invalid signature when validating ASN.1 encoded signature"},
		{name: "signature garbage", req: with(func(r *request) { r.content = []byte("garbage") }), want: inv + "verifying signature: …"},
		{name: "signature by another key", req: with(func(r *request) {
			k2, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			if err != nil {
				t.Fatal(err)
			}
			r.spki = key{signer: k2}.spki(t)
		}), want: inv + "verifying signature: …"},
		{name: "certificate, bad signature", req: func() request { r := okCert; r.content = other.content; return r }(), want: inv + "verifying signature: …"},
		{name: "Ed25519ph signature as pure Ed25519", req: func() request {
			r := signed(t, ed, false)
			r.content = ed25519.Sign(ed.signer.(ed25519.PrivateKey), r.digest)
			return r
		}(), want: inv + "verifying signature: …"},
		{name: "oversize signature", req: with(func(r *request) { r.content = make([]byte, 49_000) }), want: inv + "the entry would be 65729 bytes; this log holds entries of at most 65535 bytes (a C2SP entry bundle's limit)"},
	}
}

// TestSizeLimit: an entry of exactly the bundle limit is logged, one of
// four bytes more (base64's step) is not. The Ed25519 certificate is padded
// with an extension so that the body lands on the limit.
func TestSizeLimit(t *testing.T) {
	ed := keyByName(t, "ed25519ph")
	size := func(pad int) (request, int, error) {
		r := signed(t, ed, false)
		r.spki, r.cert = nil, ed.cert(t, pad)
		e, err := rekorv2.CanonicalizeJSON(r.json(t, camel))
		if err != nil {
			return r, 0, err
		}
		return r, len(e.Body), nil
	}
	_, base, err := size(40_000)
	if err != nil {
		t.Fatal(err)
	}
	// Three more bytes of DER are four more of base64: find the largest
	// padding that fits, then one step more.
	pad := 40_000 + 3*((merkle.MaxBundleEntry-base)/4)
	_, n, err := size(pad)
	if err != nil {
		t.Fatalf("padding %d: %v", pad, err)
	}
	if n > merkle.MaxBundleEntry || n+4 <= merkle.MaxBundleEntry {
		t.Fatalf("padding %d made a %d-byte body; the step is wrong", pad, n)
	}
	_, _, err = size(pad + 3)
	want := fmt.Sprintf("invalid hashedrekord request: the entry would be %d bytes; this log holds entries of at most %d bytes (a C2SP entry bundle's limit)", n+4, merkle.MaxBundleEntry)
	if err == nil || err.Error() != want || !errors.Is(err, rekorv2.ErrEntryTooLarge) {
		t.Fatalf("one step over: %v\nwant %s, wrapping ErrEntryTooLarge", err, want)
	}
}

// TestCanonicalizeProto: a request built in Go (no JSON) canonicalizes as
// its JSON does, and a nil request is refused.
func TestCanonicalizeProto(t *testing.T) {
	r := signed(t, keyByName(t, "ecdsa-P-256"), false)
	req, err := rekorv2.ParseRequest(r.json(t, camel))
	if err != nil {
		t.Fatal(err)
	}
	e, err := rekorv2.Canonicalize(req)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(e.Body, wantBody(r, "SHA2_256")) {
		t.Fatalf("body %s", e.Body)
	}
	if _, err := rekorv2.Canonicalize(nil); err == nil || !strings.HasPrefix(err.Error(), rekorv2.MsgInvalidType) {
		t.Fatalf("nil request: %v", err)
	}
	if got := rekorv2.AllowedKeyDetails(); len(got) != 7 {
		t.Fatalf("AllowedKeyDetails: %v", got)
	}
	if fp := sha256.Sum256(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: r.spki})); e.LogValue().Group()[3].Value.String() != hex.EncodeToString(fp[:]) {
		t.Fatalf("LogValue: %v", e.LogValue())
	}
}

// TestTestentryV2: the requests the load tools make with
// testentry.HashedRekordV2 are accepted, for every key type.
func TestTestentryV2(t *testing.T) {
	for _, k := range testKeys(t) {
		t.Run(k.name, func(t *testing.T) {
			s, err := testentry.NewSignerFromKey(k.signer, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: k.spki(t)}))
			if err != nil {
				t.Fatal(err)
			}
			body, err := s.HashedRekordV2(artifact)
			if err != nil {
				t.Fatal(err)
			}
			e, err := rekorv2.CanonicalizeJSON(body)
			if err != nil {
				t.Fatal(err)
			}
			if e.KeyDetails.String() != k.keyDetails {
				t.Fatalf("keyDetails %s, want %s", e.KeyDetails, k.keyDetails)
			}
		})
	}
}

func BenchmarkCanonicalizeJSON(b *testing.B) {
	for _, name := range []string{"ecdsa-p256-key", "ecdsa-p256-certificate"} {
		var s *testentry.Signer
		var err error
		if name == "ecdsa-p256-key" {
			s, err = testentry.NewSigner()
		} else {
			s, err = testentry.NewCertSigner("bench@example.com")
		}
		if err != nil {
			b.Fatal(err)
		}
		body, err := s.HashedRekordV2(artifact)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := rekorv2.CanonicalizeJSON(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

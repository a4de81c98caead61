package dsse_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/tabularium/tabula/pki"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/dsse"
	"github.com/tabularium/tabula/types/internal/envelope/envelopetest"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const inToto = "application/vnd.in-toto+json"

func registry() *types.Registry { return types.NewRegistry(dsse.New()) }

func canonicalize(t testing.TB, proposed []byte) (types.Canonical, error) {
	t.Helper()
	return registry().Canonicalize(context.Background(), proposed)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// proposed builds a proposed dsse entry from the envelope text and verifier PEMs.
func proposed(t testing.TB, envJSON []byte, verifiers ...[]byte) []byte {
	t.Helper()
	vs := make([]string, len(verifiers))
	for i, v := range verifiers {
		vs[i] = b64(v)
	}
	return envelopetest.JSON(t, map[string]any{
		"kind":       "dsse",
		"apiVersion": "0.0.1",
		"spec": map[string]any{"proposedContent": map[string]any{
			"envelope":  string(envJSON),
			"verifiers": vs,
		}},
	})
}

// withSpec builds a proposed dsse entry around a raw spec.
func withSpec(spec string) []byte {
	return []byte(`{"kind":"dsse","apiVersion":"0.0.1","spec":` + spec + `}`)
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func canonicalPEM(t testing.TB, p []byte) []byte {
	t.Helper()
	k, err := pki.ParsePEM(p)
	if err != nil {
		t.Fatal(err)
	}
	c, err := k.CanonicalPEM()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

type body struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Spec       struct {
		EnvelopeHash struct{ Algorithm, Value string } `json:"envelopeHash"`
		PayloadHash  struct{ Algorithm, Value string } `json:"payloadHash"`
		Signatures   []struct {
			Signature string `json:"signature"`
			Verifier  []byte `json:"verifier"`
		} `json:"signatures"`
	} `json:"spec"`
}

func parseBody(t testing.TB, b []byte) body {
	t.Helper()
	var out body
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestCanonicalizeGood checks accepted entries: the body's shape and values,
// byte-exact JCS, and the search keys.
func TestCanonicalizeGood(t *testing.T) {
	ec := envelopetest.ECDSA(t)
	rsaKey := envelopetest.RSA(t, 2048)
	ed := envelopetest.Ed25519(t, 7)
	cert := envelopetest.Cert(t, "Signer@Example.com")
	digest := sha256Hex([]byte("artifact"))
	stmt := envelopetest.Statement(t, "artifact", digest)

	type tc struct {
		name      string
		env       *ssldsse.Envelope
		verifiers [][]byte
		wantKeys  [][]byte // canonical PEMs expected, in body order
		extraKeys []string // search keys beyond key hashes and hashes
	}
	two := envelopetest.Envelope(t, inToto, stmt, ec, ed)
	sortedTwo := [][]byte{canonicalPEM(t, ec.PEM), canonicalPEM(t, ed.PEM)}
	if two.Signatures[1].Sig < two.Signatures[0].Sig {
		sortedTwo[0], sortedTwo[1] = sortedTwo[1], sortedTwo[0]
	}
	tests := []tc{
		{"ecdsa p256", envelopetest.Envelope(t, inToto, stmt, ec), [][]byte{ec.PEM}, [][]byte{canonicalPEM(t, ec.PEM)}, []string{"digest:sha256:" + digest}},
		{"rsa 2048", envelopetest.Envelope(t, inToto, stmt, rsaKey), [][]byte{rsaKey.PEM}, [][]byte{canonicalPEM(t, rsaKey.PEM)}, []string{"digest:sha256:" + digest}},
		{"ed25519", envelopetest.Envelope(t, inToto, stmt, ed), [][]byte{ed.PEM}, [][]byte{canonicalPEM(t, ed.PEM)}, []string{"digest:sha256:" + digest}},
		{"certificate", envelopetest.Envelope(t, inToto, stmt, cert), [][]byte{cert.PEM}, [][]byte{canonicalPEM(t, cert.PEM)}, []string{"email:signer@example.com", "digest:sha256:" + digest}},
		{"chain", envelopetest.Envelope(t, inToto, stmt, cert), [][]byte{cert.ChainPEM}, [][]byte{canonicalPEM(t, cert.ChainPEM)}, []string{"email:signer@example.com", "digest:sha256:" + digest}},
		{"not in-toto: no subject keys", envelopetest.Envelope(t, "text/plain", []byte("hello"), ec), [][]byte{ec.PEM}, [][]byte{canonicalPEM(t, ec.PEM)}, nil},
		{"two signatures sorted", two, [][]byte{ed.PEM, ec.PEM}, sortedTwo, []string{"digest:sha256:" + digest}},
		{"verifiers left over are ignored", envelopetest.Envelope(t, inToto, stmt, ec), [][]byte{ec.PEM, []byte("not a key")}, [][]byte{canonicalPEM(t, ec.PEM)}, []string{"digest:sha256:" + digest}},
		{"whitespace around the PEM", envelopetest.Envelope(t, inToto, stmt, ec), [][]byte{append(append([]byte("\n  "), ec.PEM...), "\n\n"...)}, [][]byte{canonicalPEM(t, ec.PEM)}, []string{"digest:sha256:" + digest}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			envJSON := envelopetest.JSON(t, tt.env)
			c, err := canonicalize(t, proposed(t, envJSON, tt.verifiers...))
			if err != nil {
				t.Fatal(err)
			}
			if c.Attestation != nil {
				t.Errorf("attestation %q, want none", c.Attestation)
			}
			b := parseBody(t, c.Body)
			if b.APIVersion != "0.0.1" || b.Kind != "dsse" {
				t.Errorf("apiVersion/kind %q/%q", b.APIVersion, b.Kind)
			}
			payload, _ := base64.StdEncoding.DecodeString(tt.env.Payload)
			if b.Spec.PayloadHash.Algorithm != "sha256" || b.Spec.PayloadHash.Value != sha256Hex(payload) {
				t.Errorf("payloadHash %+v", b.Spec.PayloadHash)
			}
			if b.Spec.EnvelopeHash.Algorithm != "sha256" || b.Spec.EnvelopeHash.Value != sha256Hex(envJSON) {
				t.Errorf("envelopeHash %+v", b.Spec.EnvelopeHash)
			}
			if len(b.Spec.Signatures) != len(tt.wantKeys) {
				t.Fatalf("%d signatures, want %d", len(b.Spec.Signatures), len(tt.wantKeys))
			}
			var wantSearch []string
			for i, s := range b.Spec.Signatures {
				if !bytes.Equal(s.Verifier, tt.wantKeys[i]) {
					t.Errorf("signature %d verifier\n%s\nwant\n%s", i, s.Verifier, tt.wantKeys[i])
				}
				if i > 0 && b.Spec.Signatures[i-1].Signature >= s.Signature {
					t.Errorf("signatures not sorted")
				}
				fp := sha256Hex(tt.wantKeys[i])
				wantSearch = append(wantSearch, "key:"+fp, "digest:sha256:"+fp)
				if tt.name == "certificate" || tt.name == "chain" {
					wantSearch = append(wantSearch, "email:signer@example.com")
				}
			}
			wantSearch = append(wantSearch, "digest:sha256:"+b.Spec.PayloadHash.Value, "digest:sha256:"+b.Spec.EnvelopeHash.Value)
			for _, k := range tt.extraKeys {
				if !slices.Contains(wantSearch, k) {
					wantSearch = append(wantSearch, k)
				}
			}
			if got := envelopetest.Strings(c.SearchKeys); !slices.Equal(got, wantSearch) {
				t.Errorf("search keys\n got %q\nwant %q", c.SearchKeys, wantSearch)
			}
			// The body is JCS: re-canonicalizing its parse changes nothing.
			var generic any
			if err := json.Unmarshal(c.Body, &generic); err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(c.Body), `{"apiVersion":"0.0.1","kind":"dsse","spec":{"envelopeHash":{"algorithm":"sha256","value":"`) {
				t.Errorf("body does not start like Rekor's: %.120s", c.Body)
			}
		})
	}
}

// TestCanonicalizeBad checks refused entries and their messages.
func TestCanonicalizeBad(t *testing.T) {
	ec := envelopetest.ECDSA(t)
	other := envelopetest.ECDSA(t)
	stmt := envelopetest.Statement(t, "artifact", sha256Hex([]byte("artifact")))
	env := envelopetest.Envelope(t, inToto, stmt, ec)
	envJSON := envelopetest.JSON(t, env)

	tampered := *env
	tampered.Payload = b64(append(append([]byte{}, stmt...), ' '))
	twoSigs := envelopetest.Envelope(t, inToto, stmt, ec, other)
	noSigs := &ssldsse.Envelope{PayloadType: inToto, Payload: b64(stmt)}
	good, err := canonicalize(t, proposed(t, envJSON, ec.PEM))
	if err != nil {
		t.Fatal(err)
	}
	verifier := b64(ec.PEM)
	envStr := string(envelopetest.JSON(t, string(envJSON)))

	tests := []struct {
		name    string
		request []byte
		want    string // full message, or prefix when it ends in "…"
	}{
		{"tampered payload", proposed(t, envelopetest.JSON(t, &tampered), ec.PEM),
			"could not verify envelope: accepted signatures do not match threshold, Found: 0, Expected 1"},
		{"wrong key", proposed(t, envJSON, other.PEM),
			"could not verify envelope: accepted signatures do not match threshold, Found: 0, Expected 1"},
		{"signature with no verifying key", proposed(t, envelopetest.JSON(t, twoSigs), ec.PEM),
			"all signatures must have a key that verifies it"},
		{"envelope without signatures", proposed(t, envelopetest.JSON(t, noSigs), ec.PEM),
			"DSSE envelope must contain 1 or more signatures"},
		{"envelope not JSON", proposed(t, []byte("{not json"), ec.PEM),
			"invalid character 'n' looking for beginning of object key string"},
		{"envelope field of the wrong type", proposed(t, []byte(`{"payload":1,"payloadType":"x","signatures":[]}`), ec.PEM),
			"json: cannot unmarshal number into Go struct field Envelope.payload of type string"},
		{"bad base64 verifier", withSpec(`{"proposedContent":{"envelope":` + envStr + `,"verifiers":["%%%"]}}`),
			"failed parsing base64 data for verifier: illegal base64 data at input byte 0"},
		{"verifier not PEM", proposed(t, envJSON, []byte("hello")),
			"could not parse public key as x509: invalid public key: failure decoding PEM"},
		{"verifier a private key", withSpec(`{"proposedContent":{"envelope":` + envStr + `,"verifiers":["` + b64(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: []byte{1}})) + `"]}}`),
			"could not parse public key as x509: invalid public key: cannot handle type PRIVATE KEY"},
		{"missing everything", withSpec(`{}`),
			"either proposedContent or envelopeHash, payloadHash, and signatures must be present"},
		{"missing envelope and verifiers", withSpec(`{"proposedContent":{}}`),
			"validation failure list:\nproposedContent.proposedContent.envelope in body is required"},
		{"wrong types", withSpec(`{"proposedContent":{"envelope":{},"verifiers":"` + verifier + `"}}`),
			"validation failure list:\nproposedContent.proposedContent.envelope in body is required"},
		{"no verifiers", withSpec(`{"proposedContent":{"envelope":` + envStr + `,"verifiers":[]}}`),
			"validation failure list:\nproposedContent.proposedContent.verifiers in body should have at least 1 items"},
		{"only unusable verifiers", withSpec(`{"proposedContent":{"envelope":` + envStr + `,"verifiers":["",7,null]}}`),
			"validation failure list:\nproposedContent.proposedContent.verifiers in body should have at least 1 items"},
		{"spec not an object", withSpec(`[]`),
			"unsupported input type []interface {} for DecodeEntry"},
		{"trailing data", withSpec(`{} {}`),
			"decoding proposed entry: invalid character '{' after object key:value pair"},
		{"server fields too", withSpec(`{"proposedContent":{"envelope":` + envStr + `,"verifiers":["` + verifier + `"]},"payloadHash":{"algorithm":"sha256","value":"00"}}`),
			"either proposedContent or envelopeHash, payloadHash, and signatures must be present but not both"},
		{"canonical body re-proposed", good.Body,
			"entry not insertable into log: missing proposed content"},
		{"bad hash algorithm", withSpec(`{"envelopeHash":{"algorithm":"md5","value":"00"},"payloadHash":{"value":"00"},"signatures":[{"signature":"AAAA","verifier":"` + verifier + `"}]}`),
			"validation failure list:\nenvelopeHash.envelopeHash.algorithm in body should be one of [sha256]\npayloadHash.payloadHash.algorithm in body is required"},
		{"bad signature pattern", withSpec(`{"envelopeHash":{"algorithm":"sha256","value":"00"},"payloadHash":{"algorithm":"sha256","value":"00"},"signatures":[{"signature":"A"}]}`),
			"validation failure list:\nsignatures.0.signature in body should match '^(?:[A-Za-z0-9+\\/]{4})*(?:[A-Za-z0-9+\\/]{2}==|[A-Za-z0-9+\\/]{3}=|[A-Za-z0-9+\\/]{4})$'"},
		{"empty signatures", withSpec(`{"signatures":[]}`),
			"validation failure list:\nsignatures in body should have at least 1 items"},
		{"bad base64 signature verifier", withSpec(`{"signatures":[{"signature":"AAAA","verifier":"!"}]}`),
			"failed parsing base64 data for signature verifier: illegal base64 data at input byte 0"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := canonicalize(t, tt.request)
			if err == nil {
				t.Fatal("accepted")
			}
			var ie *types.InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v (%T) is not a *types.InvalidError", err, err)
			}
			if err.Error() != tt.want {
				t.Fatalf("error\n got %q\nwant %q", err.Error(), tt.want)
			}
		})
	}
}

// TestSchemaMessages pins the schema validation messages to those of
// Rekor v1.5.4's own dsse v0.0.1 type (UnmarshalEntry on the same inputs): a
// nested object (proposedContent, a hash, a signatures item) reports only its
// first failure, one "validation failure list" level deep; the top level lists
// one error per property, in the generated order.
func TestSchemaMessages(t *testing.T) {
	ec := envelopetest.ECDSA(t)
	stmt := envelopetest.Statement(t, "artifact", sha256Hex([]byte("artifact")))
	envStr := string(envelopetest.JSON(t, string(envelopetest.JSON(t, envelopetest.Envelope(t, inToto, stmt, ec)))))
	verifier := `"` + b64(ec.PEM) + `"`
	const (
		list          = "validation failure list:\n"
		envelopeReq   = "proposedContent.proposedContent.envelope in body is required"
		verifiersReq  = "proposedContent.proposedContent.verifiers in body is required"
		verifiersFew  = "proposedContent.proposedContent.verifiers in body should have at least 1 items"
		envHashAlgReq = "envelopeHash.envelopeHash.algorithm in body is required"
		envHashEnum   = "envelopeHash.envelopeHash.algorithm in body should be one of [sha256]"
		payHashAlgReq = "payloadHash.payloadHash.algorithm in body is required"
		sig0Req       = "signatures.0.signature in body is required"
	)
	tests := []struct {
		name, spec, want string
	}{
		{"proposedContent empty", `{"proposedContent":{}}`, list + envelopeReq},
		{"no envelope", `{"proposedContent":{"verifiers":[` + verifier + `]}}`, list + envelopeReq},
		{"no verifiers", `{"proposedContent":{"envelope":` + envStr + `}}`, list + verifiersReq},
		{"envelope an object", `{"proposedContent":{"envelope":{},"verifiers":[` + verifier + `]}}`, list + envelopeReq},
		{"verifiers empty", `{"proposedContent":{"envelope":` + envStr + `,"verifiers":[]}}`, list + verifiersFew},
		{"verifiers a string", `{"proposedContent":{"envelope":` + envStr + `,"verifiers":` + verifier + `}}`, list + verifiersReq},
		{"no envelope, verifiers empty", `{"proposedContent":{"verifiers":[]}}`, list + envelopeReq},
		{"hashes and signature item empty", `{"envelopeHash":{},"payloadHash":{},"signatures":[{}]}`,
			list + envHashAlgReq + "\n" + payHashAlgReq + "\n" + sig0Req},
		{"envelopeHash empty", `{"envelopeHash":{}}`, list + envHashAlgReq},
		{"envelopeHash md5 without value", `{"envelopeHash":{"algorithm":"md5"}}`, list + envHashEnum},
		{"payloadHash empty", `{"payloadHash":{}}`, list + payHashAlgReq},
		{"signature item empty", `{"signatures":[{}]}`, list + sig0Req},
		{"signature item bad pattern", `{"signatures":[{"signature":"A"}]}`,
			list + `signatures.0.signature in body should match '^(?:[A-Za-z0-9+\/]{4})*(?:[A-Za-z0-9+\/]{2}==|[A-Za-z0-9+\/]{3}=|[A-Za-z0-9+\/]{4})$'`},
		{"second signature item empty", `{"signatures":[{"signature":"AAAA","verifier":"AAAA"},{}]}`,
			list + "signatures.1.signature in body is required"},
		{"non-object signature item skipped", `{"signatures":["x",{"verifier":"AAAA"}]}`, list + sig0Req},
		{"envelopeHash md5, payloadHash empty", `{"envelopeHash":{"algorithm":"md5","value":"00"},"payloadHash":{},"signatures":[{"signature":"AAAA","verifier":"AAAA"}]}`,
			list + envHashEnum + "\n" + payHashAlgReq},
		{"proposedContent with empty envelopeHash", `{"proposedContent":{"envelope":` + envStr + `,"verifiers":[` + verifier + `]},"envelopeHash":{}}`,
			list + envHashAlgReq},
		{"proposedContent and signature item empty", `{"proposedContent":{},"signatures":[{}]}`,
			list + envelopeReq + "\n" + sig0Req},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := canonicalize(t, withSpec(tt.spec))
			if err == nil {
				t.Fatal("accepted")
			}
			var ie *types.InvalidError
			if !errors.As(err, &ie) {
				t.Fatalf("error %v (%T) is not a *types.InvalidError", err, err)
			}
			if err.Error() != tt.want {
				t.Fatalf("error\n got %q\nwant %q", err.Error(), tt.want)
			}
		})
	}
}

// TestUnknownAPIVersion: other apiVersions are unknown to the type, and the
// registry refuses them as Rekor does (see types.IsUnsupportedVersion).
func TestUnknownAPIVersion(t *testing.T) {
	for _, v := range []string{"0.0.2", "", "1.0.0"} {
		_, err := dsse.New().Canonicalize(context.Background(), v, json.RawMessage(`{}`))
		if !errors.Is(err, types.ErrUnknownKind) {
			t.Errorf("direct %q: %v, want ErrUnknownKind", v, err)
		}
		_, err = canonicalize(t, []byte(`{"kind":"dsse","apiVersion":"`+v+`","spec":{}}`))
		if !types.IsUnsupportedVersion(err) {
			t.Errorf("registry %q: %v, want an unsupported version", v, err)
		}
	}
}

// TestDuplicateSignatures: Rekor keys verified signatures by their text, so a
// signature repeated in the envelope (verified by one key each) is logged
// once; with a single verifier the repeat is left unverified.
func TestDuplicateSignatures(t *testing.T) {
	ec := envelopetest.ECDSA(t)
	env := envelopetest.Envelope(t, "text/plain", []byte("x"), ec)
	env.Signatures = append(env.Signatures, env.Signatures[0])
	envJSON := envelopetest.JSON(t, env)
	c, err := canonicalize(t, proposed(t, envJSON, ec.PEM))
	if err != nil {
		t.Fatal(err)
	}
	if n := len(parseBody(t, c.Body).Spec.Signatures); n != 1 {
		t.Fatalf("%d signatures in body, want 1", n)
	}
}

// TestNotAStatement: an in-toto payload type over something that is not a
// statement is accepted, but Rekor's IndexKeys fails for it and nothing is
// indexed.
func TestNotAStatement(t *testing.T) {
	ec := envelopetest.ECDSA(t)
	env := envelopetest.Envelope(t, inToto, []byte(`{"subject":"not a list"}`), ec)
	c, err := canonicalize(t, proposed(t, envelopetest.JSON(t, env), ec.PEM))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.SearchKeys) != 0 {
		t.Fatalf("search keys %q, want none", c.SearchKeys)
	}
}

// TestSLSAMaterials: SLSA v0.2 provenance materials are indexed after the
// subjects, digests lower-cased.
func TestSLSAMaterials(t *testing.T) {
	ec := envelopetest.ECDSA(t)
	stmt := []byte(`{"_type":"https://in-toto.io/Statement/v0.1","predicateType":"https://slsa.dev/provenance/v0.2",
		"subject":[{"name":"a","digest":{"sha512":"AA","sha256":"BB"}}],
		"predicate":{"builder":{"id":"b"},"buildType":"t","materials":[{"uri":"git+x","digest":{"sha1":"CC"}}]}}`)
	env := envelopetest.Envelope(t, inToto, stmt, ec)
	c, err := canonicalize(t, proposed(t, envelopetest.JSON(t, env), ec.PEM))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"digest:sha256:bb", "digest:sha512:aa", "digest:sha1:cc"}
	if got := envelopetest.Strings(c.SearchKeys[len(c.SearchKeys)-3:]); !slices.Equal(got, want) {
		t.Fatalf("search keys %q, want suffix %q", c.SearchKeys, want)
	}
}

// bundle is the part of a Sigstore bundle the public-good test needs.
type bundle struct {
	VerificationMaterial struct {
		Certificate *struct {
			RawBytes []byte `json:"rawBytes"`
		} `json:"certificate"`
		TLogEntries []struct {
			CanonicalizedBody []byte `json:"canonicalizedBody"`
		} `json:"tlogEntries"`
	} `json:"verificationMaterial"`
	DSSEEnvelope json.RawMessage `json:"dsseEnvelope"`
}

// TestPublicGood rebuilds the proposed entry of each public-good dsse bundle
// (its envelope, compacted in the bundle's key order as the clients send it,
// and its certificate) and checks that it canonicalizes to the body the
// public-good Rekor logged, byte for byte. See testdata/README.md.
func TestPublicGood(t *testing.T) {
	tests := []struct {
		file     string
		same     bool     // the bundle's envelope is the logged one
		wantKeys []string // search keys that must be present
	}{
		{"bundle-v0.3-dsse-intoto-cert.json", true, []string{
			"digest:sha256:a0cfc71271d6e278e57cd332ff957c3f7043fdda354c4cbb190a30d56efa01bf",
			"subject:https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main",
		}},
		{"bundle-v0.3-dsse-npm-publish-sigstore-1.0.0.json", true, []string{
			"digest:sha512:7bea9f6e7ff37f5fab0b36bf061200fff03099fd2fd696b91d04bc5e4f225eb9fd6e0cadcad54ba980f43fb352a99e8810b4e0abeb5c0ef2cf9108cd1f258b36",
			"email:brian@dehamer.com",
		}},
		// The bundle's envelope was swapped for another validly signed one:
		// it is accepted but is not the logged entry.
		{"reject-dsse-envelope-not-the-logged-one.json", false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata", "public-good", tt.file))
			if err != nil {
				t.Fatal(err)
			}
			var b bundle
			if err := json.Unmarshal(raw, &b); err != nil {
				t.Fatal(err)
			}
			logged := b.VerificationMaterial.TLogEntries[0].CanonicalizedBody
			var envJSON bytes.Buffer
			if err := json.Compact(&envJSON, b.DSSEEnvelope); err != nil {
				t.Fatal(err)
			}
			certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b.VerificationMaterial.Certificate.RawBytes})
			c, err := canonicalize(t, proposed(t, envJSON.Bytes(), certPEM))
			if err != nil {
				t.Fatal(err)
			}
			if tt.same != bytes.Equal(c.Body, logged) {
				t.Fatalf("body equal to the logged one: %v, want %v\n got %s\nlogged %s", !tt.same, tt.same, c.Body, logged)
			}
			for _, k := range tt.wantKeys {
				if !slices.Contains(envelopetest.Strings(c.SearchKeys), k) {
					t.Errorf("search keys %q lack %q", c.SearchKeys, k)
				}
			}
			// The logged body itself cannot be re-proposed (Rekor: not insertable).
			_, err = canonicalize(t, logged)
			if err == nil || err.Error() != "entry not insertable into log: missing proposed content" {
				t.Fatalf("re-proposing the logged body: %v", err)
			}
		})
	}
}

// TestGolden re-canonicalizes proposed entries made once with throwaway keys
// (testdata/golden/*.request.json, written with -update) and compares with
// the bodies and search keys recorded then.
func TestGolden(t *testing.T) {
	dir := filepath.Join("testdata", "golden")
	if *update {
		writeGolden(t, dir)
	}
	reqs, err := filepath.Glob(filepath.Join(dir, "*.request.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) < 4 {
		t.Fatalf("%d golden requests, want at least 4 (run with -update)", len(reqs))
	}
	for _, req := range reqs {
		name := strings.TrimSuffix(filepath.Base(req), ".request.json")
		t.Run(name, func(t *testing.T) {
			request, err := os.ReadFile(req)
			if err != nil {
				t.Fatal(err)
			}
			want, err := os.ReadFile(filepath.Join(dir, name+".body.json"))
			if err != nil {
				t.Fatal(err)
			}
			wantKeys, err := os.ReadFile(filepath.Join(dir, name+".keys.json"))
			if err != nil {
				t.Fatal(err)
			}
			c, err := canonicalize(t, request)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(c.Body, want) {
				t.Fatalf("body\n got %s\nwant %s", c.Body, want)
			}
			// The golden keys are the texts Rekor indexes.
			if got := envelopetest.JSON(t, envelopetest.RekorKeys(c.SearchKeys)); !bytes.Equal(got, bytes.TrimSpace(wantKeys)) {
				t.Fatalf("search keys\n got %s\nwant %s", got, wantKeys)
			}
		})
	}
}

func writeGolden(t *testing.T, dir string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	stmt := envelopetest.Statement(t, "artifact", sha256Hex([]byte("artifact")))
	cert := envelopetest.Cert(t, "golden@example.com")
	ed := envelopetest.Ed25519(t, 1)
	ec := envelopetest.ECDSA(t)
	cases := map[string][]byte{
		"ecdsa-p256": proposed(t, envelopetest.JSON(t, envelopetest.Envelope(t, inToto, stmt, ec)), ec.PEM),
		"rsa-2048": func() []byte {
			k := envelopetest.RSA(t, 2048)
			return proposed(t, envelopetest.JSON(t, envelopetest.Envelope(t, inToto, stmt, k)), k.PEM)
		}(),
		"ed25519":     proposed(t, envelopetest.JSON(t, envelopetest.Envelope(t, inToto, stmt, ed)), ed.PEM),
		"certificate": proposed(t, envelopetest.JSON(t, envelopetest.Envelope(t, inToto, stmt, cert)), cert.PEM),
		"chain-two-signatures": proposed(t, envelopetest.JSON(t, envelopetest.Envelope(t, "text/plain", []byte("hello"), cert, ed)),
			ed.PEM, cert.ChainPEM),
	}
	for name, req := range cases {
		c, err := canonicalize(t, req)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		for suffix, b := range map[string][]byte{
			".request.json": req,
			".body.json":    c.Body,
			".keys.json":    append(envelopetest.JSON(t, envelopetest.RekorKeys(c.SearchKeys)), '\n'),
		} {
			if err := os.WriteFile(filepath.Join(dir, name+suffix), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestCanonicalizeSearch checks the search form (Rekor's SearchLogQuery:
// UnmarshalEntry and Canonicalize, no Insertable check) against bodies and
// messages of Rekor v1.5.4's own dsse type: a proposal gives the body the
// insert gives, a logged body gives itself back (signatures sorted again,
// unknown fields dropped, nothing verified), and the insert-only refusal is
// gone.
func TestCanonicalizeSearch(t *testing.T) {
	read := func(name string) []byte { return envelopetest.Golden(t, name) }
	edit := func(b []byte, f func(spec map[string]any)) []byte { return envelopetest.EditSpec(t, b, f) }
	body, two := read("ecdsa-p256.body.json"), read("chain-two-signatures.body.json")
	tests := []struct {
		name      string
		entry     []byte
		want      []byte // body, or nil for an error
		wantError string
	}{
		{"proposal", read("ecdsa-p256.request.json"), body, ""},
		{"proposal, two signatures", read("chain-two-signatures.request.json"), two, ""},
		{"logged body", body, body, ""},
		{"logged body, signatures swapped", edit(two, func(s map[string]any) {
			sigs := s["signatures"].([]any)
			sigs[0], sigs[1] = sigs[1], sigs[0]
		}), two, ""},
		{"logged body, unknown field", edit(body, func(s map[string]any) { s["x"] = 1 }), body, ""},
		{"logged body without payloadHash", edit(body, func(s map[string]any) { delete(s, "payloadHash") }), nil,
			"either proposedContent or envelopeHash, payloadHash, and signatures must be present"},
		{"logged body with an empty verifier", edit(body, func(s map[string]any) {
			s["signatures"].([]any)[0].(map[string]any)["verifier"] = ""
		}), nil, "validation failure list:\nsignatures.0.verifier in body is required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pe types.ProposedEntry
			if err := json.Unmarshal(tt.entry, &pe); err != nil {
				t.Fatal(err)
			}
			c, err := dsse.New().CanonicalizeSearch(context.Background(), pe.APIVersion, pe.Spec)
			if tt.want == nil {
				if err == nil || err.Error() != tt.wantError {
					t.Fatalf("error %v, want %q", err, tt.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(c.Body, tt.want) {
				t.Fatalf("body\n got %s\nwant %s", c.Body, tt.want)
			}
		})
	}
	// The insert path still refuses a logged body.
	if _, err := canonicalize(t, body); err == nil || err.Error() != "entry not insertable into log: missing proposed content" {
		t.Fatalf("insert of a logged body: %v", err)
	}
}

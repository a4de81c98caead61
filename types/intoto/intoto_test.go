package intoto_test

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
	"regexp"
	"slices"
	"strings"
	"testing"

	ssldsse "github.com/secure-systems-lab/go-securesystemslib/dsse"

	"github.com/tabularium/tabula/pki"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/internal/envelope/envelopetest"
	"github.com/tabularium/tabula/types/intoto"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

const inToto = "application/vnd.in-toto+json"

func registry() *types.Registry { return types.NewRegistry(intoto.New()) }

func canonicalize(t testing.TB, proposed []byte) (types.Canonical, error) {
	t.Helper()
	return registry().Canonicalize(context.Background(), proposed)
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

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

// proposed002 builds an intoto 0.0.2 entry the way rekor's builder and cosign
// do: the envelope's payload and sig texts base64-encoded once more, each
// signature with its key's PEM, content.hash over the envelope JSON.
func proposed002(t testing.TB, env *ssldsse.Envelope, pems ...[]byte) []byte {
	t.Helper()
	sigs := make([]map[string]any, len(env.Signatures))
	for i, s := range env.Signatures {
		sigs[i] = map[string]any{"sig": b64([]byte(s.Sig)), "publicKey": b64(pems[i])}
		if s.KeyID != "" {
			sigs[i]["keyid"] = s.KeyID
		}
	}
	return envelopetest.JSON(t, map[string]any{
		"kind": "intoto", "apiVersion": "0.0.2",
		"spec": map[string]any{"content": map[string]any{
			"envelope": map[string]any{
				"payloadType": env.PayloadType,
				"payload":     b64([]byte(env.Payload)),
				"signatures":  sigs,
			},
			"hash": map[string]any{"algorithm": "sha256", "value": sha256Hex(envelopetest.JSON(t, env))},
		}},
	})
}

// proposed001 builds an intoto 0.0.1 entry: the envelope as a string and one key.
func proposed001(t testing.TB, envJSON, pemKey []byte) []byte {
	t.Helper()
	return envelopetest.JSON(t, map[string]any{
		"kind": "intoto", "apiVersion": "0.0.1",
		"spec": map[string]any{
			"content":   map[string]any{"envelope": string(envJSON)},
			"publicKey": b64(pemKey),
		},
	})
}

func withSpec(version, spec string) []byte {
	return []byte(`{"kind":"intoto","apiVersion":"` + version + `","spec":` + spec + `}`)
}

type body002 struct {
	APIVersion, Kind string
	Spec             struct {
		Content struct {
			Envelope struct {
				Payload     *string `json:"payload"`
				PayloadType string  `json:"payloadType"`
				Signatures  []struct {
					KeyID     *string `json:"keyid"`
					PublicKey []byte  `json:"publicKey"`
					Sig       []byte  `json:"sig"`
				} `json:"signatures"`
			} `json:"envelope"`
			Hash        struct{ Algorithm, Value string } `json:"hash"`
			PayloadHash struct{ Algorithm, Value string } `json:"payloadHash"`
		} `json:"content"`
	} `json:"spec"`
}

type body001 struct {
	APIVersion, Kind string
	Spec             struct {
		Content struct {
			Envelope    *string                           `json:"envelope"`
			Hash        struct{ Algorithm, Value string } `json:"hash"`
			PayloadHash struct{ Algorithm, Value string } `json:"payloadHash"`
		} `json:"content"`
		PublicKey []byte `json:"publicKey"`
	} `json:"spec"`
}

func mustUnmarshal(t testing.TB, b []byte, v any) {
	t.Helper()
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

func TestCanonicalize002Good(t *testing.T) {
	ec := envelopetest.ECDSA(t)
	rsaKey := envelopetest.RSA(t, 2048)
	ed := envelopetest.Ed25519(t, 3)
	cert := envelopetest.Cert(t, "Attester@Example.com")
	digest := sha256Hex([]byte("artifact"))
	stmt := envelopetest.Statement(t, "artifact", digest)
	// A PEM without its final newline is logged as sent (rekor#1170).
	noNewline := bytes.TrimRight(ec.PEM, "\n")

	keyed := envelopetest.Envelope(t, inToto, stmt, ed)
	keyed.Signatures[0].KeyID = "my-key"

	tests := []struct {
		name    string
		env     *ssldsse.Envelope
		pems    [][]byte
		subject []string // expected subjects after the key hash
		digests bool     // in-toto subject digest indexed
	}{
		{"ecdsa p256", envelopetest.Envelope(t, inToto, stmt, ec), [][]byte{ec.PEM}, nil, true},
		{"rsa 2048", envelopetest.Envelope(t, inToto, stmt, rsaKey), [][]byte{rsaKey.PEM}, nil, true},
		{"ed25519 with keyid", keyed, [][]byte{ed.PEM}, nil, true},
		{"certificate", envelopetest.Envelope(t, inToto, stmt, cert), [][]byte{cert.PEM}, []string{"email:attester@example.com"}, true},
		{"chain", envelopetest.Envelope(t, inToto, stmt, cert), [][]byte{cert.ChainPEM}, []string{"email:attester@example.com"}, true},
		{"key PEM kept verbatim", envelopetest.Envelope(t, inToto, stmt, ec), [][]byte{noNewline}, nil, true},
		{"two signatures in submitted order", envelopetest.Envelope(t, inToto, stmt, rsaKey, ec), [][]byte{rsaKey.PEM, ec.PEM}, nil, true},
		{"not in-toto", envelopetest.Envelope(t, "text/plain", []byte("hello"), ec), [][]byte{ec.PEM}, nil, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := canonicalize(t, proposed002(t, tt.env, tt.pems...))
			if err != nil {
				t.Fatal(err)
			}
			payload, _ := base64.StdEncoding.DecodeString(tt.env.Payload)
			if !bytes.Equal(c.Attestation, payload) {
				t.Errorf("attestation %q, want the payload", c.Attestation)
			}
			var b body002
			mustUnmarshal(t, c.Body, &b)
			e := b.Spec.Content.Envelope
			if b.APIVersion != "0.0.2" || b.Kind != "intoto" || e.Payload != nil || e.PayloadType != tt.env.PayloadType {
				t.Errorf("body %s", c.Body)
			}
			if b.Spec.Content.PayloadHash.Algorithm != "sha256" || b.Spec.Content.PayloadHash.Value != sha256Hex(payload) {
				t.Errorf("payloadHash %+v", b.Spec.Content.PayloadHash)
			}
			if b.Spec.Content.Hash.Value != sha256Hex(envelopetest.JSON(t, tt.env)) {
				t.Errorf("hash %+v is not the client's", b.Spec.Content.Hash)
			}
			if len(e.Signatures) != len(tt.env.Signatures) {
				t.Fatalf("%d signatures", len(e.Signatures))
			}
			var want []string
			for i, s := range e.Signatures {
				if string(s.Sig) != tt.env.Signatures[i].Sig || !bytes.Equal(s.PublicKey, tt.pems[i]) {
					t.Errorf("signature %d not kept as submitted", i)
				}
				if kid := tt.env.Signatures[i].KeyID; (kid == "") != (s.KeyID == nil) || (s.KeyID != nil && *s.KeyID != kid) {
					t.Errorf("signature %d keyid %v, want %q", i, s.KeyID, kid)
				}
				fp := sha256Hex(canonicalPEM(t, tt.pems[i]))
				want = append(want, "key:"+fp, "digest:sha256:"+fp)
				want = append(want, tt.subject...)
			}
			want = append(want, "digest:sha256:"+sha256Hex(payload))
			if tt.digests {
				want = append(want, "digest:sha256:"+digest)
			}
			if got := envelopetest.Strings(c.SearchKeys); !slices.Equal(got, want) {
				t.Errorf("search keys\n got %q\nwant %q", c.SearchKeys, want)
			}
			if !strings.HasPrefix(string(c.Body), `{"apiVersion":"0.0.2","kind":"intoto","spec":{"content":{"envelope":{"payloadType":`) {
				t.Errorf("body does not start like Rekor's: %.100s", c.Body)
			}
		})
	}
}

func TestCanonicalize001Good(t *testing.T) {
	ec := envelopetest.ECDSA(t)
	rsaKey := envelopetest.RSA(t, 2048)
	ed := envelopetest.Ed25519(t, 4)
	cert := envelopetest.Cert(t, "Old@Example.com")
	digest := sha256Hex([]byte("artifact"))
	stmt := envelopetest.Statement(t, "artifact", digest)
	other := envelopetest.ECDSA(t)

	tests := []struct {
		name    string
		env     *ssldsse.Envelope
		pem     []byte
		subject []string
	}{
		{"ecdsa p256", envelopetest.Envelope(t, inToto, stmt, ec), ec.PEM, nil},
		{"rsa 2048", envelopetest.Envelope(t, inToto, stmt, rsaKey), rsaKey.PEM, nil},
		{"ed25519", envelopetest.Envelope(t, inToto, stmt, ed), ed.PEM, nil},
		{"certificate", envelopetest.Envelope(t, inToto, stmt, cert), cert.PEM, []string{"email:old@example.com"}},
		// One verifying signature is enough for 0.0.1.
		{"one of two signatures", envelopetest.Envelope(t, inToto, stmt, other, ec), ec.PEM, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			envJSON := envelopetest.JSON(t, tt.env)
			c, err := canonicalize(t, proposed001(t, envJSON, tt.pem))
			if err != nil {
				t.Fatal(err)
			}
			payload, _ := base64.StdEncoding.DecodeString(tt.env.Payload)
			if !bytes.Equal(c.Attestation, payload) {
				t.Errorf("attestation %q, want the payload", c.Attestation)
			}
			var b body001
			mustUnmarshal(t, c.Body, &b)
			if b.APIVersion != "0.0.1" || b.Kind != "intoto" || b.Spec.Content.Envelope != nil {
				t.Errorf("body %s", c.Body)
			}
			if !bytes.Equal(b.Spec.PublicKey, canonicalPEM(t, tt.pem)) {
				t.Errorf("publicKey %s", b.Spec.PublicKey)
			}
			if b.Spec.Content.Hash != (struct{ Algorithm, Value string }{"sha256", sha256Hex(envJSON)}) ||
				b.Spec.Content.PayloadHash != (struct{ Algorithm, Value string }{"sha256", sha256Hex(payload)}) {
				t.Errorf("hashes %+v", b.Spec.Content)
			}
			fp := sha256Hex(canonicalPEM(t, tt.pem))
			want := append([]string{"digest:sha256:" + sha256Hex(envJSON), "key:" + fp, "digest:sha256:" + fp}, tt.subject...)
			want = append(want, "digest:sha256:"+sha256Hex(payload), "digest:sha256:"+digest)
			if got := envelopetest.Strings(c.SearchKeys); !slices.Equal(got, want) {
				t.Errorf("search keys\n got %q\nwant %q", c.SearchKeys, want)
			}
			if !strings.HasPrefix(string(c.Body), `{"apiVersion":"0.0.1","kind":"intoto","spec":{"content":{"hash":{"algorithm":"sha256","value":"`) {
				t.Errorf("body does not start like Rekor's: %.100s", c.Body)
			}
		})
	}
}

func TestCanonicalizeBad(t *testing.T) {
	ec := envelopetest.ECDSA(t)
	other := envelopetest.ECDSA(t)
	stmt := envelopetest.Statement(t, "artifact", sha256Hex([]byte("artifact")))
	env := envelopetest.Envelope(t, inToto, stmt, ec)
	envJSON := envelopetest.JSON(t, env)

	tampered := *env
	tampered.Payload = b64(append(append([]byte{}, stmt...), ' '))
	urlPayload := envelopetest.Envelope(t, inToto, []byte{0xfb, 0xff, 0xfe, 0x01}, ec)
	urlPayload.Payload = base64.URLEncoding.EncodeToString([]byte{0xfb, 0xff, 0xfe, 0x01})
	twoSigs := envelopetest.Envelope(t, inToto, stmt, ec, other)
	noType := envelopetest.Envelope(t, "", stmt, ec)
	emptyPayload001 := envelopetest.Envelope(t, inToto, nil, ec)
	keyedOther := envelopetest.Envelope(t, inToto, stmt, ec)
	keyedOther.Signatures[0].KeyID = "some other id"
	pk := b64(ec.PEM)
	sig := b64([]byte(env.Signatures[0].Sig))
	payload := b64([]byte(env.Payload))
	hash := `"hash":{"algorithm":"sha256","value":"00"}`

	const threshold = "could not verify envelope: accepted signatures do not match threshold, Found: 0, Expected 1"
	tests := []struct {
		name    string
		request []byte
		want    string
	}{
		// 0.0.2
		{"002 tampered payload", proposed002(t, &tampered, ec.PEM), threshold},
		{"002 key that does not verify", proposed002(t, env, other.PEM), threshold},
		{"002 signature with no verifying key", proposed002(t, twoSigs, ec.PEM, ec.PEM), "all signatures must have a key that verifies it"},
		{"002 bad base64 payload", withSpec("0.0.2", `{"content":{"envelope":{"payloadType":"x","payload":"!!!!","signatures":[{"sig":"`+sig+`","publicKey":"`+pk+`"}]},`+hash+`}}`),
			"failed parsing base64 data for payload: illegal base64 data at input byte 0"},
		{"002 bad base64 sig", withSpec("0.0.2", `{"content":{"envelope":{"payloadType":"x","payload":"`+payload+`","signatures":[{"sig":"*","publicKey":"`+pk+`"}]},`+hash+`}}`),
			"failed parsing base64 data for signature: illegal base64 data at input byte 0"},
		{"002 bad base64 public key", withSpec("0.0.2", `{"content":{"envelope":{"payloadType":"x","payload":"`+payload+`","signatures":[{"sig":"`+sig+`","publicKey":"A"}]},`+hash+`}}`),
			"failed parsing base64 data for public key: illegal base64 data at input byte 0"},
		{"002 public key not PEM", withSpec("0.0.2", `{"content":{"envelope":{"payloadType":"x","payload":"`+payload+`","signatures":[{"sig":"`+sig+`","publicKey":"aGVsbG8="}]},`+hash+`}}`),
			"could not parse public key as x509: invalid public key: failure decoding PEM"},
		{"002 payload not standard base64 inside", proposed002(t, urlPayload, ec.PEM), "could not decode envelope payload: illegal base64 data at input byte 0"},
		{"002 empty payloadType", proposed002(t, noType, ec.PEM), "entry not insertable into log: missing payloadType content"},
		{"002 no payload", withSpec("0.0.2", `{"content":{"envelope":{"payloadType":"x","signatures":[{"sig":"`+sig+`","publicKey":"`+pk+`"}]},`+hash+`}}`),
			"entry not insertable into log: missing envelope content"},
		{"002 no hash", withSpec("0.0.2", `{"content":{"envelope":{"payloadType":"`+inToto+`","payload":"`+payload+`","signatures":[{"sig":"`+sig+`","publicKey":"`+pk+`"}]}}}`),
			"missing envelope digest"},
		{"002 missing fields", withSpec("0.0.2", `{}`),
			"validation failure list:\ncontent.content.envelope.content.envelope.payloadType in body is required"},
		{"002 wrong types", withSpec("0.0.2", `{"content":{"envelope":{"payloadType":5,"payload":"`+payload+`","signatures":{"sig":"`+sig+`"}},"hash":"x"}}`),
			"validation failure list:\ncontent.content.envelope.content.envelope.payloadType in body is required"},
		{"002 empty signatures and bad hash", withSpec("0.0.2", `{"content":{"envelope":{"payloadType":"x","signatures":[]},"hash":{"algorithm":"md5"}}}`),
			"validation failure list:\ncontent.content.envelope.content.envelope.signatures in body should have at least 1 items"},
		{"002 signature without sig or key", withSpec("0.0.2", `{"content":{"envelope":{"payloadType":"x","signatures":[{"keyid":"k"}]}}}`),
			"validation failure list:\ncontent.content.envelope.content.envelope.signatures.0.publicKey in body is required"},
		{"002 spec not an object", withSpec("0.0.2", `"x"`), "unsupported input type string for DecodeEntry"},
		// 0.0.1
		{"001 tampered payload", proposed001(t, envelopetest.JSON(t, &tampered), ec.PEM), "accepted signatures do not match threshold, Found: 0, Expected 1"},
		{"001 wrong key", proposed001(t, envJSON, other.PEM), "accepted signatures do not match threshold, Found: 0, Expected 1"},
		{"001 keyid not the key's", proposed001(t, envelopetest.JSON(t, keyedOther), ec.PEM), "accepted signatures do not match threshold, Found: 0, Expected 1"},
		{"001 envelope without signatures", proposed001(t, []byte(`{"payload":"`+env.Payload+`","payloadType":"x","signatures":[]}`), ec.PEM), "no signature found"},
		{"001 envelope not JSON", proposed001(t, []byte("nope"), ec.PEM), "invalid character 'o' in literal null (expecting 'u')"},
		{"001 empty payload", proposed001(t, envelopetest.JSON(t, emptyPayload001), ec.PEM), "entry not insertable into log: invalid DSSE envelope"},
		{"001 key not PEM", proposed001(t, envJSON, []byte("x")), "invalid public key: failure decoding PEM"},
		{"001 bad base64 key", withSpec("0.0.1", `{"content":{"envelope":"{}"},"publicKey":"@"}`), "failed parsing base64 data for public key: illegal base64 data at input byte 0"},
		{"001 missing fields", withSpec("0.0.1", `{}`), "validation failure list:\ncontent in body is required\npublicKey in body is required"},
		{"001 wrong types", withSpec("0.0.1", `{"content":"x","publicKey":7}`), "validation failure list:\ncontent in body is required\npublicKey in body is required"},
		{"001 bad hash", withSpec("0.0.1", `{"content":{"hash":{"algorithm":"sha1","value":"00"}},"publicKey":"`+pk+`"}`),
			"validation failure list:\ncontent.content.hash.content.hash.algorithm in body should be one of [sha256]"},
		{"001 no envelope, no hash", withSpec("0.0.1", `{"content":{},"publicKey":"`+pk+`"}`), "missing hash value for envelope"},
		{"001 no envelope", withSpec("0.0.1", `{"content":{`+hash+`},"publicKey":"`+pk+`"}`), "entry not insertable into log: missing envelope content"},
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
// Rekor v1.5.4's own intoto v0.0.1 and v0.0.2 types (UnmarshalEntry on the
// same inputs): a nested object (content, its envelope, a hash, a signatures
// item) reports only its first failure, one "validation failure list" level
// deep; the top level lists one error per property.
func TestSchemaMessages(t *testing.T) {
	ec := envelopetest.ECDSA(t)
	stmt := envelopetest.Statement(t, "artifact", sha256Hex([]byte("artifact")))
	env := envelopetest.Envelope(t, inToto, stmt, ec)
	pk := `"` + b64(ec.PEM) + `"`
	sig := `"` + b64([]byte(env.Signatures[0].Sig)) + `"`
	payload := `"` + b64([]byte(env.Payload)) + `"`
	envStr := string(envelopetest.JSON(t, string(envelopetest.JSON(t, env))))
	goodSig := `{"sig":` + sig + `,"publicKey":` + pk + `}`
	// env002 builds a v0.0.2 envelope object around a signatures value.
	env002 := func(sigs string) string {
		return `{"payloadType":"` + inToto + `","payload":` + payload + `,"signatures":` + sigs + `}`
	}
	const (
		list         = "validation failure list:\n"
		typeReq      = "content.content.envelope.content.envelope.payloadType in body is required"
		sigsReq      = "content.content.envelope.content.envelope.signatures in body is required"
		sigsFew      = "content.content.envelope.content.envelope.signatures in body should have at least 1 items"
		hashAlgReq   = "content.content.hash.content.hash.algorithm in body is required"
		hashEnum     = "content.content.hash.content.hash.algorithm in body should be one of [sha256]"
		pHashAlgReq  = "content.content.payloadHash.content.payloadHash.algorithm in body is required"
		pHashEnum    = "content.content.payloadHash.content.payloadHash.algorithm in body should be one of [sha256]"
		contentReq   = "content in body is required"
		publicKeyReq = "publicKey in body is required"
	)
	tests := []struct {
		name, version, spec, want string
	}{
		// 0.0.2
		{"002 spec empty", "0.0.2", `{}`, list + typeReq},
		{"002 content empty", "0.0.2", `{"content":{}}`, list + typeReq},
		{"002 content a string", "0.0.2", `{"content":"x"}`, list + typeReq},
		{"002 envelope empty", "0.0.2", `{"content":{"envelope":{}}}`, list + typeReq},
		{"002 envelope a string", "0.0.2", `{"content":{"envelope":"x"}}`, list + typeReq},
		{"002 no payloadType", "0.0.2", `{"content":{"envelope":{"payload":` + payload + `,"signatures":[` + goodSig + `]}}}`, list + typeReq},
		{"002 no signatures", "0.0.2", `{"content":{"envelope":{"payloadType":"x","payload":` + payload + `}}}`, list + sigsReq},
		{"002 signatures empty", "0.0.2", `{"content":{"envelope":` + env002(`[]`) + `}}`, list + sigsFew},
		{"002 signatures a string", "0.0.2", `{"content":{"envelope":` + env002(`"x"`) + `}}`, list + sigsReq},
		{"002 signature item empty", "0.0.2", `{"content":{"envelope":` + env002(`[{}]`) + `}}`,
			list + "content.content.envelope.content.envelope.signatures.0.publicKey in body is required"},
		{"002 signature item without sig", "0.0.2", `{"content":{"envelope":` + env002(`[{"publicKey":`+pk+`}]`) + `}}`,
			list + "content.content.envelope.content.envelope.signatures.0.sig in body is required"},
		{"002 second signature item empty", "0.0.2", `{"content":{"envelope":` + env002(`[`+goodSig+`,{}]`) + `}}`,
			list + "content.content.envelope.content.envelope.signatures.1.publicKey in body is required"},
		{"002 non-object signature item skipped", "0.0.2", `{"content":{"envelope":` + env002(`["x",{"sig":`+sig+`}]`) + `}}`,
			list + "content.content.envelope.content.envelope.signatures.0.publicKey in body is required"},
		{"002 hash empty", "0.0.2", `{"content":{"envelope":` + env002(`[`+goodSig+`]`) + `,"hash":{}}}`, list + hashAlgReq},
		{"002 hash md5", "0.0.2", `{"content":{"envelope":` + env002(`[`+goodSig+`]`) + `,"hash":{"algorithm":"md5"}}}`, list + hashEnum},
		{"002 payloadHash empty", "0.0.2", `{"content":{"envelope":` + env002(`[`+goodSig+`]`) + `,"payloadHash":{}}}`, list + pHashAlgReq},
		{"002 envelope and hash empty", "0.0.2", `{"content":{"envelope":{},"hash":{}}}`, list + typeReq},
		{"002 signatures empty and hash md5", "0.0.2", `{"content":{"envelope":` + env002(`[]`) + `,"hash":{"algorithm":"md5"}}}`, list + sigsFew},
		{"002 hash empty and payloadHash md5", "0.0.2", `{"content":{"envelope":` + env002(`[`+goodSig+`]`) + `,"hash":{},"payloadHash":{"algorithm":"md5"}}}`, list + hashAlgReq},
		// 0.0.1
		{"001 spec empty", "0.0.1", `{}`, list + contentReq + "\n" + publicKeyReq},
		{"001 content a string", "0.0.1", `{"content":"x","publicKey":` + pk + `}`, list + contentReq},
		{"001 no publicKey", "0.0.1", `{"content":{"envelope":` + envStr + `}}`, list + publicKeyReq},
		{"001 publicKey a number", "0.0.1", `{"content":{"envelope":` + envStr + `},"publicKey":7}`, list + publicKeyReq},
		{"001 content empty, no publicKey", "0.0.1", `{"content":{}}`, list + publicKeyReq},
		{"001 hash empty", "0.0.1", `{"content":{"envelope":` + envStr + `,"hash":{}},"publicKey":` + pk + `}`, list + hashAlgReq},
		{"001 hash md5", "0.0.1", `{"content":{"envelope":` + envStr + `,"hash":{"algorithm":"md5"}},"publicKey":` + pk + `}`, list + hashEnum},
		{"001 hash without algorithm", "0.0.1", `{"content":{"envelope":` + envStr + `,"hash":{"value":"00"}},"publicKey":` + pk + `}`, list + hashAlgReq},
		{"001 payloadHash empty", "0.0.1", `{"content":{"envelope":` + envStr + `,"payloadHash":{}},"publicKey":` + pk + `}`, list + pHashAlgReq},
		{"001 both hashes empty", "0.0.1", `{"content":{"envelope":` + envStr + `,"hash":{},"payloadHash":{}},"publicKey":` + pk + `}`, list + hashAlgReq},
		{"001 hash empty, no publicKey", "0.0.1", `{"content":{"envelope":` + envStr + `,"hash":{}}}`, list + hashAlgReq + "\n" + publicKeyReq},
		{"001 payloadHash md5, no publicKey", "0.0.1", `{"content":{"envelope":` + envStr + `,"payloadHash":{"algorithm":"md5","value":"00"}}}`,
			list + pHashEnum + "\n" + publicKeyReq},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := canonicalize(t, withSpec(tt.version, tt.spec))
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

func TestUnknownAPIVersion(t *testing.T) {
	for _, v := range []string{"0.0.3", "", "0.0.2 "} {
		_, err := intoto.New().Canonicalize(context.Background(), v, json.RawMessage(`{}`))
		if !errors.Is(err, types.ErrUnknownKind) {
			t.Errorf("direct %q: %v, want ErrUnknownKind", v, err)
		}
		_, err = canonicalize(t, withSpec(v, `{}`))
		if !types.IsUnsupportedVersion(err) {
			t.Errorf("registry %q: %v, want an unsupported version", v, err)
		}
	}
}

// TestNotAStatement: 0.0.2 indexes nothing for an in-toto payload that is not
// a statement (Rekor's IndexKeys fails); 0.0.1 only loses the digests.
func TestNotAStatement(t *testing.T) {
	ec := envelopetest.ECDSA(t)
	env := envelopetest.Envelope(t, inToto, []byte(`[1,2]`), ec)
	c, err := canonicalize(t, proposed002(t, env, ec.PEM))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.SearchKeys) != 0 {
		t.Errorf("0.0.2 search keys %q, want none", c.SearchKeys)
	}
	c, err = canonicalize(t, proposed001(t, envelopetest.JSON(t, env), ec.PEM))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.SearchKeys) != 4 {
		t.Errorf("0.0.1 search keys %q, want envelope, key (twice: key and Rekor's digest form) and payload hashes", c.SearchKeys)
	}
}

// publicGoodBundle is the part of a Sigstore bundle the test needs.
type publicGoodBundle struct {
	VerificationMaterial struct {
		X509CertificateChain *struct {
			Certificates []struct {
				RawBytes []byte `json:"rawBytes"`
			} `json:"certificates"`
		} `json:"x509CertificateChain"`
		TLogEntries []struct {
			CanonicalizedBody []byte `json:"canonicalizedBody"`
		} `json:"tlogEntries"`
	} `json:"verificationMaterial"`
	DSSEEnvelope ssldsse.Envelope `json:"dsseEnvelope"`
}

// TestPublicGood rebuilds the proposed intoto 0.0.2 entry of each
// public-good bundle from its DSSE envelope and checks that it canonicalizes
// to the logged body byte for byte. Two fields are client-supplied and kept
// verbatim by Rekor, so they come from the logged body: content.hash (the
// client's digest of its envelope JSON) and the publicKey PEM text (checked to
// be the bundle's certificate or the npm key, re-encoded).
func TestPublicGood(t *testing.T) {
	tests := []struct {
		file    string
		keyPEM  string // file with the key, when the bundle has only a hint
		subject string // an in-toto subject digest that must be indexed
	}{
		{"bundle-npm-publish-intoto-set-only.json", "publickey-npm-publish.pem",
			"sha512:76176ffa33808b54602c7c35de5c6e9a4deb96066dba6533f50ac234f4f1f4c6b3527515dc17c06fbe2860030f410eee69ea20079bd3a2c6f3dcf3b329b10751"},
		{"bundle-v0.1-intoto-npm-provenance-sigstore-2.0.0.json", "",
			"sha512:46d4e2f74c4877316640000a6fdf8a8b59f1e0847667973e9859f774dd31b8f1e0937813b777fb66a2ac67d50540fe34640966eee9fc2ccca387082b4c85cd3c"},
		{"bundle-v0.2-intoto-npm-publish-sigstore-1.0.0.json", "",
			"sha512:7bea9f6e7ff37f5fab0b36bf061200fff03099fd2fd696b91d04bc5e4f225eb9fd6e0cadcad54ba980f43fb352a99e8810b4e0abeb5c0ef2cf9108cd1f258b36"},
	}
	dir := filepath.Join("testdata", "public-good")
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			var b publicGoodBundle
			mustUnmarshal(t, raw, &b)
			logged := b.VerificationMaterial.TLogEntries[0].CanonicalizedBody
			var lb body002
			mustUnmarshal(t, logged, &lb)

			var keyPEM []byte
			if tt.keyPEM != "" {
				if keyPEM, err = os.ReadFile(filepath.Join(dir, tt.keyPEM)); err != nil {
					t.Fatal(err)
				}
			} else {
				keyPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: b.VerificationMaterial.X509CertificateChain.Certificates[0].RawBytes})
			}
			sent := lb.Spec.Content.Envelope.Signatures[0].PublicKey
			if !bytes.Equal(canonicalPEM(t, sent), canonicalPEM(t, keyPEM)) {
				t.Fatalf("logged publicKey is not the bundle's key")
			}

			env := b.DSSEEnvelope
			sigs := make([]map[string]any, len(env.Signatures))
			for i, s := range env.Signatures {
				sigs[i] = map[string]any{"keyid": s.KeyID, "sig": b64([]byte(s.Sig)), "publicKey": b64(sent)}
			}
			req := envelopetest.JSON(t, map[string]any{
				"kind": "intoto", "apiVersion": "0.0.2",
				"spec": map[string]any{"content": map[string]any{
					"envelope": map[string]any{"payloadType": env.PayloadType, "payload": b64([]byte(env.Payload)), "signatures": sigs},
					"hash":     map[string]string{"algorithm": lb.Spec.Content.Hash.Algorithm, "value": lb.Spec.Content.Hash.Value},
				}},
			})
			c, err := canonicalize(t, req)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(c.Body, logged) {
				t.Fatalf("body\n got %s\nlogged %s", c.Body, logged)
			}
			payload, _ := base64.StdEncoding.DecodeString(env.Payload)
			if !bytes.Equal(c.Attestation, payload) {
				t.Errorf("attestation is not the payload")
			}
			if !slices.Contains(c.SearchKeys, types.SearchKey{Kind: types.KindDigest, Value: tt.subject}) ||
				!slices.Contains(c.SearchKeys, types.Digest("sha256", lb.Spec.Content.PayloadHash.Value)) {
				t.Errorf("search keys %q lack the subject or payload digest", c.SearchKeys)
			}
			// The logged body has no payload: Rekor refuses to insert it again.
			if _, err := canonicalize(t, logged); err == nil || err.Error() != "entry not insertable into log: missing envelope content" {
				t.Errorf("re-proposing the logged body: %v", err)
			}
		})
	}
}

// TestGolden re-canonicalizes proposed entries made once with throwaway keys
// (testdata/golden/*.request.json, written with -update) and compares with
// the bodies, search keys and attestations recorded then.
func TestGolden(t *testing.T) {
	dir := filepath.Join("testdata", "golden")
	if *update {
		writeGolden(t, dir)
	}
	reqs, err := filepath.Glob(filepath.Join(dir, "*.request.json"))
	if err != nil {
		t.Fatal(err)
	}
	if len(reqs) < 7 {
		t.Fatalf("%d golden requests, want at least 7 (run with -update)", len(reqs))
	}
	for _, req := range reqs {
		name := strings.TrimSuffix(filepath.Base(req), ".request.json")
		t.Run(name, func(t *testing.T) {
			read := func(suffix string) []byte {
				b, err := os.ReadFile(filepath.Join(dir, name+suffix))
				if err != nil {
					t.Fatal(err)
				}
				return b
			}
			c, err := canonicalize(t, read(".request.json"))
			if err != nil {
				t.Fatal(err)
			}
			if want := read(".body.json"); !bytes.Equal(c.Body, want) {
				t.Fatalf("body\n got %s\nwant %s", c.Body, want)
			}
			// The golden keys are the texts Rekor indexes.
			if got, want := envelopetest.JSON(t, envelopetest.RekorKeys(c.SearchKeys)), bytes.TrimSpace(read(".keys.json")); !bytes.Equal(got, want) {
				t.Fatalf("search keys\n got %s\nwant %s", got, want)
			}
			if want := read(".attestation"); !bytes.Equal(c.Attestation, want) {
				t.Fatalf("attestation\n got %q\nwant %q", c.Attestation, want)
			}
		})
	}
}

func writeGolden(t *testing.T, dir string) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	stmt := envelopetest.Statement(t, "artifact", sha256Hex([]byte("artifact")))
	ec := envelopetest.ECDSA(t)
	rsaKey := envelopetest.RSA(t, 2048)
	ed := envelopetest.Ed25519(t, 2)
	cert := envelopetest.Cert(t, "golden@example.com")
	env := func(k envelopetest.Key) *ssldsse.Envelope { return envelopetest.Envelope(t, inToto, stmt, k) }
	cases := map[string][]byte{
		"v0.0.2-ecdsa-p256":  proposed002(t, env(ec), ec.PEM),
		"v0.0.2-rsa-2048":    proposed002(t, env(rsaKey), rsaKey.PEM),
		"v0.0.2-ed25519":     proposed002(t, env(ed), ed.PEM),
		"v0.0.2-certificate": proposed002(t, env(cert), cert.PEM),
		"v0.0.1-ecdsa-p256":  proposed001(t, envelopetest.JSON(t, env(ec)), ec.PEM),
		"v0.0.1-rsa-2048":    proposed001(t, envelopetest.JSON(t, env(rsaKey)), rsaKey.PEM),
		"v0.0.1-ed25519":     proposed001(t, envelopetest.JSON(t, env(ed)), ed.PEM),
		"v0.0.1-certificate": proposed001(t, envelopetest.JSON(t, env(cert)), cert.PEM),
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
			".attestation":  c.Attestation,
		} {
			if err := os.WriteFile(filepath.Join(dir, name+suffix), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestCanonicalizeSearch checks the search form (Rekor's SearchLogQuery:
// UnmarshalEntry and Canonicalize, no Insertable check) against bodies and
// messages of Rekor v1.5.4's own intoto types: a proposal gives the body the
// insert gives, a logged body (0.0.1 without envelope, 0.0.2 without payload)
// gives itself back without verification, and the insert-only refusals are
// gone.
func TestCanonicalizeSearch(t *testing.T) {
	read := func(name string) []byte { return envelopetest.Golden(t, name) }
	edit := func(b []byte, f func(spec map[string]any)) []byte { return envelopetest.EditSpec(t, b, f) }
	content := func(s map[string]any) map[string]any { return s["content"].(map[string]any) }
	body1, body2 := read("v0.0.1-ecdsa-p256.body.json"), read("v0.0.2-ecdsa-p256.body.json")
	tests := []struct {
		name      string
		entry     []byte
		want      []byte // body, or nil for an error
		wantError string
	}{
		{"0.0.1 proposal", read("v0.0.1-ecdsa-p256.request.json"), body1, ""},
		{"0.0.2 proposal", read("v0.0.2-ecdsa-p256.request.json"), body2, ""},
		{"0.0.1 logged body", body1, body1, ""},
		{"0.0.2 logged body", body2, body2, ""},
		{"0.0.2 logged body, unknown field", edit(body2, func(s map[string]any) { content(s)["x"] = 1 }), body2, ""},
		{"0.0.1 logged body without payloadHash (older entries)", edit(body1, func(s map[string]any) { delete(content(s), "payloadHash") }),
			regexp.MustCompile(`,"payloadHash":\{[^}]*\}`).ReplaceAll(body1, nil), ""},
		{"0.0.1 logged body without hash", edit(body1, func(s map[string]any) { delete(content(s), "hash") }), nil, "missing hash value for envelope"},
		{"0.0.1 logged body, key not PEM", edit(body1, func(s map[string]any) { s["publicKey"] = "bm9wZQ==" }), nil, "invalid public key: failure decoding PEM"},
		{"0.0.2 logged body without payloadHash", edit(body2, func(s map[string]any) { delete(content(s), "payloadHash") }), nil, "missing payload digest"},
		{"0.0.2 logged body without hash", edit(body2, func(s map[string]any) { delete(content(s), "hash") }), nil, "missing envelope digest"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var pe types.ProposedEntry
			if err := json.Unmarshal(tt.entry, &pe); err != nil {
				t.Fatal(err)
			}
			c, err := intoto.New().CanonicalizeSearch(context.Background(), pe.APIVersion, pe.Spec)
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
	// The insert path still refuses logged bodies.
	for _, b := range [][]byte{body1, body2} {
		if _, err := canonicalize(t, b); err == nil || err.Error() != "entry not insertable into log: missing envelope content" {
			t.Fatalf("insert of a logged body: %v", err)
		}
	}
}

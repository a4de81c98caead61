package tsa_test

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/base64"
	"fmt"
	"math/big"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/sigstore/timestamp-authority/v2/pkg/verification"

	"github.com/tabularium/tabula/tsa"
)

// clock is a fixed time, whole seconds as GeneralizedTime carries them.
var clock = time.Date(2026, 5, 4, 3, 2, 1, 0, time.UTC)

func newAuthority(t testing.TB, key crypto.Signer) *tsa.Authority {
	t.Helper()
	if key == nil {
		var err error
		if key, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			t.Fatal(err)
		}
	}
	chain, err := tsa.GenerateChain(key, "tabula.test", clock)
	if err != nil {
		t.Fatal(err)
	}
	a, err := tsa.New(tsa.Config{Signer: key, Chain: chain, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func derRequest(t testing.TB, r timestamp.Request) []byte {
	t.Helper()
	b, err := r.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestRespond: every accepted request gets a response that
// timestamp-authority's own verifier accepts against the chain, for the
// artifact, with the nonce, policy and time asked, the signing certificate
// exactly when certReq was set; and that it refuses for another artifact or
// another nonce.
func TestRespond(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p384, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	authorities := map[string]*tsa.Authority{
		"p256": newAuthority(t, nil), "p384": newAuthority(t, p384), "rsa": newAuthority(t, rsaKey),
	}
	artifact := []byte("the signature being timestamped")
	nonce := new(big.Int).Lsh(big.NewInt(0x1234567), 100)
	tests := []struct {
		name    string
		key     string
		hash    crypto.Hash
		nonce   *big.Int
		certReq bool
		policy  asn1.ObjectIdentifier
		json    bool
	}{
		{name: "sha256 bare (sigstore-go's request)", key: "p256", hash: crypto.SHA256},
		{name: "sha256 nonce certReq", key: "p256", hash: crypto.SHA256, nonce: nonce, certReq: true},
		{name: "sha384 nonce", key: "p256", hash: crypto.SHA384, nonce: big.NewInt(1)},
		{name: "sha512 certReq policy", key: "p256", hash: crypto.SHA512, certReq: true, policy: tsa.DefaultPolicy},
		{name: "negative nonce", key: "p256", hash: crypto.SHA256, nonce: big.NewInt(-5)},
		{name: "p384 key", key: "p384", hash: crypto.SHA256, nonce: nonce, certReq: true},
		{name: "rsa key", key: "rsa", hash: crypto.SHA512, nonce: nonce, certReq: true},
		{name: "json sha256 nonce certReq", key: "p256", hash: crypto.SHA256, nonce: nonce, certReq: true, json: true},
		{name: "json sha512 policy", key: "p256", hash: crypto.SHA512, policy: tsa.DefaultPolicy, json: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := authorities[tt.key]
			h := tt.hash.New()
			h.Write(artifact)
			digest := h.Sum(nil)
			var ct string
			var body []byte
			if tt.json {
				ct = "application/json; charset=utf-8"
				body = fmt.Appendf(nil, `{"artifactHash":%q,"hashAlgorithm":%q,"certificates":%v`,
					base64.StdEncoding.EncodeToString(digest), strings.ToLower(strings.ReplaceAll(tt.hash.String(), "-", "")), tt.certReq)
				if tt.nonce != nil {
					body = fmt.Appendf(body, `,"nonce":%s`, tt.nonce)
				}
				if tt.policy != nil {
					body = fmt.Appendf(body, `,"tsaPolicyOID":%q`, tt.policy)
				}
				body = append(body, '}')
			} else {
				ct = tsa.QueryContentType
				body = derRequest(t, timestamp.Request{HashAlgorithm: tt.hash, HashedMessage: digest,
					Nonce: tt.nonce, Certificates: tt.certReq, TSAPolicyOID: tt.policy})
			}
			req, err := a.ParseRequest(ct, body)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := a.Respond(req)
			if err != nil {
				t.Fatal(err)
			}
			chain := a.Chain()
			opts := verification.VerifyOpts{
				OID:            tsa.DefaultPolicy,
				TSACertificate: chain[0],
				Roots:          chain[len(chain)-1:],
				Nonce:          tt.nonce,
			}
			ts, err := verification.VerifyTimestampResponse(resp, bytes.NewReader(artifact), opts)
			if err != nil {
				t.Fatalf("timestamp-authority's verifier refuses the response: %v", err)
			}
			if !ts.Time.Equal(clock) || ts.Accuracy != time.Second || !ts.Policy.Equal(tsa.DefaultPolicy) || ts.HashAlgorithm != tt.hash {
				t.Errorf("time %v accuracy %v policy %v hash %v", ts.Time, ts.Accuracy, ts.Policy, ts.HashAlgorithm)
			}
			if (tt.nonce == nil) != (ts.Nonce == nil) || (tt.nonce != nil && tt.nonce.Cmp(ts.Nonce) != 0) {
				t.Errorf("nonce %v, asked %v", ts.Nonce, tt.nonce)
			}
			wantCerts := 0
			if tt.certReq {
				wantCerts = 1
			}
			if len(ts.Certificates) != wantCerts || (wantCerts == 1 && !ts.Certificates[0].Equal(chain[0])) {
				t.Errorf("%d certificates in the response, want %d (the signing certificate)", len(ts.Certificates), wantCerts)
			}
			if _, err := verification.VerifyTimestampResponse(resp, strings.NewReader("another artifact"), opts); err == nil {
				t.Error("the response verifies for another artifact")
			}
			other := opts
			other.Nonce = big.NewInt(42)
			if _, err := verification.VerifyTimestampResponse(resp, bytes.NewReader(artifact), other); err == nil {
				t.Error("the response verifies with another nonce")
			}
			other = opts
			other.OID = asn1.ObjectIdentifier{1, 2, 3}
			if _, err := verification.VerifyTimestampResponse(resp, bytes.NewReader(artifact), other); err == nil {
				t.Error("the response verifies for another policy")
			}
		})
	}
}

// TestPolicyConfigured: an authority with its own policy stamps it and
// accepts requests for it, and refuses the default one.
func TestPolicyConfigured(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := tsa.GenerateChain(key, "tabula.test", clock)
	if err != nil {
		t.Fatal(err)
	}
	policy := asn1.ObjectIdentifier{1, 3, 6, 1, 4, 1, 99999, 1}
	a, err := tsa.New(tsa.Config{Signer: key, Chain: chain, Policy: policy, Now: func() time.Time { return clock }})
	if err != nil {
		t.Fatal(err)
	}
	digest := make([]byte, 32)
	if _, err := a.ParseRequest(tsa.QueryContentType, derRequest(t, timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest, TSAPolicyOID: tsa.DefaultPolicy})); err == nil {
		t.Fatal("the default policy is accepted by a TSA of another")
	}
	req, err := a.ParseRequest(tsa.QueryContentType, derRequest(t, timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest, TSAPolicyOID: policy}))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := a.Respond(req)
	if err != nil {
		t.Fatal(err)
	}
	ts, err := timestamp.ParseResponse(resp)
	if err != nil {
		t.Fatal(err)
	}
	if !ts.Policy.Equal(policy) {
		t.Fatalf("policy %v, want %v", ts.Policy, policy)
	}
}

// der marshals v, for requests the library will not build.
func der(t testing.TB, v any) []byte {
	t.Helper()
	b, err := asn1.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// rawRequest is a TimeStampReq with any hash algorithm and extensions.
type rawRequest struct {
	Version        int
	MessageImprint struct {
		HashAlgorithm pkix.AlgorithmIdentifier
		HashedMessage []byte
	}
	ReqPolicy  asn1.ObjectIdentifier `asn1:"optional"`
	Nonce      *big.Int              `asn1:"optional"`
	CertReq    bool                  `asn1:"optional,default:false"`
	Extensions []pkix.Extension      `asn1:"tag:0,optional"`
}

func rawDER(t testing.TB, alg asn1.ObjectIdentifier, digest []byte, ext []pkix.Extension) []byte {
	var r rawRequest
	r.Version = 1
	r.MessageImprint.HashAlgorithm = pkix.AlgorithmIdentifier{Algorithm: alg, Parameters: asn1.NullRawValue}
	r.MessageImprint.HashedMessage = digest
	r.Extensions = ext
	return der(t, r)
}

// TestParseRequestRefuses: hostile and unsupported requests get
// timestamp-authority's status and message, followed by what was wrong.
func TestParseRequestRefuses(t *testing.T) {
	a := newAuthority(t, nil)
	d32, d20 := make([]byte, 32), make([]byte, 20)
	good := derRequest(t, timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: d32, Nonce: big.NewInt(7)})
	oidSHA256 := asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidMD5 := asn1.ObjectIdentifier{1, 2, 840, 113549, 2, 5}
	oidSHA3 := asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 8}
	b64 := base64.StdEncoding.EncodeToString
	tests := []struct {
		name, contentType string
		body              []byte
		status            int
		message           string // the start of the message
	}{
		{"garbage", tsa.QueryContentType, []byte("not DER at all"), 400, "Error generating timestamp response: parsing the DER TimeStampReq"},
		{"empty", tsa.QueryContentType, nil, 400, "Error generating timestamp response: parsing the DER TimeStampReq"},
		{"truncated", tsa.QueryContentType, good[:len(good)-3], 400, "Error generating timestamp response: parsing the DER TimeStampReq"},
		{"trailing data", tsa.QueryContentType, append(append([]byte{}, good...), 0), 400, "Error generating timestamp response: parsing the DER TimeStampReq: trailing data"},
		{"a JSON body labelled DER", tsa.QueryContentType, []byte(`{"artifactHash":""}`), 400, "Error generating timestamp response: parsing the DER TimeStampReq"},
		{"no digest", tsa.QueryContentType, rawDER(t, oidSHA256, nil, nil), 400, "Error generating timestamp response: parsing the DER TimeStampReq: Time-Stamp request contains no hashed message"},
		{"sha1", tsa.QueryContentType, derRequest(t, timestamp.Request{HashAlgorithm: crypto.SHA1, HashedMessage: d20}), 400, "Weak hash algorithm in timestamp request: SHA-1 is refused"},
		{"md5", tsa.QueryContentType, rawDER(t, oidMD5, make([]byte, 16), nil), 400, "Error generating timestamp response: unsupported hash algorithm"},
		{"sha3-256", tsa.QueryContentType, rawDER(t, oidSHA3, d32, nil), 400, "Error generating timestamp response: unsupported hash algorithm"},
		{"short digest", tsa.QueryContentType, derRequest(t, timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: d20}), 400, "Message digest has incorrect length for specified algorithm: SHA-256 digest of 20 bytes, expected 32"},
		{"long digest", tsa.QueryContentType, derRequest(t, timestamp.Request{HashAlgorithm: crypto.SHA384, HashedMessage: make([]byte, 64)}), 400, "Message digest has incorrect length for specified algorithm"},
		{"other policy", tsa.QueryContentType, derRequest(t, timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: d32, TSAPolicyOID: asn1.ObjectIdentifier{1, 2, 3}}), 400, "unaccepted policy: requested TSA policy is not supported by the TSA: policy 1.2.3 asked"},
		{"extension", tsa.QueryContentType, rawDER(t, oidSHA256, d32, []pkix.Extension{{Id: asn1.ObjectIdentifier{1, 2, 3, 4}, Value: []byte{5, 0}}}), 400, "unaccepted extension: requested extensions are not supported by the TSA"},
		{"text/plain", "text/plain", good, 415, `unsupported media type "text/plain", only [application/json application/timestamp-query] are allowed`},
		{"no content type", "", good, 415, `unsupported media type "application/octet-stream"`},
		{"octet-stream", "application/octet-stream", good, 415, `unsupported media type "application/octet-stream"`},
		{"timestamp-reply", "application/timestamp-reply", good, 415, `unsupported media type "application/timestamp-reply"`},
		{"multipart naming DER", "multipart/form-data; boundary=application/timestamp-query", good, 415, `unsupported media type "multipart/form-data`},
		{"bad media type", "application/timestamp-query; ;", good, 415, "unsupported media type"},
		{"json garbage", "application/json", []byte("{"), 400, "Error generating timestamp response: parsing the JSON request"},
		{"json trailing", "application/json", []byte(`{"hashAlgorithm":"sha256"} x`), 400, "Error generating timestamp response: parsing the JSON request"},
		{"json too large", "application/json", []byte(`{"nonce":` + strings.Repeat("9", 2000) + `}`), 400, "timestamp request is too large: a JSON request of 2010 bytes; at most 1024"},
		{"json sha1", "application/json", fmt.Appendf(nil, `{"artifactHash":%q,"hashAlgorithm":"SHA1"}`, b64(d20)), 400, "Weak hash algorithm in timestamp request"},
		{"json md5", "application/json", []byte(`{"artifactHash":"AAAA","hashAlgorithm":"md5"}`), 400, `Error generating timestamp response: unsupported hash algorithm "md5"`},
		{"json no algorithm", "application/json", fmt.Appendf(nil, `{"artifactHash":%q}`, b64(d32)), 400, `Error generating timestamp response: unsupported hash algorithm ""`},
		{"json bad base64", "application/json", []byte(`{"artifactHash":"!!","hashAlgorithm":"sha256"}`), 400, "Error generating timestamp response: artifactHash is not base64"},
		{"json short digest", "application/json", fmt.Appendf(nil, `{"artifactHash":%q,"hashAlgorithm":"sha256"}`, b64(d20)), 400, "Message digest has incorrect length"},
		{"json bad policy", "application/json", fmt.Appendf(nil, `{"artifactHash":%q,"hashAlgorithm":"sha256","tsaPolicyOID":"1.x"}`, b64(d32)), 400, "OID should be comprised of at most 128 components: policy OID component"},
		{"json long policy", "application/json", fmt.Appendf(nil, `{"artifactHash":%q,"hashAlgorithm":"sha256","tsaPolicyOID":%q}`, b64(d32), strings.Repeat("1.", 200)+"1"), 400, "OID should be comprised of at most 128 components"},
		{"json other policy", "application/json", fmt.Appendf(nil, `{"artifactHash":%q,"hashAlgorithm":"sha256","tsaPolicyOID":"1.2.3"}`, b64(d32)), 400, "unaccepted policy"},
		{"json nonce string", "application/json", fmt.Appendf(nil, `{"artifactHash":%q,"hashAlgorithm":"sha256","nonce":"5"}`, b64(d32)), 400, "Error generating timestamp response: parsing the JSON request"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := a.ParseRequest(tt.contentType, tt.body)
			re, ok := err.(*tsa.RequestError)
			if !ok {
				t.Fatalf("error %v (%T), want a *tsa.RequestError", err, err)
			}
			if re.Status != tt.status || !strings.HasPrefix(re.Error(), tt.message) {
				t.Fatalf("%d %q, want %d %q…", re.Status, re.Error(), tt.status, tt.message)
			}
		})
	}
	if _, err := a.ParseRequest(tsa.QueryContentType+"; charset=binary", good); err != nil {
		t.Fatalf("a media type with parameters: %v", err)
	}
}

package api_test

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/json"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/digitorus/timestamp"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/timestamp-authority/v2/pkg/verification"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/tsa"
)

// newTSA is a timestamp authority with a fresh key and chain.
func newTSA(t testing.TB) *tsa.Authority {
	t.Helper()
	key, err := signer.Generate(signer.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	chain, err := tsa.GenerateChain(key, "tabula.test", time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a, err := tsa.New(tsa.Config{Signer: key, Chain: chain})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// post sends body with the given Content-Type.
func (s *server) post(path, contentType string, body io.Reader) (*http.Response, []byte) {
	s.t.Helper()
	req, err := http.NewRequest("POST", s.URL+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := s.Client().Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		s.t.Fatal(err)
	}
	return resp, b
}

// certChain fetches the TSA chain as a client does.
func (s *server) certChain() (*root.SigstoreTimestampingAuthority, []byte) {
	s.t.Helper()
	resp, b := s.do("GET", "/api/v1/timestamp/certchain", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/pem-certificate-chain" ||
		resp.Header.Get("Cache-Control") != "max-age=86400, immutable" {
		s.t.Fatalf("certchain: %d %v", resp.StatusCode, resp.Header)
	}
	chain, err := tsa.ParseChainPEM(b)
	if err != nil {
		s.t.Fatal(err)
	}
	if len(chain) != 2 || !chain[1].IsCA || chain[0].IsCA {
		s.t.Fatalf("certchain: %d certificates, want the signing one then the root", len(chain))
	}
	return &root.SigstoreTimestampingAuthority{Root: chain[1], Leaf: chain[0], URI: s.URL + "/api/v1/timestamp"}, b
}

// TestTimestamp: sigstore-go's TSA client gets a timestamp through the real
// HTTP server that sigstore-go's verifier accepts with the served chain (a
// trusted root's timestampAuthorities entry); a request with a nonce and
// certReq gets them honoured; openssl ts -verify accepts an answer to
// openssl's own request; the counters count.
func TestTimestamp(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newServerWith(t, engines[0], func(c *api.Config) { c.Registerer = reg })
	authority, chainPEM := s.certChain()

	// The request sigstore-go's TSA client (sign.TimestampAuthority) sends:
	// SHA-256 of the signature, no nonce, no certReq. (Its client itself
	// would pull OIDC libraries into this module; interop/ holds such tests.)
	signature := []byte("a signature to timestamp")
	digest := sha256.Sum256(signature)
	req, err := (&timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest[:]}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	resp, signed := s.post("/api/v1/timestamp", "application/timestamp-query", bytes.NewReader(req))
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, signed)
	}
	got, err := authority.Verify(signed, signature)
	if err != nil {
		t.Fatalf("sigstore-go's verifier refuses the timestamp: %v", err)
	}
	if d := time.Since(got.Time); d < -time.Minute || d > time.Minute {
		t.Fatalf("timestamp time %v", got.Time)
	}
	if _, err := authority.Verify(signed, []byte("another signature")); err == nil {
		t.Fatal("the timestamp verifies for another signature")
	}
	other := newTSA(t)
	if _, err := (&root.SigstoreTimestampingAuthority{Root: other.Chain()[1], Leaf: other.Chain()[0]}).Verify(signed, signature); err == nil {
		t.Fatal("the timestamp verifies with another TSA's chain")
	}

	// Nonce and certReq, checked with timestamp-authority's verifier.
	for _, certReq := range []bool{false, true} {
		nonce := big.NewInt(time.Now().UnixNano())
		tsq, err := (&timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: digest[:], Nonce: nonce, Certificates: certReq}).Marshal()
		if err != nil {
			t.Fatal(err)
		}
		resp, b := s.post("/api/v1/timestamp", "application/timestamp-query", bytes.NewReader(tsq))
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/timestamp-reply" ||
			!strings.Contains(resp.Header.Get("Cache-Control"), "no-cache") {
			t.Fatalf("certReq %v: %d %v %s", certReq, resp.StatusCode, resp.Header, b)
		}
		ts, err := verification.VerifyTimestampResponse(b, bytes.NewReader(signature), verification.VerifyOpts{
			Roots: []*x509.Certificate{authority.Root}, TSACertificate: authority.Leaf, Nonce: nonce, OID: tsa.DefaultPolicy,
		})
		if err != nil {
			t.Fatalf("certReq %v: timestamp-authority's verifier: %v", certReq, err)
		}
		if certReq != (len(ts.Certificates) == 1) {
			t.Fatalf("certReq %v: %d certificates in the answer", certReq, len(ts.Certificates))
		}
		if _, err := verification.VerifyTimestampResponse(b, bytes.NewReader(signature), verification.VerifyOpts{
			Roots: []*x509.Certificate{authority.Root}, TSACertificate: authority.Leaf, Nonce: big.NewInt(1),
		}); err == nil {
			t.Fatal("the answer verifies with another nonce")
		}
	}

	// openssl, a client and verifier of its own.
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Fatal("openssl is needed for this test")
	}
	dir := t.TempDir()
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("artifact", []byte("artifact for openssl"))
	write("root.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: authority.Root.Raw}))
	write("chain.pem", chainPEM)
	run := func(args ...string) {
		t.Helper()
		cmd := exec.Command("openssl", args...)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("openssl %v: %v\n%s", args, err, out)
		}
	}
	run("ts", "-query", "-data", "artifact", "-sha384", "-cert", "-out", "q.tsq")
	q, err := os.ReadFile(filepath.Join(dir, "q.tsq"))
	if err != nil {
		t.Fatal(err)
	}
	resp, b := s.post("/api/v1/timestamp", "application/timestamp-query", bytes.NewReader(q))
	if resp.StatusCode != 200 {
		t.Fatalf("openssl's request: %d %s", resp.StatusCode, b)
	}
	write("r.tsr", b)
	run("ts", "-verify", "-in", "r.tsr", "-queryfile", "q.tsq", "-CAfile", "root.pem", "-untrusted", "chain.pem")

	if n := timestamps(t, reg, "issued"); n != 4 {
		t.Fatalf("%v timestamps counted as issued, want 4", n)
	}
}

// timestamps is tabula_tsa_timestamps_total{result}.
func timestamps(t *testing.T, reg *prometheus.Registry, result string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != "tabula_tsa_timestamps_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "result" && l.GetValue() == result {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestTimestampHostile: bad requests get timestamp-authority's statuses, its
// error shape and a message that says what was wrong; never a 500; each is
// counted as refused.
func TestTimestampHostile(t *testing.T) {
	reg := prometheus.NewRegistry()
	s := newServerWith(t, engines[0], func(c *api.Config) { c.Registerer = reg })
	good, err := (&timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: make([]byte, 32), Nonce: big.NewInt(3)}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	sha1, err := (&timestamp.Request{HashAlgorithm: crypto.SHA1, HashedMessage: make([]byte, 20)}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	// A SHA3-256 request, which the library cannot build.
	type imprint struct {
		HashAlgorithm pkix.AlgorithmIdentifier
		HashedMessage []byte
	}
	sha3, err := asn1.Marshal(struct {
		Version        int
		MessageImprint imprint
	}{1, imprint{pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 8}, Parameters: asn1.NullRawValue}, make([]byte, 32)}})
	if err != nil {
		t.Fatal(err)
	}
	oversize := bytes.Repeat([]byte{0x30}, tsa.MaxRequestBody+1)
	tests := []struct {
		name, contentType string
		body              io.Reader
		status            int
		message           string
	}{
		{"garbage", "application/timestamp-query", strings.NewReader("garbage"), 400, "Error generating timestamp response: parsing the DER TimeStampReq: the body is not a DER TimeStampReq (ASN.1 structure mismatch)"},
		{"empty", "application/timestamp-query", nil, 400, "Error generating timestamp response: parsing the DER TimeStampReq"},
		{"truncated DER", "application/timestamp-query", bytes.NewReader(good[:len(good)/2]), 400, "Error generating timestamp response: parsing the DER TimeStampReq"},
		{"wrong content type", "text/plain", bytes.NewReader(good), 415, `unsupported media type "text/plain", only [application/json application/timestamp-query] are allowed`},
		{"no content type", "", bytes.NewReader(good), 415, `unsupported media type "application/octet-stream"`},
		{"sha1", "application/timestamp-query", bytes.NewReader(sha1), 400, "Weak hash algorithm in timestamp request: SHA-1 is refused; use SHA-256, SHA-384 or SHA-512"},
		{"unsupported hash", "application/timestamp-query", bytes.NewReader(sha3), 400, "Error generating timestamp response: unsupported hash algorithm (supported: SHA-256, SHA-384, SHA-512)"},
		{"json unsupported hash", "application/json", strings.NewReader(`{"artifactHash":"AAAA","hashAlgorithm":"md5"}`), 400, `Error generating timestamp response: unsupported hash algorithm "md5"`},
		{"json too large", "application/json", strings.NewReader(`{"nonce":` + strings.Repeat("1", 1100) + `}`), 400, "timestamp request is too large"},
		{"oversize", "application/timestamp-query", bytes.NewReader(oversize), 413, "Request Entity Too Large. Limit set to 1048576"},
		{"oversize, chunked", "application/timestamp-query", io.MultiReader(bytes.NewReader(oversize)), 413, "Request Entity Too Large. Limit set to 1048576"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := s.post("/api/v1/timestamp", tt.contentType, tt.body)
			var e models.Error
			if err := json.Unmarshal(b, &e); err != nil || resp.Header.Get("Content-Type") != "application/json" {
				t.Fatalf("%d %s: not the JSON error shape: %v", resp.StatusCode, b, err)
			}
			if resp.StatusCode != tt.status || e.Code != tt.status || !strings.HasPrefix(e.Message, tt.message) {
				t.Fatalf("%d %+v, want %d %q…", resp.StatusCode, e, tt.status, tt.message)
			}
		})
	}
	if n := timestamps(t, reg, "refused"); n != float64(len(tests)) {
		t.Fatalf("%v requests counted as refused, want %d", n, len(tests))
	}
	for _, rq := range []struct{ method, path string }{{"GET", "/api/v1/timestamp"}, {"POST", "/api/v1/timestamp/certchain"}} {
		if resp, b := s.do(rq.method, rq.path, nil); resp.StatusCode != 405 {
			t.Fatalf("%s %s: %d %s", rq.method, rq.path, resp.StatusCode, b)
		}
	}
}

// TestTimestampOff: without a TSA the paths are not served.
func TestTimestampOff(t *testing.T) {
	s := newServerWith(t, engines[0], func(c *api.Config) { c.TSA = nil })
	for _, rq := range []struct{ method, path string }{{"POST", "/api/v1/timestamp"}, {"GET", "/api/v1/timestamp/certchain"}} {
		if resp, b := s.do(rq.method, rq.path, nil); resp.StatusCode != 404 {
			t.Fatalf("%s %s: %d %s", rq.method, rq.path, resp.StatusCode, b)
		}
	}
}

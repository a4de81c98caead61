package api_test

import (
	"bytes"
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/digitorus/timestamp"
	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/internal/testentry"
)

func loadSpec(t *testing.T) *openapi3.T {
	t.Helper()
	doc, err := openapi3.NewLoader().LoadFromFile("../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("openapi.yaml is not valid: %v", err)
	}
	return doc
}

// TestRoutesMatchSpec: the router serves exactly the operations
// openapi.yaml describes.
func TestRoutesMatchSpec(t *testing.T) {
	doc := loadSpec(t)
	var spec []string
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			spec = append(spec, method+" "+path)
		}
	}
	s := newServer(t, engines[0], 0)
	routes, err := api.Routes(s.Config.Handler)
	if err != nil {
		t.Fatal(err)
	}
	var served []string
	for _, r := range routes {
		path := strings.ReplaceAll(r[1], "/*", "/{path}")
		served = append(served, r[0]+" "+path)
	}
	slices.Sort(spec)
	slices.Sort(served)
	if !slices.Equal(spec, served) {
		t.Fatalf("router and openapi.yaml differ:\nrouter: %v\nspec:   %v", served, spec)
	}
}

// TestResponsesMatchSpec sends requests of every kind to the real server and
// validates each response (status, headers, body) against openapi.yaml.
func TestResponsesMatchSpec(t *testing.T) {
	openapi3filter.RegisterBodyDecoder("application/x-pem-file", func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		b, err := io.ReadAll(r)
		return string(b), err
	})
	for _, ct := range []string{"application/pem-certificate-chain", "application/timestamp-reply"} {
		openapi3filter.RegisterBodyDecoder(ct, func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
			b, err := io.ReadAll(r)
			return string(b), err
		})
	}
	tsq, err := (&timestamp.Request{HashAlgorithm: crypto.SHA256, HashedMessage: make([]byte, 32), Nonce: big.NewInt(9), Certificates: true}).Marshal()
	if err != nil {
		t.Fatal(err)
	}
	doc := loadSpec(t)
	doc.Servers = nil // match any host
	router, err := legacy.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}
	s := newServer(t, engines[0], 1<<16)
	sgn, err := testentry.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	entry := newEntry(t, sgn, "openapi")
	id := s.upload(entry)
	s.upload(newEntry(t, sgn, "openapi 2"))
	logs := "/logs/" + s.logInfo().TreeID

	requests := []struct{ method, path, body, contentType string }{
		{"POST", "/api/v1/log/entries", string(newEntry(t, sgn, "openapi 3")), ""},
		{"POST", "/api/v1/log/entries", string(entry), ""},
		{"POST", "/api/v1/log/entries", `{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{}}`, ""},
		{"POST", "/api/v1/log/entries", `{"kind":"nope","apiVersion":"0.0.1","spec":{}}`, ""},
		{"GET", "/api/v1/log/entries?logIndex=0", "", ""},
		{"GET", "/api/v1/log/entries?logIndex=1000", "", ""},
		{"GET", "/api/v1/log/entries/" + id, "", ""},
		{"GET", "/api/v1/log/entries/" + strings.Repeat("a", 64), "", ""},
		{"POST", "/api/v1/log/entries/retrieve", `{"logIndexes":[0,1]}`, ""},
		{"POST", "/api/v1/log/entries/retrieve", fmt.Sprintf(`{"entryUUIDs":[%q]}`, id), ""},
		{"POST", "/api/v1/index/retrieve", `{"publicKey":{"format":"x509","content":"` + b64(sgn.PublicKeyPEM()) + `"}}`, ""},
		{"POST", "/api/v1/index/retrieve", `{"email":"nobody@example.com"}`, ""},
		{"GET", "/api/v1/log", "", ""},
		{"GET", "/api/v1/log/publicKey", "", ""},
		{"GET", "/api/v1/log/proof?firstSize=1&lastSize=3", "", ""},
		{"GET", "/api/v1/log/proof?firstSize=3&lastSize=1", "", ""},
		{"GET", "/checkpoint", "", ""},
		{"GET", "/tile/0/000.p/3", "", ""},
		{"GET", "/tile/entries/000.p/3", "", ""},
		{"GET", "/tile/0/000", "", ""},
		{"GET", "/logs", "", ""},
		{"POST", "/logs/search", `{"email":"nobody@example.com"}`, ""},
		{"POST", "/logs/search", `{}`, ""},
		{"POST", "/api/v2/log/entries", `{"dsseRequestV002":{}}`, ""},
		{"GET", "/api/v2/checkpoint", "", ""},
		{"GET", "/api/v2/tile/0/000", "", ""},
		{"GET", logs + "/checkpoint", "", ""},
		{"GET", "/logs/1/checkpoint", "", ""},
		{"GET", logs + "/tile/0/000.p/3", "", ""},
		{"GET", logs + "/tile/entries/000.p/3", "", ""},
		{"GET", logs + "/tile/0/001", "", ""},
		{"GET", logs + "/tile/x", "", ""},
		{"GET", logs + "/entries/1", "", ""},
		{"GET", logs + "/entries/2", "", ""},
		{"GET", logs + "/entries/x", "", ""},
		{"GET", "/logs/1/entries/0", "", ""},
		{"GET", "/healthz", "", ""},
		{"GET", "/readyz", "", ""},
		{"GET", "/ping", "", ""},
		{"POST", "/api/v1/timestamp", string(tsq), "application/timestamp-query"},
		{"POST", "/api/v1/timestamp", "garbage", "application/timestamp-query"},
		{"POST", "/api/v1/timestamp", string(tsq), "text/plain"},
		{"POST", "/api/v1/timestamp", `{"artifactHash":"` + b64(make([]byte, 32)) + `","hashAlgorithm":"sha256","nonce":5}`, "application/json"},
		{"GET", "/api/v1/timestamp/certchain", "", ""},
	}
	for _, rq := range requests {
		t.Run(rq.method+" "+rq.path, func(t *testing.T) {
			var body io.Reader
			if rq.body != "" {
				body = strings.NewReader(rq.body)
			}
			req, err := http.NewRequest(rq.method, s.URL+rq.path, body)
			if err != nil {
				t.Fatal(err)
			}
			if rq.body != "" {
				req.Header.Set("Content-Type", "application/json")
			}
			if rq.contentType != "" {
				req.Header.Set("Content-Type", rq.contentType)
			}
			// OpenAPI path parameters cannot span segments: a tile path is
			// looked up as /tile/{path} with the rest as the parameter.
			find := req
			if i := strings.Index(rq.path, "/tile/"); i >= 0 {
				find = req.Clone(req.Context())
				find.URL.Path = rq.path[:i] + "/tile/" + strings.ReplaceAll(rq.path[i+len("/tile/"):], "/", "_")
			}
			route, params, err := router.FindRoute(find)
			if err != nil {
				t.Fatalf("no operation in openapi.yaml for %s %s: %v", rq.method, rq.path, err)
			}
			resp, err := s.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(resp.Body)
			if err != nil {
				t.Fatal(err)
			}
			in := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
				Options: &openapi3filter.Options{ExcludeRequestBody: true}}
			out := &openapi3filter.ResponseValidationInput{
				RequestValidationInput: in,
				Status:                 resp.StatusCode,
				Header:                 resp.Header,
				Body:                   io.NopCloser(bytes.NewReader(b)),
				Options:                &openapi3filter.Options{IncludeResponseStatus: true},
			}
			if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
				t.Fatalf("response %d %s does not match openapi.yaml: %v", resp.StatusCode, b, err)
			}
		})
	}
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// TestProposedEntriesMatchSpec: every golden request of every entry kind
// (types/*/testdata) is a ProposedEntry of openapi.yaml, and requests of a
// wrong shape are not.
func TestProposedEntriesMatchSpec(t *testing.T) {
	doc := loadSpec(t)
	schema := doc.Components.Schemas["ProposedEntry"]
	if schema == nil || schema.Value == nil {
		t.Fatal("openapi.yaml has no ProposedEntry schema")
	}
	var files []string
	for _, pattern := range []string{
		"../types/*/testdata/*request.json",
		"../types/*/testdata/golden/*.request.json",
	} {
		m, err := filepath.Glob(pattern)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, m...)
	}
	kinds := map[string]bool{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v map[string]any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		// Requests of the types' tests that must fail the types' own checks
		// may still be well-shaped; only the kinds' good requests are here.
		if strings.Contains(f, "bad") || strings.Contains(f, "missing") {
			continue
		}
		kinds[fmt.Sprint(v["kind"], " ", v["apiVersion"])] = true
		if err := schema.Value.VisitJSON(v); err != nil {
			t.Errorf("%s is not a ProposedEntry of openapi.yaml: %v", f, err)
		}
	}
	for _, want := range []string{"hashedrekord 0.0.1", "dsse 0.0.1", "intoto 0.0.1", "intoto 0.0.2", "rekord 0.0.1"} {
		if !kinds[want] {
			t.Errorf("no golden request of %s found to check against openapi.yaml (found %v)", want, kinds)
		}
	}

	bad := []struct{ name, body string }{
		{"unknown kind", `{"kind":"nope","apiVersion":"0.0.1","spec":{}}`},
		{"unknown version", `{"kind":"hashedrekord","apiVersion":"0.0.2","spec":{"signature":{},"data":{}}}`},
		{"hashedrekord without data", `{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{"signature":{}}}`},
		{"hashedrekord with a numeric signature", `{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{"signature":{"content":5},"data":{}}}`},
		{"hashedrekord md5", `{"kind":"hashedrekord","apiVersion":"0.0.1","spec":{"signature":{},"data":{"hash":{"algorithm":"md5","value":"00"}}}}`},
		{"dsse without verifiers", `{"kind":"dsse","apiVersion":"0.0.1","spec":{"proposedContent":{"envelope":"{}","verifiers":[]}}}`},
		{"intoto 0.0.2 without signatures", `{"kind":"intoto","apiVersion":"0.0.2","spec":{"content":{"envelope":{"payloadType":"x","signatures":[]}}}}`},
		{"intoto 0.0.1 without key", `{"kind":"intoto","apiVersion":"0.0.1","spec":{"content":{"envelope":"{}"}}}`},
		{"rekord in an unknown format", `{"kind":"rekord","apiVersion":"0.0.1","spec":{"signature":{"format":"gpg","content":"","publicKey":{"content":""}},"data":{}}}`},
		{"no spec", `{"kind":"rekord","apiVersion":"0.0.1"}`},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			var v any
			if err := json.Unmarshal([]byte(tt.body), &v); err != nil {
				t.Fatal(err)
			}
			if err := schema.Value.VisitJSON(v); err == nil {
				t.Fatalf("openapi.yaml accepts %s", tt.body)
			}
		})
	}
}

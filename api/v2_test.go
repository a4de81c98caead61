package api_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"

	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/internal/logsettest"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/signer"
)

// TestV2Write posts Rekor v2 entries through the real HTTP server on both
// engines: a 201 carries a TransparencyLogEntry whose inclusion proof
// verifies against the checkpoint it carries, signed by the v2 log's
// Ed25519 key under its origin with its C2SP key ID; the same request again
// is a 409 with X-Log-Index; bad requests get 400 in grpc-gateway's shape;
// the entries are in the tiles under /api/v2/.
func TestV2Write(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			k, err := signer.Generate(signer.Ed25519)
			if err != nil {
				t.Fatal(err)
			}
			key, err := signer.New(k)
			if err != nil {
				t.Fatal(err)
			}
			s := newServerWith(t, e, func(c *api.Config) {
				store := e.Open(t)
				c.Logs = logsettest.Open(t, store)
				c.V2Logs = logsettest.OpenV2(t, store, key)
			})
			sgn, err := testentry.NewSigner()
			if err != nil {
				t.Fatal(err)
			}
			keyID, err := checkpoint.KeyIDC2SP.KeyID(logsettest.V2Origin, key.Public())
			if err != nil {
				t.Fatal(err)
			}

			var first []byte
			for i := range 3 {
				req, err := sgn.HashedRekordV2([]byte("v2 artifact " + strconv.Itoa(i)))
				if err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					first = req
				}
				resp, body := s.do(http.MethodPost, "/api/v2/log/entries", req)
				if resp.StatusCode != http.StatusCreated {
					t.Fatalf("POST %d: %d %s", i, resp.StatusCode, body)
				}
				var tle protorekor.TransparencyLogEntry
				if err := protojson.Unmarshal(body, &tle); err != nil {
					t.Fatalf("the answer is no TransparencyLogEntry: %v\n%s", err, body)
				}
				if tle.LogIndex != int64(i) || !bytes.Equal(tle.LogId.GetKeyId(), keyID[:]) ||
					tle.KindVersion.GetKind() != "hashedrekord" || tle.KindVersion.GetVersion() != "0.0.2" ||
					tle.IntegratedTime != 0 || tle.InclusionPromise != nil {
					t.Fatalf("entry %d: %v", i, &tle)
				}
				ip := tle.InclusionProof
				cp, err := checkpoint.Verify([]byte(ip.GetCheckpoint().GetEnvelope()), logsettest.V2Origin, logsettest.V2Origin,
					checkpoint.KeyIDC2SP, key.Public())
				if err != nil || cp.Size != uint64(ip.TreeSize) || !bytes.Equal(cp.Root[:], ip.RootHash) {
					t.Fatalf("entry %d: checkpoint %v (size %d, proof size %d)", i, err, cp.Size, ip.TreeSize)
				}
				leaf := rfc6962.DefaultHasher.HashLeaf(tle.CanonicalizedBody)
				if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(ip.LogIndex), uint64(ip.TreeSize), leaf, ip.Hashes, ip.RootHash); err != nil {
					t.Fatalf("entry %d: inclusion proof: %v", i, err)
				}
			}

			// The same request: 409, X-Log-Index.
			resp, body := s.do(http.MethodPost, "/api/v2/log/entries", first)
			if resp.StatusCode != http.StatusConflict || resp.Header.Get("X-Log-Index") != "0" ||
				!strings.Contains(string(body), `"code":6`) {
				t.Fatalf("duplicate: %d %v %s", resp.StatusCode, resp.Header, body)
			}

			bad := []struct {
				name, body, msg string
			}{
				{"not JSON", `{`, "unexpected EOF"},
				{"an unknown field", `{"hashedRekordRequestV002":{},"x":1}`, "unknown field"},
				{"DSSE", `{"dsseRequestV002":{}}`, "invalid type, must be hashedrekord"},
				{"no signature", `{"hashedRekordRequestV002":{"digest":"AAAA"}}`, "invalid hashedrekord request"},
			}
			for _, tt := range bad {
				resp, body := s.do(http.MethodPost, "/api/v2/log/entries", []byte(tt.body))
				var got struct {
					Code    int
					Message string
					Details []any
				}
				if resp.StatusCode != http.StatusBadRequest || json.Unmarshal(body, &got) != nil || got.Code != 3 ||
					!strings.Contains(got.Message, tt.msg) || got.Details == nil {
					t.Errorf("%s: %d %s; want 400 code 3 with %q", tt.name, resp.StatusCode, body, tt.msg)
				}
			}

			// The entries are in the v2 log's tiles.
			resp, body = s.do(http.MethodGet, "/api/v2/checkpoint", nil)
			if resp.StatusCode != http.StatusOK || !bytes.HasPrefix(body, []byte(logsettest.V2Origin+"\n3\n")) {
				t.Fatalf("/api/v2/checkpoint: %d %q", resp.StatusCode, body)
			}
			resp, body = s.do(http.MethodGet, "/api/v2/tile/entries/000.p/3", nil)
			if resp.StatusCode != http.StatusOK || len(body) < 3*2 {
				t.Fatalf("/api/v2/tile/entries/000.p/3: %d, %d bytes", resp.StatusCode, len(body))
			}

			// Found by POST /logs/search (Rekor v2 has no search), not by
			// the v1 search, whose answers are v1 entries.
			digest := sha256.Sum256([]byte("v2 artifact 1"))
			query := []byte(`{"hash":"sha256:` + hex.EncodeToString(digest[:]) + `"}`)
			resp, body = s.do(http.MethodPost, "/logs/search", query)
			var found []struct {
				TreeID, API, UUID string
				Index             uint64
			}
			if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &found) != nil || len(found) != 1 ||
				found[0].API != "v2" || found[0].Index != 1 || len(found[0].UUID) != 80 {
				t.Fatalf("POST /logs/search: %d %s", resp.StatusCode, body)
			}
			if resp, body := s.do(http.MethodPost, "/api/v1/index/retrieve", query); resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "[]" {
				t.Fatalf("the v1 search finds a v2 entry: %d %s", resp.StatusCode, body)
			}
		})
	}
}

// TestV2Hostile sends the v2 door requests it must refuse, through the real
// HTTP server: each gets its status and gRPC code with a message that says
// what was wrong, and nothing is logged.
func TestV2Hostile(t *testing.T) {
	e := engines[0]
	s := newServerWith(t, e, func(c *api.Config) {
		store := e.Open(t)
		c.Logs = logsettest.Open(t, store)
		c.V2Logs = logsettest.OpenV2(t, store, nil)
	})
	sgn, err := testentry.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	good, err := sgn.HashedRekordV2([]byte("hostile v2"))
	if err != nil {
		t.Fatal(err)
	}
	// edit returns good with one field of hashedRekordRequestV002 changed.
	edit := func(f func(req map[string]any)) string {
		var m map[string]any
		if err := json.Unmarshal(good, &m); err != nil {
			t.Fatal(err)
		}
		f(m["hashedRekordRequestV002"].(map[string]any))
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	verifier := func(req map[string]any) map[string]any {
		return req["signature"].(map[string]any)["verifier"].(map[string]any)
	}
	tests := []struct {
		name, body string
		status     int
		code       int
		msg        string
	}{
		{"empty", ``, 400, 3, "no hashedRekordRequestV002"},
		{"null", `null`, 400, 3, ""},
		{"an array", `[]`, 400, 3, ""},
		{"trailing data", string(good) + `{}`, 400, 3, ""},
		{"an unknown field", `{"hashedRekordRequestV002":{},"extra":1}`, 400, 3, "unknown field"},
		{"DSSE", `{"dsseRequestV002":{}}`, 400, 3, "invalid type, must be hashedrekord"},
		{"no digest", edit(func(r map[string]any) { delete(r, "digest") }), 400, 3, "digest"},
		{"a short digest", edit(func(r map[string]any) { r["digest"] = "AAAA" }), 400, 3, "digest"},
		{"no signature", edit(func(r map[string]any) { delete(r, "signature") }), 400, 3, "invalid hashedrekord request"},
		{"a bad signature", edit(func(r map[string]any) { r["signature"].(map[string]any)["content"] = "MEUCIQ==" }), 400, 3, "invalid hashedrekord request"},
		{"keyDetails of another key", edit(func(r map[string]any) { verifier(r)["keyDetails"] = "PKIX_RSA_PKCS1V15_2048_SHA256" }), 400, 3, "invalid hashedrekord request"},
		{"pure Ed25519", edit(func(r map[string]any) { verifier(r)["keyDetails"] = "PKIX_ED25519" }), 400, 3, "invalid hashedrekord request"},
		{"an unknown keyDetails", edit(func(r map[string]any) { verifier(r)["keyDetails"] = "NOPE" }), 400, 3, ""},
		{"a key that is no key", edit(func(r map[string]any) { verifier(r)["publicKey"] = map[string]any{"rawBytes": "AAAA"} }), 400, 3, "invalid hashedrekord request"},
		{"bytes that are no base64", edit(func(r map[string]any) { r["digest"] = "!!" }), 400, 3, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := s.do(http.MethodPost, "/api/v2/log/entries", []byte(tt.body))
			var got struct {
				Code    int
				Message string
				Details []any
			}
			if resp.StatusCode != tt.status || json.Unmarshal(body, &got) != nil || got.Code != tt.code ||
				!strings.Contains(got.Message, tt.msg) || got.Message == "" || got.Details == nil {
				t.Errorf("%d %s; want %d, code %d, a message with %q", resp.StatusCode, body, tt.status, tt.code, tt.msg)
			}
		})
	}
	// A body over the request limit: 413 before it is read, in the v2
	// error shape, declared or not.
	for _, chunked := range []bool{false, true} {
		var r io.Reader = bytes.NewReader(bytes.Repeat([]byte(" "), api.DefaultMaxRequestBody+1))
		if chunked {
			r = io.MultiReader(r) // no length: sent chunked
		}
		resp, body := s.doReader(http.MethodPost, "/api/v2/log/entries", r)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), `"code":3`) ||
			!strings.Contains(string(body), `"details":[]`) {
			t.Errorf("an oversize body (chunked %v): %d %s, want 413 code 3", chunked, resp.StatusCode, body)
		}
	}
	// Nothing was logged.
	if resp, body := s.do(http.MethodGet, "/api/v2/checkpoint", nil); resp.StatusCode != http.StatusOK ||
		!bytes.HasPrefix(body, []byte(logsettest.V2Origin+"\n0\n")) {
		t.Fatalf("the v2 log after hostile requests: %d %q", resp.StatusCode, body)
	}
}

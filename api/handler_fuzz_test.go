package api_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/internal/logsettest"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/storage/sqlite"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/hashedrekord"
)

// fuzzMaxBody is the request limit of the fuzzed handler: small, so that
// the fuzzer reaches the 413 path too.
const fuzzMaxBody = 64 << 10

// fuzzHandler is the API over SQLite in a temporary directory, called in
// process (no network), with entries entries already logged.
type fuzzHandler struct {
	http.Handler
	treeID int64
}

func newFuzzHandler(f *testing.F, entries int) *fuzzHandler {
	f.Helper()
	ctx := context.Background()
	set, err := sqlite.Open(ctx, filepath.Join(f.TempDir(), "tabula.db"))
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { set.Close() })
	logs := logsettest.Open(f, set)
	active, err := logs.Active(ctx)
	if err != nil {
		f.Fatal(err)
	}
	h := &fuzzHandler{
		Handler: api.New(api.Config{Logs: logs, Types: types.NewRegistry(hashedrekord.New()), MaxRequestBody: fuzzMaxBody}),
		treeID:  active.TreeID(),
	}
	es, err := testentry.NewSigner()
	if err != nil {
		f.Fatal(err)
	}
	for i := range entries {
		b, err := es.HashedRekord([]byte("fuzz seed entry " + strconv.Itoa(i)))
		if err != nil {
			f.Fatal(err)
		}
		if code, body := h.call("POST", "/api/v1/log/entries", b); code != 201 {
			f.Fatalf("seed entry %d: %d %s", i, code, body)
		}
	}
	return h
}

func (h *fuzzHandler) call(method, target string, body []byte) (int, []byte) {
	req := httptest.NewRequest(method, target, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// checkAnswer fails unless code is one of allowed and, for an error other
// than an empty-bodied 404, the body is Rekor's {code,message} with the
// status as its code. Never a 5xx: bad input is the client's fault.
func checkAnswer(t *testing.T, what string, code int, body []byte, allowed ...int) {
	t.Helper()
	if !slices.Contains(allowed, code) {
		t.Fatalf("%s: status %d, want one of %v: %.500s", what, code, allowed, body)
	}
	if code < 400 || (code == 404 && len(body) == 0) {
		return
	}
	var e models.Error
	if err := json.Unmarshal(body, &e); err != nil || e.Code != code || e.Message == "" {
		t.Fatalf("%s: %d with body %.500q, want {code:%d,message}", what, code, body, code)
	}
}

// FuzzCreateLogEntry drives POST /api/v1/log/entries with arbitrary bodies.
// Seeds: Rekor's own sample requests (testdata/fuzz/FuzzCreateLogEntry).
func FuzzCreateLogEntry(f *testing.F) {
	h := newFuzzHandler(f, 0)
	f.Add([]byte(`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":""}},"signature":{"content":"","publicKey":{"content":""}}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		code, resp := h.call("POST", "/api/v1/log/entries", body)
		checkAnswer(t, "POST entries", code, resp, 201, 400, 409, 413, 422)
		if code != 201 {
			return
		}
		var le models.LogEntry
		if err := json.Unmarshal(resp, &le); err != nil || len(le) != 1 {
			t.Fatalf("201 body is not one LogEntry: %v %.500s", err, resp)
		}
		// The entry is there, and the same body again is a duplicate.
		if code, resp := h.call("POST", "/api/v1/log/entries", body); code != 409 {
			t.Fatalf("re-POST of a logged entry: %d %.500s", code, resp)
		}
	})
}

// FuzzSearchLogQuery drives POST /api/v1/log/entries/retrieve.
func FuzzSearchLogQuery(f *testing.F) {
	h := newFuzzHandler(f, 3)
	f.Add([]byte(`{"logIndexes":[0,1,2,3]}`))
	f.Add([]byte(`{"entryUUIDs":[],"logIndexes":null}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		code, resp := h.call("POST", "/api/v1/log/entries/retrieve", body)
		checkAnswer(t, "retrieve", code, resp, 200, 400, 413, 422)
		if code == 200 {
			var out []models.LogEntry
			if err := json.Unmarshal(resp, &out); err != nil || len(out) > api.MaxSearchQueries {
				t.Fatalf("200 body: %v, %d results: %.500s", err, len(out), resp)
			}
		}
	})
}

// FuzzSearchIndex drives POST /api/v1/index/retrieve.
func FuzzSearchIndex(f *testing.F) {
	h := newFuzzHandler(f, 3)
	f.Add([]byte(`{"subject":"","operator":"and"}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		code, resp := h.call("POST", "/api/v1/index/retrieve", body)
		checkAnswer(t, "index", code, resp, 200, 400, 413, 422)
		if code == 200 {
			var ids []string
			if err := json.Unmarshal(resp, &ids); err != nil {
				t.Fatalf("200 body: %v: %.500s", err, resp)
			}
		}
	})
}

var hex80 = regexp.MustCompile(`^([0-9a-fA-F]{64}|[0-9a-fA-F]{80})$`)

// FuzzGetEntry drives the entry IDs of GET /api/v1/log/entries/{entryUUID}
// (64-hex UUIDs, 80-hex entry IDs of this tree or another) and the logIndex
// of GET /api/v1/log/entries.
func FuzzGetEntry(f *testing.F) {
	h := newFuzzHandler(f, 3)
	tree := strconv.FormatInt(h.treeID, 16)
	for len(tree) < 16 {
		tree = "0" + tree
	}
	for _, s := range [][2]string{
		{"10e9f0e63b7f96d6af7a410ea1154522745c09078b75f1e805e9a60ebdb9fa88522b8e88b9147726", "0"},
		{"522b8e88b91477260ba4fd5e5e4d8ef35ad8e3cdff0e2cd4f3a5b4c8bb5e8c1a", "-1"},
		{tree + "522b8e88b91477260ba4fd5e5e4d8ef35ad8e3cdff0e2cd4f3a5b4c8bb5e8c1a", "2"},
		{"xyz", "9223372036854775807"},
		{"", "99999999999999999999"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, id, logIndex string) {
		code, resp := h.call("GET", "/api/v1/log/entries/"+url.PathEscape(id), nil)
		checkAnswer(t, "GET by UUID", code, resp, 200, 404, 405, 422)
		if hex80.MatchString(id) && code != 200 && code != 404 {
			t.Fatalf("well-formed id %q: %d %.500s", id, code, resp)
		}
		code, resp = h.call("GET", "/api/v1/log/entries?"+url.Values{"logIndex": {logIndex}}.Encode(), nil)
		checkAnswer(t, "GET by index", code, resp, 200, 404, 422)
		if n, err := strconv.ParseInt(logIndex, 10, 64); err == nil && n >= 0 {
			if want := map[bool]int{true: 200, false: 404}[n < 3]; code != want {
				t.Fatalf("logIndex %d: %d, want %d", n, code, want)
			}
		}
	})
}

// FuzzLogProof drives the query parameters of GET /api/v1/log/proof, and
// verifies every proof it gets against the roots the API reports.
func FuzzLogProof(f *testing.F) {
	const size = 5
	h := newFuzzHandler(f, size)
	treeID := strconv.FormatInt(h.treeID, 10)
	for _, s := range [][3]string{
		{"1", "5", ""}, {"2", "3", treeID}, {"", "4", ""}, {"5", "2", ""}, {"1", "99", ""},
		{"0", "1", ""}, {"-1", "9223372036854775807", "1"}, {"one", "", "abc"},
	} {
		f.Add(s[0], s[1], s[2])
	}
	root := func(t *testing.T, n uint64) []byte { // the root of the tree of size n
		code, resp := h.call("GET", "/api/v1/log/proof?lastSize="+strconv.FormatUint(n, 10), nil)
		var p models.ConsistencyProof
		if code != 200 || json.Unmarshal(resp, &p) != nil {
			t.Fatalf("root of %d: %d %s", n, code, resp)
		}
		r, _ := hex.DecodeString(p.RootHash)
		return r
	}
	f.Fuzz(func(t *testing.T, first, last, tree string) {
		q := url.Values{}
		for k, v := range map[string]string{"firstSize": first, "lastSize": last, "treeID": tree} {
			if v != "" {
				q.Set(k, v)
			}
		}
		code, resp := h.call("GET", "/api/v1/log/proof?"+q.Encode(), nil)
		checkAnswer(t, "proof", code, resp, 200, 400, 422)
		if code != 200 {
			return
		}
		if tree != "" && tree != treeID {
			if id, err := strconv.ParseInt(tree, 10, 64); err != nil || id != h.treeID {
				t.Fatalf("proof served for treeID %q", tree)
			}
		}
		var p models.ConsistencyProof
		if err := json.Unmarshal(resp, &p); err != nil {
			t.Fatal(err)
		}
		m, err1 := strconv.ParseInt(first, 10, 64)
		if first == "" {
			m, err1 = 1, nil
		}
		n, err2 := strconv.ParseInt(last, 10, 64)
		if err1 != nil || err2 != nil || m < 1 || m > n || n > size {
			t.Fatalf("proof served for firstSize %q lastSize %q", first, last)
		}
		hashes := make([][]byte, len(p.Hashes))
		for i, s := range p.Hashes {
			if hashes[i], err1 = hex.DecodeString(s); err1 != nil || len(hashes[i]) != 32 {
				t.Fatalf("hash %q", s)
			}
		}
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, uint64(m), uint64(n), hashes, root(t, uint64(m)), root(t, uint64(n))); err != nil {
			t.Fatalf("proof %d→%d does not verify: %v", m, n, err)
		}
	})
}

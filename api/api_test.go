package api_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/internal/logsettest"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/profile/rekorv1"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/hashedrekord"
)

// engines are the storage engines the tests run on.
var engines = logsettest.Engines()

// server is a Tabula API over a real store, reached through real HTTP.
type server struct {
	*httptest.Server
	t *testing.T
}

func newServer(t *testing.T, e logsettest.Engine, maxBody int64) *server {
	t.Helper()
	return newServerWith(t, e, func(c *api.Config) { c.MaxRequestBody = maxBody })
}

// newServerWith is newServer with the API configuration adjusted by edit.
func newServerWith(t *testing.T, e logsettest.Engine, edit func(*api.Config)) *server {
	t.Helper()
	logs := logsettest.Open(t, e.Open(t))
	cfg := api.Config{Logs: logs, Types: types.NewRegistry(hashedrekord.New()), TSA: newTSA(t)}
	edit(&cfg)
	ts := httptest.NewServer(api.New(cfg))
	t.Cleanup(ts.Close) // before the logs close (cleanups run last first)
	return &server{Server: ts, t: t}
}

func (s *server) do(method, path string, body []byte) (*http.Response, []byte) {
	s.t.Helper()
	var r io.Reader
	if body != nil {
		r = bytes.NewReader(body)
	}
	return s.doReader(method, path, r)
}

// doReader makes one request with body (JSON unless nil) and reads the
// whole answer.
func (s *server) doReader(method, path string, body io.Reader) (*http.Response, []byte) {
	s.t.Helper()
	req, err := http.NewRequest(method, s.URL+path, body)
	if err != nil {
		s.t.Fatal(err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
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

// logKey is what a client trusts: the key from /api/v1/log/publicKey, and
// the origin from /api/v1/log.
type logKey struct {
	pub    any
	origin string
	info   models.LogInfo
}

func (s *server) logKey() logKey {
	s.t.Helper()
	resp, b := s.do("GET", "/api/v1/log/publicKey", nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/x-pem-file" {
		s.t.Fatalf("publicKey: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	pub, err := signer.ParsePublicKeyPEM(b)
	if err != nil {
		s.t.Fatal(err)
	}
	info := s.logInfo()
	return logKey{pub: pub, info: info, origin: "tabula.test - " + info.TreeID}
}

func (s *server) logInfo() models.LogInfo {
	s.t.Helper()
	resp, b := s.do("GET", "/api/v1/log", nil)
	if resp.StatusCode != 200 {
		s.t.Fatalf("log info: %d %s", resp.StatusCode, b)
	}
	var info models.LogInfo
	if err := json.Unmarshal(b, &info); err != nil {
		s.t.Fatal(err)
	}
	return info
}

// verifyEntry checks one LogEntry the way a Sigstore client does: single key,
// UUID = tree ID + leaf hash of the body, checkpoint signed by the log key and
// matching rootHash, inclusion proof, SET.
func verifyEntry(t *testing.T, k logKey, le models.LogEntry) (string, models.LogEntryAnon, checkpoint.Checkpoint) {
	t.Helper()
	if len(le) != 1 {
		t.Fatalf("LogEntry has %d keys", len(le))
	}
	var id string
	var e models.LogEntryAnon
	for id, e = range le {
	}
	lh := merkle.LeafHash(e.Body)
	treeHex := fmt.Sprintf("%016x", mustInt(t, k.info.TreeID))
	if id != treeHex+hex.EncodeToString(lh[:]) {
		t.Fatalf("entry ID %s, want tree %s + leaf hash %x", id, treeHex, lh)
	}
	ip := e.Verification.InclusionProof
	cp, err := checkpoint.Verify([]byte(ip.Checkpoint), k.origin, "tabula.test", checkpoint.KeyIDRekorV1, k.pub)
	if err != nil {
		t.Fatalf("checkpoint: %v", err)
	}
	if hex.EncodeToString(cp.Root[:]) != ip.RootHash || int64(cp.Size) != ip.TreeSize {
		t.Fatalf("checkpoint (%d, %x) does not match proof (%d, %s)", cp.Size, cp.Root, ip.TreeSize, ip.RootHash)
	}
	if ip.Hashes == nil {
		t.Fatal("hashes is null, want a list")
	}
	hashes := make([][]byte, len(ip.Hashes))
	for i, h := range ip.Hashes {
		if hashes[i], err = hex.DecodeString(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(ip.LogIndex), cp.Size, lh[:], hashes, cp.Root[:]); err != nil {
		t.Fatalf("inclusion proof: %v", err)
	}
	logID, _ := hex.DecodeString(e.LogID)
	var lid [32]byte
	copy(lid[:], logID)
	if err := signer.Verify(k.pub, rekorv1.SETPayload(e.Body, e.IntegratedTime, lid, uint64(e.LogIndex)), e.Verification.SignedEntryTimestamp); err != nil {
		t.Fatalf("SET: %v", err)
	}
	return id, e, cp
}

func mustInt(t *testing.T, s string) int64 {
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func newEntry(t *testing.T, sgn *testentry.Signer, artifact string) []byte {
	t.Helper()
	b, err := sgn.HashedRekord([]byte(artifact))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestWriteReadVerify(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			s := newServer(t, e, 0)
			sgn, err := testentry.NewSigner()
			if err != nil {
				t.Fatal(err)
			}
			k := s.logKey()
			body := newEntry(t, sgn, "hello")

			resp, b := s.do("POST", "/api/v1/log/entries", body)
			if resp.StatusCode != 201 {
				t.Fatalf("POST: %d %s", resp.StatusCode, b)
			}
			var le models.LogEntry
			if err := json.Unmarshal(b, &le); err != nil {
				t.Fatal(err)
			}
			id, entry, _ := verifyEntry(t, k, le)
			if resp.Header.Get("ETag") != id || resp.Header.Get("Location") != "/api/v1/log/entries/"+id {
				t.Fatalf("ETag %q, Location %q, want %s", resp.Header.Get("ETag"), resp.Header.Get("Location"), id)
			}

			// The same entry again: 409, the existing entry's location, nothing written.
			resp, b = s.do("POST", "/api/v1/log/entries", body)
			if resp.StatusCode != 409 || resp.Header.Get("Location") != "/api/v1/log/entries/"+id {
				t.Fatalf("duplicate: %d Location %q", resp.StatusCode, resp.Header.Get("Location"))
			}
			var apiErr models.Error
			if json.Unmarshal(b, &apiErr) != nil || apiErr.Code != 409 || !strings.Contains(apiErr.Message, id) {
				t.Fatalf("duplicate body %s", b)
			}

			// Reads by UUID (80 and 64 hex, trailing slash too) and by index.
			for _, path := range []string{
				"/api/v1/log/entries/" + id,
				"/api/v1/log/entries/" + id[16:],
				"/api/v1/log/entries/" + id + "/",
				"/api/v1/log/entries?logIndex=0",
			} {
				resp, b := s.do("GET", path, nil)
				if resp.StatusCode != 200 {
					t.Fatalf("GET %s: %d %s", path, resp.StatusCode, b)
				}
				var got models.LogEntry
				if err := json.Unmarshal(b, &got); err != nil {
					t.Fatal(err)
				}
				gotID, ge, _ := verifyEntry(t, k, got)
				if gotID != id || !bytes.Equal(ge.Body, entry.Body) || ge.IntegratedTime != entry.IntegratedTime {
					t.Fatalf("GET %s returned another entry", path)
				}
			}
			if info := s.logInfo(); info.TreeSize != 1 {
				t.Fatalf("tree size %d after one entry and a duplicate", info.TreeSize)
			}
		})
	}
}

func TestBadRequests(t *testing.T) {
	s := newServer(t, engines[0], 4096)
	sgn, err := testentry.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	good := newEntry(t, sgn, "good")
	var wrongSig map[string]any
	if err := json.Unmarshal(newEntry(t, sgn, "other"), &wrongSig); err != nil {
		t.Fatal(err)
	}
	var goodMap map[string]any
	_ = json.Unmarshal(good, &goodMap)
	// The signature of "other" on the digest of "good".
	goodMap["spec"].(map[string]any)["signature"].(map[string]any)["content"] =
		wrongSig["spec"].(map[string]any)["signature"].(map[string]any)["content"]
	badSig, _ := json.Marshal(goodMap)

	tests := []struct {
		name, method, path string
		body               []byte
		code               int
		msg                string // substring of the message; "" for an empty body
	}{
		{"wrong signature", "POST", "/api/v1/log/entries", badSig, 400, "error processing entry: verifying signature"},
		{"malformed JSON", "POST", "/api/v1/log/entries", []byte(`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{}`), 400, "error processing entry"},
		{"missing fields", "POST", "/api/v1/log/entries", []byte(`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{}}`), 400, "is required"},
		{"unknown kind", "POST", "/api/v1/log/entries", []byte(`{"apiVersion":"0.0.1","kind":"nope","spec":{}}`), 422, `invalid kind value: "nope"`},
		{"unknown version", "POST", "/api/v1/log/entries", []byte(`{"apiVersion":"9.9.9","kind":"hashedrekord","spec":{}}`), 400, "error processing entry: hashedrekord implementation for version '9.9.9' not found: unable to locate entry for version 9.9.9"},
		{"null spec", "POST", "/api/v1/log/entries", []byte(`{"apiVersion":"0.0.1","kind":"hashedrekord","spec":null}`), 422, "spec in body is required"},
		{"too large", "POST", "/api/v1/log/entries", bytes.Repeat([]byte("x"), 5000), 413, "Limit set to 4096"},
		{"empty body", "POST", "/api/v1/log/entries", []byte{}, 422, "proposedEntry in body is required"},
		{"bad uuid", "GET", "/api/v1/log/entries/xyz", nil, 422, "entryUUID in path should match"},
		{"non-hex uuid", "GET", "/api/v1/log/entries/" + strings.Repeat("g", 64), nil, 422, "entryUUID in path should match"},
		{"absent uuid", "GET", "/api/v1/log/entries/" + strings.Repeat("a", 64), nil, 404, ""},
		{"other tree", "GET", "/api/v1/log/entries/" + strings.Repeat("1", 80), nil, 404, ""},
		{"absent index", "GET", "/api/v1/log/entries?logIndex=5", nil, 404, ""},
		{"negative index", "GET", "/api/v1/log/entries?logIndex=-1", nil, 422, "greater than or equal to 0"},
		{"non-numeric index", "GET", "/api/v1/log/entries?logIndex=abc", nil, 422, "must be of type int64"},
		{"huge index", "GET", "/api/v1/log/entries?logIndex=99999999999999999999", nil, 422, "must be of type int64"},
		{"proof first > last", "GET", "/api/v1/log/proof?firstSize=5&lastSize=2", nil, 400, "firstSize(5) must be less than lastSize(2)"},
		{"proof beyond tree", "GET", "/api/v1/log/proof?firstSize=1&lastSize=99", nil, 400, "greater than what is currently observable(0)"},
		{"proof no lastSize", "GET", "/api/v1/log/proof?firstSize=1", nil, 422, "lastSize in query is required"},
		{"proof zero size", "GET", "/api/v1/log/proof?firstSize=0&lastSize=1", nil, 422, "greater than or equal to 1"},
		{"unknown treeID", "GET", "/api/v1/log/publicKey?treeID=12", nil, 400, "unknown treeID"},
		{"unknown path", "GET", "/api/v1/nope", nil, 404, "path /api/v1/nope was not found"},
		{"wrong method", "DELETE", "/api/v1/log", nil, 405, "not allowed"},
		{"bad tile path", "GET", "/tile/0/1", nil, 400, "invalid tile path"},
		{"tile beyond tree", "GET", "/tile/0/000", nil, 404, "beyond the current tree"},
		{"bundle beyond tree", "GET", "/tile/entries/000.p/1", nil, 404, "beyond the current tree"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, b := s.do(tt.method, tt.path, tt.body)
			if resp.StatusCode != tt.code {
				t.Fatalf("status %d, want %d (%s)", resp.StatusCode, tt.code, b)
			}
			if tt.msg == "" {
				if len(b) != 0 {
					t.Fatalf("body %q, want empty", b)
				}
				return
			}
			var e models.Error
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("body %q is not an error object: %v", b, err)
			}
			if e.Code != tt.code || !strings.Contains(e.Message, tt.msg) {
				t.Fatalf("error %+v, want code %d and message containing %q", e, tt.code, tt.msg)
			}
		})
	}
	if info := s.logInfo(); info.TreeSize != 0 {
		t.Fatalf("bad requests wrote %d entries", info.TreeSize)
	}
	// The server is still healthy and the good entry goes in.
	if resp, _ := s.do("POST", "/api/v1/log/entries", good); resp.StatusCode != 201 {
		t.Fatalf("good entry after bad ones: %d", resp.StatusCode)
	}
	for _, p := range []string{"/healthz", "/readyz", "/ping"} {
		if resp, _ := s.do("GET", p, nil); resp.StatusCode != 200 {
			t.Fatalf("%s: %d", p, resp.StatusCode)
		}
	}
}

// TestConcurrentUploads is the acceptance run: many concurrent
// uploads, then every proof, every checkpoint's consistency, and the tiles.
func TestConcurrentUploads(t *testing.T) {
	n := 2000
	if testing.Short() {
		n = 300
	}
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			s := newServer(t, e, 0)
			k := s.logKey()
			const workers = 32
			var (
				wg          sync.WaitGroup
				mu          sync.Mutex
				checkpoints = map[uint64]checkpoint.Checkpoint{}
				indexes     = map[int64]string{}
			)
			for w := range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					sgn, err := testentry.NewSigner()
					if err != nil {
						t.Error(err)
						return
					}
					for i := w; i < n; i += workers {
						req, err := http.NewRequest("POST", s.URL+"/api/v1/log/entries", bytes.NewReader(newEntry(t, sgn, fmt.Sprint("artifact ", i))))
						if err != nil {
							t.Error(err)
							return
						}
						resp, err := s.Client().Do(req)
						if err != nil {
							t.Error(err)
							return
						}
						b, _ := io.ReadAll(resp.Body)
						resp.Body.Close()
						if resp.StatusCode != 201 {
							t.Errorf("upload %d: %d %s", i, resp.StatusCode, b)
							return
						}
						var le models.LogEntry
						if err := json.Unmarshal(b, &le); err != nil {
							t.Error(err)
							return
						}
						id, entry, cp := verifyEntry(t, k, le)
						mu.Lock()
						if prev, ok := indexes[entry.LogIndex]; ok {
							t.Errorf("index %d given twice (%s, %s)", entry.LogIndex, prev, id)
						}
						indexes[entry.LogIndex] = id
						checkpoints[cp.Size] = cp
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			if t.Failed() {
				t.FailNow()
			}
			info := s.logInfo()
			if info.TreeSize != int64(n) || len(indexes) != n {
				t.Fatalf("tree size %d, %d indexes, want %d", info.TreeSize, len(indexes), n)
			}
			final, err := checkpoint.Verify([]byte(info.SignedTreeHead), k.origin, "tabula.test", checkpoint.KeyIDRekorV1, k.pub)
			if err != nil {
				t.Fatal(err)
			}
			// Every checkpoint seen is consistent with the final one, through the API.
			for size, cp := range checkpoints {
				if size == final.Size {
					if cp.Root != final.Root {
						t.Fatalf("two roots for size %d", size)
					}
					continue
				}
				resp, b := s.do("GET", fmt.Sprintf("/api/v1/log/proof?firstSize=%d&lastSize=%d", size, final.Size), nil)
				if resp.StatusCode != 200 {
					t.Fatalf("proof %d→%d: %d %s", size, final.Size, resp.StatusCode, b)
				}
				var cpr models.ConsistencyProof
				if err := json.Unmarshal(b, &cpr); err != nil {
					t.Fatal(err)
				}
				hashes := make([][]byte, len(cpr.Hashes))
				for i, h := range cpr.Hashes {
					hashes[i], _ = hex.DecodeString(h)
				}
				if err := proof.VerifyConsistency(rfc6962.DefaultHasher, size, final.Size, hashes, cp.Root[:], final.Root[:]); err != nil {
					t.Fatalf("consistency %d→%d: %v", size, final.Size, err)
				}
			}
			// The tiles served reproduce the final root, and the entry
			// bundles hash to the level-0 tiles.
			checkTiles(t, s, final)
		})
	}
}

// checkTiles recomputes the checkpoint's root from tiles fetched over HTTP
// and checks every entry bundle against the level-0 tiles.
func checkTiles(t *testing.T, s *server, cp checkpoint.Checkpoint) {
	t.Helper()
	checkTilesAt(t, s, "", cp)
}

// checkTilesAt is checkTiles for the tiles and checkpoint served under
// prefix (a log's /logs/<treeID>).
func checkTilesAt(t *testing.T, s *server, prefix string, cp checkpoint.Checkpoint) {
	t.Helper()
	fetch := func(p merkle.TilePath) []byte {
		resp, b := s.do("GET", prefix+"/"+p.String(), nil)
		if resp.StatusCode != 200 {
			t.Fatalf("GET /%s: %d %s", p, resp.StatusCode, b)
		}
		cc := resp.Header.Get("Cache-Control")
		if full := p.Width == merkle.TileWidth; full != strings.Contains(cc, "immutable") {
			t.Fatalf("/%s: Cache-Control %q", p, cc)
		}
		return b
	}
	reader := merkle.TileReaderFunc(func(ctx context.Context, level uint8, index uint64) ([]byte, error) {
		w := merkle.TileWidth
		if index == cp.Size>>(merkle.TileHeight*(uint(level)+1)) {
			w = merkle.PartialWidth(level, cp.Size)
		}
		b := fetch(merkle.TilePath{Level: level, Index: index, Width: w})
		if len(b) != w*merkle.HashSize {
			t.Fatalf("tile %d/%d: %d bytes, want %d", level, index, len(b), w*merkle.HashSize)
		}
		return b, nil
	})
	root, err := merkle.RootHash(context.Background(), reader, cp.Size)
	if err != nil {
		t.Fatal(err)
	}
	if root != cp.Root {
		t.Fatalf("root from served tiles %x, checkpoint says %x", root, cp.Root)
	}
	for n := uint64(0); n*merkle.TileWidth < cp.Size; n++ {
		w := min(merkle.TileWidth, int(cp.Size-n*merkle.TileWidth))
		bundle, err := merkle.ParseBundle(fetch(merkle.TilePath{Entries: true, Index: n, Width: w}))
		if err != nil {
			t.Fatal(err)
		}
		tile, _ := reader.ReadTile(context.Background(), 0, n)
		if len(bundle) != w {
			t.Fatalf("bundle %d has %d entries, want %d", n, len(bundle), w)
		}
		for i, body := range bundle {
			lh := merkle.LeafHash(body)
			if !bytes.Equal(lh[:], tile[i*32:(i+1)*32]) {
				t.Fatalf("bundle %d entry %d does not hash to its tile", n, i)
			}
		}
	}
	resp, b := s.do("GET", prefix+"/checkpoint", nil)
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), cp.Origin+"\n") {
		t.Fatalf("/checkpoint: %d %q", resp.StatusCode, b)
	}
}

func TestLogEntryJSONShape(t *testing.T) {
	// The body is a base64 string, as clients (rekor/pkg/verify, cosign) require.
	le := models.LogEntry{"id": {Body: []byte("{}"), Verification: &models.Verification{SignedEntryTimestamp: []byte{1}}}}
	b, err := json.Marshal(le)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"id":{"body":"` + base64.StdEncoding.EncodeToString([]byte("{}")) + `","integratedTime":0,"logID":"","logIndex":0,"verification":{"signedEntryTimestamp":"AQ=="}}}`
	if string(b) != want {
		t.Fatalf("got  %s\nwant %s", b, want)
	}
}

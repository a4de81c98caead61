package api_test

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"

	protorekor "github.com/sigstore/protobuf-specs/gen/pb-go/rekor/v1"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/internal/logsettest"
	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/hashedrekord"
)

// explorerLog is one log of the explorer fixture, as the test made it.
type explorerLog struct {
	treeID  int64
	api     string // "v1" or "v2"
	origin  string
	keyName string
	form    checkpoint.KeyIDForm
	key     *signer.Local
	start   uint64   // v1: the virtual index of its first entry
	bodies  [][]byte // the canonical bodies written, by index
	frozen  bool
}

// explorerFixture is a server with a frozen Rekor v1 log (3 entries, ECDSA
// key), the active Rekor v1 log after it (2 entries, the same key), and a
// Rekor v2 log (3 entries, Ed25519 key), all written through the HTTP API.
type explorerFixture struct {
	s       *server
	handler http.Handler
	logs    []*explorerLog // frozen v1, active v1, v2
}

func newExplorerFixture(t *testing.T, e logsettest.Engine) *explorerFixture {
	t.Helper()
	store := e.Open(t)
	v1key := logsettest.Key(t)
	k, err := signer.Generate(signer.Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	v2key, err := signer.New(k)
	if err != nil {
		t.Fatal(err)
	}
	logs := logsettest.OpenConfig(t, logset.Config{Store: store, Keys: []logset.Signer{v1key}})
	h := api.New(api.Config{Logs: logs, V2Logs: logsettest.OpenV2(t, store, v2key), Types: types.NewRegistry(hashedrekord.New())})
	ts := httptest.NewServer(h)
	t.Cleanup(ts.Close)
	f := &explorerFixture{s: &server{Server: ts, t: t}, handler: h}
	sgn, err := testentry.NewSigner()
	if err != nil {
		t.Fatal(err)
	}

	v1 := func(treeID int64, start uint64) *explorerLog {
		return &explorerLog{treeID: treeID, api: "v1", origin: logsettest.Hostname + " - " + strconv.FormatInt(treeID, 10),
			keyName: logsettest.Hostname, form: checkpoint.KeyIDRekorV1, key: v1key, start: start}
	}
	writeV1 := func(l *explorerLog, n int) {
		for range n {
			resp, b := f.s.do("POST", "/api/v1/log/entries", newEntry(t, sgn, fmt.Sprintf("explorer v1 %d/%d", l.treeID, len(l.bodies))))
			if resp.StatusCode != http.StatusCreated {
				t.Fatalf("v1 write: %d %s", resp.StatusCode, b)
			}
			for _, e := range oneEntry(t, b) {
				l.bodies = append(l.bodies, e.Body)
			}
		}
	}
	frozen := v1(mustInt(t, f.s.logInfo().TreeID), 0)
	writeV1(frozen, 3)
	next := logsettest.Rotate(t, store, v1key)
	frozen.frozen = true
	active := v1(next.TreeID, 3)
	writeV1(active, 2)

	v2 := &explorerLog{api: "v2", origin: logsettest.V2Origin, keyName: logsettest.V2Origin, form: checkpoint.KeyIDC2SP, key: v2key}
	for i := range 3 {
		req, err := sgn.HashedRekordV2([]byte("explorer v2 " + strconv.Itoa(i)))
		if err != nil {
			t.Fatal(err)
		}
		resp, b := f.s.do("POST", "/api/v2/log/entries", req)
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("v2 write: %d %s", resp.StatusCode, b)
		}
		var tle protorekor.TransparencyLogEntry
		if err := protojson.Unmarshal(b, &tle); err != nil {
			t.Fatal(err)
		}
		v2.bodies = append(v2.bodies, tle.CanonicalizedBody)
	}
	var desc models.Logs
	resp, b := f.s.do("GET", "/logs", nil)
	if err := json.Unmarshal(b, &desc); resp.StatusCode != 200 || err != nil || len(desc.Logs) != 3 {
		t.Fatalf("GET /logs: %d %v %s", resp.StatusCode, err, b)
	}
	v2.treeID = mustInt(t, desc.Logs[2].TreeID)
	f.logs = []*explorerLog{frozen, active, v2}
	return f
}

// getEntryAt reads /logs/{treeID}/entries/{index} and checks it as the
// explorer's proof panel does: the body and leaf hash, the names, the
// inclusion proof to the root, and the checkpoint of that root and size,
// signed by the log's key under its key name.
func getEntryAt(t *testing.T, s *server, l *explorerLog, index int) models.LogEntryAt {
	t.Helper()
	path := fmt.Sprintf("/logs/%d/entries/%d", l.treeID, index)
	resp, b := s.do("GET", path, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json" || resp.Header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("GET %s: %d %v %s", path, resp.StatusCode, resp.Header, b)
	}
	var got models.LogEntryAt
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("GET %s: %v %s", path, err, b)
	}
	leaf := rfc6962.DefaultHasher.HashLeaf(l.bodies[index])
	if !bytes.Equal(got.Body, l.bodies[index]) || got.LeafHash != hex.EncodeToString(leaf) {
		t.Fatalf("GET %s: body or leaf hash is not the entry's: %s", path, b)
	}
	if got.TreeID != strconv.FormatInt(l.treeID, 10) || got.Origin != l.origin || got.Index != uint64(index) || got.API != l.api {
		t.Fatalf("GET %s: names %s", path, b)
	}
	switch l.api {
	case "v1":
		if got.UUID != fmt.Sprintf("%016x%x", l.treeID, leaf) || got.VirtualIndex == nil ||
			*got.VirtualIndex != l.start+uint64(index) || got.IntegratedTime == nil || *got.IntegratedTime <= 0 {
			t.Fatalf("GET %s: v1 fields %s", path, b)
		}
	case "v2":
		if got.UUID != hex.EncodeToString(leaf) || got.VirtualIndex != nil || got.IntegratedTime != nil {
			t.Fatalf("GET %s: v2 fields %s", path, b)
		}
	}
	ip := got.InclusionProof
	cp, err := checkpoint.Verify([]byte(ip.Checkpoint), l.origin, l.keyName, l.form, l.key.Public())
	if err != nil {
		t.Fatalf("GET %s: checkpoint: %v\n%s", path, err, ip.Checkpoint)
	}
	if cp.Size != ip.TreeSize || hex.EncodeToString(cp.Root[:]) != ip.RootHash || ip.TreeSize != uint64(len(l.bodies)) {
		t.Fatalf("GET %s: proof of size %d root %s, checkpoint of %d %x, %d entries written", path, ip.TreeSize, ip.RootHash, cp.Size, cp.Root, len(l.bodies))
	}
	hashes := make([][]byte, len(ip.Hashes))
	for i, h := range ip.Hashes {
		if hashes[i], err = hex.DecodeString(h); err != nil {
			t.Fatal(err)
		}
	}
	if err := proof.VerifyInclusion(rfc6962.DefaultHasher, uint64(index), ip.TreeSize, leaf, hashes, cp.Root[:]); err != nil {
		t.Fatalf("GET %s: inclusion proof: %v", path, err)
	}
	return got
}

// TestLogEntryAt: GET /logs/{treeID}/entries/{index} serves every entry of
// every log (a frozen Rekor v1 log, the active one, a Rekor v2 log) with a
// proof that verifies against the log's latest checkpoint; bad indexes get
// 400, indexes past the head and unknown logs 404, in the API's error
// shape.
func TestLogEntryAt(t *testing.T) {
	for _, e := range engines {
		t.Run(e.Name, func(t *testing.T) {
			f := newExplorerFixture(t, e)
			for _, l := range f.logs {
				for i := range l.bodies {
					getEntryAt(t, f.s, l, i)
				}
			}
			// The frozen log's proofs are against its final checkpoint,
			// the one latest-checkpoint serves.
			frozen := f.logs[0]
			_, final := f.s.do("GET", fmt.Sprintf("/logs/%d/latest-checkpoint", frozen.treeID), nil)
			if got := getEntryAt(t, f.s, frozen, 0); got.InclusionProof.Checkpoint != string(final) {
				t.Fatalf("frozen log: proof against\n%s\nnot its final checkpoint\n%s", got.InclusionProof.Checkpoint, final)
			}

			logs := func(l *explorerLog) string { return "/logs/" + strconv.FormatInt(l.treeID, 10) }
			v1, v2 := f.logs[1], f.logs[2]
			bad := []struct {
				name, path string
				code       int
			}{
				{"past the frozen log's final size", logs(frozen) + "/entries/3", 404},
				{"past the active head", logs(v1) + "/entries/2", 404},
				{"past the v2 head", logs(v2) + "/entries/3", 404},
				{"max int64", logs(v1) + "/entries/9223372036854775807", 404},
				{"max uint64", logs(v1) + "/entries/18446744073709551615", 404},
				{"beyond uint64", logs(v1) + "/entries/18446744073709551616", 404},
				{"huge", logs(v2) + "/entries/" + strings.Repeat("9", 400), 404},
				{"leading zeros", logs(v1) + "/entries/0000000000000000000000000000000000000000002", 404},
				{"negative", logs(v1) + "/entries/-1", 400},
				{"plus sign", logs(v1) + "/entries/+1", 400},
				{"non-numeric", logs(v1) + "/entries/x", 400},
				{"hex", logs(v1) + "/entries/0x1", 400},
				{"exponent", logs(v1) + "/entries/1e3", 400},
				{"fraction", logs(v1) + "/entries/1.0", 400},
				{"space", logs(v1) + "/entries/%201", 400},
				{"NUL", logs(v1) + "/entries/1%00", 400},
				{"non-ASCII digit", logs(v1) + "/entries/%D9%A1", 400},
				{"unknown tree", "/logs/1/entries/0", 404},
				{"tree 0", "/logs/0/entries/0", 404},
				{"negative tree", "/logs/-5/entries/0", 404},
				{"non-numeric tree", "/logs/abc/entries/0", 404},
				{"tree beyond int64", "/logs/99999999999999999999/entries/0", 404},
				{"no index", logs(v1) + "/entries/", 404},
			}
			for _, tt := range bad {
				t.Run(tt.name, func(t *testing.T) {
					resp, b := f.s.do("GET", tt.path, nil)
					var got models.Error
					if err := json.Unmarshal(b, &got); resp.StatusCode != tt.code || err != nil || got.Code != tt.code || got.Message == "" {
						t.Fatalf("GET %s: %d %s, want %d in the API's error shape", tt.path, resp.StatusCode, b, tt.code)
					}
				})
			}
		})
	}
}

// TestLogEntryAtGrows: an entry's proof follows the log's head as it grows.
func TestLogEntryAtGrows(t *testing.T) {
	f := newExplorerFixture(t, engines[0])
	v1 := f.logs[1]
	before := getEntryAt(t, f.s, v1, 0)
	sgn, err := testentry.NewSigner()
	if err != nil {
		t.Fatal(err)
	}
	resp, b := f.s.do("POST", "/api/v1/log/entries", newEntry(t, sgn, "explorer grows"))
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
	for _, e := range oneEntry(t, b) {
		v1.bodies = append(v1.bodies, e.Body)
	}
	after := getEntryAt(t, f.s, v1, 0)
	if before.InclusionProof.TreeSize != 2 || after.InclusionProof.TreeSize != 3 {
		t.Fatalf("tree sizes %d then %d, want 2 then 3", before.InclusionProof.TreeSize, after.InclusionProof.TreeSize)
	}
	getEntryAt(t, f.s, v1, 2)
}

// FuzzLogEntryAt drives the path of GET /logs/{treeID}/entries/{index}:
// never a 5xx; a decimal index of this log's tree answers 200 below its
// size, with a proof that verifies, and 404 from it on.
func FuzzLogEntryAt(f *testing.F) {
	const size = 3
	h := newFuzzHandler(f, size)
	treeID := strconv.FormatInt(h.treeID, 10)
	for _, s := range [][2]string{
		{treeID, "0"}, {treeID, "2"}, {treeID, "3"}, {treeID, "-1"}, {treeID, "+1"}, {treeID, "0x1"},
		{treeID, "18446744073709551616"}, {treeID, "٣"}, {"1", "0"}, {"abc", "0"}, {"", ""}, {treeID, "1/2"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, tree, index string) {
		code, resp := h.call("GET", "/logs/"+url.PathEscape(tree)+"/entries/"+url.PathEscape(index), nil)
		checkAnswer(t, "GET entry", code, resp, 200, 400, 404)
		i, err := strconv.ParseUint(index, 10, 64)
		wellFormed := err == nil && index != "" && index[0] != '+'
		switch {
		case tree == treeID && wellFormed && i < size:
			if code != 200 {
				t.Fatalf("entry %q of tree %q: %d %s", index, tree, code, resp)
			}
		case code == 200:
			t.Fatalf("entry %q of tree %q served: %s", index, tree, resp)
		case tree == treeID && wellFormed && code != 404:
			t.Fatalf("entry %q past the head: %d %s", index, code, resp)
		}
		if code != 200 {
			return
		}
		var got models.LogEntryAt
		if err := json.Unmarshal(resp, &got); err != nil {
			t.Fatal(err)
		}
		ip := got.InclusionProof
		hashes := make([][]byte, len(ip.Hashes))
		for k, s := range ip.Hashes {
			if hashes[k], err = hex.DecodeString(s); err != nil {
				t.Fatal(err)
			}
		}
		root, err := hex.DecodeString(ip.RootHash)
		if err != nil || got.Index != i || ip.TreeSize != size {
			t.Fatalf("entry %d: %s", i, resp)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, ip.TreeSize, rfc6962.DefaultHasher.HashLeaf(got.Body), hashes, root); err != nil {
			t.Fatalf("entry %d: %v", i, err)
		}
	})
}

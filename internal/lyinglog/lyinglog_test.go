package lyinglog_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/internal/lyinglog"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/signer"
)

func entries(tag string, n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"%s":%d}`, tag, i)
	}
	return out
}

func get(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode == http.StatusOK && v != nil {
		if err := json.Unmarshal(b, v); err != nil {
			t.Fatalf("%s: %v", url, err)
		}
	}
	return resp.StatusCode
}

// TestHonestThenForked: an honest log's checkpoint verifies, its tiles and
// bundles make its root, and its proofs verify; after a fork its proofs no
// longer prove the old checkpoint, and a drop makes its bundles disagree.
func TestHonestThenForked(t *testing.T) {
	l, err := lyinglog.New()
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(l.Handler())
	defer srv.Close()
	pub, err := signer.ParsePublicKeyPEM(l.PublicKeyPEM())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	head := func() checkpoint.Checkpoint {
		var info models.LogInfo
		if code := get(t, srv.URL+"/api/v1/log", &info); code != http.StatusOK {
			t.Fatalf("GET /api/v1/log: %d", code)
		}
		cp, err := checkpoint.Verify([]byte(info.SignedTreeHead), l.Origin(), lyinglog.Hostname, checkpoint.KeyIDRekorV1, pub)
		if err != nil {
			t.Fatal(err)
		}
		if int64(cp.Size) != info.TreeSize || hex.EncodeToString(cp.Root[:]) != info.RootHash {
			t.Fatalf("log info %+v disagrees with its checkpoint", info)
		}
		return cp
	}
	consistent := func(old, cur checkpoint.Checkpoint) error {
		var p models.ConsistencyProof
		if code := get(t, fmt.Sprintf("%s/api/v1/log/proof?firstSize=%d&lastSize=%d", srv.URL, old.Size, cur.Size), &p); code != http.StatusOK {
			t.Fatalf("GET proof: %d", code)
		}
		hs := make([][]byte, len(p.Hashes))
		for i, h := range p.Hashes {
			hs[i], _ = hex.DecodeString(h)
		}
		return proof.VerifyConsistency(rfc6962.DefaultHasher, old.Size, cur.Size, hs, old.Root[:], cur.Root[:])
	}

	if err := l.Append(entries("a", 300)...); err != nil {
		t.Fatal(err)
	}
	old := head()
	if err := l.Append(entries("b", 30)...); err != nil {
		t.Fatal(err)
	}
	cur := head()
	if err := consistent(old, cur); err != nil {
		t.Fatalf("honest log: %v", err)
	}
	root, err := merkle.RootHash(ctx, merkle.TileReaderFunc(func(ctx context.Context, level uint8, index uint64) ([]byte, error) {
		w := merkle.TileWidth
		if index == cur.Size>>(8*(uint(level)+1)) {
			w = merkle.PartialWidth(level, cur.Size)
		}
		return l.Tile(ctx, level, index, w)
	}), cur.Size)
	if err != nil || root != cur.Root {
		t.Fatalf("tiles give %x (%v), checkpoint %x", root, err, cur.Root)
	}
	b, err := l.EntryBundle(ctx, 1, 74)
	if err != nil {
		t.Fatal(err)
	}
	if es, err := merkle.ParseBundle(b); err != nil || len(es) != 74 || string(es[73]) != `{"b":29}` {
		t.Fatalf("bundle 1: %d entries, %v", len(es), err)
	}
	if code := get(t, srv.URL+"/tile/entries/001.p/75", nil); code != http.StatusNotFound {
		t.Errorf("bundle past the tree: %d", code)
	}

	if err := l.DropEntry(260); err != nil {
		t.Fatal(err)
	}
	if b, _ := l.EntryBundle(ctx, 1, 74); len(mustParse(t, b)) != 73 {
		t.Error("DropEntry did not shorten the last bundle")
	}

	if err := l.Fork(200, entries("forged", 130)...); err != nil {
		t.Fatal(err)
	}
	forked := head()
	if forked.Size != cur.Size || forked.Root == cur.Root {
		t.Fatalf("fork: %d/%x", forked.Size, forked.Root)
	}
	if err := consistent(old, forked); err == nil {
		t.Error("the forked log proved itself consistent with the old checkpoint")
	}
	if b, _ := l.EntryBundle(ctx, 1, 74); len(mustParse(t, b)) != 74 {
		t.Error("Fork kept the bundle lie")
	}
}

func mustParse(t *testing.T, b []byte) [][]byte {
	t.Helper()
	es, err := merkle.ParseBundle(b)
	if err != nil {
		t.Fatal(err)
	}
	return es
}

// TestSetV2Logs: the Rekor v2 logs of a set sign C2SP checkpoints under
// their origin, and GET /logs lists them after the v1 logs, the last of
// each API active.
func TestSetV2Logs(t *testing.T) {
	s, err := lyinglog.NewSet()
	if err != nil {
		t.Fatal(err)
	}
	for _, origin := range []string{"a.v2.example", "b.v2.example"} {
		l, err := s.RotateV2(origin, false)
		if err != nil {
			t.Fatal(err)
		}
		if err := l.Append(entries(origin, 3)...); err != nil {
			t.Fatal(err)
		}
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()
	var listed struct {
		Logs []struct {
			TreeID, API, Origin, State, Checkpoint string
		}
	}
	if code := get(t, srv.URL+"/logs", &listed); code != http.StatusOK {
		t.Fatalf("GET /logs: %d", code)
	}
	want := []struct{ api, origin, state string }{
		{"v1", s.Active().Origin(), "active"}, {"v2", "a.v2.example", "frozen"}, {"v2", "b.v2.example", "active"},
	}
	if len(listed.Logs) != len(want) {
		t.Fatalf("GET /logs: %+v", listed)
	}
	for i, w := range want {
		l := listed.Logs[i]
		if l.API != w.api || l.Origin != w.origin || l.State != w.state {
			t.Errorf("log %d: %+v, want %+v", i, l, w)
		}
		if w.api != "v2" {
			continue
		}
		pub, err := signer.ParsePublicKeyPEM(s.V2()[i-1].PublicKeyPEM())
		if err != nil {
			t.Fatal(err)
		}
		cp, err := checkpoint.Verify([]byte(l.Checkpoint), w.origin, w.origin, checkpoint.KeyIDC2SP, pub)
		if err != nil || cp.Size != 3 {
			t.Errorf("log %d's checkpoint: %+v, %v", i, cp, err)
		}
		resp, err := http.Get(srv.URL + "/logs/" + l.TreeID + "/checkpoint")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != l.Checkpoint {
			t.Errorf("log %d serves %q, lists %q", i, b, l.Checkpoint)
		}
	}
}

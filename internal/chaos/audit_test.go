package chaos

import (
	"bytes"
	"crypto"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/tabularium/tabula/api/models"
	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/signer"
)

// hostname is the --hostname every server runs with (the default).
const hostname = "tabula.local"

// figures are what one audit checked.
type figures struct {
	size        uint64 // final tree size
	acks        int    // acknowledged entries found at their index with their body
	checkpoints int    // distinct signed checkpoints verified and proved consistent
	sizes       int    // distinct tree sizes among them (one consistency proof each)
	tiles       int    // hash tiles read and authenticated
	bundles     int    // entry bundles read
}

func (f figures) String() string {
	return fmt.Sprintf("tree size %d, %d acknowledged entries checked, %d checkpoints (%d sizes) consistent, %d tiles and %d entry bundles reproduce the root",
		f.size, f.acks, f.checkpoints, f.sizes, f.tiles, f.bundles)
}

// auditor checks a finished run through the servers' public HTTP doors.
type auditor struct {
	t      *testing.T
	client *http.Client
	urls   []string // every server of the log; requests rotate among them
	pub    crypto.PublicKey
	origin string
	next   int
	fails  []string
}

// errorf records an audit failure: the log broke a promise.
func (a *auditor) errorf(format string, args ...any) {
	a.fails = append(a.fails, fmt.Sprintf(format, args...))
}

// url returns the next server, round robin: each check may hit another replica.
func (a *auditor) url() string {
	u := a.urls[a.next%len(a.urls)]
	a.next++
	return u
}

func (a *auditor) get(url string) (int, []byte) {
	a.t.Helper()
	resp, err := a.client.Get(url)
	if err != nil {
		a.t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		a.t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode, b
}

func (a *auditor) getOK(url string) []byte {
	a.t.Helper()
	code, b := a.get(url)
	if code != http.StatusOK {
		a.t.Fatalf("GET %s: %d %.300s", url, code, b)
	}
	return b
}

// verify checks a checkpoint's signature and origin and returns its content.
func (a *auditor) verify(cp string) (checkpoint.Checkpoint, error) {
	return checkpoint.Verify([]byte(cp), a.origin, hostname, checkpoint.KeyIDRekorV1, a.pub)
}

// mustAudit audits and fails t on every broken promise.
func mustAudit(t *testing.T, urls []string, pubPEM []byte, rec *record) figures {
	t.Helper()
	f, fails := audit(t, urls, pubPEM, rec)
	for i, msg := range fails {
		if i == 25 {
			t.Errorf("… and %d more audit failures", len(fails)-i)
			break
		}
		t.Error(msg)
	}
	return f
}

// audit checks everything rec saw against the final tree and returns what it
// checked and the promises it found broken. The writers must have stopped.
// It fails t (Fatal) only when it cannot do its work.
func audit(t *testing.T, urls []string, pubPEM []byte, rec *record) (figures, []string) {
	t.Helper()
	pub, err := signer.ParsePublicKeyPEM(pubPEM)
	if err != nil {
		t.Fatal(err)
	}
	a := &auditor{t: t, client: &http.Client{Timeout: 60 * time.Second}, urls: urls, pub: pub}
	var f figures

	// 1. The final head: every server agrees on it (replicas may lag by
	// their head cache, so allow them a moment).
	var info models.LogInfo
	deadline := time.Now().Add(10 * time.Second)
	for {
		var infos []models.LogInfo
		for _, u := range urls {
			var in models.LogInfo
			if err := json.Unmarshal(a.getOK(u+"/api/v1/log"), &in); err != nil {
				t.Fatalf("GET %s/api/v1/log: %v", u, err)
			}
			infos = append(infos, in)
		}
		info = infos[0]
		agree := true
		for _, in := range infos[1:] {
			agree = agree && in.TreeID == info.TreeID && in.TreeSize == info.TreeSize && in.RootHash == info.RootHash
		}
		if agree {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the servers do not agree on the head: %+v", infos)
		}
		time.Sleep(100 * time.Millisecond)
	}
	a.origin = hostname + " - " + info.TreeID
	head, err := a.verify(info.SignedTreeHead)
	if err != nil {
		t.Fatalf("the final checkpoint does not verify: %v\n%s", err, info.SignedTreeHead)
	}
	if int64(head.Size) != info.TreeSize || hex.EncodeToString(head.Root[:]) != info.RootHash {
		t.Fatalf("GET /api/v1/log: the checkpoint says %d/%x, the fields %d/%s", head.Size, head.Root, info.TreeSize, info.RootHash)
	}
	f.size = head.Size
	rec.checkpoint(string(a.getOK(a.url()+"/checkpoint")), "audit")

	// 2. The entries, through the C2SP entry bundles: exactly size of them,
	// indexes 0..size-1; their leaf hashes give the root.
	bodies := a.bundles(head.Size, &f)
	leaves := make([][]byte, len(bodies))
	rng := (&compact.RangeFactory{Hash: rfc6962.DefaultHasher.HashChildren}).NewEmptyRange(0)
	for i, b := range bodies {
		leaves[i] = rfc6962.DefaultHasher.HashLeaf(b)
		if err := rng.Append(leaves[i], nil); err != nil {
			t.Fatal(err)
		}
	}
	if root, err := rng.GetRootHash(nil); err != nil || !bytes.Equal(root, head.Root[:]) {
		a.errorf("the %d entry bundles give root %x (%v), the checkpoint says %x", len(bodies), root, err, head.Root)
	}
	if code, b := a.get(fmt.Sprintf("%s/api/v1/log/entries?logIndex=%d", a.url(), head.Size)); code != http.StatusNotFound {
		a.errorf("GET entry %d of a tree of size %d: %d %.200s", head.Size, head.Size, code, b)
	}

	// 3. The hash tiles, authenticated against the root, and their level-0
	// hashes are the entries' leaf hashes.
	a.tiles(head, leaves, &f)

	// 4. Every acknowledged entry is at its acknowledged index with its body,
	// no index was given twice, and its inclusion proof verifies against the
	// checkpoint it came with.
	acks, _ := rec.snapshot()
	owner := make(map[uint64]string, len(acks))
	wantPrefix := fmt.Sprintf("%016x", uint64(mustInt(t, info.TreeID)))
	for _, k := range acks {
		if prev, ok := owner[k.index]; ok {
			a.errorf("index %d acknowledged twice: %s and %s", k.index, prev, k.uuid)
			continue
		}
		owner[k.index] = k.uuid
		if k.index >= head.Size {
			a.errorf("entry %s acknowledged at index %d, but the final tree has %d entries: LOST", k.uuid, k.index, head.Size)
			continue
		}
		if !bytes.Equal(bodies[k.index], k.body) {
			a.errorf("entry %s acknowledged at index %d: the log now holds another body there", k.uuid, k.index)
			continue
		}
		leaf := leaves[k.index]
		if k.uuid != wantPrefix+hex.EncodeToString(leaf) {
			a.errorf("entry at index %d acknowledged as %s, its leaf hash is %x", k.index, k.uuid, leaf)
		}
		if err := a.inclusion(k.index, leaf, k.treeSize, k.rootHash, k.hashes, k.cp); err != nil {
			a.errorf("the inclusion proof acknowledging entry %d (via %s): %v", k.index, k.via, err)
		}
		f.acks++
	}

	// 5. A sample of acknowledged entries read back through the v1 API, from
	// every server in turn.
	for _, i := range rand.Perm(len(acks))[:min(len(acks), 100)] {
		if acks[i].index < head.Size { // the others are reported above
			a.readBack(acks[i], leaves[acks[i].index], rec)
		}
	}
	_, cps := rec.snapshot() // with the checkpoints the reads brought

	// 6. Every checkpoint seen verifies, none is past the final tree, no two
	// disagree on a size's root, and each is consistent with the final tree.
	roots := make(map[uint64][]byte)
	for cp, from := range cps {
		c, err := a.verify(cp)
		if err != nil {
			a.errorf("a checkpoint served by %s does not verify: %v\n%s", from, err, cp)
			continue
		}
		f.checkpoints++
		if c.Size > head.Size {
			a.errorf("%s served a checkpoint of size %d; the final tree has %d: entries were LOST", from, c.Size, head.Size)
			continue
		}
		if r, ok := roots[c.Size]; ok && !bytes.Equal(r, c.Root[:]) {
			a.errorf("FORK: two checkpoints of size %d with roots %x and %x", c.Size, r, c.Root)
			continue
		}
		roots[c.Size] = c.Root[:]
	}
	for size, root := range roots {
		f.sizes++
		if err := a.consistent(size, root, head); err != nil {
			a.errorf("the checkpoint of size %d is not consistent with the final tree of size %d: %v", size, head.Size, err)
		}
	}
	return f, a.fails
}

func mustInt(t *testing.T, s string) int64 {
	var n int64
	if _, err := fmt.Sscan(s, &n); err != nil {
		t.Fatalf("tree ID %q: %v", s, err)
	}
	return n
}

// tilePath is the C2SP tlog-tiles path of t: tlog's own path without the
// height, and "entries" for its data tiles.
func tilePath(t tlog.Tile) string {
	p := strings.TrimPrefix(t.Path(), "tile/8/")
	if d, ok := strings.CutPrefix(p, "data/"); ok {
		return "tile/entries/" + d
	}
	return "tile/" + p
}

// bundles reads every entry of a tree of size n from its entry bundles.
func (a *auditor) bundles(n uint64, f *figures) [][]byte {
	a.t.Helper()
	bodies := make([][]byte, 0, n)
	for start := uint64(0); start < n; start += 256 {
		w := int(min(256, n-start))
		p := tilePath(tlog.Tile{H: 8, L: -1, N: int64(start / 256), W: w})
		b := a.getOK(a.url() + "/" + p)
		f.bundles++
		for len(b) > 0 {
			if len(b) < 2 || len(b) < 2+int(binary.BigEndian.Uint16(b)) {
				a.t.Fatalf("%s: truncated entry bundle", p)
			}
			l := int(binary.BigEndian.Uint16(b))
			bodies = append(bodies, b[2:2+l])
			b = b[2+l:]
		}
		if uint64(len(bodies)) != start+uint64(w) {
			a.t.Fatalf("%s holds %d entries, want %d", p, uint64(len(bodies))-start, w)
		}
	}
	return bodies
}

// tileReader reads C2SP hash tiles for tlog, rotating among the servers.
type tileReader struct {
	a *auditor
	n int
}

func (r *tileReader) Height() int { return 8 }

func (r *tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		url := r.a.url() + "/" + tilePath(t)
		code, b := r.a.get(url)
		if code != http.StatusOK {
			return nil, fmt.Errorf("GET %s: %d %.200s", url, code, b)
		}
		r.n++
		out[i] = b
	}
	return out, nil
}

func (r *tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

// tiles checks, with golang.org/x/mod/sumdb/tlog, that the hash tiles
// reproduce the root and hold the entries' leaf hashes.
func (a *auditor) tiles(head checkpoint.Checkpoint, leaves [][]byte, f *figures) {
	a.t.Helper()
	tr := &tileReader{a: a}
	hr := tlog.TileHashReader(tlog.Tree{N: int64(head.Size), Hash: tlog.Hash(head.Root)}, tr)
	root, err := tlog.TreeHash(int64(head.Size), hr)
	if err != nil || root != tlog.Hash(head.Root) {
		a.errorf("the tiles give root %x (%v), the checkpoint says %x", root, err, head.Root)
		return
	}
	for start := 0; start < len(leaves); start += 1024 {
		idx := make([]int64, 0, 1024)
		for i := start; i < min(start+1024, len(leaves)); i++ {
			idx = append(idx, tlog.StoredHashIndex(0, int64(i)))
		}
		hs, err := hr.ReadHashes(idx)
		if err != nil {
			a.errorf("reading leaf hashes from the tiles: %v", err)
			return
		}
		for j, h := range hs {
			if !bytes.Equal(h[:], leaves[start+j]) {
				a.errorf("tile hash of leaf %d is %x, the entry's leaf hash %x", start+j, h, leaves[start+j])
			}
		}
	}
	f.tiles = tr.n
}

// inclusion verifies an inclusion proof against the checkpoint it came with.
func (a *auditor) inclusion(index uint64, leaf []byte, treeSize int64, rootHex string, hashes []string, cp string) error {
	c, err := a.verify(cp)
	if err != nil {
		return fmt.Errorf("its checkpoint does not verify: %w", err)
	}
	if int64(c.Size) != treeSize || hex.EncodeToString(c.Root[:]) != rootHex {
		return fmt.Errorf("proof for %d/%s, checkpoint for %d/%x", treeSize, rootHex, c.Size, c.Root)
	}
	p, err := decodeHashes(hashes)
	if err != nil {
		return err
	}
	return proof.VerifyInclusion(rfc6962.DefaultHasher, index, c.Size, leaf, p, c.Root[:])
}

// readBack reads an acknowledged entry through GET /api/v1/log/entries/{uuid}.
func (a *auditor) readBack(k ack, leaf []byte, rec *record) {
	a.t.Helper()
	u := a.url()
	code, b := a.get(u + "/api/v1/log/entries/" + k.uuid)
	if code != http.StatusOK {
		a.errorf("GET entry %s (index %d) via %s: %d %.200s", k.uuid, k.index, u, code, b)
		return
	}
	var le models.LogEntry
	if err := json.Unmarshal(b, &le); err != nil || len(le) != 1 {
		a.errorf("GET entry %s: %v %.200s", k.uuid, err, b)
		return
	}
	for id, e := range le {
		if id != k.uuid || e.LogIndex != int64(k.index) || !bytes.Equal(e.Body, k.body) {
			a.errorf("GET entry %s via %s: got %s at %d", k.uuid, u, id, e.LogIndex)
			return
		}
		p := e.Verification.InclusionProof
		if err := a.inclusion(k.index, leaf, p.TreeSize, p.RootHash, p.Hashes, p.Checkpoint); err != nil {
			a.errorf("GET entry %s via %s: inclusion proof: %v", k.uuid, u, err)
		}
		rec.checkpoint(p.Checkpoint, u+" (read back)")
	}
}

// consistent proves the tree of size (with root) is a prefix of the final
// tree, with a proof from GET /api/v1/log/proof.
func (a *auditor) consistent(size uint64, root []byte, head checkpoint.Checkpoint) error {
	if size == head.Size {
		if !bytes.Equal(root, head.Root[:]) {
			return fmt.Errorf("same size, root %x, final root %x", root, head.Root)
		}
		return nil
	}
	if size == 0 {
		if !bytes.Equal(root, rfc6962.DefaultHasher.EmptyRoot()) {
			return fmt.Errorf("empty tree with root %x", root)
		}
		return nil
	}
	u := a.url()
	code, b := a.get(fmt.Sprintf("%s/api/v1/log/proof?firstSize=%d&lastSize=%d", u, size, head.Size))
	if code != http.StatusOK {
		return fmt.Errorf("GET proof via %s: %d %.200s", u, code, b)
	}
	var cp models.ConsistencyProof
	if err := json.Unmarshal(b, &cp); err != nil {
		return fmt.Errorf("proof via %s: %w", u, err)
	}
	p, err := decodeHashes(cp.Hashes)
	if err != nil {
		return err
	}
	return proof.VerifyConsistency(rfc6962.DefaultHasher, size, head.Size, p, root, head.Root[:])
}

func decodeHashes(hs []string) ([][]byte, error) {
	out := make([][]byte, len(hs))
	for i, h := range hs {
		b, err := hex.DecodeString(h)
		if err != nil || len(b) != 32 {
			return nil, fmt.Errorf("proof hash %d: %q is not a 32-byte hex hash", i, h)
		}
		out[i] = b
	}
	return out, nil
}

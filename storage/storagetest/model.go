package storagetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/storage"
)

// model is what a store must hold after the operations the suite made: every
// check compares the whole store with it, after successes and after
// failures alike (a failed Append must leave the store equal to the model).
type model struct {
	created bool
	state   storage.TreeState
	entries []storage.Entry
	tiles   map[tileKey][]byte
	keys    map[storage.Hash][]uint64
}

type tileKey struct {
	level uint8
	index uint64
}

func newModel() *model {
	return &model{tiles: map[tileKey][]byte{}, keys: map[storage.Hash][]uint64{}}
}

// initialState is the head CreateTree is given.
func initialState(treeID int64) storage.TreeState {
	return storage.TreeState{
		TreeID:     treeID,
		Root:       sha256.Sum256(nil),
		Checkpoint: []byte(fmt.Sprintf("example.com/log\n0\n47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\n\n— tree %d\n", treeID)),
	}
}

// create runs CreateTree and records it.
func (m *model) create(t testing.TB, s storage.Storage, treeID int64) {
	t.Helper()
	st := initialState(treeID)
	if err := s.CreateTree(context.Background(), st); err != nil {
		t.Fatalf("CreateTree: %v", err)
	}
	m.created = true
	m.state = st
}

// makeEntry returns the entry at index i, its body made unique by tag.
// Search keys are shared: every entry is under "all", entries with the same
// i%3 share a digest key, and each has a key of its own. A key is the
// SHA-256 of a text (see Key): the store takes them as opaque hashes.
func makeEntry(i uint64, tag string) storage.Entry {
	body := fmt.Appendf(nil, `{"apiVersion":"0.0.1","kind":"hashedrekord","tag":%q,"index":%d}`, tag, i)
	e := storage.Entry{
		Index:          i,
		LeafHash:       leafHash(body),
		Body:           body,
		IntegratedTime: 1_700_000_000 + int64(i),
		SET:            fmt.Appendf(nil, "set-%s-%d", tag, i),
		SearchKeys: []storage.Hash{
			Key("all"),
			Key(fmt.Sprintf("sha256:%064x", i%3)),
			Key(fmt.Sprintf("email:%s-%d@example.com", tag, i)),
		},
	}
	if i%2 == 1 {
		e.Attestation = fmt.Appendf(nil, "attestation-%d", i)
	}
	return e
}

// Key is the search key the tests write for a text: its SHA-256.
func Key(text string) storage.Hash { return sha256.Sum256([]byte(text)) }

// leafHash is the RFC 6962 leaf hash of body.
func leafHash(body []byte) storage.Hash {
	return sha256.Sum256(append([]byte{0}, body...))
}

// batch builds the AppendRequest that appends n new entries (tagged tag) to
// the model's tree, with the tiles a real log would write: every level-0
// tile the new leaves fall in (holding their leaf hashes) and every
// higher-level tile that gains a node.
func (m *model) batch(n int, tag string) storage.AppendRequest {
	old := m.state.Size
	req := storage.AppendRequest{OldSize: old}
	all := slices.Clone(m.entries)
	for i := range n {
		e := makeEntry(old+uint64(i), tag)
		req.Entries = append(req.Entries, e)
		all = append(all, e)
	}
	size := old + uint64(n)
	for level := uint8(0); level < 8; level++ {
		shift := 8 * uint(level)
		lo, hi := old>>shift, size>>shift // nodes [lo, hi) of this level are new
		if hi <= lo {
			break
		}
		for tile := lo / 256; tile <= (hi-1)/256; tile++ {
			width := min(hi-tile*256, 256)
			var hashes []byte
			for node := tile * 256; node < tile*256+width; node++ {
				if level == 0 {
					hashes = append(hashes, all[node].LeafHash[:]...)
				} else {
					h := nodeHash(level, node)
					hashes = append(hashes, h[:]...)
				}
			}
			req.Tiles = append(req.Tiles, storage.Tile{Level: level, Index: tile, Hashes: hashes, Nodes: merkle.UpperNodes(hashes)})
		}
	}
	req.State = storage.TreeState{
		TreeID:     m.state.TreeID,
		Size:       size,
		Root:       sha256.Sum256(fmt.Appendf(nil, "root %d %s", size, tag)),
		Checkpoint: fmt.Appendf(nil, "example.com/log\n%d\nroot-%s\n", size, tag),
	}
	return req
}

// nodeHash stands in for the hash of an interior node.
func nodeHash(level uint8, node uint64) storage.Hash {
	var b [9]byte
	b[0] = level
	binary.BigEndian.PutUint64(b[1:], node)
	return sha256.Sum256(b[:])
}

// batchWithoutNodes is batch(n, tag) as a release that stored no upper
// nodes beside full tiles (before schema 9) wrote it.
func (m *model) batchWithoutNodes(n int, tag string) storage.AppendRequest {
	req := m.batch(n, tag)
	for i := range req.Tiles {
		req.Tiles[i].Nodes = nil
	}
	return req
}

// apply records a batch the store accepted.
func (m *model) apply(req storage.AppendRequest) {
	for _, e := range req.Entries {
		m.entries = append(m.entries, e)
		for _, k := range e.SearchKeys {
			if idxs := m.keys[k]; len(idxs) == 0 || idxs[len(idxs)-1] != e.Index {
				m.keys[k] = append(idxs, e.Index)
			}
		}
	}
	for _, tl := range req.Tiles {
		m.tiles[tileKey{tl.Level, tl.Index}] = slices.Clone(tl.Hashes)
	}
	treeID := m.state.TreeID
	m.state = req.State
	m.state.TreeID = treeID
}

// append runs Append, which must succeed, and records it.
func (m *model) append(t testing.TB, s storage.Storage, req storage.AppendRequest) {
	t.Helper()
	if err := s.Append(context.Background(), req); err != nil {
		t.Fatalf("Append(OldSize %d, %d entries): %v", req.OldSize, len(req.Entries), err)
	}
	m.apply(req)
}

// grow appends batches of the given sizes.
func (m *model) grow(t testing.TB, s storage.Storage, tag string, sizes ...int) {
	t.Helper()
	for i, n := range sizes {
		m.append(t, s, m.batch(n, fmt.Sprintf("%s-%d", tag, i)))
	}
}

// check compares the whole store with the model, and that nothing of the
// given rejected batches is visible.
func (m *model) check(t testing.TB, s storage.Storage, rejected ...storage.AppendRequest) {
	t.Helper()
	ctx := context.Background()

	st, err := s.LatestTreeState(ctx)
	switch {
	case !m.created:
		if !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("LatestTreeState before CreateTree = %+v, %v; want ErrNotFound", st, err)
		}
	case err != nil:
		t.Fatalf("LatestTreeState: %v", err)
	default:
		checkState(t, "LatestTreeState", st, m.state)
	}

	size := uint64(len(m.entries))
	got, err := s.ReadEntries(ctx, 0, size+10)
	if err != nil {
		t.Fatalf("ReadEntries(0, %d): %v", size+10, err)
	}
	checkEntries(t, fmt.Sprintf("ReadEntries(0, %d)", size+10), got, m.entries)

	// By leaf hash: a sample (every entry of a small log), and a lookup of all.
	var hashes []storage.Hash
	for i, e := range m.entries {
		hashes = append(hashes, e.LeafHash)
		if len(m.entries) > 64 && i%61 != 0 && i != len(m.entries)-1 {
			continue
		}
		got, err := s.ReadEntryByLeafHash(ctx, e.LeafHash)
		if err != nil {
			t.Fatalf("ReadEntryByLeafHash(entry %d): %v", i, err)
		}
		checkEntries(t, "ReadEntryByLeafHash", []storage.Entry{got}, []storage.Entry{e})
	}
	want := map[storage.Hash]uint64{}
	for _, e := range m.entries {
		want[e.LeafHash] = e.Index
	}
	absent := leafHash([]byte("never appended"))
	found, err := s.LookupLeafHashes(ctx, append(hashes, absent))
	if err != nil {
		t.Fatalf("LookupLeafHashes: %v", err)
	}
	if !maps.Equal(found, want) {
		t.Fatalf("LookupLeafHashes: got %d hashes, want %d (maps differ)", len(found), len(want))
	}

	for k, hashes := range m.tiles {
		got, err := s.ReadTile(ctx, k.level, k.index)
		if err != nil {
			t.Fatalf("ReadTile(%d, %d): %v", k.level, k.index, err)
		}
		if !bytes.Equal(got, hashes) {
			t.Fatalf("ReadTile(%d, %d): got %d bytes, want %d (contents differ)", k.level, k.index, len(got), len(hashes))
		}
	}

	for k, idxs := range m.keys {
		got, err := s.Search(ctx, k)
		if err != nil {
			t.Fatalf("Search(%x): %v", k, err)
		}
		if !slices.Equal(got, idxs) {
			t.Fatalf("Search(%x) = %v, want %v", k, got, idxs)
		}
	}

	for _, req := range rejected {
		m.checkAbsent(t, s, req)
	}
}

// checkAbsent checks that nothing of a rejected batch is visible beyond what
// the model already holds.
func (m *model) checkAbsent(t testing.TB, s storage.Storage, req storage.AppendRequest) {
	t.Helper()
	ctx := context.Background()
	inModel := map[storage.Hash]bool{}
	for _, e := range m.entries {
		inModel[e.LeafHash] = true
	}
	for _, e := range req.Entries {
		if inModel[e.LeafHash] {
			continue
		}
		if got, err := s.ReadEntryByLeafHash(ctx, e.LeafHash); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("rejected entry %d: ReadEntryByLeafHash = %+v, %v; want ErrNotFound", e.Index, got.Index, err)
		}
		for _, k := range e.SearchKeys {
			got, err := s.Search(ctx, k)
			if err != nil {
				t.Fatalf("Search(%x): %v", k, err)
			}
			if want := m.keys[k]; !slices.Equal(got, want) {
				t.Fatalf("rejected entry %d: Search(%x) = %v, want %v", e.Index, k, got, want)
			}
		}
	}
	for _, tl := range req.Tiles {
		if _, ok := m.tiles[tileKey{tl.Level, tl.Index}]; ok {
			continue // check compared its contents with the model's
		}
		if got, err := s.ReadTile(ctx, tl.Level, tl.Index); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("rejected tile (%d, %d): ReadTile = %d bytes, %v; want ErrNotFound", tl.Level, tl.Index, len(got), err)
		}
	}
}

func checkState(t testing.TB, what string, got, want storage.TreeState) {
	t.Helper()
	if got.TreeID != want.TreeID || got.Size != want.Size || got.Root != want.Root || !bytes.Equal(got.Checkpoint, want.Checkpoint) {
		t.Fatalf("%s = {TreeID %d, Size %d, Root %x, Checkpoint %q}, want {TreeID %d, Size %d, Root %x, Checkpoint %q}",
			what, got.TreeID, got.Size, got.Root, got.Checkpoint, want.TreeID, want.Size, want.Root, want.Checkpoint)
	}
}

// checkEntries compares entries field by field; search keys are not read back.
func checkEntries(t testing.TB, what string, got, want []storage.Entry) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d entries, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if g.Index != w.Index || g.LeafHash != w.LeafHash || !bytes.Equal(g.Body, w.Body) ||
			g.IntegratedTime != w.IntegratedTime || !bytes.Equal(g.SET, w.SET) || !bytes.Equal(g.Attestation, w.Attestation) {
			t.Fatalf("%s: entry %d =\n  {Index %d, LeafHash %x, Body %q, IntegratedTime %d, SET %q, Attestation %q}\nwant\n  {Index %d, LeafHash %x, Body %q, IntegratedTime %d, SET %q, Attestation %q}",
				what, i, g.Index, g.LeafHash, g.Body, g.IntegratedTime, g.SET, g.Attestation,
				w.Index, w.LeafHash, w.Body, w.IntegratedTime, w.SET, w.Attestation)
		}
	}
}

// Package storagetest is the conformance suite every storage.Storage driver
// must pass, so that the log behaves the same on every engine.
//
// Run checks the contract of package storage against a real database: the
// tree is created once; batches land whole or not at all (a duplicate leaf
// hash, a stale OldSize, a malformed batch, data the store refuses or a
// cancelled context leave no entry, tile, search key or head change behind);
// a refusal of an entry's data says so (storage.EntryError or
// storage.ErrRejected), and nothing else does; the compare-and-swap on the
// tree size lets exactly one of many concurrent writers win; readers never
// see a head without its entries; and everything survives Close and reopen.
// After every step the suite compares the whole store with an in-memory
// model of what it must hold.
//
// BenchmarkAppend measures the write path with batches shaped like a real
// log's.
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/storage"
)

// Run runs the conformance suite. Its subtests run in parallel.
//
// open must return a new, empty store on a database of its own (it is called
// once per subtest, possibly concurrently), and reopen must open that same
// database again; the suite calls reopen only after closing s. The suite
// closes every store it gets, in t.Cleanup as well, so Close must tolerate
// being called twice.
func Run(t *testing.T, open func(t *testing.T) (s storage.Storage, reopen func(t *testing.T) storage.Storage)) {
	tests := []struct {
		name string
		run  func(t *testing.T, s storage.Storage, reopen func(t *testing.T) storage.Storage)
	}{
		{"Empty", testEmpty},
		{"CreateTree", testCreateTree},
		{"AppendAndRead", testAppendAndRead},
		{"ReadEntriesRanges", testReadEntriesRanges},
		{"LookupLeafHashes", testLookupLeafHashes},
		{"Tiles", testTiles},
		{"EdgeTile", testEdgeTile},
		{"EntryAndTile", testEntryAndTile},
		{"Search", testSearch},
		{"EmptyBatch", testEmptyBatch},
		{"LargeBatch", testLargeBatch},
		{"Duplicate", testDuplicate},
		{"StaleTree", testStaleTree},
		{"InvalidBatch", testInvalidBatch},
		{"ManyKeys", testManyKeys},
		{"ConcurrentAppends", testConcurrentAppends},
		{"ReadersSeeWholeBatches", testReadersSeeWholeBatches},
		{"Reopen", testReopen},
		{"ContextCanceled", testContextCanceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, reopen := open(t)
			t.Cleanup(func() { s.Close() })
			reopenClosing := func(t *testing.T) storage.Storage {
				s := reopen(t)
				t.Cleanup(func() { s.Close() })
				return s
			}
			tt.run(t, s, reopenClosing)
		})
	}
}

const testTreeID = 0x1234_5678_9abc_def0

func testEmpty(t *testing.T, s storage.Storage, _ func(*testing.T) storage.Storage) {
	ctx := context.Background()
	if err := s.Ping(ctx); err != nil {
		t.Fatalf("Ping: %v", err)
	}
	m := newModel()
	m.check(t, s)
	h := leafHash([]byte("x"))
	if e, err := s.ReadEntryByLeafHash(ctx, h); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("ReadEntryByLeafHash on an empty store = entry %d, %v; want ErrNotFound", e.Index, err)
	}
	if got, err := s.ReadTile(ctx, 0, 0); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("ReadTile(0, 0) on an empty store = %d bytes, %v; want ErrNotFound", len(got), err)
	}
	if got, err := s.Search(ctx, Key("all")); err != nil || len(got) != 0 {
		t.Errorf("Search on an empty store = %v, %v; want nothing", got, err)
	}
	if got, err := s.LookupLeafHashes(ctx, []storage.Hash{h}); err != nil || len(got) != 0 {
		t.Errorf("LookupLeafHashes on an empty store = %v, %v; want an empty map", got, err)
	}
	if got, err := s.LookupLeafHashes(ctx, nil); err != nil || len(got) != 0 {
		t.Errorf("LookupLeafHashes(nil) = %v, %v; want an empty map", got, err)
	}
	// Append needs a tree.
	m.state.TreeID = testTreeID
	req := m.batch(3, "no-tree")
	if err := s.Append(ctx, req); err == nil {
		t.Fatal("Append before CreateTree succeeded")
	}
	newModel().check(t, s, req)
}

func testCreateTree(t *testing.T, s storage.Storage, _ func(*testing.T) storage.Storage) {
	ctx := context.Background()
	m := newModel()
	m.create(t, s, testTreeID)
	m.check(t, s)

	other := initialState(testTreeID + 1)
	other.Root[0] ^= 1
	for _, tc := range []struct {
		name  string
		state storage.TreeState
	}{
		{"same state", initialState(testTreeID)},
		{"other state", other},
	} {
		if err := s.CreateTree(ctx, tc.state); !errors.Is(err, storage.ErrTreeExists) {
			t.Errorf("second CreateTree (%s) = %v, want ErrTreeExists", tc.name, err)
		}
		m.check(t, s)
	}

	m.grow(t, s, "b", 5)
	if err := s.CreateTree(ctx, initialState(testTreeID)); !errors.Is(err, storage.ErrTreeExists) {
		t.Errorf("CreateTree on a tree of 5 = %v, want ErrTreeExists", err)
	}
	m.check(t, s)
}

func testAppendAndRead(t *testing.T, s storage.Storage, _ func(*testing.T) storage.Storage) {
	m := newModel()
	m.create(t, s, testTreeID)
	// Sizes chosen to fill, cross and straddle tile boundaries: 1, 3, 256,
	// 300, 556, 557, 1024.
	for i, n := range []int{1, 2, 253, 44, 256, 1, 467} {
		m.append(t, s, m.batch(n, fmt.Sprintf("b%d", i)))
		m.check(t, s)
	}
}

func testReadEntriesRanges(t *testing.T, s storage.Storage, _ func(*testing.T) storage.Storage) {
	ctx := context.Background()
	m := newModel()
	m.create(t, s, testTreeID)
	m.grow(t, s, "b", 4, 6) // size 10
	const size = 10
	for _, tc := range []struct {
		start, end uint64
		want       []uint64 // indexes
	}{
		{0, 0, nil},
		{0, 1, []uint64{0}},
		{3, 7, []uint64{3, 4, 5, 6}},
		{0, size, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{8, size + 5, []uint64{8, 9}},
		{size - 1, size, []uint64{9}},
		{size, size + 1, nil},
		{size + 100, size + 200, nil},
		{7, 3, nil},
		{5, 5, nil},
		{0, 1 << 63, []uint64{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{9, ^uint64(0), []uint64{9}},
		{1 << 63, ^uint64(0), nil},
	} {
		got, err := s.ReadEntries(ctx, tc.start, tc.end)
		if err != nil {
			t.Errorf("ReadEntries(%d, %d): %v", tc.start, tc.end, err)
			continue
		}
		var want []storage.Entry
		for _, i := range tc.want {
			want = append(want, m.entries[i])
		}
		checkEntries(t, fmt.Sprintf("ReadEntries(%d, %d)", tc.start, tc.end), got, want)
	}
}

func testLookupLeafHashes(t *testing.T, s storage.Storage, _ func(*testing.T) storage.Storage) {
	ctx := context.Background()
	m := newModel()
	m.create(t, s, testTreeID)
	m.grow(t, s, "b", 3, 4)
	e := m.entries
	absent1, absent2 := leafHash([]byte("absent 1")), leafHash([]byte("absent 2"))
	for _, tc := range []struct {
		name   string
		hashes []storage.Hash
		want   map[storage.Hash]uint64
	}{
		{"none", nil, map[storage.Hash]uint64{}},
		{"absent only", []storage.Hash{absent1, absent2}, map[storage.Hash]uint64{}},
		{"present only", []storage.Hash{e[0].LeafHash, e[6].LeafHash}, map[storage.Hash]uint64{e[0].LeafHash: 0, e[6].LeafHash: 6}},
		{"mixed", []storage.Hash{absent1, e[3].LeafHash, absent2, e[5].LeafHash},
			map[storage.Hash]uint64{e[3].LeafHash: 3, e[5].LeafHash: 5}},
		{"repeated", []storage.Hash{e[2].LeafHash, e[2].LeafHash, absent1, absent1},
			map[storage.Hash]uint64{e[2].LeafHash: 2}},
	} {
		got, err := s.LookupLeafHashes(ctx, tc.hashes)
		if err != nil {
			t.Errorf("LookupLeafHashes(%s): %v", tc.name, err)
			continue
		}
		if len(got) != len(tc.want) {
			t.Errorf("LookupLeafHashes(%s) = %v, want %v", tc.name, got, tc.want)
			continue
		}
		for h, i := range tc.want {
			if j, ok := got[h]; !ok || j != i {
				t.Errorf("LookupLeafHashes(%s) = %v, want %v", tc.name, got, tc.want)
				break
			}
		}
	}
}

func testTiles(t *testing.T, s storage.Storage, _ func(*testing.T) storage.Storage) {
	ctx := context.Background()
	m := newModel()
	m.create(t, s, testTreeID)
	hashes := func(n int, seed byte) []byte {
		b := make([]byte, 32*n)
		for i := range b {
			b[i] = seed + byte(i*7)
		}
		return b
	}
	// Each step appends entries with their level-0 tiles (their leaf
	// hashes, as every level-0 tile must hold) and the tiles given.
	steps := []struct {
		name    string
		entries int
		tiles   []storage.Tile
	}{
		{"partial", 3, nil},
		{"grown", 7, nil},
		{"full and next", 247, []storage.Tile{{Level: 1, Index: 0, Hashes: hashes(1, 3)}}},
		{"higher levels", 1, []storage.Tile{
			{Level: 2, Index: 0, Hashes: hashes(1, 4)},
			{Level: 0, Index: 1 << 40, Hashes: hashes(256, 5)},
			{Level: 255, Index: 7, Hashes: hashes(2, 6)},
		}},
		{"same tile twice: the last wins", 1, []storage.Tile{
			{Level: 1, Index: 0, Hashes: hashes(1, 7)},
			{Level: 1, Index: 0, Hashes: hashes(2, 8)},
		}},
	}
	for i, step := range steps {
		req := m.batch(step.entries, fmt.Sprintf("tiles-%d", i))
		req.Tiles = slices.DeleteFunc(req.Tiles, func(t storage.Tile) bool { return t.Level > 0 })
		req.Tiles = append(req.Tiles, step.tiles...)
		m.append(t, s, req)
		m.check(t, s)
	}
	leaves := func(lo, hi int) []byte {
		var b []byte
		for _, e := range m.entries[lo:hi] {
			b = append(b, e.LeafHash[:]...)
		}
		return b
	}
	for _, tc := range []struct {
		level uint8
		index uint64
		want  []byte // nil: ErrNotFound
	}{
		{0, 0, leaves(0, 256)},
		{0, 1, leaves(256, 259)},
		{1, 0, hashes(2, 8)},
		{255, 7, hashes(2, 6)},
		{0, 1 << 40, hashes(256, 5)},
		{0, 2, nil},
		{1, 1, nil},
		{3, 0, nil},
		{0, 1<<63 - 1, nil},
		{0, ^uint64(0), nil},
	} {
		got, err := s.ReadTile(ctx, tc.level, tc.index)
		switch {
		case tc.want == nil && !errors.Is(err, storage.ErrNotFound):
			t.Errorf("ReadTile(%d, %d) = %d bytes, %v; want ErrNotFound", tc.level, tc.index, len(got), err)
		case tc.want != nil && (err != nil || string(got) != string(tc.want)):
			t.Errorf("ReadTile(%d, %d) = %d bytes, %v; want %d bytes", tc.level, tc.index, len(got), err, len(tc.want))
		}
	}
}

// testEdgeTile checks the right-edge level-0 tile, which a driver may make
// of its entries' leaf hashes instead of storing it (storage.Storage's
// ReadTile): at every width from 1 to 255, appending one entry at a time,
// then across a tile boundary, and that a failed batch does not widen it.
func testEdgeTile(t *testing.T, s storage.Storage, _ func(*testing.T) storage.Storage) {
	ctx := context.Background()
	m := newModel()
	m.create(t, s, testTreeID)
	for _, tl := range []uint64{0, 1} {
		if got, err := s.ReadTile(ctx, 0, tl); !errors.Is(err, storage.ErrNotFound) {
			t.Fatalf("empty log: ReadTile(0, %d) = %d bytes, %v; want ErrNotFound", tl, len(got), err)
		}
	}
	for w := 1; w <= 255; w++ {
		m.append(t, s, m.batch(1, fmt.Sprintf("edge-%d", w)))
		checkEdge(t, s, m)
	}
	// A stale batch (built on size 250) and a duplicate leave it as it is.
	stale := m.batch(10, "stale")
	stale.OldSize = 250
	for i := range stale.Entries {
		stale.Entries[i].Index = 250 + uint64(i)
	}
	stale.State.Size = 260
	if err := s.Append(ctx, stale); !errors.Is(err, storage.ErrStaleTree) {
		t.Fatalf("stale Append = %v, want ErrStaleTree", err)
	}
	dup := m.batch(3, "dup")
	dupe(&dup.Entries[2], m.entries[0])
	if err := s.Append(ctx, dup); !errors.Is(err, storage.ErrDuplicate) {
		t.Fatalf("duplicate Append = %v, want ErrDuplicate", err)
	}
	checkEdge(t, s, m)
	// Across the boundary: tile 0 full, tile 1 of 9; then tile 1 full and
	// tile 2 of 1 in one batch of 248.
	m.append(t, s, m.batch(10, "across"))
	checkEdge(t, s, m)
	m.append(t, s, m.batch(248, "across-2"))
	checkEdge(t, s, m)
	m.check(t, s)
}

// testEntryAndTile: a store that reads an entry with its level-0 tile
// (storage.EntryTileReader) gives the entry ReadEntries gives and, of a
// full tile, the upper nodes it was written with and the entry's group of
// ReadTile's hashes, or ReadTile's whole tile when it was written without
// nodes; nothing for a partial tile; ErrNotFound for an entry past the
// log.
func testEntryAndTile(t *testing.T, s storage.Storage, _ func(*testing.T) storage.Storage) {
	r, ok := s.(storage.EntryTileReader)
	if !ok {
		t.Skip("the store does not read an entry with its tile")
	}
	ctx := context.Background()
	m := newModel()
	m.create(t, s, testTreeID)
	m.append(t, s, m.batchWithoutNodes(256, "entry-tile-bare")) // tile 0 full, written without nodes
	m.grow(t, s, "entry-tile", 44, 230)                         // tile 1 full with nodes, tile 2 of 18
	for _, tc := range []struct {
		index        uint64
		whole, group bool
	}{
		{0, true, false}, {255, true, false}, {100, true, false},
		{256, false, true}, {271, false, true}, {272, false, true}, {300, false, true}, {511, false, true},
		{512, false, false}, {529, false, false},
	} {
		name := fmt.Sprintf("ReadEntryAndTile(%d)", tc.index)
		e, got, err := r.ReadEntryAndTile(ctx, tc.index)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		checkEntries(t, name, []storage.Entry{e}, m.entries[tc.index:tc.index+1])
		var want storage.EntryTile
		if tc.whole || tc.group {
			tile, err := s.ReadTile(ctx, 0, tc.index/256)
			if err != nil {
				t.Fatal(err)
			}
			want.Hashes = tile
			if tc.group {
				g := tc.index % 256 / 16
				want = storage.EntryTile{Group: tile[g*512 : (g+1)*512], Nodes: merkle.UpperNodes(tile)}
			}
		}
		if !bytes.Equal(got.Hashes, want.Hashes) || !bytes.Equal(got.Group, want.Group) || !bytes.Equal(got.Nodes, want.Nodes) {
			t.Errorf("%s: tile %d, group %d and nodes %d bytes; want %d, %d and %d (or other bytes)", name,
				len(got.Hashes), len(got.Group), len(got.Nodes), len(want.Hashes), len(want.Group), len(want.Nodes))
		}
	}
	for _, index := range []uint64{530, 1 << 40, math.MaxUint64} {
		if _, tile, err := r.ReadEntryAndTile(ctx, index); !errors.Is(err, storage.ErrNotFound) || tile.Hashes != nil || tile.Group != nil {
			t.Errorf("ReadEntryAndTile(%d) past the log: %+v, %v; want ErrNotFound", index, tile, err)
		}
	}
}

// checkEdge compares every level-0 tile of the model's log with ReadTile,
// and checks the tile past the edge is not found.
func checkEdge(t *testing.T, s storage.Storage, m *model) {
	t.Helper()
	ctx := context.Background()
	size := uint64(len(m.entries))
	for tl := uint64(0); tl*256 < size; tl++ {
		var want []byte
		for _, e := range m.entries[tl*256 : min(tl*256+256, size)] {
			want = append(want, e.LeafHash[:]...)
		}
		got, err := s.ReadTile(ctx, 0, tl)
		if err != nil || !bytes.Equal(got, want) {
			t.Fatalf("size %d: ReadTile(0, %d) = %d bytes, %v; want the %d leaf hashes", size, tl, len(got), err, len(want)/32)
		}
	}
	if got, err := s.ReadTile(ctx, 0, (size+255)/256); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("size %d: ReadTile(0, %d) = %d bytes, %v; want ErrNotFound", size, (size+255)/256, len(got), err)
	}
}

func testSearch(t *testing.T, s storage.Storage, _ func(*testing.T) storage.Storage) {
	ctx := context.Background()
	m := newModel()
	m.create(t, s, testTreeID)
	b1 := m.batch(3, "s1")
	zero, ones := storage.Hash{}, storage.Hash{}
	for i := range ones {
		ones[i] = 0xff
	}
	b1.Entries[0].SearchKeys = []storage.Hash{Key("k:shared"), Key("k:twice"), Key("k:twice"), zero}
	b1.Entries[1].SearchKeys = nil
	b1.Entries[2].SearchKeys = []storage.Hash{Key("k:shared"), Key("K:SHARED"), ones}
	m.append(t, s, b1)
	b2 := m.batch(2, "s2")
	b2.Entries[0].SearchKeys = []storage.Hash{Key("k:shared")}
	b2.Entries[1].SearchKeys = []storage.Hash{Key("k:twice"), Key("k:shared")}
	m.append(t, s, b2)
	m.check(t, s)

	// A key one bit off in its first 16 bytes finds nothing. One that
	// differs only past them may find the entries indexed under the key it
	// shares them with: a driver may index keys by their first 16 bytes
	// (storage.Storage.Search).
	sharedPrefix := Key("k:shared")
	sharedPrefix[15] ^= 1
	sharedTail := Key("k:shared")
	sharedTail[31] ^= 1
	for _, tc := range []struct {
		name string
		key  storage.Hash
		want []uint64
	}{
		{"shared", Key("k:shared"), []uint64{0, 2, 3, 4}},
		{"twice", Key("k:twice"), []uint64{0, 4}},
		{"another case", Key("K:SHARED"), []uint64{2}},
		{"zero", zero, []uint64{0}},
		{"all ones", ones, []uint64{2}},
		{"absent", Key("k:absent"), nil},
		{"one bit off", sharedPrefix, nil},
	} {
		got, err := s.Search(ctx, tc.key)
		if err != nil {
			t.Errorf("Search(%s): %v", tc.name, err)
			continue
		}
		if !slices.Equal(got, tc.want) {
			t.Errorf("Search(%s) = %v, want %v", tc.name, got, tc.want)
		}
	}
	if got, err := s.Search(ctx, sharedTail); err != nil || (got != nil && !slices.Equal(got, []uint64{0, 2, 3, 4})) {
		t.Errorf("Search(the shared key, its last byte changed) = %v, %v; want nothing or the shared key's [0 2 3 4]", got, err)
	}

	// Two keys of one entry that share their first 16 bytes: the batch
	// commits, and each finds the entry once.
	twin := Key("k:twin")
	twin2 := twin
	twin2[20] ^= 0x80
	b3 := m.batch(1, "s3")
	b3.Entries[0].SearchKeys = []storage.Hash{twin, twin2, twin}
	if err := s.Append(ctx, b3); err != nil {
		t.Fatalf("Append(keys sharing 16 bytes): %v", err)
	}
	m.apply(b3)
	for _, k := range []storage.Hash{twin, twin2} {
		if got, err := s.Search(ctx, k); err != nil || !slices.Equal(got, []uint64{5}) {
			t.Errorf("Search(twin) = %v, %v; want [5]", got, err)
		}
	}
}

func testEmptyBatch(t *testing.T, s storage.Storage, _ func(*testing.T) storage.Storage) {
	m := newModel()
	m.create(t, s, testTreeID)
	m.grow(t, s, "b", 3)
	// A batch of no entries moves nothing but the head: a re-signed checkpoint.
	req := m.batch(0, "resigned")
	if len(req.Entries) != 0 || len(req.Tiles) != 0 || req.State.Size != 3 {
		t.Fatalf("batch(0) = %d entries, %d tiles, size %d", len(req.Entries), len(req.Tiles), req.State.Size)
	}
	m.append(t, s, req)
	m.check(t, s)
	m.grow(t, s, "after", 2)
	m.check(t, s)
}

func testLargeBatch(t *testing.T, s storage.Storage, _ func(*testing.T) storage.Storage) {
	m := newModel()
	m.create(t, s, testTreeID)
	m.grow(t, s, "large", 5000, 1)
	m.check(t, s)
}

func testDuplicate(t *testing.T, s storage.Storage, _ func(*testing.T) storage.Storage) {
	ctx := context.Background()
	m := newModel()
	m.create(t, s, testTreeID)
	m.grow(t, s, "b", 300) // two level-0 tiles, the second partial: a batch touches it, a new one and level 1
	for _, tc := range []struct {
		name   string
		mutate func(req *storage.AppendRequest)
	}{
		{"first entry repeats a stored leaf", func(req *storage.AppendRequest) {
			dupe(&req.Entries[0], m.entries[0])
		}},
		{"last entry repeats a stored leaf", func(req *storage.AppendRequest) {
			dupe(&req.Entries[len(req.Entries)-1], m.entries[299])
		}},
		{"two entries of the batch share a leaf", func(req *storage.AppendRequest) {
			dupe(&req.Entries[len(req.Entries)/2+1], req.Entries[1])
		}},
	} {
		// Small and large batches: drivers may write them differently.
		for _, n := range []int{5, 300} {
			t.Run(fmt.Sprintf("%s/batch=%d", tc.name, n), func(t *testing.T) {
				req := m.batch(n, "dup")
				tc.mutate(&req)
				err := s.Append(ctx, req)
				if !errors.Is(err, storage.ErrDuplicate) {
					t.Fatalf("Append = %v, want ErrDuplicate", err)
				}
				m.check(t, s, req)
			})
		}
	}
	// The store still takes good batches.
	m.grow(t, s, "after", 3)
	m.check(t, s)
}

// dupe makes e carry the leaf (and body) of stored, keeping its own index.
func dupe(e *storage.Entry, stored storage.Entry) {
	e.LeafHash, e.Body = stored.LeafHash, stored.Body
}

func testStaleTree(t *testing.T, s storage.Storage, _ func(*testing.T) storage.Storage) {
	ctx := context.Background()
	m := newModel()
	m.create(t, s, testTreeID)
	m.grow(t, s, "b", 10)
	for _, tc := range []struct {
		name    string
		oldSize uint64
	}{
		{"from an empty tree", 0},
		{"one behind", 9},
		{"one ahead", 11},
		{"far ahead", 1 << 40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stale := &model{state: m.state}
			stale.state.Size = tc.oldSize
			req := stale.batchNoTiles(4, "stale-"+tc.name)
			err := s.Append(ctx, req)
			if !errors.Is(err, storage.ErrStaleTree) {
				t.Fatalf("Append(OldSize %d) on a tree of 10 = %v, want ErrStaleTree", tc.oldSize, err)
			}
			m.check(t, s, req)
		})
	}
	m.grow(t, s, "after", 2)
	m.check(t, s)
}

// batchNoTiles is batch for a model whose entries may not be known: the
// tiles are made up.
func (m *model) batchNoTiles(n int, tag string) storage.AppendRequest {
	req := storage.AppendRequest{OldSize: m.state.Size}
	for i := range n {
		req.Entries = append(req.Entries, makeEntry(m.state.Size+uint64(i), tag))
	}
	h := nodeHash(0, m.state.Size)
	req.Tiles = []storage.Tile{{Level: 0, Index: m.state.Size / 256, Hashes: h[:]}}
	req.State = storage.TreeState{TreeID: m.state.TreeID, Size: m.state.Size + uint64(n), Root: h, Checkpoint: []byte(tag)}
	return req
}

func testInvalidBatch(t *testing.T, s storage.Storage, _ func(*testing.T) storage.Storage) {
	ctx := context.Background()
	m := newModel()
	m.create(t, s, testTreeID)
	m.grow(t, s, "b", 5)
	for _, tc := range []struct {
		name   string
		mutate func(req *storage.AppendRequest)
	}{
		{"size does not add up", func(req *storage.AppendRequest) { req.State.Size++ }},
		{"size too small", func(req *storage.AppendRequest) { req.State.Size = req.OldSize }},
		{"index gap", func(req *storage.AppendRequest) { req.Entries[2].Index++ }},
		{"indexes swapped", func(req *storage.AppendRequest) {
			req.Entries[0].Index, req.Entries[1].Index = req.Entries[1].Index, req.Entries[0].Index
		}},
		{"index from zero", func(req *storage.AppendRequest) {
			for i := range req.Entries {
				req.Entries[i].Index = uint64(i)
			}
		}},
		{"tile of 31 bytes", func(req *storage.AppendRequest) { req.Tiles[0].Hashes = req.Tiles[0].Hashes[:31] }},
		{"empty tile", func(req *storage.AppendRequest) { req.Tiles[0].Hashes = nil }},
		{"tile of 257 hashes", func(req *storage.AppendRequest) { req.Tiles[0].Hashes = make([]byte, 257*32) }},
		{"tile index past int64", func(req *storage.AppendRequest) { req.Tiles[0].Index = 1 << 63 }},
		{"huge sizes", func(req *storage.AppendRequest) {
			req.OldSize = ^uint64(0) - 1
			req.State.Size = req.OldSize + uint64(len(req.Entries))
			for i := range req.Entries {
				req.Entries[i].Index = req.OldSize + uint64(i)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := m.batch(4, "invalid")
			tc.mutate(&req)
			err := s.Append(ctx, req)
			if err == nil {
				t.Fatal("Append of a malformed batch succeeded")
			}
			// A malformed batch is the caller's bug, not its entries' data.
			if errors.Is(err, storage.ErrRejected) || errors.Is(err, storage.ErrEntryRejected) {
				t.Fatalf("Append of a malformed batch = %v, which blames the data", err)
			}
			m.check(t, s, req)
		})
	}
	m.grow(t, s, "after", 2)
	m.check(t, s)
}

// testManyKeys: entries indexed under many keys each (1,024, the most the
// log indexes an entry under), some shared across entries and batches, in
// small and large batches, commit whole and are found by every key.
//
// Search keys are fixed-size hashes, so no key's value can be refused by a
// store (the too-long and NUL-holding keys that once were are hashed like
// any other; the API tests store and find them on both engines). Data a
// store refuses is reported as storage.ErrRejected or a *storage.EntryError
// (see the package comment); the drivers' classify tests cover the former.
func testManyKeys(t *testing.T, s storage.Storage, _ func(*testing.T) storage.Storage) {
	const perEntry = 1024
	m := newModel()
	m.create(t, s, testTreeID)
	// Drivers may write small and large batches apart (PostgreSQL: COPY
	// from 256 entries); in the large one, the first and last entries have
	// many keys.
	for _, n := range []int{1, 4, 300} {
		req := m.batch(n, fmt.Sprintf("many-%d", n))
		for i := range req.Entries {
			if n > 4 && i != 0 && i != n-1 {
				continue
			}
			e := &req.Entries[i]
			for j := range perEntry - len(e.SearchKeys) {
				// Half the keys are shared by every entry of the test.
				text := fmt.Sprintf("shared %d", j)
				if j%2 == 1 {
					text = fmt.Sprintf("own %d %d", e.Index, j)
				}
				e.SearchKeys = append(e.SearchKeys, Key(text))
			}
		}
		m.append(t, s, req)
	}
	m.check(t, s)
}

func testConcurrentAppends(t *testing.T, s storage.Storage, _ func(*testing.T) storage.Storage) {
	ctx := context.Background()
	m := newModel()
	m.create(t, s, testTreeID)
	const writers = 16
	for round := range 3 {
		reqs := make([]storage.AppendRequest, writers)
		for w := range reqs {
			reqs[w] = m.batch(1+w%5, fmt.Sprintf("r%d-w%d", round, w))
		}
		errs := make([]error, writers)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for w := range reqs {
			wg.Go(func() {
				<-start
				errs[w] = s.Append(ctx, reqs[w])
			})
		}
		close(start)
		wg.Wait()

		winner := -1
		for w, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: writers %d and %d both appended on size %d", round, winner, w, m.state.Size)
			case err == nil:
				winner = w
			case !errors.Is(err, storage.ErrStaleTree):
				t.Fatalf("round %d: writer %d: %v, want nil or ErrStaleTree", round, w, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no writer won", round)
		}
		m.apply(reqs[winner])
		var losers []storage.AppendRequest
		for w := range reqs {
			if w != winner {
				losers = append(losers, reqs[w])
			}
		}
		m.check(t, s, losers...)
	}
}

func testReadersSeeWholeBatches(t *testing.T, s storage.Storage, _ func(*testing.T) storage.Storage) {
	m := newModel()
	m.create(t, s, testTreeID)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// Readers check that every head they see comes with all its entries
	// and its right-edge tile, while one writer appends.
	errc := make(chan error, 4)
	var wg sync.WaitGroup
	for range cap(errc) {
		wg.Go(func() {
			for ctx.Err() == nil {
				st, err := s.LatestTreeState(ctx)
				if err != nil {
					if ctx.Err() == nil {
						errc <- fmt.Errorf("LatestTreeState: %w", err)
					}
					return
				}
				if st.Size == 0 {
					continue
				}
				es, err := s.ReadEntries(ctx, st.Size-1, st.Size+1)
				if err != nil {
					if ctx.Err() == nil {
						errc <- fmt.Errorf("ReadEntries: %w", err)
					}
					return
				}
				if len(es) == 0 || es[0].Index != st.Size-1 {
					errc <- fmt.Errorf("head of size %d is visible without entry %d", st.Size, st.Size-1)
					return
				}
				tile, err := s.ReadTile(ctx, 0, (st.Size-1)/256)
				if err != nil && ctx.Err() == nil {
					errc <- fmt.Errorf("head of size %d: ReadTile: %w", st.Size, err)
					return
				}
				if err == nil && uint64(len(tile)/32) < (st.Size-1)%256+1 {
					errc <- fmt.Errorf("head of size %d is visible with a tile of %d hashes", st.Size, len(tile)/32)
					return
				}
				// A level-0 tile holds its entries' leaf hashes (the tile
				// may be wider than st: a batch may have committed since).
				first := (st.Size - 1) / 256 * 256
				es, err = s.ReadEntries(ctx, first, first+uint64(len(tile)/32))
				if err != nil || len(es) != len(tile)/32 {
					if ctx.Err() == nil {
						errc <- fmt.Errorf("head of size %d: %d entries under a tile of %d hashes: %v", st.Size, len(es), len(tile)/32, err)
					}
					return
				}
				for i, e := range es {
					if !bytes.Equal(tile[32*i:32*i+32], e.LeafHash[:]) {
						errc <- fmt.Errorf("head of size %d: tile hash %d is not entry %d's leaf hash", st.Size, i, e.Index)
						return
					}
				}
			}
		})
	}
	deadline := time.Now().Add(2 * time.Second)
	for i := 0; i < 40 && time.Now().Before(deadline); i++ {
		m.append(t, s, m.batch(1+i%23, fmt.Sprintf("b%d", i)))
	}
	cancel()
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	m.check(t, s)
}

func testReopen(t *testing.T, s storage.Storage, reopen func(*testing.T) storage.Storage) {
	m := newModel()
	m.create(t, s, testTreeID)
	m.grow(t, s, "before", 1, 300, 7)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = reopen(t)
	m.check(t, s)
	if err := s.CreateTree(context.Background(), initialState(1)); !errors.Is(err, storage.ErrTreeExists) {
		t.Errorf("CreateTree after reopen = %v, want ErrTreeExists", err)
	}
	m.grow(t, s, "after", 5)
	m.check(t, s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s = reopen(t)
	m.check(t, s)
}

func testContextCanceled(t *testing.T, s storage.Storage, _ func(*testing.T) storage.Storage) {
	m := newModel()
	m.create(t, s, testTreeID)
	m.grow(t, s, "b", 10)

	canceled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	for _, tc := range []struct {
		name string
		ctx  context.Context
	}{
		{"canceled", canceled},
		{"deadline exceeded", expired},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, n := range []int{1, 600} {
				req := m.batch(n, "canceled-"+tc.name)
				if err := s.Append(tc.ctx, req); err == nil {
					t.Fatalf("Append(%d entries) with a %s context succeeded", n, tc.name)
				}
				m.check(t, s, req)
			}
			if _, err := s.LatestTreeState(tc.ctx); err == nil {
				t.Errorf("LatestTreeState with a %s context succeeded", tc.name)
			}
			if err := s.Ping(tc.ctx); err == nil {
				t.Errorf("Ping with a %s context succeeded", tc.name)
			}
		})
	}
	// A context that ends while Append runs: when Append returns, the batch
	// must be in the store whole or not at all, for good: a batch that shows
	// up after Append returned an error would be one the caller reported
	// failed. (An error after a commit, which the caller cannot tell from
	// one before, is allowed by the contract.)
	for i := range 20 {
		req := m.batch(200, fmt.Sprintf("racing-%d", i))
		ctx, cancel := context.WithTimeout(context.Background(), time.Duration(i)*500*time.Microsecond)
		err := s.Append(ctx, req)
		cancel()
		st, serr := s.LatestTreeState(context.Background())
		if serr != nil {
			t.Fatalf("LatestTreeState: %v", serr)
		}
		switch {
		case st.Size == req.State.Size:
			m.apply(req) // committed (err may report a failure after commit)
			m.check(t, s)
		case st.Size == req.OldSize && err != nil:
			m.check(t, s, req)
		default:
			t.Fatalf("after Append = %v: size %d, want %d or %d", err, st.Size, req.OldSize, req.State.Size)
		}
	}
	// The store still works.
	m.grow(t, s, "after", 3)
	m.check(t, s)
}

// CheckClass checks that err, a driver's classification of a database error,
// matches want (nil: neither storage.ErrRejected nor storage.ErrDuplicate)
// and never storage.ErrEntryRejected, which only the driver's own checks give.
func CheckClass(t *testing.T, err, want error) {
	t.Helper()
	for _, sentinel := range []error{storage.ErrRejected, storage.ErrDuplicate, storage.ErrEntryRejected} {
		if got := errors.Is(err, sentinel); got != (sentinel == want) {
			t.Errorf("classify = %v: matches %v: %t, want %t", err, sentinel, got, !got)
		}
	}
}

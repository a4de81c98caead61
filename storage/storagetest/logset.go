package storagetest

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/storage"
)

// OpenLogSet returns a fresh, empty LogSet and a function that freezes one
// of its logs behind its back (state 'frozen', final size and checkpoint
// those of its tree state), as Rotate does but without a successor.
type OpenLogSet func(t *testing.T) (set storage.LogSet, freeze func(t *testing.T, treeID int64))

// FreezeSQL is the statement a test's freeze runs, with param the
// driver's numbered placeholder for the tree ID (?1 or $1): it marks the log frozen
// at its stored head.
func FreezeSQL(param string) string {
	return `UPDATE logs SET state = 'frozen',
		final_size = (SELECT size FROM tree_state WHERE tree_id = ` + param + `),
		final_checkpoint = (SELECT checkpoint FROM tree_state WHERE tree_id = ` + param + `)
		WHERE tree_id = ` + param
}

// RunLogSet runs the conformance suite of storage.LogSet against a driver.
func RunLogSet(t *testing.T, open OpenLogSet) {
	for _, tc := range []struct {
		name string
		run  func(*testing.T, storage.LogSet, func(*testing.T, int64))
	}{
		{"CreateAndList", testCreateAndList},
		{"SetPublicKey", testSetPublicKey},
		{"TwoLogs", testTwoLogs},
		{"FrozenRefusesAppend", testFrozenRefusesAppend},
		{"Active", testActive},
		{"Rotate", testRotate},
		{"RotateRefused", testRotateRefused},
		{"RotateEmpty", testRotateEmpty},
		{"LocateThreeLogs", testLocateThreeLogs},
		{"RotateWhileAppending", testRotateWhileAppending},
		{"EdgeTileAfterRotation", testEdgeTileAfterRotation},
		{"Cosigned", testCosigned},
		{"Lease", testLease},
		{"TileNodesBackfill", testTileNodesBackfill},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set, freeze := open(t)
			t.Cleanup(func() { set.Close() })
			tc.run(t, set, freeze)
		})
	}
}

func newLog(treeID int64, profile string, start uint64) storage.LogInfo {
	return storage.LogInfo{
		TreeID:     treeID,
		Origin:     "example.com/log/" + profile,
		Profile:    profile,
		PublicKey:  []byte("public key of " + profile),
		StartIndex: start,
	}
}

func createLog(t *testing.T, set storage.LogSet, info storage.LogInfo) storage.Storage {
	t.Helper()
	ctx := context.Background()
	if err := set.CreateLog(ctx, info, initialState(info.TreeID)); err != nil {
		t.Fatalf("CreateLog(%d): %v", info.TreeID, err)
	}
	s, err := set.OpenLog(ctx, info.TreeID)
	if err != nil {
		t.Fatalf("OpenLog(%d): %v", info.TreeID, err)
	}
	return s
}

func logs(t *testing.T, set storage.LogSet) []storage.LogInfo {
	t.Helper()
	got, err := set.Logs(context.Background())
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	return got
}

func checkInfo(t *testing.T, got, want storage.LogInfo) {
	t.Helper()
	if got.TreeID != want.TreeID || got.Origin != want.Origin || got.Profile != want.Profile ||
		!bytes.Equal(got.PublicKey, want.PublicKey) || got.State != want.State ||
		got.StartIndex != want.StartIndex || got.FinalSize != want.FinalSize ||
		!bytes.Equal(got.FinalCheckpoint, want.FinalCheckpoint) {
		t.Errorf("log %d = %+v, want %+v", want.TreeID, got, want)
	}
	if got.CreatedAt.IsZero() {
		t.Errorf("log %d: no creation time", want.TreeID)
	}
}

func testCreateAndList(t *testing.T, set storage.LogSet, _ func(*testing.T, int64)) {
	ctx := context.Background()
	if got := logs(t, set); len(got) != 0 {
		t.Fatalf("Logs of an empty set = %+v", got)
	}
	if _, err := set.OpenLog(ctx, 1); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("OpenLog of an absent log = %v, want ErrNotFound", err)
	}
	a := newLog(1, "p", 0)
	m := newModel()
	s := createLog(t, set, a)
	m.created, m.state = true, initialState(1)
	m.check(t, s)
	if err := s.CreateTree(ctx, initialState(1)); !errors.Is(err, storage.ErrTreeExists) {
		t.Errorf("CreateTree on a created log = %v, want ErrTreeExists", err)
	}

	for _, tc := range []struct {
		name string
		info storage.LogInfo
		want error // nil: any error
	}{
		{"a second active log of the profile", newLog(2, "p", 0), storage.ErrActiveLog},
		{"a taken tree ID", newLog(1, "q", 0), storage.ErrTreeExists},
		{"tree ID 0", newLog(0, "q", 0), nil},
		{"no profile", newLog(3, "", 0), nil},
		{"a frozen log", func() storage.LogInfo { l := newLog(3, "q", 0); l.State = storage.LogFrozen; return l }(), nil},
	} {
		err := set.CreateLog(ctx, tc.info, initialState(tc.info.TreeID))
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("CreateLog(%s) = %v, want %v", tc.name, err, tc.want)
		}
	}
	if err := set.CreateLog(ctx, newLog(4, "q", 0), storage.TreeState{TreeID: 4, Size: 1}); err == nil {
		t.Error("CreateLog with a tree of size 1 succeeded")
	}
	// The first log holds [0, 5): a log starting inside it is refused.
	m.grow(t, s, "a", 5)
	if err := set.CreateLog(ctx, newLog(5, "q", 4), initialState(5)); err == nil {
		t.Error("CreateLog inside another log's range succeeded")
	}
	b := newLog(6, "q", 5)
	createLog(t, set, b)

	got := logs(t, set)
	if len(got) != 2 {
		t.Fatalf("Logs = %+v, want 2 logs", got)
	}
	a.State, b.State = storage.LogActive, storage.LogActive
	checkInfo(t, got[0], a)
	checkInfo(t, got[1], b)
	m.check(t, s)
}

func testSetPublicKey(t *testing.T, set storage.LogSet, _ func(*testing.T, int64)) {
	ctx := context.Background()
	info := newLog(1, "p", 0)
	info.Origin, info.PublicKey = "", nil // as migrated from a one-tree database
	createLog(t, set, info)
	if err := set.SetPublicKey(ctx, 2, "o", []byte("k")); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("SetPublicKey of an absent log = %v, want ErrNotFound", err)
	}
	if err := set.SetPublicKey(ctx, 1, "o", nil); err == nil {
		t.Error("SetPublicKey(nil) succeeded")
	}
	if err := set.SetPublicKey(ctx, 1, "origin", []byte("key")); err != nil {
		t.Fatalf("SetPublicKey: %v", err)
	}
	if err := set.SetPublicKey(ctx, 1, "origin", []byte("key")); err != nil {
		t.Errorf("SetPublicKey again with the same key: %v", err)
	}
	if err := set.SetPublicKey(ctx, 1, "origin", []byte("another key")); err == nil {
		t.Error("SetPublicKey with another key succeeded")
	}
	info.Origin, info.PublicKey, info.State = "origin", []byte("key"), storage.LogActive
	got := logs(t, set)
	if len(got) != 1 {
		t.Fatalf("Logs = %+v", got)
	}
	checkInfo(t, got[0], info)
}

// testTwoLogs grows a log, rotates it, grows its successor, and checks that
// each sees its own tree state, tiles, entries and search keys, under its
// own indexes.
func testTwoLogs(t *testing.T, set storage.LogSet, _ func(*testing.T, int64)) {
	ctx := context.Background()
	a := createLog(t, set, newLog(10, "p", 0))
	ma := newModel()
	ma.created, ma.state = true, initialState(10)
	ma.grow(t, a, "a", 1, 300, 7) // 308 entries: level-0 tiles 0 and 1
	b := rotate(t, set, 10, newLog(20, "p", 0))
	mb := newModel()
	mb.created, mb.state = true, initialState(20)
	mb.grow(t, b, "b", 5, 2) // 7 entries: tile 0 only
	ma.check(t, a)
	mb.check(t, b)

	if got, err := b.ReadTile(ctx, 0, 1); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("ReadTile(0, 1) of the second log = %d bytes, %v; want ErrNotFound (tile 0/1 is the first log's)", len(got), err)
	}
	if got, err := a.ReadEntries(ctx, 305, 320); err != nil || len(got) != 3 {
		t.Errorf("ReadEntries(305, 320) of the first log = %d entries, %v; want 3 (its last)", len(got), err)
	}
	leafOfA := ma.entries[0].LeafHash
	if e, err := b.ReadEntryByLeafHash(ctx, leafOfA); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("ReadEntryByLeafHash of the first log's leaf in the second = entry %d, %v; want ErrNotFound", e.Index, err)
	}
	if got, err := b.LookupLeafHashes(ctx, []storage.Hash{leafOfA}); err != nil || len(got) != 0 {
		t.Errorf("LookupLeafHashes of the first log's leaf in the second = %v, %v; want nothing", got, err)
	}
	// The leaf hash is unique across the set: the second log cannot hold
	// an entry of the first.
	dup := mb.batch(1, "dup")
	dup.Entries[0].Body, dup.Entries[0].LeafHash = ma.entries[3].Body, ma.entries[3].LeafHash
	if err := b.Append(ctx, dup); !errors.Is(err, storage.ErrDuplicate) {
		t.Errorf("Append of the first log's leaf to the second = %v, want ErrDuplicate", err)
	}
	mb.check(t, b, dup)

	got := logs(t, set)
	if len(got) != 2 || got[0].TreeID != 10 || got[1].TreeID != 20 {
		t.Fatalf("Logs = %+v, want logs 10 and 20, oldest first", got)
	}
	if got[0].State != storage.LogFrozen || got[0].FinalSize != 308 || !bytes.Equal(got[0].FinalCheckpoint, ma.state.Checkpoint) {
		t.Errorf("the frozen log = %+v, want frozen at 308", got[0])
	}
	if got[1].State != storage.LogActive || got[1].StartIndex != 308 {
		t.Errorf("the second log = %+v, want active from 308", got[1])
	}
}

func testFrozenRefusesAppend(t *testing.T, set storage.LogSet, _ func(*testing.T, int64)) {
	ctx := context.Background()
	a := createLog(t, set, newLog(1, "p", 0))
	m := newModel()
	m.created, m.state = true, initialState(1)
	m.grow(t, a, "a", 3)
	rotate(t, set, 1, nextLog(2))
	for _, n := range []int{1, 0} {
		req := m.batch(n, "after-freeze")
		if err := a.Append(ctx, req); !errors.Is(err, storage.ErrFrozen) {
			t.Errorf("Append of %d entries to a frozen log = %v, want ErrFrozen", n, err)
		}
		m.check(t, a, req)
	}
	// A stale batch is refused too, as frozen or stale.
	stale := m.batch(1, "stale")
	stale.OldSize, stale.State.Size, stale.Entries[0].Index = 0, 1, 0
	if err := a.Append(ctx, stale); err == nil {
		t.Error("a stale Append to a frozen log succeeded")
	}
	m.check(t, a)
}

// testActive runs storage.Active on the set: it finds nothing until
// CreateTree creates the profile's log, at the profile's base (newLog's
// StartIndex) or after the profile's other logs.
func testActive(t *testing.T, set storage.LogSet, freeze func(*testing.T, int64)) {
	ctx := context.Background()
	other := createLog(t, set, newLog(1, "other", 0))
	mo := newModel()
	mo.created, mo.state = true, initialState(1)
	mo.grow(t, other, "o", 4)
	// Frozen without a successor of its profile, which Rotate cannot do.
	freeze(t, 1)

	// Another profile's base is inside the other log's range: refused.
	if err := storage.Active(set, "p", nil).CreateTree(ctx, initialState(6)); err == nil {
		t.Error("CreateTree at index 0, inside another profile's stored entries, succeeded")
	}
	s := storage.Active(set, "p", func(storage.TreeState) storage.LogInfo { return storage.LogInfo{StartIndex: 100} })
	m := newModel()
	m.check(t, s)
	m.create(t, s, 7)
	m.grow(t, s, "p", 3)
	m.check(t, s)
	if err := s.CreateTree(ctx, initialState(8)); !errors.Is(err, storage.ErrTreeExists) {
		t.Errorf("a second CreateTree = %v, want ErrTreeExists", err)
	}
	got := logs(t, set)
	if len(got) != 2 || got[1].TreeID != 7 || got[1].StartIndex != 100 || got[1].Profile != "p" {
		t.Fatalf("Logs = %+v, want log 7 of profile p from index 100", got)
	}
	// A second handle finds the log.
	m.check(t, storage.Active(set, "p", nil))
	mo.check(t, other)
}

// testTileNodesBackfill: a set that backfills tiles' upper nodes
// (storage.TileNodesBackfiller) gives every full tile of every log stored
// without them its nodes, once, leaves the others alone, and reads then
// take the group (storage.EntryTileReader).
func testTileNodesBackfill(t *testing.T, set storage.LogSet, _ func(*testing.T, int64)) {
	b, ok := set.(storage.TileNodesBackfiller)
	if !ok {
		t.Skip("the set does not backfill tile nodes")
	}
	ctx := context.Background()
	a := createLog(t, set, newLog(10, "p", 0))
	ma := newModel()
	ma.created, ma.state = true, initialState(10)
	ma.append(t, a, ma.batchWithoutNodes(600, "a")) // tiles 0 and 1 full, without nodes
	c := rotate(t, set, 10, newLog(20, "p", 0))
	mc := newModel()
	mc.created, mc.state = true, initialState(20)
	mc.append(t, c, mc.batchWithoutNodes(256, "c")) // tile 0 without nodes
	mc.grow(t, c, "c", 300)                         // tile 1 with nodes, tile 2 partial
	var calls []int
	n, err := b.BackfillTileNodes(ctx, 1, func(done int) { calls = append(calls, done) })
	if err != nil || n != 3 {
		t.Fatalf("BackfillTileNodes = %d, %v; want the 3 full tiles without nodes", n, err)
	}
	if len(calls) == 0 || calls[len(calls)-1] != 3 {
		t.Errorf("progress calls %v, want the running count up to 3", calls)
	}
	if n, err := b.BackfillTileNodes(ctx, 100, nil); err != nil || n != 0 {
		t.Errorf("BackfillTileNodes again = %d, %v; want 0", n, err)
	}
	for _, tc := range []struct {
		s     storage.Storage
		index uint64
	}{{a, 3}, {a, 300}, {c, 17}, {c, 260}} {
		r, ok := tc.s.(storage.EntryTileReader)
		if !ok {
			t.Skip("the store does not read an entry with its tile")
		}
		_, got, err := r.ReadEntryAndTile(ctx, tc.index)
		if err != nil {
			t.Fatal(err)
		}
		tile, err := tc.s.ReadTile(ctx, 0, tc.index/256)
		if err != nil {
			t.Fatal(err)
		}
		g := tc.index % 256 / 16
		if got.Hashes != nil || !bytes.Equal(got.Group, tile[g*512:(g+1)*512]) || !bytes.Equal(got.Nodes, merkle.UpperNodes(tile)) {
			t.Errorf("entry %d after the backfill: tile %d, group %d, nodes %d bytes; want its group and the tile's upper nodes",
				tc.index, len(got.Hashes), len(got.Group), len(got.Nodes))
		}
	}
	ma.check(t, a)
	mc.check(t, c)
}

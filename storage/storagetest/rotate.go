package storagetest

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/tabularium/tabula/storage"
)

// nextLog is a successor for Rotate: its own origin and key, the profile
// left to the old log's.
func nextLog(treeID int64) storage.LogInfo {
	return storage.LogInfo{
		TreeID:    treeID,
		Origin:    fmt.Sprintf("example.com/log/%d", treeID),
		PublicKey: fmt.Appendf(nil, "public key of log %d", treeID),
	}
}

// rotate rotates log old to next, which must succeed, and opens next.
func rotate(t *testing.T, set storage.LogSet, old int64, next storage.LogInfo) storage.Storage {
	t.Helper()
	ctx := context.Background()
	if _, err := set.Rotate(ctx, old, next, initialState(next.TreeID)); err != nil {
		t.Fatalf("Rotate(%d to %d): %v", old, next.TreeID, err)
	}
	s, err := set.OpenLog(ctx, next.TreeID)
	if err != nil {
		t.Fatalf("OpenLog(%d): %v", next.TreeID, err)
	}
	return s
}

func openLog(t *testing.T, set storage.LogSet, treeID int64) storage.Storage {
	t.Helper()
	s, err := set.OpenLog(context.Background(), treeID)
	if err != nil {
		t.Fatalf("OpenLog(%d): %v", treeID, err)
	}
	return s
}

// newLogModel is the model of a log CreateLog or Rotate just created.
func newLogModel(treeID int64) *model {
	m := newModel()
	m.created, m.state = true, initialState(treeID)
	return m
}

// checkLogs compares Logs with want, creation times included when want has
// them.
func checkLogs(t *testing.T, set storage.LogSet, want ...storage.LogInfo) {
	t.Helper()
	got := logs(t, set)
	if len(got) != len(want) {
		t.Fatalf("Logs = %+v, want %d logs", got, len(want))
	}
	for i := range want {
		checkInfo(t, got[i], want[i])
		if !want[i].CreatedAt.IsZero() && !got[i].CreatedAt.Equal(want[i].CreatedAt) {
			t.Errorf("log %d created at %v, want %v", want[i].TreeID, got[i].CreatedAt, want[i].CreatedAt)
		}
	}
}

// checkLocate checks LocateLeafHashes finds every entry of the models in
// its log (models maps tree IDs to models), under the log's own index, and
// nothing for absent hashes; the hashes are asked for with repeats and
// absent ones, in one call.
func checkLocate(t *testing.T, set storage.LogSet, models map[int64]*model, absent int) {
	t.Helper()
	want := map[storage.Hash]storage.LeafLocation{}
	var hashes []storage.Hash
	for treeID, m := range models {
		for _, e := range m.entries {
			want[e.LeafHash] = storage.LeafLocation{TreeID: treeID, Index: e.Index}
			hashes = append(hashes, e.LeafHash)
		}
	}
	for i := range absent {
		hashes = append(hashes, leafHash(fmt.Appendf(nil, "never appended %d", i)))
	}
	if len(hashes) > 0 {
		hashes = append(hashes, hashes[0], hashes[len(hashes)/2])
	}
	got, err := set.LocateLeafHashes(context.Background(), hashes)
	if err != nil {
		t.Fatalf("LocateLeafHashes(%d hashes): %v", len(hashes), err)
	}
	if !maps.Equal(got, want) {
		for h, w := range want {
			if g, ok := got[h]; !ok || g != w {
				t.Errorf("LocateLeafHashes: leaf %x at %+v (found %v), want %+v", h[:4], g, ok, w)
			}
		}
		t.Fatalf("LocateLeafHashes: %d found, want %d", len(got), len(want))
	}
}

// testRotate rotates a log with entries and checks both logs: states, final
// size and checkpoint, the new log's start, reads through every handle (each
// sees its own range under its own indexes), appends (the old log refuses
// them, the new one takes them from its index 0) and LocateLeafHashes.
func testRotate(t *testing.T, set storage.LogSet, _ func(*testing.T, int64)) {
	ctx := context.Background()
	oldInfo := newLog(1, "p", 0)
	a := createLog(t, set, oldInfo)
	ma := newLogModel(1)
	ma.grow(t, a, "a", 3, 300) // 303 entries: level-0 tiles 0 and 1
	act := storage.Active(set, "p", nil)
	ma.check(t, act) // finds log 1

	next := nextLog(2)
	got, err := set.Rotate(ctx, 1, next, initialState(2))
	if err != nil {
		t.Fatalf("Rotate: %v", err)
	}
	want := next
	want.Profile, want.State, want.StartIndex = "p", storage.LogActive, 303
	checkInfo(t, got, want)
	want.CreatedAt = got.CreatedAt
	oldInfo.State, oldInfo.FinalSize, oldInfo.FinalCheckpoint = storage.LogFrozen, 303, ma.state.Checkpoint
	checkLogs(t, set, oldInfo, want)

	// The old log, through the handle from before the rotation, a new one,
	// and storage.Active, which stays on it.
	for _, s := range []storage.Storage{a, openLog(t, set, 1), act} {
		ma.check(t, s)
		req := ma.batch(1, "after")
		if err := s.Append(ctx, req); !errors.Is(err, storage.ErrFrozen) {
			t.Errorf("Append to the rotated log = %v, want ErrFrozen", err)
		}
		ma.check(t, s, req)
	}

	// The new log starts empty, at its own index 0.
	b := openLog(t, set, 2)
	mb := newLogModel(2)
	mb.check(t, b)
	mb.grow(t, b, "b", 1, 4)
	mb.check(t, b)
	ma.check(t, a)
	checkLocate(t, set, map[int64]*model{1: ma, 2: mb}, 3)

	// Its entries are stored from virtual index 303 on: the next log starts
	// at 303 + 5.
	c, err := set.Rotate(ctx, 2, storage.LogInfo{TreeID: 3, Profile: "p", PublicKey: []byte("k")}, initialState(3))
	if err != nil {
		t.Fatalf("Rotate(2 to 3): %v", err)
	}
	if c.StartIndex != 308 || c.Origin != "" || c.Profile != "p" {
		t.Errorf("Rotate(2 to 3) = %+v, want log 3 of profile p from 308, no origin", c)
	}
	mb.check(t, b)
	newLogModel(3).check(t, openLog(t, set, 3))
}

// testRotateRefused checks every refusal of Rotate writes nothing.
func testRotateRefused(t *testing.T, set storage.LogSet, _ func(*testing.T, int64)) {
	ctx := context.Background()
	a := createLog(t, set, newLog(1, "p", 0))
	ma := newLogModel(1)
	ma.grow(t, a, "a", 5)
	b := rotate(t, set, 1, nextLog(2))
	mb := newLogModel(2)
	mb.grow(t, b, "b", 2)
	before := logs(t, set)

	with := func(f func(*storage.LogInfo)) storage.LogInfo { l := nextLog(10); f(&l); return l }
	for _, tc := range []struct {
		name  string
		old   int64
		next  storage.LogInfo
		state storage.TreeState
		want  error // nil: any error
	}{
		{"a frozen log", 1, nextLog(10), initialState(10), storage.ErrFrozen},
		{"an unknown log", 99, nextLog(10), initialState(10), storage.ErrNotFound},
		{"a taken tree ID", 2, nextLog(1), initialState(1), storage.ErrTreeExists},
		{"its own tree ID", 2, nextLog(2), initialState(2), storage.ErrTreeExists},
		{"another profile", 2, with(func(l *storage.LogInfo) { l.Profile = "q" }), initialState(10), nil},
		{"no public key", 2, with(func(l *storage.LogInfo) { l.PublicKey = nil }), initialState(10), nil},
		{"a frozen successor", 2, with(func(l *storage.LogInfo) { l.State = storage.LogFrozen }), initialState(10), nil},
		{"tree ID 0", 2, nextLog(0), initialState(0), nil},
		{"the tree state of another tree", 2, nextLog(10), initialState(11), nil},
		{"a tree state of size 1", 2, nextLog(10), storage.TreeState{TreeID: 10, Size: 1}, nil},
	} {
		got, err := set.Rotate(ctx, tc.old, tc.next, tc.state)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) {
			t.Errorf("Rotate(%s) = %+v, %v; want %v", tc.name, got, err, tc.want)
		}
		checkLogs(t, set, before...)
	}
	if _, err := set.OpenLog(ctx, 10); !errors.Is(err, storage.ErrNotFound) {
		t.Errorf("OpenLog(10) after refused rotations = %v, want ErrNotFound", err)
	}
	ma.check(t, a)
	mb.check(t, b)
	mb.grow(t, b, "b-after", 3) // still active

	// A log of another profile at its own base, far above: the successor
	// starts where its predecessor ended, not after it (each profile has
	// an index space of its own).
	q := createLog(t, set, newLog(20, "q", 1000))
	mq := newModel()
	mq.created, mq.state = true, initialState(20)
	mq.grow(t, q, "q", 2)
	mb.grow(t, b, "b-last", 1)
	mb.check(t, b)
	var bStart uint64
	for _, l := range logs(t, set) {
		if l.TreeID == 2 {
			bStart = l.StartIndex
		}
	}
	next, err := set.Rotate(ctx, 2, nextLog(10), initialState(10))
	if want := bStart + mb.state.Size; err != nil || next.StartIndex != want {
		t.Fatalf("Rotate beside another profile's log = %+v, %v; want a successor from index %d", next, err, want)
	}
	mq.check(t, q)
}

// testRotateEmpty rotates a log that took no entry: the frozen empty log and
// its successor share a start index, and every lookup still finds the
// entries in the log that holds them.
func testRotateEmpty(t *testing.T, set storage.LogSet, _ func(*testing.T, int64)) {
	ctx := context.Background()
	a := createLog(t, set, newLog(1, "p", 0))
	ma := newLogModel(1)
	ma.grow(t, a, "a", 4)
	// Tree IDs descending: Logs may not order logs of one start by tree ID.
	b := rotate(t, set, 1, nextLog(9))
	c := rotate(t, set, 9, nextLog(5))
	mb, mc := newLogModel(9), newLogModel(5)
	mc.grow(t, c, "c", 2, 3)

	got := logs(t, set)
	if len(got) != 3 || got[0].TreeID != 1 || got[1].TreeID != 9 || got[2].TreeID != 5 {
		t.Fatalf("Logs = %+v, want logs 1, 9, 5", got)
	}
	if got[1].State != storage.LogFrozen || got[1].StartIndex != 4 || got[1].FinalSize != 0 ||
		string(got[1].FinalCheckpoint) != string(initialState(9).Checkpoint) {
		t.Errorf("the empty log = %+v, want frozen at size 0 from 4", got[1])
	}
	if got[2].State != storage.LogActive || got[2].StartIndex != 4 {
		t.Errorf("the last log = %+v, want active from 4", got[2])
	}
	mb.check(t, b)
	if err := b.Append(ctx, mb.batch(1, "b")); !errors.Is(err, storage.ErrFrozen) {
		t.Errorf("Append to the empty frozen log = %v, want ErrFrozen", err)
	}
	ma.check(t, a)
	mc.check(t, c)
	checkLocate(t, set, map[int64]*model{1: ma, 9: mb, 5: mc}, 2)
}

// testLocateThreeLogs looks leaves up across three logs, with more hashes
// than one query of a batching driver takes.
func testLocateThreeLogs(t *testing.T, set storage.LogSet, _ func(*testing.T, int64)) {
	a := createLog(t, set, newLog(1, "p", 0))
	ma := newLogModel(1)
	ma.grow(t, a, "a", 5)
	b := rotate(t, set, 1, nextLog(2))
	mb := newLogModel(2)
	mb.grow(t, b, "b", 300)
	c := rotate(t, set, 2, nextLog(3))
	mc := newLogModel(3)
	mc.grow(t, c, "c", 7)

	if got, err := set.LocateLeafHashes(context.Background(), nil); err != nil || len(got) != 0 {
		t.Errorf("LocateLeafHashes(nil) = %v, %v; want nothing", got, err)
	}
	checkLocate(t, set, map[int64]*model{1: ma, 2: mb, 3: mc}, 0)
	checkLocate(t, set, map[int64]*model{1: ma, 2: mb, 3: mc}, 700)
	checkLocate(t, set, map[int64]*model{}, 10)
}

// testRotateWhileAppending rotates a log while writers append to it, each
// retrying on a stale head as the log does: every Append that succeeded is
// inside the frozen log's final size, every Append begun after Rotate
// returned fails with ErrFrozen, and nothing fails otherwise.
func testRotateWhileAppending(t *testing.T, set storage.LogSet, _ func(*testing.T, int64)) {
	ctx := context.Background()
	a := createLog(t, set, newLog(1, "p", 0))
	const (
		writers  = 4
		maxTries = 2000 // bounds each writer's loop; the rotation ends it far sooner
		before   = 8    // successful Appends before the rotation starts
	)
	type result struct {
		first, n uint64 // the batch's indexes
		leaves   []storage.Hash
	}
	var (
		mu       sync.Mutex
		appended []result
		rotated  atomic.Bool
		started  = make(chan struct{})
		once     sync.Once
		wg       sync.WaitGroup
		errs     [writers]error
	)
	for w := range writers {
		wg.Go(func() {
			for try := range maxTries {
				st, err := a.LatestTreeState(ctx)
				if err != nil {
					errs[w] = fmt.Errorf("LatestTreeState: %w", err)
					return
				}
				m := newLogModel(1)
				m.state = st
				req := m.batchNoTiles(1+try%3, fmt.Sprintf("w%d-%d", w, try))
				after := rotated.Load()
				err = a.Append(ctx, req)
				switch {
				case errors.Is(err, storage.ErrFrozen):
					return // the end: a frozen log stays frozen
				case after:
					errs[w] = fmt.Errorf("an Append begun after Rotate returned: %v, want ErrFrozen", err)
					return
				case err == nil:
					r := result{first: req.OldSize, n: uint64(len(req.Entries))}
					for _, e := range req.Entries {
						r.leaves = append(r.leaves, e.LeafHash)
					}
					mu.Lock()
					appended = append(appended, r)
					if len(appended) == before {
						once.Do(func() { close(started) })
					}
					mu.Unlock()
				case errors.Is(err, storage.ErrStaleTree):
				default:
					errs[w] = fmt.Errorf("append: %w", err)
					return
				}
			}
			errs[w] = fmt.Errorf("no ErrFrozen after %d tries", maxTries)
		})
	}
	var rotateErr error
	select {
	case <-started:
		_, rotateErr = set.Rotate(ctx, 1, nextLog(2), initialState(2))
	case <-waitGroupDone(&wg):
		rotateErr = errors.New("the writers stopped before the rotation")
	}
	rotated.Store(true)
	wg.Wait()
	if rotateErr != nil {
		t.Fatalf("Rotate: %v", rotateErr)
	}
	for w, err := range errs {
		if err != nil {
			t.Errorf("writer %d: %v", w, err)
		}
	}

	got := logs(t, set)
	if len(got) != 2 || got[0].State != storage.LogFrozen || got[1].StartIndex != got[0].FinalSize {
		t.Fatalf("Logs = %+v, want log 1 frozen and log 2 from its final size", got)
	}
	final := got[0].FinalSize
	st, err := a.LatestTreeState(ctx)
	if err != nil || st.Size != final {
		t.Fatalf("LatestTreeState of the frozen log = size %d, %v; want %d", st.Size, err, final)
	}
	// The successful Appends are exactly the frozen log's entries.
	var total uint64
	want := map[storage.Hash]storage.LeafLocation{}
	var hashes []storage.Hash
	for _, r := range appended {
		if r.first+r.n > final {
			t.Errorf("an acknowledged batch [%d, %d) lies past the final size %d", r.first, r.first+r.n, final)
		}
		total += r.n
		for i, h := range r.leaves {
			want[h] = storage.LeafLocation{TreeID: 1, Index: r.first + uint64(i)}
			hashes = append(hashes, h)
		}
	}
	if total != final {
		t.Errorf("%d entries acknowledged, final size %d", total, final)
	}
	found, err := set.LocateLeafHashes(ctx, hashes)
	if err != nil {
		t.Fatalf("LocateLeafHashes: %v", err)
	}
	if !maps.Equal(found, want) {
		t.Errorf("LocateLeafHashes: the acknowledged entries are not where they were acknowledged (%d found, %d want)", len(found), len(want))
	}
	entries, err := a.ReadEntries(ctx, 0, final+10)
	if err != nil || uint64(len(entries)) != final {
		t.Errorf("ReadEntries of the frozen log = %d entries, %v; want %d", len(entries), err, final)
	}
}

// waitGroupDone returns a channel closed when wg's goroutines are done.
func waitGroupDone(wg *sync.WaitGroup) <-chan struct{} {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return done
}

// testEdgeTileAfterRotation checks the right-edge level-0 tiles of logs
// that do not start at a multiple of 256 (a driver may make them of the
// entries' leaf hashes, under virtual indexes): the frozen log keeps its
// last partial tile, and its successor, from virtual index 300, has tiles
// of its own indexes, at widths 1 to 255 and across its tile boundary.
func testEdgeTileAfterRotation(t *testing.T, set storage.LogSet, _ func(*testing.T, int64)) {
	a := createLog(t, set, newLog(1, "p", 0))
	ma := newLogModel(1)
	ma.grow(t, a, "a", 300) // tile 0 full, tile 1 of 44
	checkEdge(t, a, ma)
	b := rotate(t, set, 1, nextLog(2))
	mb := newLogModel(2)
	checkEdge(t, b, mb)
	sizes := []int{1, 1, 2, 3, 5, 8, 13, 21, 34, 55, 89, 23} // up to 255
	for i, n := range sizes {
		mb.append(t, b, mb.batch(n, fmt.Sprintf("b%d", i)))
		checkEdge(t, b, mb)
		checkEdge(t, a, ma)
	}
	for _, n := range []int{1, 300} { // a full tile 0, then tiles 1 and 2
		mb.append(t, b, mb.batch(n, fmt.Sprintf("b-%d", n)))
		checkEdge(t, b, mb)
	}
	ma.check(t, a)
	mb.check(t, b)
	checkEdge(t, openLog(t, set, 1), ma)
}

package sqlite_test

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/sqlite"
	"github.com/tabularium/tabula/storage/storagetest"
)

func open(t testing.TB, path string) *sqlite.Store {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

// active is the store's active log of the conformance suite's profile.
func active(s *sqlite.Store) storage.Storage { return storage.Active(s, "test", nil) }

func TestConformance(t *testing.T) {
	storagetest.Run(t, func(t *testing.T) (storage.Storage, func(*testing.T) storage.Storage) {
		path := filepath.Join(t.TempDir(), "tabula.db")
		return active(open(t, path)), func(t *testing.T) storage.Storage { return active(open(t, path)) }
	})
}

func TestLogSetConformance(t *testing.T) {
	storagetest.RunLogSet(t, func(t *testing.T) (storage.LogSet, func(*testing.T, int64)) {
		path := filepath.Join(t.TempDir(), "tabula.db")
		return open(t, path), func(t *testing.T, treeID int64) {
			db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)")
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.Exec(storagetest.FreezeSQL("?1"), treeID); err != nil {
				t.Fatalf("freeze log %d: %v", treeID, err)
			}
		}
	})
}

// TestTwoStoresOneFile opens one file twice, as two processes would: their
// Appends must serialise on SQLite's write lock, and exactly one of two
// writers on the same size wins.
func TestTwoStoresOneFile(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tabula.db")
	var stores [2]*sqlite.Store
	var wg sync.WaitGroup
	for i := range stores {
		wg.Go(func() { stores[i] = open(t, path) })
	}
	wg.Wait()
	for _, s := range stores {
		if s == nil {
			t.FailNow()
		}
		defer s.Close()
	}
	if err := active(stores[0]).CreateTree(ctx, storage.TreeState{TreeID: 1}); err != nil {
		t.Fatalf("CreateTree: %v", err)
	}
	var errs [2]error
	for i, s := range stores {
		req := storage.AppendRequest{
			Entries: []storage.Entry{{LeafHash: storage.Hash{byte(i + 1)}, Body: []byte{byte(i)}}},
			State:   storage.TreeState{Size: 1},
		}
		wg.Go(func() { errs[i] = active(s).Append(ctx, req) })
	}
	wg.Wait()
	if (errs[0] == nil) == (errs[1] == nil) {
		t.Fatalf("two writers on size 0: %v, %v; want exactly one to win", errs[0], errs[1])
	}
	for i, s := range stores {
		st, err := active(s).LatestTreeState(ctx)
		if err != nil || st.Size != 1 {
			t.Errorf("store %d: LatestTreeState = size %d, %v; want 1", i, st.Size, err)
		}
	}
}

// TestRotateFromAnotherStore rotates the log through a second Open of the
// file, as `tabula log rotate` does while `tabula serve` runs, and while
// the first store appends: the first store holds nothing that goes stale,
// so the appends it made before are exactly the frozen log's, its next
// Append fails with ErrFrozen, and it sees and grows the new log.
func TestRotateFromAnotherStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tabula.db")
	serve := open(t, path)
	defer serve.Close()
	old := active(serve)
	if err := old.CreateTree(ctx, storage.TreeState{TreeID: 1}); err != nil {
		t.Fatalf("CreateTree: %v", err)
	}
	batch := func(s storage.Storage, tag string) (storage.AppendRequest, error) {
		st, err := s.LatestTreeState(ctx)
		if err != nil {
			return storage.AppendRequest{}, err
		}
		leaf := sha256.Sum256([]byte(tag))
		return storage.AppendRequest{
			OldSize: st.Size,
			Entries: []storage.Entry{{Index: st.Size, LeafHash: leaf, Body: []byte(tag)}},
			State:   storage.TreeState{TreeID: st.TreeID, Size: st.Size + 1, Root: leaf},
		}, nil
	}

	// The server appends until its log is frozen, from its first batch on.
	const maxTries = 10_000
	var (
		acked    []storage.Hash
		firstAck = make(chan struct{})
		writeErr error
		wg       sync.WaitGroup
	)
	wg.Go(func() {
		for try := range maxTries {
			req, err := batch(old, fmt.Sprintf("before-%d", try))
			if err == nil {
				err = old.Append(ctx, req)
			}
			switch {
			case err == nil:
				acked = append(acked, req.Entries[0].LeafHash)
				if len(acked) == 1 {
					close(firstAck)
				}
			case errors.Is(err, storage.ErrFrozen):
				return
			default:
				writeErr = err
				return
			}
		}
		writeErr = fmt.Errorf("not frozen after %d appends", maxTries)
	})
	select {
	case <-firstAck:
	case <-waitDone(&wg):
		t.Fatalf("the writer stopped before its first append: %v", writeErr)
	}

	rot := open(t, path)
	defer rot.Close()
	next, err := rot.Rotate(ctx, 1, storage.LogInfo{TreeID: 2, Origin: "o", PublicKey: []byte("k")}, storage.TreeState{TreeID: 2})
	if err != nil {
		t.Fatalf("Rotate through the second store: %v", err)
	}
	wg.Wait()
	if writeErr != nil {
		t.Fatalf("the first store's writer: %v", writeErr)
	}
	t.Logf("%d appends acknowledged before the rotation", len(acked))
	if next.StartIndex != uint64(len(acked)) {
		t.Errorf("the new log starts at %d, want %d (the appends acknowledged)", next.StartIndex, len(acked))
	}
	req, err := batch(old, "after")
	if err != nil {
		t.Fatal(err)
	}
	if err := old.Append(ctx, req); !errors.Is(err, storage.ErrFrozen) {
		t.Errorf("Append through the first store after the rotation = %v, want ErrFrozen", err)
	}

	logs, err := serve.Logs(ctx)
	if err != nil {
		t.Fatalf("Logs: %v", err)
	}
	if len(logs) != 2 || logs[0].State != storage.LogFrozen || logs[0].FinalSize != uint64(len(acked)) ||
		logs[1].TreeID != 2 || logs[1].State != storage.LogActive || logs[1].StartIndex != uint64(len(acked)) {
		t.Fatalf("Logs through the first store = %+v, want log 1 frozen at %d and log 2 active from there", logs, len(acked))
	}
	cur := active(serve) // a new handle finds the new log
	req, err = batch(cur, "new")
	if err != nil {
		t.Fatal(err)
	}
	if req.State.TreeID != 2 || req.OldSize != 0 {
		t.Fatalf("the first store's active log: tree %d of size %d, want tree 2 of size 0", req.State.TreeID, req.OldSize)
	}
	if err := cur.Append(ctx, req); err != nil {
		t.Fatalf("Append to the new log through the first store: %v", err)
	}
	want := map[storage.Hash]storage.LeafLocation{req.Entries[0].LeafHash: {TreeID: 2, Index: 0}}
	for i, h := range acked {
		want[h] = storage.LeafLocation{TreeID: 1, Index: uint64(i)}
	}
	found, err := rot.LocateLeafHashes(ctx, slices.Collect(maps.Keys(want)))
	if err != nil {
		t.Fatalf("LocateLeafHashes through the second store: %v", err)
	}
	if !maps.Equal(found, want) {
		t.Errorf("LocateLeafHashes = %v, want %v", found, want)
	}
}

// waitDone returns a channel closed when wg's goroutines are done.
func waitDone(wg *sync.WaitGroup) <-chan struct{} {
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	return done
}

func TestOpenBadPath(t *testing.T) {
	dir := t.TempDir()
	for _, path := range []string{"", ":memory:", "file:x.db", filepath.Join(dir, "missing", "dir", "x.db"), dir} {
		if s, err := sqlite.Open(context.Background(), path); err == nil {
			s.Close()
			t.Errorf("Open(%q) succeeded", path)
		}
	}
}

// TestOddPath checks that no character of a path is read as part of the DSN.
func TestOddPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "a?_pragma=query_only(1)&x=#%20 é.db")
	s := open(t, path)
	defer s.Close()
	if err := active(s).CreateTree(context.Background(), storage.TreeState{TreeID: 1}); err != nil {
		t.Fatalf("CreateTree: %v", err)
	}
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the database is not at the path given: %v", err)
	}
}

func BenchmarkAppend(b *testing.B) {
	storagetest.BenchmarkAppend(b, func(b *testing.B) storage.Storage {
		return active(open(b, filepath.Join(b.TempDir(), "tabula.db")))
	})
}

func TestWitnessStateConformance(t *testing.T) {
	storagetest.RunWitnessState(t, func(t *testing.T) (storage.WitnessState, func(*testing.T) storage.WitnessState) {
		path := filepath.Join(t.TempDir(), "witness.db")
		s := open(t, path)
		t.Cleanup(func() { s.Close() })
		return s, func(t *testing.T) storage.WitnessState {
			o := open(t, path)
			t.Cleanup(func() { o.Close() })
			return o
		}
	})
}

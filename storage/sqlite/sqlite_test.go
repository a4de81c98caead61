package sqlite_test

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
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

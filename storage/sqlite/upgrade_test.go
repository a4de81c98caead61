package sqlite_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"

	"github.com/pressly/goose/v3"

	"github.com/tabularium/tabula/migrations"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/storagetest"
	"github.com/tabularium/tabula/types"
)

// TestUpgradeSearchKeys writes search keys as schema version 1 held them
// (text), opens the file (which migrates it), and finds every key under its
// kind's hash.
func TestUpgradeSearchKeys(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tabula.db")
	p, db := migrator(t, path)
	if _, err := p.UpTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	insert := func(text string, idx uint64) {
		if _, err := tx.ExecContext(ctx, `INSERT INTO search_keys (key, idx) VALUES (?, ?)`, text, int64(idx)); err != nil {
			t.Fatal(err)
		}
	}
	// A one-tree database's head, its size past every key's index: the
	// search of a log sees its own range only.
	if _, err := tx.ExecContext(ctx, `INSERT INTO tree_state (id, tree_id, size, root) VALUES (1, 7, ?, ?)`,
		int64(1)<<40, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	for _, k := range storagetest.LegacySearchKeys {
		insert(k.Text, k.Index)
	}
	for i := range storagetest.LegacyBulk {
		insert(fmt.Sprintf("subject %d", i), uint64(100+i))
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := open(t, path)
	defer s.Close()
	storagetest.CheckUpgrade(t, storage.Active(s, "rekor-v1", nil), func(kind, text string) storage.Hash {
		return types.SearchKey{Kind: types.KeyKind(kind), Value: text}.Hash()
	})
}

// migrator is a goose provider for the SQLite file at path, and its
// database handle.
func migrator(t *testing.T, path string) (*goose.Provider, *sql.DB) {
	t.Helper()
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	fsys, err := fs.Sub(migrations.SQLite, "sqlite")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys,
		goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(migrations.SQLiteGo()...))
	if err != nil {
		t.Fatal(err)
	}
	return p, db
}

// TestUpgradeEdgeTilesAndShortKeys writes, at schema version 5, what an
// older release stored (partial level-0 tiles, 32-byte search keys; see
// storagetest.Legacy7Logs), opens the file, which migrates it, and checks
// every tile and search; the partial level-0 tiles are gone, and one
// written afterwards (by an older release still running) is ignored.
func TestUpgradeEdgeTilesAndShortKeys(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tabula.db")
	p, db := migrator(t, path)
	if _, err := p.UpTo(ctx, 5); err != nil {
		t.Fatal(err)
	}
	exec := func(q string, args ...any) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q, args...); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	for _, l := range storagetest.Legacy7Logs {
		state, final := "active", any(nil)
		if l.Frozen {
			state, final = "frozen", int64(l.Size)
		}
		exec(`INSERT INTO logs (tree_id, profile, state, start_index, final_size) VALUES (?, 'rekor-v1', ?, ?, ?)`,
			l.TreeID, state, int64(l.Start), final)
		exec(`INSERT INTO tree_state (tree_id, size, root) VALUES (?, ?, ?)`, l.TreeID, int64(l.Size), make([]byte, 32))
		for i := l.Start; i < l.Start+l.Size; i++ {
			h := storagetest.Legacy7Leaf(i)
			exec(`INSERT INTO entries (idx, leaf_hash, body, integrated_time) VALUES (?, ?, ?, 0)`,
				int64(i), h[:], fmt.Appendf(nil, "body %d", i))
		}
	}
	for _, tl := range storagetest.Legacy7Tiles() {
		exec(`INSERT INTO tiles (tree_id, level, idx, hashes) VALUES (?, ?, ?, ?)`,
			tl.TreeID, int64(tl.Level), int64(tl.Index), tl.Hashes)
	}
	for _, k := range storagetest.Legacy7Keys {
		exec(`INSERT INTO search_keys (key, idx) VALUES (?, ?)`, k.Key[:], int64(k.Index))
	}

	s := open(t, path)
	defer s.Close()
	var partial, keys int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM tiles WHERE level = 0 AND length(hashes) < 8192`).Scan(&partial); err != nil || partial != 0 {
		t.Errorf("partial level-0 tiles after the migration: %d, %v; want 0", partial, err)
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM search_keys`).Scan(&keys); err != nil || keys != len(storagetest.Legacy7Keys)-1 {
		t.Errorf("search key rows after the migration: %d, %v; want %d (two collapse)", keys, err, len(storagetest.Legacy7Keys)-1)
	}
	storagetest.CheckUpgrade7(t, s)

	// An older release still running beside this one writes a partial
	// level-0 tile again, here a stale one: reads ignore it.
	exec(`INSERT INTO tiles (tree_id, level, idx, hashes) VALUES (8, 0, 0, ?), (7, 0, 1, ?)`, make([]byte, 64), make([]byte, 64))
	a, err := s.OpenLog(ctx, 7)
	if err != nil {
		t.Fatal(err)
	}
	b, err := s.OpenLog(ctx, 8)
	if err != nil {
		t.Fatal(err)
	}
	storagetest.CheckLegacy7Tiles(t, a, b)

	// Migration 7 cannot be undone while search keys are stored.
	if _, err := p.DownTo(ctx, 6); err == nil || !strings.Contains(err.Error(), "cannot be undone") {
		t.Errorf("Down from version 7 = %v, want an error", err)
	}
}

// TestDowngradeEdgeTiles undoes migration 7 on a file without search keys:
// the partial level-0 tiles an older release reads are rebuilt from the
// entries.
func TestDowngradeEdgeTiles(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tabula.db")
	s := open(t, path)
	m := active(s)
	if err := m.CreateTree(ctx, storage.TreeState{TreeID: 1}); err != nil {
		t.Fatal(err)
	}
	req := storage.AppendRequest{State: storage.TreeState{TreeID: 1, Size: 3}}
	var leaves []byte
	for i := range 3 {
		e := storage.Entry{Index: uint64(i), LeafHash: storagetest.Key(fmt.Sprint(i)), Body: []byte{byte(i)}}
		leaves = append(leaves, e.LeafHash[:]...)
		req.Entries = append(req.Entries, e)
	}
	req.Tiles = []storage.Tile{{Level: 0, Index: 0, Hashes: leaves}}
	if err := m.Append(ctx, req); err != nil {
		t.Fatal(err)
	}
	s.Close()
	p, db := migrator(t, path)
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM tiles`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("tiles stored for a partial level-0 tile: %d, %v; want 0", n, err)
	}
	if _, err := p.DownTo(ctx, 5); err != nil {
		t.Fatal(err)
	}
	var got []byte
	if err := db.QueryRowContext(ctx, `SELECT hashes FROM tiles WHERE level = 0 AND idx = 0`).Scan(&got); err != nil || !bytes.Equal(got, leaves) {
		t.Fatalf("rebuilt tile = %d bytes, %v; want the 3 leaf hashes", len(got), err)
	}
}

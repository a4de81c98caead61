package sqlite_test

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"path/filepath"
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
	db, err := sql.Open("sqlite", "file:"+path)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := fs.Sub(migrations.SQLite, "sqlite")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys,
		goose.WithDisableGlobalRegistry(true), goose.WithGoMigrations(migrations.SQLiteGo()...))
	if err != nil {
		t.Fatal(err)
	}
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

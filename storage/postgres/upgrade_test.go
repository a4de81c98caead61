package postgres_test

import (
	"context"
	"database/sql"
	"fmt"
	"io/fs"
	"testing"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" database/sql driver
	"github.com/pressly/goose/v3"

	"github.com/tabularium/tabula/internal/pgtest"
	"github.com/tabularium/tabula/migrations"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/storagetest"
	"github.com/tabularium/tabula/types"
)

// TestUpgradeSearchKeys writes search keys as schema version 1 held them
// (text), opens the database (which migrates it), and finds every key under
// its kind's hash: the SQL migration hashes as types.SearchKey does.
func TestUpgradeSearchKeys(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	fsys, err := fs.Sub(migrations.Postgres, "postgres")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys, goose.WithDisableGlobalRegistry(true))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 1); err != nil {
		t.Fatal(err)
	}
	var (
		texts []string
		idxs  []int64
	)
	for _, k := range storagetest.LegacySearchKeys {
		texts, idxs = append(texts, k.Text), append(idxs, int64(k.Index))
	}
	for i := range storagetest.LegacyBulk {
		texts, idxs = append(texts, fmt.Sprintf("subject %d", i)), append(idxs, int64(100+i))
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO search_keys (key, idx) SELECT * FROM unnest($1::text[], $2::bigint[])`, texts, idxs); err != nil {
		t.Fatal(err)
	}
	// A one-tree database's head, its size past every key's index: the
	// search of a log sees its own range only.
	if _, err := db.ExecContext(ctx, `INSERT INTO tree_state (id, tree_id, size, root) VALUES (1, 7, $1, $2)`,
		int64(1)<<40, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}

	s := open(t, url)
	defer s.Close()
	storagetest.CheckUpgrade(t, storage.Active(s, "rekor-v1", nil), func(kind, text string) storage.Hash {
		return types.SearchKey{Kind: types.KeyKind(kind), Value: text}.Hash()
	})
}

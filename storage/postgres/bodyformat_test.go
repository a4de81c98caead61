package postgres_test

import (
	"context"
	"slices"
	"testing"

	"github.com/tabularium/tabula/internal/pgtest"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/storagetest"
)

// TestUpgradeRawBodies writes entries as schema version 5 held them (raw
// bodies, no body_format), opens the database (which migrates it), reads
// them as written, and appends more: those that shrink are stored
// compressed, the others raw (NULL).
func TestUpgradeRawBodies(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	db, p := scratchProvider(t, url)
	if _, err := p.UpTo(ctx, 5); err != nil {
		t.Fatal(err)
	}
	n := len(storagetest.RawBodies)
	for _, q := range []struct {
		sql  string
		args []any
	}{
		{`INSERT INTO logs (tree_id, profile, state, start_index) VALUES (7, 'rekor-v1', 'active', 0)`, nil},
		{`INSERT INTO tree_state (tree_id, size, root) VALUES (7, $1, $2)`, []any{n, make([]byte, 32)}},
	} {
		if _, err := db.ExecContext(ctx, q.sql, q.args...); err != nil {
			t.Fatal(err)
		}
	}
	for i, b := range storagetest.RawBodies {
		leaf := storagetest.RawLeafHash(b)
		if _, err := db.ExecContext(ctx, `INSERT INTO entries (idx, leaf_hash, body, integrated_time) VALUES ($1, $2, $3, 1)`,
			i, leaf[:], b); err != nil {
			t.Fatal(err)
		}
	}

	s := open(t, url)
	defer s.Close()
	storagetest.CheckRawBodies(t, storage.Active(s, "rekor-v1", nil))

	rows, err := db.QueryContext(ctx, `SELECT coalesce(body_format, 0) FROM entries ORDER BY idx`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var formats []int
	for rows.Next() {
		var f int
		if err := rows.Scan(&f); err != nil {
			t.Fatal(err)
		}
		formats = append(formats, f)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// Old rows NULL; the hashedrekord body again stored as its fields (2),
	// the incompressible and the empty ones raw.
	if want := []int{0, 0, 0, 2, 0, 0}; !slices.Equal(formats, want) {
		t.Errorf("body_format by index = %v, want %v (0: NULL)", formats, want)
	}
}

// TestBodyFormatDown: migration 6 goes down only while no row holds a
// compressed body, which would read as raw bytes without its column.
func TestBodyFormatDown(t *testing.T) {
	ctx := context.Background()
	db, p := scratchProvider(t, pgtest.NewDatabase(t))
	if _, err := p.UpTo(ctx, 6); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `INSERT INTO entries (idx, leaf_hash, body, integrated_time, body_format)
		VALUES (0, $1, '\x00', 1, 1)`, make([]byte, 32)); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, `UPDATE entries SET body_format = 0`); err == nil {
		t.Error("body_format 0 was stored: raw is NULL only")
	}
	_, err := p.DownTo(ctx, 5)
	if err == nil {
		t.Fatal("migration 6 went down with a compressed body stored")
	}
	t.Logf("down with a compressed body stored: %v", err)
	if _, err := db.ExecContext(ctx, `UPDATE entries SET body_format = NULL`); err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 5); err != nil {
		t.Fatalf("migration 6 down with raw bodies only: %v", err)
	}
	if _, err := db.ExecContext(ctx, `SELECT body_format FROM entries`); err == nil {
		t.Error("body_format is still there after migration 6 went down")
	}
}

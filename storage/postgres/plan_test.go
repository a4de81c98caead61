package postgres

import (
	"context"
	"strings"
	"testing"

	"github.com/tabularium/tabula/internal/pgtest"
	"github.com/tabularium/tabula/storage"
)

// TestPointReadPlan checks that reading one entry is a primary-key lookup
// even when the table's statistics are missing (autovacuum off, or right
// after a bulk load), and that JIT is off for the store's sessions. On the
// 10M-entry log both mistakes together made a read take ~1 s.
func TestPointReadPlan(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CreateLog(ctx, storage.LogInfo{TreeID: 1, Profile: "test"}, storage.TreeState{TreeID: 1}); err != nil {
		t.Fatal(err)
	}
	// A table of ~3,000 pages that was never analyzed.
	if _, err := s.pool.Exec(ctx, `INSERT INTO entries (idx, leaf_hash, body, integrated_time)
		SELECT i, sha256(int8send(i)), convert_to(repeat('x', 1900), 'UTF8'), 0 FROM generate_series(0, 11999) AS i`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `UPDATE tree_state SET size = 12000`); err != nil {
		t.Fatal(err)
	}
	var jit string
	if err := s.pool.QueryRow(ctx, `SHOW jit`).Scan(&jit); err != nil || jit != "off" {
		t.Fatalf("jit = %q, %v; want off", jit, err)
	}
	if p := explain(ctx, t, s, readEntriesSQL, int64(0), int64(1), int64(5000), int64(5001), int64(1)); !strings.Contains(p, "Index Scan using entries_pkey") || strings.Contains(p, "Sort") {
		t.Fatalf("a one-entry read is not a primary-key lookup:\n%s", p)
	}
	l, err := s.OpenLog(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	got, err := l.ReadEntries(ctx, 5000, 5001)
	if err != nil || len(got) != 1 || got[0].Index != 5000 {
		t.Fatalf("ReadEntries(5000, 5001) = %d entries, %v", len(got), err)
	}

	// The right-edge level-0 tile, made of the entries' leaf hashes: a
	// primary-key range scan too (12,000 = 46*256 + 224).
	if p := explain(ctx, t, s, readTileSQL, int64(1), int16(0), int64(46), int64(46*256), int64(47*256), int64(0)); !strings.Contains(p, "Index Scan using entries_pkey") || strings.Contains(p, "Seq Scan on entries") {
		t.Fatalf("the edge tile's read is not a primary-key range scan:\n%s", p)
	}
	tile, err := l.ReadTile(ctx, 0, 46)
	if err != nil || len(tile) != 224*32 {
		t.Fatalf("ReadTile(0, 46) = %d bytes, %v; want 224 hashes", len(tile), err)
	}
}

// explain returns PostgreSQL's plan of query with args, a line each.
func explain(ctx context.Context, t *testing.T, s *Store, query string, args ...any) string {
	t.Helper()
	rows, err := s.pool.Query(ctx, `EXPLAIN `+query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var plan strings.Builder
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			t.Fatal(err)
		}
		plan.WriteString(line + "\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return plan.String()
}

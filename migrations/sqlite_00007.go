package migrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/pressly/goose/v3"
)

// Migration 7 of SQLite, in Go for its Down (SQLite cannot concatenate
// BLOBs in SQL); see 00007_short_keys_edge_tiles.sql of PostgreSQL for the
// why. Up drops the stored partial level-0 tiles and cuts every search key
// to its first 16 bytes; Down rebuilds those tiles from the entries and
// gives the 32-byte key table back when it is empty, and fails otherwise.
func sqlite7() *goose.Migration {
	return goose.NewGoMigration(7,
		&goose.GoFunc{RunTx: sqliteShortKeys},
		&goose.GoFunc{RunTx: sqliteLongKeys})
}

func sqliteShortKeys(ctx context.Context, tx *sql.Tx) error {
	for _, stmt := range []string{
		`DELETE FROM tiles WHERE level = 0 AND length(hashes) < 8192`,
		`CREATE TABLE search_keys_short (
		    key BLOB    NOT NULL CHECK (typeof(key) = 'blob' AND length(key) = 16),
		    idx INTEGER NOT NULL,
		    PRIMARY KEY (key, idx)
		) WITHOUT ROWID`,
		// substr counts bytes in a BLOB. Keys that share their first 16
		// bytes at one index collapse onto one row.
		`INSERT OR IGNORE INTO search_keys_short (key, idx)
		 SELECT substr(key, 1, 16), idx FROM search_keys ORDER BY key, idx`,
		`DROP TABLE search_keys`,
		`ALTER TABLE search_keys_short RENAME TO search_keys`,
	} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("short search keys: %w", err)
		}
	}
	return nil
}

var errShortKeys = errors.New("migration 7 cannot be undone: search keys are stored as 16-byte prefixes")

func sqliteLongKeys(ctx context.Context, tx *sql.Tx) error {
	var one int
	err := tx.QueryRowContext(ctx, `SELECT 1 FROM search_keys LIMIT 1`).Scan(&one)
	switch {
	case err == nil:
		return errShortKeys
	case !errors.Is(err, sql.ErrNoRows):
		return fmt.Errorf("long search keys: %w", err)
	}
	for _, stmt := range []string{
		`DROP TABLE search_keys`,
		`CREATE TABLE search_keys (
		    key BLOB    NOT NULL CHECK (typeof(key) = 'blob' AND length(key) = 32),
		    idx INTEGER NOT NULL,
		    PRIMARY KEY (key, idx)
		) WITHOUT ROWID`,
	} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("long search keys: %w", err)
		}
	}
	return rebuildEdgeTiles(ctx, tx)
}

// rebuildEdgeTiles stores the partial level-0 tile of every log whose size
// is not a multiple of 256, as the releases before migration 7 did.
func rebuildEdgeTiles(ctx context.Context, tx *sql.Tx) error {
	type edge struct{ treeID, start, size int64 }
	rows, err := tx.QueryContext(ctx, `
		SELECT s.tree_id, l.start_index, s.size FROM tree_state s JOIN logs l ON l.tree_id = s.tree_id
		WHERE s.size % 256 <> 0`)
	if err != nil {
		return fmt.Errorf("rebuild edge tiles: %w", err)
	}
	var edges []edge
	for rows.Next() {
		var e edge
		if err := rows.Scan(&e.treeID, &e.start, &e.size); err != nil {
			rows.Close()
			return fmt.Errorf("rebuild edge tiles: %w", err)
		}
		edges = append(edges, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("rebuild edge tiles: %w", err)
	}
	for _, e := range edges {
		first := e.size / 256 * 256
		hashes, err := leafHashes(ctx, tx, e.start+first, e.start+e.size)
		if err != nil {
			return fmt.Errorf("rebuild edge tile of log %d: %w", e.treeID, err)
		}
		if want := 32 * (e.size - first); int64(len(hashes)) != want {
			return fmt.Errorf("rebuild edge tile of log %d: %d bytes of leaf hashes, want %d", e.treeID, len(hashes), want)
		}
		if _, err := tx.ExecContext(ctx, `
			INSERT INTO tiles (tree_id, level, idx, hashes) VALUES (?, 0, ?, ?)
			ON CONFLICT (tree_id, level, idx) DO UPDATE SET hashes = excluded.hashes`,
			e.treeID, first/256, hashes); err != nil {
			return fmt.Errorf("rebuild edge tile of log %d: %w", e.treeID, err)
		}
	}
	return nil
}

func leafHashes(ctx context.Context, tx *sql.Tx, first, end int64) ([]byte, error) {
	rows, err := tx.QueryContext(ctx, `SELECT leaf_hash FROM entries WHERE idx >= ? AND idx < ? ORDER BY idx`, first, end)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var hashes []byte
	for rows.Next() {
		var h []byte
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		hashes = append(hashes, h...)
	}
	return hashes, rows.Err()
}

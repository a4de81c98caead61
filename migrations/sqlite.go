package migrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/pressly/goose/v3"

	"github.com/tabularium/tabula/types"
)

// SQLiteGo returns the SQLite migrations written in Go, for
// goose.WithGoMigrations beside the SQL files of SQLite: version 2, which
// hashes the search keys (SQLite has no SHA-256 function; the PostgreSQL
// migration of the same version does it in SQL), and version 7, which cuts
// them to 16 bytes and stops storing partial level-0 tiles (its Down
// rebuilds those tiles, which SQL cannot in SQLite).
func SQLiteGo() []*goose.Migration {
	return []*goose.Migration{
		goose.NewGoMigration(2,
			&goose.GoFunc{RunTx: sqliteHashSearchKeys},
			&goose.GoFunc{RunTx: func(context.Context, *sql.Tx) error { return errIrreversible }}),
		sqlite7(),
	}
}

var errIrreversible = errors.New("migration 2 cannot be undone: search keys are stored as hashes")

// Legacy search keys, stored lower-cased and untyped before version 2, are
// classified by their text; see 00002_hashed_search_keys.sql.
var (
	legacyDigest = regexp.MustCompile(`^[a-z0-9_-]+:[0-9a-f]+$`)
	legacyKey    = regexp.MustCompile(`^[0-9a-f]{64}$`)
)

// LegacyKeyKind is the kind a search key stored as text before version 2 is
// given: "<alg>:<hex>" a digest, 64 hex digits a key fingerprint, a text with
// an '@' and no ':' an email, anything else a subject.
func LegacyKeyKind(stored string) types.KeyKind {
	switch {
	case legacyDigest.MatchString(stored):
		return types.KindDigest
	case legacyKey.MatchString(stored):
		return types.KindKey
	case strings.Contains(stored, "@") && !strings.Contains(stored, ":"):
		return types.KindEmail
	}
	return types.KindSubject
}

// migrateChunk is how many rows are read and written at a time.
const migrateChunk = 5000

// sqliteHashSearchKeys replaces the TEXT search keys with their typed
// hashes, a chunk at a time in key order, inside goose's transaction.
func sqliteHashSearchKeys(ctx context.Context, tx *sql.Tx) error {
	if _, err := tx.ExecContext(ctx, `
		CREATE TABLE search_keys_hashed (
		    key BLOB    NOT NULL CHECK (typeof(key) = 'blob' AND length(key) = 32),
		    idx INTEGER NOT NULL,
		    PRIMARY KEY (key, idx)
		) WITHOUT ROWID`); err != nil {
		return fmt.Errorf("hash search keys: %w", err)
	}
	var (
		lastKey string
		lastIdx int64 = -1
		first         = true
	)
	for {
		q := `SELECT key, idx FROM search_keys ORDER BY key, idx LIMIT ?`
		args := []any{migrateChunk}
		if !first {
			q = `SELECT key, idx FROM search_keys WHERE (key, idx) > (?, ?) ORDER BY key, idx LIMIT ?`
			args = []any{lastKey, lastIdx, migrateChunk}
		}
		keys, idxs, err := readChunk(ctx, tx, q, args...)
		if err != nil {
			return fmt.Errorf("hash search keys: %w", err)
		}
		if len(keys) == 0 {
			break
		}
		if err := insertHashed(ctx, tx, keys, idxs); err != nil {
			return fmt.Errorf("hash search keys: %w", err)
		}
		lastKey, lastIdx, first = keys[len(keys)-1], idxs[len(idxs)-1], false
	}
	for _, stmt := range []string{
		`DROP TABLE search_keys`,
		`ALTER TABLE search_keys_hashed RENAME TO search_keys`,
	} {
		if _, err := tx.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("hash search keys: %w", err)
		}
	}
	return nil
}

func readChunk(ctx context.Context, tx *sql.Tx, q string, args ...any) (keys []string, idxs []int64, err error) {
	rows, err := tx.QueryContext(ctx, q, args...)
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k string
			i int64
		)
		if err := rows.Scan(&k, &i); err != nil {
			return nil, nil, err
		}
		keys, idxs = append(keys, k), append(idxs, i)
	}
	return keys, idxs, rows.Err()
}

// insertHashed writes the hashes of keys, 400 rows a statement (SQLite
// allows 32,766 parameters).
func insertHashed(ctx context.Context, tx *sql.Tx, keys []string, idxs []int64) error {
	const perStatement = 400
	for start := 0; start < len(keys); start += perStatement {
		end := min(start+perStatement, len(keys))
		var b strings.Builder
		b.WriteString(`INSERT INTO search_keys_hashed (key, idx) VALUES `)
		args := make([]any, 0, 2*(end-start))
		for i := start; i < end; i++ {
			if i > start {
				b.WriteString(", ")
			}
			b.WriteString("(?, ?)")
			h := types.HashSearchKey(LegacyKeyKind(keys[i]), keys[i])
			args = append(args, h[:], idxs[i])
		}
		b.WriteString(` ON CONFLICT DO NOTHING`)
		if _, err := tx.ExecContext(ctx, b.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

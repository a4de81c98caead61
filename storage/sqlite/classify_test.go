package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/storagetest"
)

// TestClassify gives classify the errors SQLite returns for writes to the
// real schema, and checks which are the data's (storage.ErrRejected: the
// batch without the culprit would commit), which are a duplicate leaf, and
// which are neither (a lock held too long, the caller's bug, the tree having
// moved, a cancelled context). Each statement must fail with the result code
// named, so a schema change that makes one pass is seen here.
func TestClassify(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tabula.db")
	s, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stored := make([]byte, 32)
	if _, err := s.w.ExecContext(ctx, `INSERT INTO entries (idx, leaf_hash, body, integrated_time) VALUES (0, ?, x'', 0)`, stored); err != nil {
		t.Fatal(err)
	}
	leaf := func(b byte) []byte { h := make([]byte, 32); h[0] = b; return h }
	const insertEntry = `INSERT INTO entries (idx, leaf_hash, body, integrated_time) VALUES (?, ?, ?, 0)`

	// A connection of its own, set up as the store's writer, whose limits
	// the test may lower.
	db, err := openDB(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := sqlite.Limit(conn, sqlite3.SQLITE_LIMIT_LENGTH, 1000); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name string
		sql  string
		args []any
		code int   // the extended result code SQLite must answer
		want error // storage.ErrRejected, storage.ErrDuplicate, or nil: neither
	}{
		{"a value over the length limit", insertEntry, []any{1, leaf(1), make([]byte, 2000)},
			sqlite3.SQLITE_TOOBIG, storage.ErrRejected},
		{"an entry's CHECK", insertEntry, []any{1, make([]byte, 31), []byte{}},
			sqlite3.SQLITE_CONSTRAINT_CHECK, storage.ErrRejected},
		{"an entry's NOT NULL", insertEntry, []any{1, leaf(1), nil},
			sqlite3.SQLITE_CONSTRAINT_NOTNULL, storage.ErrRejected},
		{"a stored leaf hash", insertEntry, []any{1, stored, []byte{}},
			sqlite3.SQLITE_CONSTRAINT_UNIQUE, storage.ErrDuplicate},
		{"a stored index: the tree moved", insertEntry, []any{0, leaf(2), []byte{}},
			sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, nil},
		{"a search key not of 16 bytes", `INSERT INTO search_keys (key, idx) VALUES (zeroblob(15), 1)`, nil,
			sqlite3.SQLITE_CONSTRAINT_CHECK, storage.ErrRejected},
		{"a search key as text", `INSERT INTO search_keys (key, idx) VALUES (?, 1)`, []any{"0123456789abcdef"},
			sqlite3.SQLITE_CONSTRAINT_CHECK, storage.ErrRejected},
		{"a stored search key row: the tree moved", `INSERT INTO search_keys (key, idx) VALUES (zeroblob(16), 0), (zeroblob(16), 0)`, nil,
			sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, nil},
		{"syntax error", `INSERT INTO entries VALUES (`, nil, sqlite3.SQLITE_ERROR, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := conn.ExecContext(ctx, tt.sql, tt.args...)
			if code := resultCode(err); code != tt.code {
				t.Fatalf("SQLite answered %v (code %d), want code %d", err, code, tt.code)
			}
			storagetest.CheckClass(t, classify(err), tt.want)
		})
	}

	t.Run("database locked", func(t *testing.T) {
		// The store's writer holds the write lock; this connection gives up
		// at once.
		tx, err := s.w.BeginTx(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tx.Rollback() //nolint:errcheck // nothing to keep
		if _, err := tx.ExecContext(ctx, `UPDATE entries SET integrated_time = 1 WHERE idx = 0`); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.ExecContext(ctx, `PRAGMA busy_timeout = 0`); err != nil {
			t.Fatal(err)
		}
		_, err = conn.ExecContext(ctx, insertEntry, 1, leaf(3), []byte{})
		if code := resultCode(err); code&0xff != sqlite3.SQLITE_BUSY {
			t.Fatalf("SQLite answered %v (code %d), want SQLITE_BUSY", err, code)
		}
		storagetest.CheckClass(t, classify(err), nil)
	})
	t.Run("context cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := conn.ExecContext(cctx, insertEntry, 1, leaf(4), []byte{})
		if err == nil {
			t.Fatal("a cancelled statement succeeded")
		}
		storagetest.CheckClass(t, classify(err), nil)
	})
}

// resultCode is err's SQLite extended result code, or 0.
func resultCode(err error) int {
	var serr *sqlite.Error
	if errors.As(err, &serr) {
		return serr.Code()
	}
	return 0
}

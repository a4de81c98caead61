package postgres

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tabularium/tabula/internal/pgtest"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/storagetest"
)

// TestClassify gives classify the errors the real server returns for writes
// to the real schema, and checks which are the data's (storage.ErrRejected:
// the batch without the culprit would commit), which are a duplicate leaf,
// and which are neither (an outage, a timeout, the caller's bug, the tree
// having moved). The cases are statements the driver could send, or close
// to it; each must fail with the SQLSTATE named, so a schema change that
// makes one pass is seen here.
func TestClassify(t *testing.T) {
	ctx := context.Background()
	s, err := Open(ctx, pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	stored := make([]byte, 32)
	if _, err := s.pool.Exec(ctx, `INSERT INTO entries (idx, leaf_hash, body, integrated_time) VALUES (0, $1, '', 0)`, stored); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO logs (tree_id, profile, state, start_index) VALUES (1, 'test', 'active', 0)`); err != nil {
		t.Fatal(err)
	}
	if _, err := s.pool.Exec(ctx, `INSERT INTO tree_state (tree_id, size, root) VALUES (1, 1, $1)`, stored); err != nil {
		t.Fatal(err)
	}
	leaf := func(b byte) []byte { h := make([]byte, 32); h[0] = b; return h }

	tests := []struct {
		name  string
		sql   string
		args  []any
		code  string // the SQLSTATE the server must answer
		want  error  // storage.ErrRejected, storage.ErrDuplicate, or nil: neither
		setup string // run first, in the same session
	}{
		// No column of the schema can now refuse an entry's value for its
		// size or its bytes (search keys are 16-byte prefixes of hashes);
		// the classes are still the data's, whatever statement meets them.
		{"a program limit (class 54)", `SELECT repeat('xx', 600000000)`, nil, "54000", storage.ErrRejected, ""},
		{"a data exception (class 22)", `SELECT convert_from('\xff'::bytea, 'UTF8')`, nil, "22021", storage.ErrRejected, ""},
		{"a search key not a uuid", `INSERT INTO search_keys (key, idx) VALUES ($1::text::uuid, 1)`,
			[]any{"k"}, "22P02", storage.ErrRejected, ""},
		{"a search key of the wrong type", `INSERT INTO search_keys (key, idx) VALUES ($1::text, 1)`,
			[]any{"k"}, "42804", nil, ""},
		{"an entry's CHECK", `INSERT INTO entries (idx, leaf_hash, body, integrated_time) VALUES (1, $1, '', 0)`,
			[]any{make([]byte, 31)}, "23514", storage.ErrRejected, ""},
		{"an entry's NOT NULL", `INSERT INTO entries (idx, leaf_hash, body, integrated_time) VALUES (1, $1, NULL, 0)`,
			[]any{leaf(1)}, "23502", storage.ErrRejected, ""},
		{"a stored leaf hash", `INSERT INTO entries (idx, leaf_hash, body, integrated_time) VALUES (1, $1, '', 0)`,
			[]any{stored}, "23505", storage.ErrDuplicate, ""},
		{"a stored index: the tree moved", `INSERT INTO entries (idx, leaf_hash, body, integrated_time) VALUES (0, $1, '', 0)`,
			[]any{leaf(2)}, "23505", nil, ""},
		{"a tile's CHECK: the caller's bug", `INSERT INTO tiles (tree_id, level, idx, hashes) VALUES (1, 0, 0, $1)`,
			[]any{make([]byte, 31)}, "23514", nil, ""},
		{"the tree state's CHECK: the caller's bug", `UPDATE tree_state SET root = $1 WHERE tree_id = 1`,
			[]any{make([]byte, 31)}, "23514", nil, ""},
		{"statement timeout", `SELECT pg_sleep(1)`, nil, "57014", nil, `SET LOCAL statement_timeout = 10`},
		{"syntax error", `INSERT INTO entries VALUES (`, nil, "42601", nil, ""},
		{"unknown column", `INSERT INTO entries (nope) VALUES (1)`, nil, "42703", nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := s.pool.Acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Release()
			tx, err := conn.Begin(ctx)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Rollback(ctx) //nolint:errcheck // nothing to keep
			if tt.setup != "" {
				if _, err := tx.Exec(ctx, tt.setup); err != nil {
					t.Fatal(err)
				}
			}
			_, err = tx.Exec(ctx, tt.sql, tt.args...)
			if code := sqlState(err); code != tt.code {
				t.Fatalf("the server answered %v (SQLSTATE %q), want SQLSTATE %s", err, code, tt.code)
			}
			storagetest.CheckClass(t, classify(err), tt.want)
		})
	}

	// Errors that are no server's answer.
	t.Run("server unreachable", func(t *testing.T) {
		cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		defer cancel()
		_, err := pgx.Connect(cctx, "postgres://postgres@127.0.0.1:1/none?sslmode=disable")
		if err == nil {
			t.Fatal("connected to a closed port")
		}
		storagetest.CheckClass(t, classify(err), nil)
	})
	t.Run("context cancelled", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := s.pool.Exec(cctx, `SELECT 1`)
		if err == nil {
			t.Fatal("a cancelled query succeeded")
		}
		storagetest.CheckClass(t, classify(err), nil)
	})
}

// sqlState is err's SQLSTATE, or "" when the server did not answer one.
func sqlState(err error) string {
	var pgErr interface{ SQLState() string }
	if errors.As(err, &pgErr) {
		return pgErr.SQLState()
	}
	return ""
}

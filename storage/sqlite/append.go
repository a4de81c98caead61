package sqlite

import (
	"bytes"
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/tabularium/tabula/storage"
)

// Append commits req in one transaction; see the package comment.
func (l *logStore) Append(ctx context.Context, req storage.AppendRequest) error {
	if err := l.append(ctx, req); err != nil {
		return fmt.Errorf("sqlite: append: %w", err)
	}
	return nil
}

func (l *logStore) append(ctx context.Context, req storage.AppendRequest) error {
	if err := storage.CheckAppendRequest(req); err != nil {
		return err
	}
	// Bodies are encoded before the write lock is taken.
	bodies, formats := l.s.codec.EncodeColumns(req.Entries)
	tx, err := l.s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: _txlock in the DSN
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit

	var (
		size  int64
		state string
	)
	err = tx.QueryRowContext(ctx,
		`SELECT t.size, l.state FROM tree_state t JOIN logs l ON l.tree_id = t.tree_id WHERE t.tree_id = ?`,
		l.treeID).Scan(&size, &state)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("no tree %d: %w", l.treeID, storage.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("read tree state: %w", err)
	}
	if state != string(storage.LogActive) {
		return fmt.Errorf("log %d is %s: %w", l.treeID, state, storage.ErrFrozen)
	}
	if size < 0 || uint64(size) != req.OldSize {
		return fmt.Errorf("%w: stored size %d, batch built on %d", storage.ErrStaleTree, size, req.OldSize)
	}
	if req.State.Size > math.MaxInt64-uint64(l.start) {
		return fmt.Errorf("invalid batch: size %d past the last virtual index", req.State.Size)
	}
	if err := writeEntries(ctx, tx, l.start, req.Entries, bodies, formats); err != nil {
		return err
	}
	if err := writeSearchKeys(ctx, tx, l.start, req.Entries); err != nil {
		return err
	}
	if err := writeTiles(ctx, tx, l.treeID, storage.StoredTiles(req.Tiles)); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx,
		`UPDATE tree_state SET size = ?, root = ?, checkpoint = ?,
			updated_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE tree_id = ?`,
		int64(req.State.Size), req.State.Root[:], req.State.Checkpoint, l.treeID)
	if err != nil {
		return fmt.Errorf("write tree state: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// rowsPerInsert bounds the rows of one multi-row INSERT, keeping its bound
// parameters (6 a row at most) under SQLite's limit of 32766.
const rowsPerInsert = 256

// insertRows runs "prefix VALUES (…), (…) … suffix" for n rows of width
// columns, rowsPerInsert rows at a time, with args(i) giving row i's values.
func insertRows(ctx context.Context, tx *sql.Tx, prefix, suffix string, width, n int, args func(i int) []any) error {
	row := "(" + strings.TrimSuffix(strings.Repeat("?, ", width), ", ") + ")"
	var stmt *sql.Stmt // reused for every full chunk
	defer func() {
		if stmt != nil {
			stmt.Close()
		}
	}()
	vals := make([]any, 0, width*min(n, rowsPerInsert))
	for lo := 0; lo < n; lo += rowsPerInsert {
		hi := min(lo+rowsPerInsert, n)
		vals = vals[:0]
		for i := lo; i < hi; i++ {
			vals = append(vals, args(i)...)
		}
		query := prefix + " VALUES " + strings.TrimSuffix(strings.Repeat(row+", ", hi-lo), ", ") + " " + suffix
		var err error
		if hi-lo == rowsPerInsert {
			if stmt == nil {
				if stmt, err = tx.PrepareContext(ctx, query); err != nil {
					return err
				}
			}
			_, err = stmt.ExecContext(ctx, vals...)
		} else {
			_, err = tx.ExecContext(ctx, query, vals...)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// writeEntries stores entries under their virtual indexes, start + Index,
// with their bodies as bodycodec.EncodeColumns encoded them.
func writeEntries(ctx context.Context, tx *sql.Tx, start int64, entries []storage.Entry, bodies [][]byte, formats []*int16) error {
	err := insertRows(ctx, tx,
		`INSERT INTO entries (idx, leaf_hash, body, integrated_time, set_sig, attestation, body_format)`, "",
		7, len(entries), func(i int) []any {
			e := &entries[i]
			body := bodies[i]
			if body == nil {
				body = []byte{} // NOT NULL: an empty body is still a body
			}
			var format any // NULL: a raw body
			if formats[i] != nil {
				format = int64(*formats[i])
			}
			// storage.CheckAppendRequest bounds every index by MaxInt64.
			return []any{start + int64(e.Index), e.LeafHash[:], body, e.IntegratedTime, e.SET, e.Attestation, format}
		})
	if err != nil {
		return fmt.Errorf("write entries: %w", classify(err))
	}
	return nil
}

// classify maps an error writing entries or search keys onto the storage
// sentinels callers branch on: a second copy of a stored leaf hash is
// storage.ErrDuplicate, and a refusal of the data itself is
// storage.ErrRejected: SQLITE_TOOBIG (a value over the connection's length
// limit) and a CHECK or NOT NULL constraint. A primary key conflict is not
// the data's: a row of the batch's new indexes exists only if the tree
// moved. Busy, I/O, full-disk and interrupt errors are not the data's
// either. (The tree state and tiles are computed by the caller, never
// taken from an entry, so their writes are not classified.)
func classify(err error) error {
	var serr *sqlite.Error
	if !errors.As(err, &serr) {
		return err
	}
	switch code := serr.Code(); {
	case code == sqlite3.SQLITE_CONSTRAINT_UNIQUE && strings.Contains(serr.Error(), "entries.leaf_hash"):
		return fmt.Errorf("%w: %w", storage.ErrDuplicate, err)
	case code&0xff == sqlite3.SQLITE_TOOBIG,
		code == sqlite3.SQLITE_CONSTRAINT_CHECK,
		code == sqlite3.SQLITE_CONSTRAINT_NOTNULL:
		return fmt.Errorf("%w: %w", storage.ErrRejected, err)
	}
	return err
}

// writeSearchKeys inserts the batch's search keys sorted and without
// repeats: the rows are new (their indexes are), so plain inserts cannot
// conflict, and sorted keys touch the index's pages in order.
func writeSearchKeys(ctx context.Context, tx *sql.Tx, start int64, entries []storage.Entry) error {
	type row struct {
		key [16]byte
		idx int64
	}
	var rows []row
	for _, e := range entries {
		for _, k := range e.SearchKeys {
			rows = append(rows, row{storage.StoredSearchKey(k), start + int64(e.Index)})
		}
	}
	slices.SortFunc(rows, func(a, b row) int {
		if c := bytes.Compare(a.key[:], b.key[:]); c != 0 {
			return c
		}
		return cmp.Compare(a.idx, b.idx)
	})
	rows = slices.Compact(rows)
	err := insertRows(ctx, tx, `INSERT INTO search_keys (key, idx)`, "",
		2, len(rows), func(i int) []any { return []any{rows[i].key[:], rows[i].idx} })
	if err != nil {
		return fmt.Errorf("write search keys: %w", classify(err))
	}
	return nil
}

// writeTiles upserts tiles one statement each: a batch touches few, and a
// multi-row upsert may not touch one row twice.
func writeTiles(ctx context.Context, tx *sql.Tx, treeID int64, tiles []storage.Tile) error {
	for _, t := range tiles {
		var nodes any // NULL, not an empty blob, for a tile without
		if t.Nodes != nil {
			nodes = t.Nodes
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO tiles (tree_id, level, idx, hashes, nodes) VALUES (?, ?, ?, ?, ?)
			 ON CONFLICT (tree_id, level, idx) DO UPDATE SET hashes = excluded.hashes, nodes = excluded.nodes`,
			treeID, int64(t.Level), int64(t.Index), t.Hashes, nodes)
		if err != nil {
			return fmt.Errorf("write tile %d/%d: %w", t.Level, t.Index, err)
		}
	}
	return nil
}

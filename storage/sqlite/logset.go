package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/tabularium/tabula/storage"
)

// logStore is one log of the set: a storage.Storage speaking the log's own
// indexes, stored under start + index.
type logStore struct {
	s      *Store
	treeID int64
	start  int64
}

var (
	_ storage.Storage         = (*logStore)(nil)
	_ storage.EntryTileReader = (*logStore)(nil)
)

// virtual maps a local index or size onto the stored (virtual) index.
func (l *logStore) virtual(i uint64) int64 { return storage.VirtualIndex(l.start, i) }

// Logs lists the logs, oldest first.
func (s *Store) Logs(ctx context.Context) ([]storage.LogInfo, error) {
	rows, err := s.r.QueryContext(ctx, `
		SELECT tree_id, origin, profile, public_key, state, start_index, final_size, final_checkpoint, created_at
		FROM logs ORDER BY start_index, created_at, tree_id`)
	if err != nil {
		return nil, fmt.Errorf("sqlite: list logs: %w", err)
	}
	defer rows.Close()
	var logs []storage.LogInfo
	for rows.Next() {
		var (
			li        storage.LogInfo
			origin    sql.NullString
			state     string
			start     int64
			finalSize sql.NullInt64
			created   string
		)
		if err := rows.Scan(&li.TreeID, &origin, &li.Profile, &li.PublicKey, &state, &start,
			&finalSize, &li.FinalCheckpoint, &created); err != nil {
			return nil, fmt.Errorf("sqlite: list logs: %w", err)
		}
		if start < 0 || finalSize.Int64 < 0 {
			return nil, fmt.Errorf("sqlite: list logs: corrupt row (tree %d)", li.TreeID)
		}
		li.Origin, li.State, li.StartIndex, li.FinalSize = origin.String, storage.LogState(state), uint64(start), uint64(finalSize.Int64)
		if t, err := time.Parse(time.RFC3339Nano, created); err == nil {
			li.CreatedAt = t
		}
		logs = append(logs, li)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: list logs: %w", err)
	}
	return logs, nil
}

// CreateLog stores a new active log and its initial tree state.
func (s *Store) CreateLog(ctx context.Context, info storage.LogInfo, state storage.TreeState) error {
	if err := s.createLog(ctx, info, state); err != nil {
		return fmt.Errorf("sqlite: create log %d: %w", info.TreeID, err)
	}
	return nil
}

func (s *Store) createLog(ctx context.Context, info storage.LogInfo, state storage.TreeState) error {
	if err := storage.CheckNewLog(info, state); err != nil {
		return err
	}
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: _txlock in the DSN
	if err != nil {
		return err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit

	// The new log's range must start past the stored entries of every log
	// that starts below it.
	var end int64
	err = tx.QueryRowContext(ctx, `
		SELECT COALESCE(MAX(l.start_index + COALESCE(l.final_size, t.size)), 0)
		FROM logs l JOIN tree_state t ON t.tree_id = l.tree_id
		WHERE l.start_index <= ?`, int64(info.StartIndex)).Scan(&end)
	if err != nil {
		return fmt.Errorf("read log ranges: %w", err)
	}
	if int64(info.StartIndex) < end {
		return fmt.Errorf("start index %d lies inside another log's range (which ends at %d)", info.StartIndex, end)
	}
	var origin any
	if info.Origin != "" {
		origin = info.Origin
	}
	_, err = tx.ExecContext(ctx, `
		INSERT INTO logs (tree_id, origin, profile, public_key, state, start_index)
		VALUES (?, ?, ?, ?, 'active', ?)`,
		info.TreeID, origin, info.Profile, info.PublicKey, int64(info.StartIndex))
	if err != nil {
		var serr *sqlite.Error
		if errors.As(err, &serr) && serr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE && strings.Contains(serr.Error(), "logs.profile") {
			return fmt.Errorf("%w: %s", storage.ErrActiveLog, info.Profile)
		}
		if errors.As(err, &serr) && serr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY {
			return fmt.Errorf("%w: tree ID %d is taken", storage.ErrTreeExists, info.TreeID)
		}
		return err
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO tree_state (tree_id, size, root, checkpoint) VALUES (?, 0, ?, ?)`,
		info.TreeID, state.Root[:], state.Checkpoint)
	if err != nil {
		return fmt.Errorf("write tree state: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// SetPublicKey records the origin and public key of a log stored without.
func (s *Store) SetPublicKey(ctx context.Context, treeID int64, origin string, publicKey []byte) error {
	if len(publicKey) == 0 {
		return fmt.Errorf("sqlite: set public key of log %d: no key", treeID)
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: set public key of log %d: %w", treeID, err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var stored []byte
	err = tx.QueryRowContext(ctx, `SELECT public_key FROM logs WHERE tree_id = ?`, treeID).Scan(&stored)
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("sqlite: set public key of log %d: %w", treeID, storage.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("sqlite: set public key of log %d: %w", treeID, err)
	}
	if stored != nil {
		if !bytes.Equal(stored, publicKey) {
			return fmt.Errorf("sqlite: set public key of log %d: the log holds another public key", treeID)
		}
		return nil
	}
	if _, err := tx.ExecContext(ctx, `UPDATE logs SET origin = ?, public_key = ? WHERE tree_id = ?`,
		origin, publicKey, treeID); err != nil {
		return fmt.Errorf("sqlite: set public key of log %d: %w", treeID, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: set public key of log %d: commit: %w", treeID, err)
	}
	return nil
}

// OpenLog returns the log's Storage, or storage.ErrNotFound.
func (s *Store) OpenLog(ctx context.Context, treeID int64) (storage.Storage, error) {
	var start int64
	err := s.r.QueryRowContext(ctx, `SELECT start_index FROM logs WHERE tree_id = ?`, treeID).Scan(&start)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("sqlite: open log %d: %w", treeID, storage.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("sqlite: open log %d: %w", treeID, err)
	}
	if start < 0 {
		return nil, fmt.Errorf("sqlite: open log %d: corrupt start index %d", treeID, start)
	}
	return &logStore{s: s, treeID: treeID, start: start}, nil
}

// CreateTree stores the head of the log, which CreateLog already did: it
// fails with storage.ErrTreeExists unless the tree state row is missing.
func (l *logStore) CreateTree(ctx context.Context, state storage.TreeState) error {
	if state.Size != 0 {
		return fmt.Errorf("sqlite: create tree: initial size %d, want 0", state.Size)
	}
	if state.TreeID != l.treeID {
		return fmt.Errorf("sqlite: create tree: tree %d in the handle of log %d", state.TreeID, l.treeID)
	}
	res, err := l.s.w.ExecContext(ctx, `
		INSERT INTO tree_state (tree_id, size, root, checkpoint)
		VALUES (?, 0, ?, ?)
		ON CONFLICT (tree_id) DO NOTHING`,
		state.TreeID, state.Root[:], state.Checkpoint)
	if err != nil {
		return fmt.Errorf("sqlite: create tree: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return fmt.Errorf("sqlite: create tree: %w", err)
	} else if n == 0 {
		return fmt.Errorf("sqlite: create tree: %w", storage.ErrTreeExists)
	}
	return nil
}

// LatestTreeState returns the log's last committed head, or storage.ErrNotFound.
func (l *logStore) LatestTreeState(ctx context.Context) (storage.TreeState, error) {
	var (
		st   storage.TreeState
		size int64
		root []byte
	)
	err := l.s.r.QueryRowContext(ctx, `SELECT tree_id, size, root, checkpoint FROM tree_state WHERE tree_id = ?`, l.treeID).
		Scan(&st.TreeID, &size, &root, &st.Checkpoint)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.TreeState{}, fmt.Errorf("sqlite: latest tree state: %w", storage.ErrNotFound)
	}
	if err != nil {
		return storage.TreeState{}, fmt.Errorf("sqlite: latest tree state: %w", err)
	}
	if size < 0 || len(root) != len(st.Root) {
		return storage.TreeState{}, fmt.Errorf("sqlite: latest tree state: corrupt row (size %d, root of %d bytes)", size, len(root))
	}
	st.Size = uint64(size)
	copy(st.Root[:], root)
	return st, nil
}

// Ping checks that the database file can be read.
func (l *logStore) Ping(ctx context.Context) error { return l.s.Ping(ctx) }

// Close closes the set the log belongs to.
func (l *logStore) Close() error { return l.s.Close() }

package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

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
	rows, err := s.pool.Query(ctx, `
		SELECT tree_id, coalesce(origin, ''), profile, public_key, state, start_index,
		       coalesce(final_size, 0), final_checkpoint, created_at
		FROM logs ORDER BY start_index, created_at, tree_id`)
	if err != nil {
		return nil, fmt.Errorf("postgres: list logs: %w", err)
	}
	logs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.LogInfo, error) {
		var (
			li               storage.LogInfo
			state            string
			start, finalSize int64
		)
		if err := r.Scan(&li.TreeID, &li.Origin, &li.Profile, &li.PublicKey, &state, &start,
			&finalSize, &li.FinalCheckpoint, &li.CreatedAt); err != nil {
			return li, err
		}
		if start < 0 || finalSize < 0 {
			return li, fmt.Errorf("corrupt row (tree %d)", li.TreeID)
		}
		li.State, li.StartIndex, li.FinalSize = storage.LogState(state), uint64(start), uint64(finalSize)
		return li, nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: list logs: %w", err)
	}
	return logs, nil
}

// CreateLog stores a new active log and its initial tree state.
func (s *Store) CreateLog(ctx context.Context, info storage.LogInfo, state storage.TreeState) error {
	if err := s.createLog(ctx, info, state); err != nil {
		return fmt.Errorf("postgres: create log %d: %w", info.TreeID, err)
	}
	return nil
}

// createLogLockID serialises CreateLog (a transaction advisory lock), so the
// range check below sees every log created before.
const createLogLockID int64 = 0x7461_6275_6c61_6c73 // "tabulals"

func (s *Store) createLog(ctx context.Context, info storage.LogInfo, state storage.TreeState) error {
	if err := storage.CheckNewLog(info, state); err != nil {
		return err
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // the first error is the one returned
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, createLogLockID); err != nil {
		return fmt.Errorf("lock the log set: %w", err)
	}
	// The new log's range must start past the stored entries of every log
	// that starts below it.
	var end int64
	err = tx.QueryRow(ctx, `
		SELECT coalesce(max(l.start_index + coalesce(l.final_size, t.size)), 0)
		FROM logs l JOIN tree_state t ON t.tree_id = l.tree_id
		WHERE l.start_index <= $1`, int64(info.StartIndex)).Scan(&end)
	if err != nil {
		return fmt.Errorf("read log ranges: %w", err)
	}
	if int64(info.StartIndex) < end {
		return fmt.Errorf("start index %d lies inside another log's range (which ends at %d)", info.StartIndex, end)
	}
	var origin *string
	if info.Origin != "" {
		origin = &info.Origin
	}
	_, err = tx.Exec(ctx, `
		INSERT INTO logs (tree_id, origin, profile, public_key, state, start_index)
		VALUES ($1, $2, $3, $4, 'active', $5)`,
		info.TreeID, origin, info.Profile, info.PublicKey, int64(info.StartIndex))
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "logs_one_active":
		return fmt.Errorf("%w: %s", storage.ErrActiveLog, info.Profile)
	case errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "logs_pkey":
		return fmt.Errorf("%w: tree ID %d is taken", storage.ErrTreeExists, info.TreeID)
	case err != nil:
		return err
	}
	_, err = tx.Exec(ctx, `INSERT INTO tree_state (tree_id, size, root, checkpoint) VALUES ($1, 0, $2, $3)`,
		info.TreeID, state.Root[:], state.Checkpoint)
	if err != nil {
		return fmt.Errorf("write tree state: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// SetPublicKey records the origin and public key of a log stored without.
func (s *Store) SetPublicKey(ctx context.Context, treeID int64, origin string, publicKey []byte) error {
	if len(publicKey) == 0 {
		return fmt.Errorf("postgres: set public key of log %d: no key", treeID)
	}
	tag, err := s.pool.Exec(ctx, `UPDATE logs SET origin = $2, public_key = $3 WHERE tree_id = $1 AND public_key IS NULL`,
		treeID, origin, publicKey)
	if err != nil {
		return fmt.Errorf("postgres: set public key of log %d: %w", treeID, err)
	}
	if tag.RowsAffected() == 1 {
		return nil
	}
	var stored []byte
	err = s.pool.QueryRow(ctx, `SELECT public_key FROM logs WHERE tree_id = $1`, treeID).Scan(&stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return fmt.Errorf("postgres: set public key of log %d: %w", treeID, storage.ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("postgres: set public key of log %d: %w", treeID, err)
	}
	if !bytes.Equal(stored, publicKey) {
		return fmt.Errorf("postgres: set public key of log %d: the log holds another public key", treeID)
	}
	return nil
}

// OpenLog returns the log's Storage, or storage.ErrNotFound.
func (s *Store) OpenLog(ctx context.Context, treeID int64) (storage.Storage, error) {
	var start int64
	err := s.pool.QueryRow(ctx, `SELECT start_index FROM logs WHERE tree_id = $1`, treeID).Scan(&start)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: open log %d: %w", treeID, storage.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: open log %d: %w", treeID, err)
	}
	if start < 0 {
		return nil, fmt.Errorf("postgres: open log %d: corrupt start index %d", treeID, start)
	}
	return &logStore{s: s, treeID: treeID, start: start}, nil
}

// CreateTree stores the head of the log, which CreateLog already did: it
// fails with storage.ErrTreeExists unless the tree state row is missing.
func (l *logStore) CreateTree(ctx context.Context, state storage.TreeState) error {
	if state.Size != 0 {
		return fmt.Errorf("postgres: create tree: initial size %d, want 0", state.Size)
	}
	if state.TreeID != l.treeID {
		return fmt.Errorf("postgres: create tree: tree %d in the handle of log %d", state.TreeID, l.treeID)
	}
	tag, err := l.s.pool.Exec(ctx, `
		INSERT INTO tree_state (tree_id, size, root, checkpoint)
		VALUES ($1, 0, $2, $3)
		ON CONFLICT (tree_id) DO NOTHING`,
		state.TreeID, state.Root[:], state.Checkpoint)
	if err != nil {
		return fmt.Errorf("postgres: create tree: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: create tree: %w", storage.ErrTreeExists)
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
	err := l.s.pool.QueryRow(ctx, `SELECT tree_id, size, root, checkpoint FROM tree_state WHERE tree_id = $1`, l.treeID).
		Scan(&st.TreeID, &size, &root, &st.Checkpoint)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.TreeState{}, fmt.Errorf("postgres: latest tree state: %w", storage.ErrNotFound)
	}
	if err != nil {
		return storage.TreeState{}, fmt.Errorf("postgres: latest tree state: %w", err)
	}
	if size < 0 || len(root) != len(st.Root) {
		return storage.TreeState{}, fmt.Errorf("postgres: latest tree state: corrupt row (size %d, root of %d bytes)", size, len(root))
	}
	st.Size = uint64(size)
	copy(st.Root[:], root)
	return st, nil
}

// Ping checks that a connection to the database can be acquired and used.
func (l *logStore) Ping(ctx context.Context) error { return l.s.Ping(ctx) }

// Close closes the set the log belongs to.
func (l *logStore) Close() error { return l.s.Close() }

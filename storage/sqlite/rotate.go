package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/tabularium/tabula/storage"
)

// Rotate freezes the active log oldTreeID at its head and creates next, its
// successor, in one transaction; see storage.LogSet.
//
// The transaction is BEGIN IMMEDIATE, so it holds SQLite's write lock
// from its first statement: an Append, in this process or another, either
// commits before it (and is counted in the final size) or starts after it
// and reads the frozen state.
func (s *Store) Rotate(ctx context.Context, oldTreeID int64, next storage.LogInfo, state storage.TreeState) (storage.LogInfo, error) {
	stored, err := s.rotate(ctx, oldTreeID, next, state)
	if err != nil {
		return storage.LogInfo{}, fmt.Errorf("sqlite: rotate log %d to %d: %w", oldTreeID, next.TreeID, err)
	}
	return stored, nil
}

func (s *Store) rotate(ctx context.Context, oldTreeID int64, next storage.LogInfo, state storage.TreeState) (storage.LogInfo, error) {
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: _txlock in the DSN
	if err != nil {
		return storage.LogInfo{}, err
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit

	var (
		profile, logState string
		start, size       int64
		checkpoint        []byte
	)
	err = tx.QueryRowContext(ctx, `
		SELECT t.size, l.state, l.profile, l.start_index, t.checkpoint
		FROM tree_state t JOIN logs l ON l.tree_id = t.tree_id WHERE t.tree_id = ?`,
		oldTreeID).Scan(&size, &logState, &profile, &start, &checkpoint)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.LogInfo{}, fmt.Errorf("no log %d: %w", oldTreeID, storage.ErrNotFound)
	}
	if err != nil {
		return storage.LogInfo{}, fmt.Errorf("read tree state: %w", err)
	}
	if logState != string(storage.LogActive) {
		return storage.LogInfo{}, fmt.Errorf("log %d is %s: %w", oldTreeID, logState, storage.ErrFrozen)
	}
	if start < 0 || size < 0 || size > math.MaxInt64-start {
		return storage.LogInfo{}, fmt.Errorf("corrupt log %d (start %d, size %d)", oldTreeID, start, size)
	}
	if next.Profile == "" {
		next.Profile = profile
	}
	next.StartIndex = uint64(start + size)
	if err := storage.CheckRotation(next, state, profile); err != nil {
		return storage.LogInfo{}, err
	}
	next.State = storage.LogActive

	// The new log's range must start past the stored entries of every
	// other log that starts below it.
	var end int64
	err = tx.QueryRowContext(ctx, `
		SELECT COALESCE(MAX(l.start_index + COALESCE(l.final_size, t.size)), 0)
		FROM logs l JOIN tree_state t ON t.tree_id = l.tree_id
		WHERE l.tree_id <> ? AND l.start_index <= ?`, oldTreeID, start+size).Scan(&end)
	if err != nil {
		return storage.LogInfo{}, fmt.Errorf("read log ranges: %w", err)
	}
	if start+size < end {
		return storage.LogInfo{}, fmt.Errorf("start index %d lies inside another log's range (which ends at %d)", start+size, end)
	}

	if _, err := tx.ExecContext(ctx, `
		UPDATE logs SET state = 'frozen', final_size = ?, final_checkpoint = ? WHERE tree_id = ?`,
		size, checkpoint, oldTreeID); err != nil {
		return storage.LogInfo{}, fmt.Errorf("freeze: %w", err)
	}
	var origin any
	if next.Origin != "" {
		origin = next.Origin
	}
	// created_at after the old log's, so that Logs lists an empty old log
	// (which shares its start index with next) first.
	var created string
	err = tx.QueryRowContext(ctx, `
		INSERT INTO logs (tree_id, origin, profile, public_key, state, start_index, created_at)
		VALUES (?, ?, ?, ?, 'active', ?, max(strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), COALESCE(
			strftime('%Y-%m-%dT%H:%M:%fZ', (SELECT created_at FROM logs WHERE tree_id = ?), '+0.001 seconds'), '')))
		RETURNING created_at`,
		next.TreeID, origin, next.Profile, next.PublicKey, start+size, oldTreeID).Scan(&created)
	if err != nil {
		var serr *sqlite.Error
		if errors.As(err, &serr) && serr.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY {
			return storage.LogInfo{}, fmt.Errorf("%w: tree ID %d is taken", storage.ErrTreeExists, next.TreeID)
		}
		if errors.As(err, &serr) && serr.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE && strings.Contains(serr.Error(), "logs.profile") {
			return storage.LogInfo{}, fmt.Errorf("%w: %s", storage.ErrActiveLog, next.Profile)
		}
		return storage.LogInfo{}, fmt.Errorf("write log: %w", err)
	}
	if t, err := time.Parse(time.RFC3339Nano, created); err == nil {
		next.CreatedAt = t
	}
	_, err = tx.ExecContext(ctx, `INSERT INTO tree_state (tree_id, size, root, checkpoint) VALUES (?, 0, ?, ?)`,
		next.TreeID, state.Root[:], state.Checkpoint)
	if err != nil {
		return storage.LogInfo{}, fmt.Errorf("write tree state: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return storage.LogInfo{}, fmt.Errorf("commit: %w", err)
	}
	return next, nil
}

// locateSQL finds leaf hashes (the IN list, spliced in as placeholders) in
// the entries and the log whose range, [start_index, start_index + its
// size), holds each. An empty log's range is empty, so an entry never
// matches an empty frozen log that shares its start index with the next
// one. One statement: one snapshot, in which every entry found is inside
// its log's size.
const locateSQL = `
	SELECT e.leaf_hash, e.idx, r.tree_id, r.start_index
	FROM entries e LEFT JOIN (
		SELECT l.tree_id, l.start_index, l.start_index + COALESCE(l.final_size, t.size) AS end_index
		FROM logs l JOIN tree_state t ON t.tree_id = l.tree_id
	) r ON e.idx >= r.start_index AND e.idx < r.end_index
	WHERE e.leaf_hash IN (%s)`

// LocateLeafHashes returns the log and the log's own index of every given
// leaf hash stored in any log of the set, lookupChunk hashes a query.
func (s *Store) LocateLeafHashes(ctx context.Context, hashes []storage.Hash) (map[storage.Hash]storage.LeafLocation, error) {
	found := make(map[storage.Hash]storage.LeafLocation)
	for lo := 0; lo < len(hashes); lo += lookupChunk {
		chunk := hashes[lo:min(lo+lookupChunk, len(hashes))]
		args := make([]any, len(chunk))
		for i := range chunk {
			args[i] = chunk[i][:]
		}
		query := fmt.Sprintf(locateSQL, strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", "))
		if err := s.locate(ctx, query, args, found); err != nil {
			return nil, fmt.Errorf("sqlite: locate leaf hashes: %w", err)
		}
	}
	return found, nil
}

func (s *Store) locate(ctx context.Context, query string, args []any, found map[storage.Hash]storage.LeafLocation) error {
	rows, err := s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			leaf          []byte
			idx           int64
			treeID, start sql.NullInt64
		)
		if err := rows.Scan(&leaf, &idx, &treeID, &start); err != nil {
			return err
		}
		var tp, sp *int64
		if treeID.Valid && start.Valid {
			tp, sp = &treeID.Int64, &start.Int64
		}
		if err := storage.AddLocation(found, leaf, idx, tp, sp); err != nil {
			return err
		}
	}
	return rows.Err()
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tabularium/tabula/storage"
)

// Rotate freezes the active log oldTreeID at its head and creates next, its
// successor, in one transaction; see storage.LogSet.
//
// It takes CreateLog's advisory lock (so the range check sees every log)
// and then the old log's tree-state and logs rows, with Append's own query:
// a batch holding them commits first and is counted in the final size, and
// a batch waiting for them then reads the frozen state.
func (s *Store) Rotate(ctx context.Context, oldTreeID int64, next storage.LogInfo, state storage.TreeState) (storage.LogInfo, error) {
	stored, err := s.rotate(ctx, oldTreeID, next, state)
	if err != nil {
		return storage.LogInfo{}, fmt.Errorf("postgres: rotate log %d to %d: %w", oldTreeID, next.TreeID, err)
	}
	return stored, nil
}

func (s *Store) rotate(ctx context.Context, oldTreeID int64, next storage.LogInfo, state storage.TreeState) (storage.LogInfo, error) {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return storage.LogInfo{}, err
	}
	defer tx.Rollback(ctx) //nolint:errcheck // the first error is the one returned
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, createLogLockID); err != nil {
		return storage.LogInfo{}, fmt.Errorf("lock the log set: %w", err)
	}
	var (
		profile, logState string
		start, size       int64
		checkpoint        []byte
	)
	// The same rows, locked in the same order, as Append's.
	err = tx.QueryRow(ctx, `
		SELECT t.size, l.state, l.profile, l.start_index, t.checkpoint
		FROM tree_state t JOIN logs l ON l.tree_id = t.tree_id
		WHERE t.tree_id = $1 FOR UPDATE`, oldTreeID).Scan(&size, &logState, &profile, &start, &checkpoint)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.LogInfo{}, fmt.Errorf("no log %d: %w", oldTreeID, storage.ErrNotFound)
	}
	if err != nil {
		return storage.LogInfo{}, fmt.Errorf("lock tree state: %w", err)
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
	err = tx.QueryRow(ctx, `
		SELECT coalesce(max(l.start_index + coalesce(l.final_size, t.size)), 0)
		FROM logs l JOIN tree_state t ON t.tree_id = l.tree_id
		WHERE l.tree_id <> $1 AND l.start_index <= $2`, oldTreeID, start+size).Scan(&end)
	if err != nil {
		return storage.LogInfo{}, fmt.Errorf("read log ranges: %w", err)
	}
	if start+size < end {
		return storage.LogInfo{}, fmt.Errorf("start index %d lies inside another log's range (which ends at %d)", start+size, end)
	}

	if _, err := tx.Exec(ctx, `
		UPDATE logs SET state = 'frozen', final_size = $2, final_checkpoint = $3 WHERE tree_id = $1`,
		oldTreeID, size, checkpoint); err != nil {
		return storage.LogInfo{}, fmt.Errorf("freeze: %w", err)
	}
	var origin *string
	if next.Origin != "" {
		origin = &next.Origin
	}
	// created_at after the old log's, so that Logs lists an empty old log
	// (which shares its start index with next) first.
	err = tx.QueryRow(ctx, `
		INSERT INTO logs (tree_id, origin, profile, public_key, state, start_index, created_at)
		VALUES ($1, $2, $3, $4, 'active', $5,
			greatest(clock_timestamp(), (SELECT created_at FROM logs WHERE tree_id = $6) + interval '1 microsecond'))
		RETURNING created_at`,
		next.TreeID, origin, next.Profile, next.PublicKey, start+size, oldTreeID).Scan(&next.CreatedAt)
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "logs_pkey":
		return storage.LogInfo{}, fmt.Errorf("%w: tree ID %d is taken", storage.ErrTreeExists, next.TreeID)
	case errors.As(err, &pgErr) && pgErr.Code == "23505" && pgErr.ConstraintName == "logs_one_active":
		return storage.LogInfo{}, fmt.Errorf("%w: %s", storage.ErrActiveLog, next.Profile)
	case err != nil:
		return storage.LogInfo{}, fmt.Errorf("write log: %w", err)
	}
	_, err = tx.Exec(ctx, `INSERT INTO tree_state (tree_id, size, root, checkpoint) VALUES ($1, 0, $2, $3)`,
		next.TreeID, state.Root[:], state.Checkpoint)
	if err != nil {
		return storage.LogInfo{}, fmt.Errorf("write tree state: %w", err)
	}
	// As in Append: once COMMIT is sent, wait for its outcome.
	if err := ctx.Err(); err != nil {
		return storage.LogInfo{}, err
	}
	commitCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), commitTimeout)
	defer cancel()
	if err := tx.Commit(commitCtx); err != nil {
		return storage.LogInfo{}, fmt.Errorf("commit: %w", err)
	}
	return next, nil
}

// locateSQL finds leaf hashes ($1) in the entries and the log whose range,
// [start_index, start_index + its size), holds each. An empty log's range
// is empty, so an entry never matches an empty frozen log that shares its
// start index with the next one. One statement: one snapshot, in which
// every entry found is inside its log's size.
const locateSQL = `
	SELECT e.leaf_hash, e.idx, r.tree_id, r.start_index
	FROM entries e LEFT JOIN (
		SELECT l.tree_id, l.start_index, l.start_index + coalesce(l.final_size, t.size) AS end_index
		FROM logs l JOIN tree_state t ON t.tree_id = l.tree_id
	) r ON e.idx >= r.start_index AND e.idx < r.end_index
	WHERE e.leaf_hash = ANY($1::bytea[])`

// LocateLeafHashes returns the log and the log's own index of every given
// leaf hash stored in any log of the set.
func (s *Store) LocateLeafHashes(ctx context.Context, hashes []storage.Hash) (map[storage.Hash]storage.LeafLocation, error) {
	found := make(map[storage.Hash]storage.LeafLocation)
	if len(hashes) == 0 {
		return found, nil
	}
	arg := make([][]byte, len(hashes))
	for i := range hashes {
		arg[i] = hashes[i][:]
	}
	rows, err := s.pool.Query(ctx, locateSQL, arg)
	if err != nil {
		return nil, fmt.Errorf("postgres: locate leaf hashes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			leaf          []byte
			idx           int64
			treeID, start *int64
		)
		if err := rows.Scan(&leaf, &idx, &treeID, &start); err != nil {
			return nil, fmt.Errorf("postgres: locate leaf hashes: %w", err)
		}
		if err := storage.AddLocation(found, leaf, idx, treeID, start); err != nil {
			return nil, fmt.Errorf("postgres: locate leaf hashes: %w", err)
		}
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: locate leaf hashes: %w", err)
	}
	return found, nil
}

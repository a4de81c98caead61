package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/tabularium/tabula/storage"
)

// LatestCosigned returns the log's stored cosigned checkpoint, or
// storage.ErrNotFound.
func (s *Store) LatestCosigned(ctx context.Context, treeID int64) (storage.CosignedCheckpoint, error) {
	var (
		cp     storage.CosignedCheckpoint
		size   int64
		stored string
	)
	err := s.r.QueryRowContext(ctx, `SELECT size, note, stored_at FROM cosigned_checkpoints WHERE tree_id = ?`, treeID).
		Scan(&size, &cp.Note, &stored)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.CosignedCheckpoint{}, fmt.Errorf("sqlite: cosigned checkpoint of log %d: %w", treeID, storage.ErrNotFound)
	}
	if err != nil {
		return storage.CosignedCheckpoint{}, fmt.Errorf("sqlite: cosigned checkpoint of log %d: %w", treeID, err)
	}
	if size < 0 {
		return storage.CosignedCheckpoint{}, fmt.Errorf("sqlite: cosigned checkpoint of log %d: corrupt size %d", treeID, size)
	}
	cp.Size = uint64(size)
	if t, err := time.Parse(time.RFC3339Nano, stored); err == nil {
		cp.Stored = t
	}
	return cp, nil
}

// StoreCosigned stores cp unless a larger checkpoint of the log is stored.
func (s *Store) StoreCosigned(ctx context.Context, treeID int64, cp storage.CosignedCheckpoint) (bool, error) {
	if cp.Size > math.MaxInt64 || len(cp.Note) == 0 {
		return false, fmt.Errorf("sqlite: store cosigned checkpoint of log %d: size %d, note of %d bytes", treeID, cp.Size, len(cp.Note))
	}
	res, err := s.w.ExecContext(ctx, `
		INSERT INTO cosigned_checkpoints AS c (tree_id, size, note, stored_at)
		VALUES (?1, ?2, ?3, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
		ON CONFLICT (tree_id) DO UPDATE SET size = excluded.size, note = excluded.note, stored_at = excluded.stored_at
		WHERE c.size <= excluded.size`, treeID, int64(cp.Size), cp.Note)
	if err != nil {
		return false, fmt.Errorf("sqlite: store cosigned checkpoint of log %d: %w", treeID, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlite: store cosigned checkpoint of log %d: %w", treeID, err)
	}
	return n == 1, nil
}

// TryLease takes or renews the lease name for holder, by this machine's
// clock (every process sharing the file runs on it).
func (s *Store) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	now := time.Now().UnixNano()
	res, err := s.w.ExecContext(ctx, `
		INSERT INTO leases AS l (name, holder, expires_at) VALUES (?1, ?2, ?3)
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE l.holder = excluded.holder OR l.expires_at <= ?4`,
		name, holder, now+int64(max(ttl, 0)), now)
	if err != nil {
		return false, fmt.Errorf("sqlite: lease %q: %w", name, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return false, fmt.Errorf("sqlite: lease %q: %w", name, err)
	}
	return n == 1, nil
}

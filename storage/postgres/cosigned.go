package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tabularium/tabula/storage"
)

// LatestCosigned returns the log's stored cosigned checkpoint, or
// storage.ErrNotFound.
func (s *Store) LatestCosigned(ctx context.Context, treeID int64) (storage.CosignedCheckpoint, error) {
	var (
		cp   storage.CosignedCheckpoint
		size int64
	)
	err := s.pool.QueryRow(ctx, `SELECT size, note, stored_at FROM cosigned_checkpoints WHERE tree_id = $1`, treeID).
		Scan(&size, &cp.Note, &cp.Stored)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.CosignedCheckpoint{}, fmt.Errorf("postgres: cosigned checkpoint of log %d: %w", treeID, storage.ErrNotFound)
	}
	if err != nil {
		return storage.CosignedCheckpoint{}, fmt.Errorf("postgres: cosigned checkpoint of log %d: %w", treeID, err)
	}
	if size < 0 {
		return storage.CosignedCheckpoint{}, fmt.Errorf("postgres: cosigned checkpoint of log %d: corrupt size %d", treeID, size)
	}
	cp.Size = uint64(size)
	return cp, nil
}

// StoreCosigned stores cp unless a larger checkpoint of the log is stored.
func (s *Store) StoreCosigned(ctx context.Context, treeID int64, cp storage.CosignedCheckpoint) (bool, error) {
	if cp.Size > math.MaxInt64 || len(cp.Note) == 0 {
		return false, fmt.Errorf("postgres: store cosigned checkpoint of log %d: size %d, note of %d bytes", treeID, cp.Size, len(cp.Note))
	}
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO cosigned_checkpoints AS c (tree_id, size, note, stored_at)
		VALUES ($1, $2, $3, now())
		ON CONFLICT (tree_id) DO UPDATE SET size = excluded.size, note = excluded.note, stored_at = excluded.stored_at
		WHERE c.size <= excluded.size`, treeID, int64(cp.Size), cp.Note)
	if err != nil {
		return false, fmt.Errorf("postgres: store cosigned checkpoint of log %d: %w", treeID, err)
	}
	return tag.RowsAffected() == 1, nil
}

// TryLease takes or renews the lease name for holder, by the database
// server's clock.
func (s *Store) TryLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	tag, err := s.pool.Exec(ctx, `
		INSERT INTO leases AS l (name, holder, expires_at)
		VALUES ($1, $2, clock_timestamp() + $3 * interval '1 microsecond')
		ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at
		WHERE l.holder = excluded.holder OR l.expires_at <= clock_timestamp()`,
		name, holder, max(ttl, 0).Microseconds())
	if err != nil {
		return false, fmt.Errorf("postgres: lease %q: %w", name, err)
	}
	return tag.RowsAffected() == 1, nil
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/tabularium/tabula/storage"
)

var _ storage.WitnessState = (*Store)(nil)

// WitnessCheckpoint returns the witness's stored checkpoint of origin, or
// storage.ErrNotFound.
func (s *Store) WitnessCheckpoint(ctx context.Context, origin string) (storage.WitnessCheckpoint, error) {
	var (
		cp   = storage.WitnessCheckpoint{Origin: origin}
		size int64
		root []byte
	)
	err := s.pool.QueryRow(ctx, `SELECT size, root, note, updated_at FROM witness_checkpoints WHERE origin = $1`, origin).
		Scan(&size, &root, &cp.Note, &cp.Updated)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.WitnessCheckpoint{}, fmt.Errorf("postgres: witness checkpoint %q: %w", origin, storage.ErrNotFound)
	}
	if err != nil {
		return storage.WitnessCheckpoint{}, fmt.Errorf("postgres: witness checkpoint %q: %w", origin, err)
	}
	if size < 0 || len(root) != len(cp.Root) {
		return storage.WitnessCheckpoint{}, fmt.Errorf("postgres: witness checkpoint %q: corrupt row (size %d, root of %d bytes)", origin, size, len(root))
	}
	cp.Size = uint64(size)
	copy(cp.Root[:], root)
	return cp, nil
}

// SwapWitnessCheckpoint replaces the stored checkpoint of next.Origin by
// next if it is old (nil: none stored). Each case is one statement, a
// conditional INSERT or UPDATE, which PostgreSQL applies atomically under
// the row's lock: of two processes swapping from one old state, exactly one
// changes a row and the other gets storage.ErrStaleTree.
func (s *Store) SwapWitnessCheckpoint(ctx context.Context, old *storage.WitnessCheckpoint, next storage.WitnessCheckpoint) error {
	if next.Size > math.MaxInt64 || (old != nil && old.Size > math.MaxInt64) {
		return fmt.Errorf("postgres: swap witness checkpoint %q: size exceeds 2^63-1", next.Origin)
	}
	var (
		n   int64
		err error
	)
	if old == nil {
		tag, e := s.pool.Exec(ctx, `
			INSERT INTO witness_checkpoints (origin, size, root, note, updated_at)
			VALUES ($1, $2, $3, $4, now())
			ON CONFLICT (origin) DO NOTHING`,
			next.Origin, int64(next.Size), next.Root[:], next.Note)
		n, err = tag.RowsAffected(), e
	} else {
		tag, e := s.pool.Exec(ctx, `
			UPDATE witness_checkpoints SET size = $2, root = $3, note = $4, updated_at = now()
			WHERE origin = $1 AND size = $5 AND root = $6`,
			next.Origin, int64(next.Size), next.Root[:], next.Note, int64(old.Size), old.Root[:])
		n, err = tag.RowsAffected(), e
	}
	if err != nil {
		return fmt.Errorf("postgres: swap witness checkpoint %q: %w", next.Origin, err)
	}
	if n != 1 {
		return fmt.Errorf("postgres: swap witness checkpoint %q: the stored checkpoint is not the expected one: %w", next.Origin, storage.ErrStaleTree)
	}
	return nil
}

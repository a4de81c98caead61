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

var _ storage.WitnessState = (*Store)(nil)

// WitnessCheckpoint returns the witness's stored checkpoint of origin, or
// storage.ErrNotFound.
func (s *Store) WitnessCheckpoint(ctx context.Context, origin string) (storage.WitnessCheckpoint, error) {
	var (
		cp      = storage.WitnessCheckpoint{Origin: origin}
		size    int64
		root    []byte
		updated string
	)
	err := s.r.QueryRowContext(ctx, `SELECT size, root, note, updated_at FROM witness_checkpoints WHERE origin = ?1`, origin).
		Scan(&size, &root, &cp.Note, &updated)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.WitnessCheckpoint{}, fmt.Errorf("sqlite: witness checkpoint %q: %w", origin, storage.ErrNotFound)
	}
	if err != nil {
		return storage.WitnessCheckpoint{}, fmt.Errorf("sqlite: witness checkpoint %q: %w", origin, err)
	}
	if size < 0 || len(root) != len(cp.Root) {
		return storage.WitnessCheckpoint{}, fmt.Errorf("sqlite: witness checkpoint %q: corrupt row (size %d, root of %d bytes)", origin, size, len(root))
	}
	cp.Size = uint64(size)
	copy(cp.Root[:], root)
	if t, err := time.Parse(time.RFC3339Nano, updated); err == nil {
		cp.Updated = t
	}
	return cp, nil
}

// SwapWitnessCheckpoint replaces the stored checkpoint of next.Origin by
// next if it is old (nil: none stored). It runs in one BEGIN IMMEDIATE
// transaction on the writer connection, which holds SQLite's write lock
// from the start: two processes on one file swap one after the other, and
// the second finds the state moved (storage.ErrStaleTree).
func (s *Store) SwapWitnessCheckpoint(ctx context.Context, old *storage.WitnessCheckpoint, next storage.WitnessCheckpoint) error {
	if next.Size > math.MaxInt64 || (old != nil && old.Size > math.MaxInt64) {
		return fmt.Errorf("sqlite: swap witness checkpoint %q: size exceeds 2^63-1", next.Origin)
	}
	fail := func(err error) error { return fmt.Errorf("sqlite: swap witness checkpoint %q: %w", next.Origin, err) }
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: _txlock in the DSN
	if err != nil {
		return fail(err)
	}
	defer tx.Rollback() //nolint:errcheck // a no-op after Commit
	var (
		size int64
		root []byte
	)
	err = tx.QueryRowContext(ctx, `SELECT size, root FROM witness_checkpoints WHERE origin = ?1`, next.Origin).Scan(&size, &root)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		if old != nil {
			return fail(fmt.Errorf("none stored: %w", storage.ErrStaleTree))
		}
	case err != nil:
		return fail(err)
	case old == nil:
		return fail(fmt.Errorf("size %d stored: %w", size, storage.ErrStaleTree))
	case size < 0 || uint64(size) != old.Size || string(root) != string(old.Root[:]):
		return fail(fmt.Errorf("size %d stored, not the expected %d: %w", size, old.Size, storage.ErrStaleTree))
	}
	if _, err := tx.ExecContext(ctx, `
		INSERT INTO witness_checkpoints (origin, size, root, note, updated_at)
		VALUES (?1, ?2, ?3, ?4, strftime('%Y-%m-%dT%H:%M:%fZ', 'now'))
		ON CONFLICT (origin) DO UPDATE SET size = excluded.size, root = excluded.root,
			note = excluded.note, updated_at = excluded.updated_at`,
		next.Origin, int64(next.Size), next.Root[:], next.Note); err != nil {
		return fail(err)
	}
	if err := tx.Commit(); err != nil {
		return fail(err)
	}
	return nil
}

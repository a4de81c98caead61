package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/tabularium/tabula/storage"
)

const entryColumns = `idx, leaf_hash, body, integrated_time, set_sig, attestation`

// scanEntry reads one row of entryColumns.
func scanEntry(row pgx.Row) (storage.Entry, error) {
	var (
		e    storage.Entry
		idx  int64
		leaf []byte
	)
	if err := row.Scan(&idx, &leaf, &e.Body, &e.IntegratedTime, &e.SET, &e.Attestation); err != nil {
		return storage.Entry{}, err
	}
	if idx < 0 || len(leaf) != len(e.LeafHash) {
		return storage.Entry{}, fmt.Errorf("corrupt entry row (index %d, leaf hash of %d bytes)", idx, len(leaf))
	}
	e.Index = uint64(idx)
	copy(e.LeafHash[:], leaf)
	return e, nil
}

// readEntriesSQL reads the entries of [$1, $2); $3 is $2 - $1.
const readEntriesSQL = `SELECT ` + entryColumns + ` FROM entries WHERE idx >= $1 AND idx < $2 ORDER BY idx LIMIT $3`

// ReadEntries returns the stored entries with indexes in [start, end), in order.
func (s *Store) ReadEntries(ctx context.Context, start, end uint64) ([]storage.Entry, error) {
	if start >= end || start > math.MaxInt64 {
		return nil, nil
	}
	// The LIMIT makes the primary-key scan the plan also when the table's
	// statistics are missing (autovacuum off, or right after a bulk load):
	// without it PostgreSQL estimated 200,000 rows for a one-entry range of
	// the 10M-entry log and read it with a parallel bitmap scan and a sort.
	last := clampIndex(end)
	rows, err := s.pool.Query(ctx, readEntriesSQL, int64(start), last, last-int64(start))
	if err != nil {
		return nil, fmt.Errorf("postgres: read entries: %w", err)
	}
	entries, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Entry, error) { return scanEntry(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: read entries: %w", err)
	}
	return entries, nil
}

// ReadEntryByLeafHash returns the entry with that leaf hash, or storage.ErrNotFound.
func (s *Store) ReadEntryByLeafHash(ctx context.Context, hash storage.Hash) (storage.Entry, error) {
	e, err := scanEntry(s.pool.QueryRow(ctx, `SELECT `+entryColumns+` FROM entries WHERE leaf_hash = $1`, hash[:]))
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Entry{}, fmt.Errorf("postgres: read entry %x: %w", hash, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Entry{}, fmt.Errorf("postgres: read entry %x: %w", hash, err)
	}
	return e, nil
}

// LookupLeafHashes returns the index of every given leaf hash that is stored.
func (s *Store) LookupLeafHashes(ctx context.Context, hashes []storage.Hash) (map[storage.Hash]uint64, error) {
	found := make(map[storage.Hash]uint64)
	if len(hashes) == 0 {
		return found, nil
	}
	arg := make([][]byte, len(hashes))
	for i := range hashes {
		arg[i] = hashes[i][:]
	}
	rows, err := s.pool.Query(ctx, `SELECT leaf_hash, idx FROM entries WHERE leaf_hash = ANY($1::bytea[])`, arg)
	if err != nil {
		return nil, fmt.Errorf("postgres: lookup leaf hashes: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			leaf []byte
			idx  int64
			h    storage.Hash
		)
		if err := rows.Scan(&leaf, &idx); err != nil {
			return nil, fmt.Errorf("postgres: lookup leaf hashes: %w", err)
		}
		if idx < 0 || len(leaf) != len(h) {
			return nil, fmt.Errorf("postgres: lookup leaf hashes: corrupt entry row (index %d)", idx)
		}
		copy(h[:], leaf)
		found[h] = uint64(idx)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: lookup leaf hashes: %w", err)
	}
	return found, nil
}

// ReadTile returns the stored hashes of tile (level, index), or storage.ErrNotFound.
func (s *Store) ReadTile(ctx context.Context, level uint8, index uint64) ([]byte, error) {
	if index > math.MaxInt64 {
		return nil, fmt.Errorf("postgres: read tile %d/%d: %w", level, index, storage.ErrNotFound)
	}
	var hashes []byte
	err := s.pool.QueryRow(ctx, `SELECT hashes FROM tiles WHERE level = $1 AND idx = $2`, int16(level), int64(index)).Scan(&hashes)
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, fmt.Errorf("postgres: read tile %d/%d: %w", level, index, storage.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("postgres: read tile %d/%d: %w", level, index, err)
	}
	return hashes, nil
}

// Search returns the indexes of the entries indexed under key, ascending.
func (s *Store) Search(ctx context.Context, key storage.Hash) ([]uint64, error) {
	rows, err := s.pool.Query(ctx, `SELECT idx FROM search_keys WHERE key = $1 ORDER BY idx`, key[:])
	if err != nil {
		return nil, fmt.Errorf("postgres: search: %w", err)
	}
	idxs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (uint64, error) {
		var i int64
		if err := r.Scan(&i); err != nil {
			return 0, err
		}
		if i < 0 {
			return 0, fmt.Errorf("corrupt search row (index %d)", i)
		}
		return uint64(i), nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: search: %w", err)
	}
	return idxs, nil
}

package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/storage"
)

const entryColumns = `idx, leaf_hash, body, integrated_time, set_sig, attestation, body_format`

// inRange restricts idx to the log's stored entries, [start, start + size),
// with start = $1 and the log's tree ID $2.
const inRange = `idx >= $1 AND idx < $1 + (SELECT size FROM tree_state WHERE tree_id = $2)`

// scanEntry reads one row of entryColumns, giving it the log's own index;
// the row's further columns are scanned into extra.
func (l *logStore) scanEntry(row pgx.Row, extra ...any) (storage.Entry, error) {
	var (
		e      storage.Entry
		idx    int64
		leaf   []byte
		stored []byte
		format *int16
	)
	if err := row.Scan(append([]any{&idx, &leaf, &stored, &e.IntegratedTime, &e.SET, &e.Attestation, &format}, extra...)...); err != nil {
		return storage.Entry{}, err
	}
	if idx < l.start || len(leaf) != len(e.LeafHash) {
		return storage.Entry{}, fmt.Errorf("corrupt entry row (index %d, leaf hash of %d bytes)", idx, len(leaf))
	}
	var err error
	if e.Body, err = l.s.codec.DecodeColumn(stored, format); err != nil {
		return storage.Entry{}, fmt.Errorf("corrupt entry row (index %d): %w", idx, err)
	}
	if format != nil { // kept for the log's entry cache, which holds bodies encoded
		e.Stored = &storage.StoredBody{Data: stored, Format: *format}
	}
	e.Index = uint64(idx - l.start)
	copy(e.LeafHash[:], leaf)
	return e, nil
}

// readEntriesSQL reads the log's entries of virtual indexes [$3, $4); $5 is
// $4 - $3.
const readEntriesSQL = `SELECT ` + entryColumns + ` FROM entries WHERE idx >= $3 AND idx < $4 AND ` + inRange + ` ORDER BY idx LIMIT $5`

// ReadEntries returns the stored entries with indexes in [start, end), in order.
func (l *logStore) ReadEntries(ctx context.Context, start, end uint64) ([]storage.Entry, error) {
	if start >= end || start > math.MaxInt64-uint64(l.start) {
		return nil, nil
	}
	// The LIMIT makes the primary-key scan the plan also when the table's
	// statistics are missing (autovacuum off, or right after a bulk load):
	// without it PostgreSQL estimated 200,000 rows for a one-entry range of
	// the 10M-entry log and read it with a parallel bitmap scan and a sort.
	first, last := l.start+int64(start), l.virtual(end)
	rows, err := l.s.pool.Query(ctx, readEntriesSQL, l.start, l.treeID, first, last, last-first)
	if err != nil {
		return nil, fmt.Errorf("postgres: read entries: %w", err)
	}
	entries, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (storage.Entry, error) { return l.scanEntry(r) })
	if err != nil {
		return nil, fmt.Errorf("postgres: read entries: %w", err)
	}
	return entries, nil
}

// readEntryAndTileSQL reads the log's entry of virtual index $3 and, of
// its full level-0 tile $4, the upper nodes and the 512 bytes from $5 (its
// group), or the whole tile when it has no nodes; NULLs when it is not
// stored full. Of the TOASTed hashes (stored EXTERNAL, uncompressed),
// PostgreSQL then fetches only the chunks the slice needs.
const readEntryAndTileSQL = `SELECT ` + entryColumns + `, t.t_nodes, t.t_hashes
	FROM entries LEFT JOIN LATERAL (
		SELECT nodes AS t_nodes, CASE WHEN nodes IS NULL THEN hashes ELSE substring(hashes FROM $5 FOR 512) END AS t_hashes
		FROM tiles WHERE tree_id = $2 AND level = 0 AND idx = $4 AND length(hashes) = 8192) t ON true
	WHERE idx = $3 AND ` + inRange

// ReadEntryAndTile returns the entry at index and what a proof needs of
// its full level-0 tile, in one query (see storage.EntryTileReader).
func (l *logStore) ReadEntryAndTile(ctx context.Context, index uint64) (storage.Entry, storage.EntryTile, error) {
	if index > math.MaxInt64-uint64(l.start) {
		return storage.Entry{}, storage.EntryTile{}, fmt.Errorf("postgres: read entry %d: %w", index, storage.ErrNotFound)
	}
	var nodes, hashes []byte
	group := index % merkle.TileWidth / merkle.GroupWidth
	e, err := l.scanEntry(l.s.pool.QueryRow(ctx, readEntryAndTileSQL, l.start, l.treeID, l.start+int64(index),
		int64(index/merkle.TileWidth), int64(group*merkle.GroupWidth*merkle.HashSize+1)), &nodes, &hashes)
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Entry{}, storage.EntryTile{}, fmt.Errorf("postgres: read entry %d: %w", index, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Entry{}, storage.EntryTile{}, fmt.Errorf("postgres: read entry %d: %w", index, err)
	}
	return e, storage.NewEntryTile(nodes, hashes), nil
}

// ReadEntryByLeafHash returns the log's entry with that leaf hash, or storage.ErrNotFound.
func (l *logStore) ReadEntryByLeafHash(ctx context.Context, hash storage.Hash) (storage.Entry, error) {
	e, err := l.scanEntry(l.s.pool.QueryRow(ctx,
		`SELECT `+entryColumns+` FROM entries WHERE leaf_hash = $3 AND `+inRange, l.start, l.treeID, hash[:]))
	if errors.Is(err, pgx.ErrNoRows) {
		return storage.Entry{}, fmt.Errorf("postgres: read entry %x: %w", hash, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Entry{}, fmt.Errorf("postgres: read entry %x: %w", hash, err)
	}
	return e, nil
}

// LookupLeafHashes returns the index of every given leaf hash that is stored
// in this log. (A leaf of another log of the set is not reported.)
func (l *logStore) LookupLeafHashes(ctx context.Context, hashes []storage.Hash) (map[storage.Hash]uint64, error) {
	found := make(map[storage.Hash]uint64)
	if len(hashes) == 0 {
		return found, nil
	}
	arg := make([][]byte, len(hashes))
	for i := range hashes {
		arg[i] = hashes[i][:]
	}
	rows, err := l.s.pool.Query(ctx,
		`SELECT leaf_hash, idx FROM entries WHERE leaf_hash = ANY($3::bytea[]) AND `+inRange, l.start, l.treeID, arg)
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
		if idx < l.start || len(leaf) != len(h) {
			return nil, fmt.Errorf("postgres: lookup leaf hashes: corrupt entry row (index %d)", idx)
		}
		copy(h[:], leaf)
		found[h] = uint64(idx - l.start)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("postgres: lookup leaf hashes: %w", err)
	}
	return found, nil
}

// readTileSQL reads tile ($2, $3) of log $1: its stored hashes (at level 0
// only a full tile; a partial one, stored by an older release, is ignored),
// the log's size, and, at level 0, the leaf hashes of the log's entries of
// virtual indexes [$4, min($5, $6 + size)): the tile from $4 = start + 256*$3.
// One statement is one snapshot, so the size and the leaf hashes agree with
// each other and with the tiles: a batch commits them together.
const readTileSQL = `
	WITH t AS (SELECT hashes FROM tiles
	           WHERE tree_id = $1 AND level = $2 AND idx = $3 AND ($2 > 0 OR length(hashes) = 8192))
	SELECT (SELECT hashes FROM t),
	       (SELECT size FROM tree_state WHERE tree_id = $1),
	       CASE WHEN $2 = 0 AND NOT EXISTS (SELECT FROM t) THEN (
	           SELECT string_agg(leaf_hash, ''::bytea ORDER BY idx) FROM (
	               SELECT idx, leaf_hash FROM entries
	               WHERE idx >= $4 AND idx < LEAST($5, $6 + (SELECT size FROM tree_state WHERE tree_id = $1))
	               ORDER BY idx LIMIT 256) AS e)
	       END`

// ReadTile returns the hashes of tile (level, index), or storage.ErrNotFound.
// A full tile is read as stored; the partial level-0 tile at the right edge
// is not stored (see storage.StoredTiles) but made of its entries' leaf hashes.
func (l *logStore) ReadTile(ctx context.Context, level uint8, index uint64) ([]byte, error) {
	if index > math.MaxInt64 {
		return nil, fmt.Errorf("postgres: read tile %d/%d: %w", level, index, storage.ErrNotFound)
	}
	// The level-0 tile's first and last virtual index (past the end: an
	// empty range, MaxInt64 being no entry's index).
	first, end := int64(math.MaxInt64), int64(math.MaxInt64)
	if index <= (math.MaxInt64-uint64(l.start))/tileWidth {
		first = l.start + int64(index*tileWidth)
		end = l.virtual((index + 1) * tileWidth)
	}
	var (
		stored, leaves []byte
		size           *int64
	)
	err := l.s.pool.QueryRow(ctx, readTileSQL, l.treeID, int16(level), int64(index), first, end, l.start).
		Scan(&stored, &size, &leaves)
	if err != nil {
		return nil, fmt.Errorf("postgres: read tile %d/%d: %w", level, index, err)
	}
	if stored != nil {
		return stored, nil
	}
	if level > 0 || size == nil || first == math.MaxInt64 || uint64(*size) <= index*tileWidth {
		return nil, fmt.Errorf("postgres: read tile %d/%d: %w", level, index, storage.ErrNotFound)
	}
	if want := min(uint64(*size)-index*tileWidth, tileWidth); uint64(len(leaves)) != want*32 {
		return nil, fmt.Errorf("postgres: read tile %d/%d: %d bytes of leaf hashes for %d entries (entries missing)", level, index, len(leaves), want)
	}
	return leaves, nil
}

// tileWidth is how many hashes a full tile holds.
const tileWidth = 256

// Search returns the indexes of the log's entries indexed under key's first
// 16 bytes (see storage.StoredSearchKey), ascending.
func (l *logStore) Search(ctx context.Context, key storage.Hash) ([]uint64, error) {
	rows, err := l.s.pool.Query(ctx, `SELECT idx FROM search_keys WHERE key = $3::uuid AND `+inRange+` ORDER BY idx`,
		l.start, l.treeID, storage.StoredSearchKey(key))
	if err != nil {
		return nil, fmt.Errorf("postgres: search: %w", err)
	}
	idxs, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (uint64, error) {
		var i int64
		if err := r.Scan(&i); err != nil {
			return 0, err
		}
		if i < l.start {
			return 0, fmt.Errorf("corrupt search row (index %d)", i)
		}
		return uint64(i - l.start), nil
	})
	if err != nil {
		return nil, fmt.Errorf("postgres: search: %w", err)
	}
	return idxs, nil
}

package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/storage"
)

const entryColumns = `idx, leaf_hash, body, integrated_time, set_sig, attestation, body_format`

// inRange restricts idx to the log's stored entries: [start, start + size).
// Its arguments are rangeArgs.
const inRange = `idx >= ? AND idx < ? + (SELECT size FROM tree_state WHERE tree_id = ?)`

func (l *logStore) rangeArgs() []any { return []any{l.start, l.start, l.treeID} }

// scanEntry reads one row of entryColumns, giving it the log's own index.
func (l *logStore) scanEntry(scan func(dest ...any) error) (storage.Entry, error) {
	var (
		e      storage.Entry
		idx    int64
		leaf   []byte
		stored []byte
		format sql.NullInt16
	)
	if err := scan(&idx, &leaf, &stored, &e.IntegratedTime, &e.SET, &e.Attestation, &format); err != nil {
		return storage.Entry{}, err
	}
	if idx < l.start || len(leaf) != len(e.LeafHash) {
		return storage.Entry{}, fmt.Errorf("corrupt entry row (index %d, leaf hash of %d bytes)", idx, len(leaf))
	}
	var f *int16
	if format.Valid {
		f = &format.Int16
	}
	var err error
	if e.Body, err = l.s.codec.DecodeColumn(stored, f); err != nil {
		return storage.Entry{}, fmt.Errorf("corrupt entry row (index %d): %w", idx, err)
	}
	if f != nil { // kept for the log's entry cache, which holds bodies encoded
		e.Stored = &storage.StoredBody{Data: stored, Format: *f}
	}
	e.Index = uint64(idx - l.start)
	copy(e.LeafHash[:], leaf)
	return e, nil
}

// ReadEntries returns the stored entries with indexes in [start, end), in order.
func (l *logStore) ReadEntries(ctx context.Context, start, end uint64) ([]storage.Entry, error) {
	if start >= end || start > math.MaxInt64-uint64(l.start) {
		return nil, nil
	}
	rows, err := l.s.r.QueryContext(ctx,
		`SELECT `+entryColumns+` FROM entries WHERE idx >= ? AND idx < ? AND `+inRange+` ORDER BY idx`,
		append([]any{l.start + int64(start), l.virtual(end)}, l.rangeArgs()...)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: read entries: %w", err)
	}
	defer rows.Close()
	var entries []storage.Entry
	for rows.Next() {
		e, err := l.scanEntry(rows.Scan)
		if err != nil {
			return nil, fmt.Errorf("sqlite: read entries: %w", err)
		}
		entries = append(entries, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: read entries: %w", err)
	}
	return entries, nil
}

// ReadEntryAndTile returns the entry at index and what a proof needs of
// its full level-0 tile (its upper nodes and the entry's group, or the
// whole tile when it has no nodes), in one query (see
// storage.EntryTileReader).
func (l *logStore) ReadEntryAndTile(ctx context.Context, index uint64) (storage.Entry, storage.EntryTile, error) {
	if index > math.MaxInt64-uint64(l.start) {
		return storage.Entry{}, storage.EntryTile{}, fmt.Errorf("sqlite: read entry %d: %w", index, storage.ErrNotFound)
	}
	var nodes, hashes []byte
	tile := int64(index / merkle.TileWidth)
	from := int64(index%merkle.TileWidth/merkle.GroupWidth*merkle.GroupWidth*merkle.HashSize + 1)
	row := l.s.r.QueryRowContext(ctx,
		`SELECT `+entryColumns+`,
			(SELECT nodes FROM tiles WHERE tree_id = ? AND level = 0 AND idx = ? AND length(hashes) = 8192),
			(SELECT CASE WHEN nodes IS NULL THEN hashes ELSE substr(hashes, ?, 512) END
				FROM tiles WHERE tree_id = ? AND level = 0 AND idx = ? AND length(hashes) = 8192)
			FROM entries WHERE idx = ? AND `+inRange,
		append([]any{l.treeID, tile, from, l.treeID, tile, l.start + int64(index)}, l.rangeArgs()...)...)
	e, err := l.scanEntry(func(dest ...any) error { return row.Scan(append(dest, &nodes, &hashes)...) })
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Entry{}, storage.EntryTile{}, fmt.Errorf("sqlite: read entry %d: %w", index, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Entry{}, storage.EntryTile{}, fmt.Errorf("sqlite: read entry %d: %w", index, err)
	}
	return e, storage.NewEntryTile(nodes, hashes), nil
}

// ReadEntryByLeafHash returns the log's entry with that leaf hash, or storage.ErrNotFound.
func (l *logStore) ReadEntryByLeafHash(ctx context.Context, hash storage.Hash) (storage.Entry, error) {
	e, err := l.scanEntry(l.s.r.QueryRowContext(ctx,
		`SELECT `+entryColumns+` FROM entries WHERE leaf_hash = ? AND `+inRange,
		append([]any{hash[:]}, l.rangeArgs()...)...).Scan)
	if errors.Is(err, sql.ErrNoRows) {
		return storage.Entry{}, fmt.Errorf("sqlite: read entry %x: %w", hash, storage.ErrNotFound)
	}
	if err != nil {
		return storage.Entry{}, fmt.Errorf("sqlite: read entry %x: %w", hash, err)
	}
	return e, nil
}

// lookupChunk bounds the bound parameters of one lookup query.
const lookupChunk = 500

// LookupLeafHashes returns the index of every given leaf hash that is stored
// in this log. (A leaf of another log of the set is not reported.)
func (l *logStore) LookupLeafHashes(ctx context.Context, hashes []storage.Hash) (map[storage.Hash]uint64, error) {
	found := make(map[storage.Hash]uint64)
	for lo := 0; lo < len(hashes); lo += lookupChunk {
		chunk := hashes[lo:min(lo+lookupChunk, len(hashes))]
		args := make([]any, len(chunk), len(chunk)+3)
		for i := range chunk {
			args[i] = chunk[i][:]
		}
		query := `SELECT leaf_hash, idx FROM entries WHERE leaf_hash IN (` +
			strings.TrimSuffix(strings.Repeat("?, ", len(chunk)), ", ") + `) AND ` + inRange
		if err := l.lookup(ctx, query, append(args, l.rangeArgs()...), found); err != nil {
			return nil, fmt.Errorf("sqlite: lookup leaf hashes: %w", err)
		}
	}
	return found, nil
}

func (l *logStore) lookup(ctx context.Context, query string, args []any, found map[storage.Hash]uint64) error {
	rows, err := l.s.r.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var (
			leaf []byte
			idx  int64
			h    storage.Hash
		)
		if err := rows.Scan(&leaf, &idx); err != nil {
			return err
		}
		if idx < l.start || len(leaf) != len(h) {
			return fmt.Errorf("corrupt entry row (index %d)", idx)
		}
		copy(h[:], leaf)
		found[h] = uint64(idx - l.start)
	}
	return rows.Err()
}

// ReadTile returns the hashes of tile (level, index), or storage.ErrNotFound.
// A full tile is read as stored; the partial level-0 tile at the right edge
// is not stored (see storage.StoredTiles) but made of its entries' leaf hashes.
func (l *logStore) ReadTile(ctx context.Context, level uint8, index uint64) ([]byte, error) {
	if index > math.MaxInt64 {
		return nil, fmt.Errorf("sqlite: read tile %d/%d: %w", level, index, storage.ErrNotFound)
	}
	var hashes []byte
	// At level 0 only a full tile is read as stored: a partial one, stored
	// by an older release, is ignored.
	err := l.s.r.QueryRowContext(ctx, `SELECT hashes FROM tiles WHERE tree_id = ? AND level = ? AND idx = ?
		AND (level > 0 OR length(hashes) = ?)`,
		l.treeID, int64(level), int64(index), storage.FullTileBytes).Scan(&hashes)
	switch {
	case err == nil:
		return hashes, nil
	case !errors.Is(err, sql.ErrNoRows):
		return nil, fmt.Errorf("sqlite: read tile %d/%d: %w", level, index, err)
	case level == 0:
		// A full tile, once stored, never changes; a tile completed since
		// the query above is made of the same leaf hashes.
		hashes, err = l.edgeLeaves(ctx, index)
		if err != nil {
			return nil, fmt.Errorf("sqlite: read tile %d/%d: %w", level, index, err)
		}
		if hashes != nil {
			return hashes, nil
		}
	}
	return nil, fmt.Errorf("sqlite: read tile %d/%d: %w", level, index, storage.ErrNotFound)
}

// edgeLeaves returns the leaf hashes of the log's entries [256*index,
// size), at most 256, or nil when there is none. One statement reads the
// size and the entries, so they belong to one snapshot, and a batch
// commits its entries with its head.
func (l *logStore) edgeLeaves(ctx context.Context, index uint64) ([]byte, error) {
	if index > (math.MaxInt64-uint64(l.start))/tileWidth {
		return nil, nil
	}
	first := l.start + int64(index*tileWidth)
	rows, err := l.s.r.QueryContext(ctx, `
		SELECT s.size, e.leaf_hash FROM tree_state s
		LEFT JOIN entries e ON e.idx >= ? AND e.idx < min(?, ? + s.size)
		WHERE s.tree_id = ? ORDER BY e.idx LIMIT ?`,
		first, l.virtual((index+1)*tileWidth), l.start, l.treeID, tileWidth)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var (
		size   int64
		hashes []byte
		n      uint64
	)
	for rows.Next() {
		var leaf []byte
		if err := rows.Scan(&size, &leaf); err != nil {
			return nil, err
		}
		if leaf == nil {
			continue // the LEFT JOIN's row when there is no entry
		}
		if len(leaf) != 32 {
			return nil, fmt.Errorf("corrupt entry row (leaf hash of %d bytes)", len(leaf))
		}
		hashes = append(hashes, leaf...)
		n++
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if size < 0 || uint64(size) <= index*tileWidth {
		return nil, nil
	}
	if want := min(uint64(size)-index*tileWidth, tileWidth); n != want {
		return nil, fmt.Errorf("%d leaf hashes for %d entries (entries missing)", n, want)
	}
	return hashes, nil
}

// tileWidth is how many hashes a full tile holds.
const tileWidth = 256

// Search returns the indexes of the log's entries indexed under key's first
// 16 bytes (see storage.StoredSearchKey), ascending.
func (l *logStore) Search(ctx context.Context, key storage.Hash) ([]uint64, error) {
	k := storage.StoredSearchKey(key)
	rows, err := l.s.r.QueryContext(ctx, `SELECT idx FROM search_keys WHERE key = ? AND `+inRange+` ORDER BY idx`,
		append([]any{k[:]}, l.rangeArgs()...)...)
	if err != nil {
		return nil, fmt.Errorf("sqlite: search: %w", err)
	}
	defer rows.Close()
	var idxs []uint64
	for rows.Next() {
		var i int64
		if err := rows.Scan(&i); err != nil {
			return nil, fmt.Errorf("sqlite: search: %w", err)
		}
		if i < l.start {
			return nil, fmt.Errorf("sqlite: search: corrupt row (index %d)", i)
		}
		idxs = append(idxs, uint64(i-l.start))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("sqlite: search: %w", err)
	}
	return idxs, nil
}

package sqlite

import (
	"context"
	"fmt"
	"math"

	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/storage"
)

var _ storage.TileNodesBackfiller = (*Store)(nil)

// storedTile is a tile row as BackfillTileNodes reads it.
type storedTile struct {
	tree, level, idx int64
	hashes           []byte
}

// BackfillTileNodes stores the upper nodes of the full tiles stored
// without (storage.TileNodesBackfiller): chunk tiles a round, in primary
// key order from where the last round stopped, each round one read and
// one write transaction, which skips a tile given its nodes meanwhile.
func (s *Store) BackfillTileNodes(ctx context.Context, chunk int, progress func(int)) (int, error) {
	if chunk < 1 {
		return 0, fmt.Errorf("sqlite: backfill tile nodes: chunk %d", chunk)
	}
	after := storedTile{tree: math.MinInt64, level: -1, idx: -1}
	done := 0
	for {
		rows, err := s.r.QueryContext(ctx, `
			SELECT tree_id, level, idx, hashes FROM tiles
			WHERE (tree_id, level, idx) > (?, ?, ?) AND nodes IS NULL AND length(hashes) = 8192
			ORDER BY tree_id, level, idx LIMIT ?`, after.tree, after.level, after.idx, chunk)
		if err != nil {
			return done, fmt.Errorf("sqlite: backfill tile nodes: %w", err)
		}
		var tiles []storedTile
		for rows.Next() {
			var t storedTile
			if err := rows.Scan(&t.tree, &t.level, &t.idx, &t.hashes); err != nil {
				rows.Close()
				return done, fmt.Errorf("sqlite: backfill tile nodes: %w", err)
			}
			tiles = append(tiles, t)
		}
		if err := rows.Close(); err != nil {
			return done, fmt.Errorf("sqlite: backfill tile nodes: %w", err)
		}
		if err := rows.Err(); err != nil {
			return done, fmt.Errorf("sqlite: backfill tile nodes: %w", err)
		}
		if len(tiles) == 0 {
			return done, nil
		}
		n, err := s.storeTileNodes(ctx, tiles)
		if err != nil {
			return done, err
		}
		done += n
		if progress != nil {
			progress(done)
		}
		after = tiles[len(tiles)-1]
	}
}

// storeTileNodes writes the upper nodes of tiles, in one transaction.
func (s *Store) storeTileNodes(ctx context.Context, tiles []storedTile) (int, error) {
	tx, err := s.w.BeginTx(ctx, nil) // BEGIN IMMEDIATE: _txlock in the DSN
	if err != nil {
		return 0, fmt.Errorf("sqlite: backfill tile nodes: %w", err)
	}
	defer tx.Rollback()
	n := 0
	for _, t := range tiles {
		res, err := tx.ExecContext(ctx, `UPDATE tiles SET nodes = ?
			WHERE tree_id = ? AND level = ? AND idx = ? AND nodes IS NULL AND length(hashes) = 8192`,
			merkle.UpperNodes(t.hashes), t.tree, t.level, t.idx)
		if err != nil {
			return 0, fmt.Errorf("sqlite: backfill tile nodes: %w", err)
		}
		k, err := res.RowsAffected()
		if err != nil {
			return 0, fmt.Errorf("sqlite: backfill tile nodes: %w", err)
		}
		n += int(k)
	}
	if err := tx.Commit(); err != nil {
		return 0, fmt.Errorf("sqlite: backfill tile nodes: %w", err)
	}
	return n, nil
}

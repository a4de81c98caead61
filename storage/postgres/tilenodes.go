package postgres

import (
	"context"
	"fmt"
	"math"

	"github.com/jackc/pgx/v5"

	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/storage"
)

var _ storage.TileNodesBackfiller = (*Store)(nil)

// BackfillTileNodes stores the upper nodes of the full tiles stored
// without (storage.TileNodesBackfiller): chunk tiles a round, in primary
// key order from where the last round stopped, each round one SELECT and
// one UPDATE, which skips a tile given its nodes meanwhile.
func (s *Store) BackfillTileNodes(ctx context.Context, chunk int, progress func(int)) (int, error) {
	if chunk < 1 {
		return 0, fmt.Errorf("postgres: backfill tile nodes: chunk %d", chunk)
	}
	type tileRow struct {
		tree   int64
		level  int16
		idx    int64
		hashes []byte
	}
	after := tileRow{tree: math.MinInt64, level: -1, idx: -1}
	done := 0
	for {
		rows, err := s.pool.Query(ctx, `
			SELECT tree_id, level, idx, hashes FROM tiles
			WHERE (tree_id, level, idx) > ($1, $2, $3) AND nodes IS NULL AND length(hashes) = 8192
			ORDER BY tree_id, level, idx LIMIT $4`, after.tree, after.level, after.idx, chunk)
		if err != nil {
			return done, fmt.Errorf("postgres: backfill tile nodes: %w", err)
		}
		tiles, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (tileRow, error) {
			var t tileRow
			return t, r.Scan(&t.tree, &t.level, &t.idx, &t.hashes)
		})
		if err != nil {
			return done, fmt.Errorf("postgres: backfill tile nodes: %w", err)
		}
		if len(tiles) == 0 {
			return done, nil
		}
		trees, levels, idxs, nodes := make([]int64, len(tiles)), make([]int16, len(tiles)), make([]int64, len(tiles)), make([][]byte, len(tiles))
		for i, t := range tiles {
			trees[i], levels[i], idxs[i], nodes[i] = t.tree, t.level, t.idx, merkle.UpperNodes(t.hashes)
		}
		tag, err := s.pool.Exec(ctx, `
			UPDATE tiles SET nodes = u.nodes
			FROM unnest($1::bigint[], $2::smallint[], $3::bigint[], $4::bytea[]) AS u(tree_id, level, idx, nodes)
			WHERE tiles.tree_id = u.tree_id AND tiles.level = u.level AND tiles.idx = u.idx
				AND tiles.nodes IS NULL AND length(tiles.hashes) = 8192`, trees, levels, idxs, nodes)
		if err != nil {
			return done, fmt.Errorf("postgres: backfill tile nodes: %w", err)
		}
		done += int(tag.RowsAffected())
		if progress != nil {
			progress(done)
		}
		after = tiles[len(tiles)-1]
	}
}

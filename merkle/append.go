package merkle

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/transparency-dev/merkle/compact"
)

var rangeFactory = &compact.RangeFactory{Hash: hashChildrenSlice}

// edgeTile is the tile being extended at one tile level during Append.
type edgeTile struct {
	index   uint64
	hashes  []byte
	changed bool
}

// Append adds leaf hashes to the tree of size leaves. It returns the full new
// contents of every tile the append changed, including tiles that became full
// (with their upper inner nodes, Tile.Nodes), ordered by level and index, and
// the new root hash.
//
// Append reads only the right-edge (partial) tile of each level of the tree of
// size leaves: those tiles hold every node of the starting compact range. New
// nodes at tree levels 0, 8, 16, … are captured as the compact range grows.
// Append does not write; the caller stores the returned tiles.
func Append(ctx context.Context, r TileReader, size uint64, leaves []Hash) ([]Tile, Hash, error) {
	newSize := size + uint64(len(leaves))
	if newSize < size {
		return nil, Hash{}, fmt.Errorf("merkle: append of %d leaves to tree size %d overflows", len(leaves), size)
	}

	var s tileSet
	var edge [maxLevels]*edgeTile
	for k := uint8(0); k < maxLevels && size>>(uint(k)*TileHeight) != 0; k++ {
		w := PartialWidth(k, size)
		if w == 0 {
			continue
		}
		index := size >> (uint(k+1) * TileHeight)
		data, err := s.tile(ctx, r, k, index)
		if err != nil {
			return nil, Hash{}, fmt.Errorf("merkle: append to tree size %d: %w", size, err)
		}
		if len(data) < w*HashSize {
			return nil, Hash{}, fmt.Errorf("merkle: append to tree size %d: %w: tile %d/%d has %d hashes, want %d",
				size, ErrShortTile, k, index, len(data)/HashSize, w)
		}
		hashes := make([]byte, w*HashSize, tileBytes)
		copy(hashes, data)
		edge[k] = &edgeTile{index: index, hashes: hashes}
	}

	// The starting compact range. Its nodes all lie in the edge tiles read
	// above, so this reads nothing new.
	ids := compact.RangeNodes(0, size, nil)
	rangeHashes := make([][]byte, len(ids))
	for i, id := range ids {
		h, err := s.node(ctx, r, id)
		if err != nil {
			return nil, Hash{}, fmt.Errorf("merkle: append to tree size %d: %w", size, err)
		}
		rangeHashes[i] = h[:]
	}
	rng, err := rangeFactory.NewRange(0, size, rangeHashes)
	if err != nil {
		return nil, Hash{}, fmt.Errorf("merkle: append to tree size %d: %w", size, err)
	}

	var (
		out      []Tile
		visitErr error
	)
	visit := func(id compact.NodeID, hash []byte) {
		if id.Level%TileHeight != 0 || visitErr != nil {
			return
		}
		k := id.Level / TileHeight
		index, pos := id.Index/TileWidth, int(id.Index%TileWidth)
		t := edge[k]
		if t == nil || t.index != index {
			if t != nil {
				if len(t.hashes) != tileBytes {
					visitErr = fmt.Errorf("merkle: internal error: tile %d/%d left with %d hashes", k, t.index, len(t.hashes)/HashSize)
					return
				}
				out = append(out, Tile{Level: uint8(k), Index: t.index, Hashes: t.hashes, Nodes: UpperNodes(t.hashes)})
			}
			t = &edgeTile{index: index, hashes: make([]byte, 0, tileBytes)}
			edge[k] = t
		}
		if len(t.hashes) != pos*HashSize {
			visitErr = fmt.Errorf("merkle: internal error: node %d/%d out of order in tile %d/%d", id.Level, id.Index, k, index)
			return
		}
		t.hashes = append(t.hashes, hash...)
		t.changed = true
	}
	for i := range leaves {
		if err := rng.Append(leaves[i][:], visit); err != nil {
			return nil, Hash{}, fmt.Errorf("merkle: append to tree size %d: %w", size, err)
		}
		if visitErr != nil {
			return nil, Hash{}, visitErr
		}
	}
	for k, t := range edge {
		if t != nil && t.changed {
			out = append(out, Tile{Level: uint8(k), Index: t.index, Hashes: t.hashes, Nodes: UpperNodes(t.hashes)})
		}
	}
	slices.SortFunc(out, func(a, b Tile) int {
		return cmp.Or(cmp.Compare(a.Level, b.Level), cmp.Compare(a.Index, b.Index))
	})

	if newSize == 0 {
		return out, emptyRoot, nil
	}
	root, err := rng.GetRootHash(nil)
	if err != nil {
		return nil, Hash{}, fmt.Errorf("merkle: append to tree size %d: %w", size, err)
	}
	return out, Hash(root), nil
}

package merkle

import "context"

// InnerNodes holds the hashes of levels 1 to 7 inside a tile: the 128 + 64 +
// … + 2 = 254 nodes a proof would otherwise rehash from the tile's hashes (up
// to 127 hash operations for one node). Of a partial tile it holds the
// complete nodes only. Nodes never change once complete, so these can be
// computed once and kept beside the tile.
type InnerNodes struct {
	width int // hashes in the tile
	h     [TileWidth - 2]Hash
}

// NewInnerNodes computes the complete inner nodes of a tile of 1 to
// TileWidth hashes. It returns nil for any other length.
func NewInnerNodes(tile []byte) *InnerNodes {
	if len(tile) == 0 || len(tile) > tileBytes || len(tile)%HashSize != 0 {
		return nil
	}
	n := &InnerNodes{width: len(tile) / HashSize}
	for j := range n.width / 2 {
		l, r := Hash(tile[2*j*HashSize:]), Hash(tile[(2*j+1)*HashSize:])
		n.h[j] = hashChildren(&l, &r)
	}
	for r := uint(2); r < TileHeight; r++ {
		below, here := innerOffset(r-1), innerOffset(r)
		for j := range n.width >> r {
			n.h[here+j] = hashChildren(&n.h[below+2*j], &n.h[below+2*j+1])
		}
	}
	return n
}

// innerOffset is where level r (1..7) starts in InnerNodes.
func innerOffset(r uint) int { return TileWidth - TileWidth*2>>r }

// node returns the hash at level r (1..7) and index j of the tile, if that
// node is complete.
func (n *InnerNodes) node(r uint, j uint64) (Hash, bool) {
	if (j+1)<<r > uint64(n.width) {
		return Hash{}, false
	}
	return n.h[innerOffset(r)+int(j)], true
}

// Width is the number of hashes of the tile the nodes were computed from.
func (n *InnerNodes) Width() int { return n.width }

// InnerNodeReader is a TileReader that also keeps the inner nodes of tiles.
// Proofs and roots use it, when the reader implements it, instead of
// rehashing a tile's hashes.
type InnerNodeReader interface {
	TileReader
	// InnerNodes returns the inner nodes of tile (level, index), or nil
	// (with a nil error) if they are not at hand; the tile is then read.
	InnerNodes(ctx context.Context, level uint8, index uint64) (*InnerNodes, error)
}

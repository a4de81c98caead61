package merkle

import "context"

// InnerNodes holds the hashes of levels 1 to 7 inside a full tile: the
// 128 + 64 + … + 2 = 254 nodes a proof would otherwise rehash from the
// tile's 256 hashes (up to 127 hashes for one node). A full tile never
// changes, so these can be computed once and kept beside it.
type InnerNodes [TileWidth - 2]Hash

// NewInnerNodes computes the inner nodes of a full tile (TileWidth hashes).
// It returns nil for any other length.
func NewInnerNodes(tile []byte) *InnerNodes {
	if len(tile) != tileBytes {
		return nil
	}
	n := new(InnerNodes)
	for j := range TileWidth / 2 {
		l, r := Hash(tile[2*j*HashSize:]), Hash(tile[(2*j+1)*HashSize:])
		n[j] = hashChildren(&l, &r)
	}
	for r := uint(2); r < TileHeight; r++ {
		below, here := innerOffset(r-1), innerOffset(r)
		for j := range TileWidth >> r {
			n[here+j] = hashChildren(&n[below+2*j], &n[below+2*j+1])
		}
	}
	return n
}

// innerOffset is where level r (1..7) starts in InnerNodes.
func innerOffset(r uint) int { return TileWidth - TileWidth*2>>r }

// node returns the hash at level r (1..7) and index j (< 256>>r) of the tile.
func (n *InnerNodes) node(r uint, j uint64) Hash { return n[innerOffset(r)+int(j)] }

// InnerNodeReader is a TileReader that also keeps the inner nodes of full
// tiles. Proofs and roots use it, when the reader implements it, instead of
// rehashing full tiles' hashes.
type InnerNodeReader interface {
	TileReader
	// InnerNodes returns the inner nodes of tile (level, index) if that
	// tile is full, or nil (with a nil error) if it is not, or not known.
	InnerNodes(ctx context.Context, level uint8, index uint64) (*InnerNodes, error)
}

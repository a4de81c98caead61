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

// Node returns the hash at height r (1..7) and index j of the tile, if that
// node is complete. It holds no height-0 node: those are the tile's hashes.
func (n *InnerNodes) Node(r uint, j uint64) (Hash, bool) {
	if n == nil || r == 0 || r >= TileHeight || (j+1)<<r > uint64(n.width) {
		return Hash{}, false
	}
	return n.h[innerOffset(r)+int(j)], true
}

// Width is the number of hashes of the tile the nodes were computed from.
func (n *InnerNodes) Width() int { return n.width }

// Nodes holds some of the nodes inside one tile: Node(r, j) is the hash at
// height r (0 for the tile's own hashes, up to 7) and index j within the
// tile, ok false for a node it does not hold. *InnerNodes and *GroupNodes
// are Nodes; so is a reader's cached tile that answers height 0 from its
// hashes.
type Nodes interface {
	Node(r uint, j uint64) (h Hash, ok bool)
}

// InnerNodeReader is a TileReader that also keeps nodes inside tiles.
// Proofs and roots use it, when the reader implements it, instead of
// reading and rehashing a tile's hashes.
type InnerNodeReader interface {
	TileReader
	// InnerNodes returns what it holds of the nodes of tile (level,
	// index), or nil (with a nil error) if nothing is at hand; a node the
	// Nodes do not hold is then computed from the tile, read with
	// ReadTile.
	InnerNodes(ctx context.Context, level uint8, index uint64) (Nodes, error)
}

// Upper inner nodes and groups: a full tile stores, beside its 256 hashes,
// its 30 inner nodes at heights 4 to 7 (UpperNodes). A proof through hash i
// of the tile needs one node at each height 0 to 7; with the upper nodes
// stored, it needs of the tile's hashes only the 16 of i's group (hashes
// 16·g to 16·g+15, g = i/16), a 512-byte slice instead of 8 KiB, and
// hashes 15 times instead of 254 (GroupNodes).
const (
	GroupWidth = 16                     // hashes in a group
	groups     = TileWidth / GroupWidth // groups in a full tile
	groupShift = 4                      // log2(GroupWidth): the first upper height
	upperCount = 2*groups - 2           // nodes at heights 4..7: 16+8+4+2
	lowerCount = GroupWidth - 2         // a group's nodes at heights 1..3: 8+4+2
	// UpperNodesSize is the size of a full tile's upper inner nodes.
	UpperNodesSize = upperCount * HashSize
)

// UpperNodes returns the inner nodes at heights 4 to 7 of a full tile,
// height by height, each left to right (16, 8, 4 and 2 hashes); nil for
// a tile that is not full.
func UpperNodes(tile []byte) []byte {
	if len(tile) != tileBytes {
		return nil
	}
	n := NewInnerNodes(tile)
	out := make([]byte, 0, UpperNodesSize)
	for _, h := range n.h[innerOffset(groupShift):] {
		out = append(out, h[:]...)
	}
	return out
}

// GroupNodes are the nodes of a full tile a proof through a hash of one of
// its groups needs: the group's 16 hashes, its inner nodes (heights 1 to 3,
// computed) and the tile's upper inner nodes (UpperNodes, read).
type GroupNodes struct {
	group  int
	leaves [GroupWidth]Hash
	lower  [lowerCount]Hash
	upper  [upperCount]Hash
}

// NewGroupNodes returns the nodes of group g (0..15) of a full tile, from
// the group's 16 hashes and the tile's upper inner nodes. It returns nil if
// a length is wrong, if the group's hashes do not hash to the upper node
// they sit under, or if an upper node above height 4 is not the hash of
// the two below it: nodes that do not belong together (any one of them
// corrupt). Nodes that do belong together may still be another tile's:
// the caller checks Root against the tile's hash one level up before
// trusting them with a proof.
func NewGroupNodes(g int, hashes, upper []byte) *GroupNodes {
	if g < 0 || g >= groups || len(hashes) != GroupWidth*HashSize || len(upper) != UpperNodesSize {
		return nil
	}
	n := &GroupNodes{group: g}
	for i := range n.leaves {
		n.leaves[i] = Hash(hashes[i*HashSize:])
	}
	for i := range n.upper {
		n.upper[i] = Hash(upper[i*HashSize:])
	}
	below := n.leaves[:]
	at := 0
	for w := GroupWidth / 2; w >= 2; w /= 2 {
		for j := range w {
			n.lower[at+j] = hashChildren(&below[2*j], &below[2*j+1])
		}
		below = n.lower[at : at+w]
		at += w
	}
	if hashChildren(&below[0], &below[1]) != n.upper[g] {
		return nil
	}
	// heights 4..6 start at 0, 16 and 24; each node above is at 16, 24, 28
	for at, w := 0, groups; w > 2; at, w = at+w, w/2 {
		for j := 0; j < w; j += 2 {
			if hashChildren(&n.upper[at+j], &n.upper[at+j+1]) != n.upper[at+w+j/2] {
				return nil
			}
		}
	}
	return n
}

// Root is the tile's root: its hash one tile level up, against which the
// caller checks the nodes (see NewGroupNodes).
func (n *GroupNodes) Root() Hash { return hashChildren(&n.upper[upperCount-2], &n.upper[upperCount-1]) }

// Group is the group whose nodes n holds.
func (n *GroupNodes) Group() int { return n.group }

// Node returns the hash at height r and index j of the tile, if n holds
// it: any upper node, and the nodes at heights 0 to 3 under its group.
func (n *GroupNodes) Node(r uint, j uint64) (Hash, bool) {
	switch {
	case n == nil || r >= TileHeight:
		return Hash{}, false
	case r >= groupShift:
		// heights 4..7 start at 0, 16, 24 and 28
		if j >= TileWidth>>r {
			return Hash{}, false
		}
		return n.upper[2*groups-2*groups>>(r-groupShift)+int(j)], true
	}
	w := uint64(GroupWidth) >> r // the group's nodes at height r
	first := uint64(n.group) * w
	if j < first || j >= first+w {
		return Hash{}, false
	}
	if r == 0 {
		return n.leaves[j-first], true
	}
	// heights 1..3 start at 0, 8 and 12
	return n.lower[GroupWidth-GroupWidth*2>>r+int(j-first)], true
}

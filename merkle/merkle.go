// Package merkle lays out the log's RFC 6962 Merkle tree as C2SP tlog-tiles
// (https://c2sp.org/tlog-tiles): it computes the tiles an append writes, and
// tree heads, inclusion proofs and consistency proofs from stored tiles. It
// does no I/O of its own; tiles come from a [TileReader] and go back to the
// caller.
//
// # Tile layout
//
// Tiles have height 8. Tile N at tile level L lists up to 256 consecutive
// hashes of tree level 8L, those of the nodes [256N, 256N+256) of that level.
// Level-0 tiles hold leaf hashes; a hash in a level-L tile (L ≥ 1) is the root
// of the full level-(L-1) tile below it. Only complete nodes are stored, so a
// tree of size s has floor(s/256^(L+1)) full tiles at level L and, when
// w = floor(s/256^L) mod 256 is not zero, one partial tile of width w at the
// right edge (see [PartialWidth]). A partial tile is never hashed into the
// level above; its hashes reach the tree head through the compact range.
//
// The hash of a complete node at tree level 8L+r (0 ≤ r < 8) is the root of
// the perfect subtree over 2^r consecutive hashes of one level-L tile, so any
// node of a tree is computed from a single tile with 2^r - 1 hash operations.
//
// Tiles and entry bundles are addressed by paths (see [TilePath]):
//
//	tile/<L>/<N>[.p/<W>]
//	tile/entries/<N>[.p/<W>]
//
// where N is written in zero-padded 3-digit groups, every group but the last
// prefixed with "x", and the .p/<W> suffix marks a partial tile of width W
// (1 ≤ W ≤ 255). For example tile 1234067 at level 1, partial with 112
// hashes, is tile/1/x001/x234/067.p/112; tile 5 at level 0 is tile/0/005 and
// tile 1000 is tile/0/x001/000. The entry bundle tile/entries/N holds the
// entries whose leaf hashes are in tile/0/N, each as a big-endian uint16
// length followed by the entry bytes (see [AppendBundleEntry], [ParseBundle]).
//
// # Promises
//
// [Append] returns the complete new contents of every tile it changed. Each
// returned tile has exactly the width the new tree size implies (256 for full
// tiles, [PartialWidth] for the right edge); a partial tile only ever grows by
// appending hashes, and a full tile never changes again.
//
// [RootHash], [InclusionProof], [ConsistencyProof] and [Append] ask the
// [TileReader] only for tiles that must exist for the tree sizes they are
// given ([NodeHash] only for the one tile holding the node), read each tile at
// most once per call, and hash only the stored hashes the result depends on. A reader may return more hashes than the size
// requires (tiles grow as the log grows); only the needed prefix is used. A
// tile shorter than required is an error wrapping [ErrShortTile], and any
// error from the reader is wrapped and returned, never taken to mean "empty".
// No function panics on bad arguments; they return errors. All functions are
// safe for concurrent use if the reader is.
//
// Hashing is RFC 6962 with SHA-256 (as in
// github.com/transparency-dev/merkle/rfc6962); the node-hash loops use an
// allocation-free equivalent.
package merkle

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"math"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
)

const (
	TileHeight = 8   // tree levels covered by one tile level
	TileWidth  = 256 // hashes in a full tile, 1<<TileHeight
	HashSize   = 32  // bytes per hash, sha256.Size
	tileBytes  = TileWidth * HashSize
	maxLevels  = 64 / TileHeight // tile levels 0..7 cover tree levels 0..63
)

// Hash is a SHA-256 hash: a leaf hash, node hash or tree root.
type Hash = [HashSize]byte

// Tile is tile (Level, Index) holding len(Hashes)/HashSize hashes (at most
// [TileWidth]).
type Tile struct {
	Level  uint8
	Index  uint64
	Hashes []byte
	// Nodes are a full tile's upper inner nodes ([UpperNodes]), stored
	// beside it so that a proof through one of its hashes can read a group
	// of 16 hashes instead of 256 ([GroupNodes]); nil for a partial tile.
	Nodes []byte
}

// Width returns the number of hashes in the tile.
func (t Tile) Width() int { return len(t.Hashes) / HashSize }

// Path returns the tile's C2SP path.
func (t Tile) Path() TilePath {
	return TilePath{Level: t.Level, Index: t.Index, Width: t.Width()}
}

// TileReader gives the stored hashes of a tile, possibly partial. The merkle
// code only asks for tiles that must exist for the sizes it is given, and
// wraps and propagates any error; it never treats an error as "empty". The
// returned bytes are only read, and not retained after the call that asked.
type TileReader interface {
	ReadTile(ctx context.Context, level uint8, index uint64) ([]byte, error)
}

// TileReaderFunc adapts a function to [TileReader].
type TileReaderFunc func(ctx context.Context, level uint8, index uint64) ([]byte, error)

// ReadTile calls f(ctx, level, index).
func (f TileReaderFunc) ReadTile(ctx context.Context, level uint8, index uint64) ([]byte, error) {
	return f(ctx, level, index)
}

// ErrShortTile is wrapped by the error returned when a tile holds fewer
// hashes than the tree size being worked on requires: the tile store is
// behind, or inconsistent with, the tree size the caller believes in.
var ErrShortTile = errors.New("merkle: tile shorter than required")

// LeafHash returns the RFC 6962 leaf hash SHA-256(0x00 || entry).
func LeafHash(entry []byte) Hash {
	h := sha256.New()
	h.Write([]byte{rfc6962.RFC6962LeafHashPrefix})
	h.Write(entry)
	var out Hash
	h.Sum(out[:0])
	return out
}

// emptyRoot is the root of the empty tree, SHA-256 of "".
var emptyRoot = sha256.Sum256(nil)

// hashChildren is RFC 6962's SHA-256(0x01 || l || r) without allocating.
func hashChildren(l, r *Hash) Hash {
	var b [1 + 2*HashSize]byte
	b[0] = rfc6962.RFC6962NodeHashPrefix
	copy(b[1:], l[:])
	copy(b[1+HashSize:], r[:])
	return sha256.Sum256(b[:])
}

// hashChildrenSlice is hashChildren for compact.Range and proof.Nodes, which
// work on slices. Both arguments are always HashSize bytes long here.
func hashChildrenSlice(l, r []byte) []byte {
	var b [1 + 2*HashSize]byte
	b[0] = rfc6962.RFC6962NodeHashPrefix
	copy(b[1:], l)
	copy(b[1+HashSize:], r)
	h := sha256.Sum256(b[:])
	return h[:]
}

// subtreeRoot returns the root of the perfect subtree whose leaves are the
// hashes in b; len(b)/HashSize must be a power of two no larger than 256.
func subtreeRoot(b []byte) Hash {
	var stack [TileHeight + 1]Hash
	top := 0
	for i, n := 0, len(b)/HashSize; i < n; i++ {
		h := Hash(b[i*HashSize : (i+1)*HashSize])
		for j := i; j&1 == 1; j >>= 1 {
			top--
			h = hashChildren(&stack[top], &h)
		}
		stack[top] = h
		top++
	}
	return stack[0]
}

// tileSet remembers the tiles read during one call, so that each is read at
// most once. It keeps them in a fixed array, and takes the reader as an
// argument, so that escape analysis can leave it on the caller's stack: a
// proof touches at most a few tiles per tile level.
type tileSet struct {
	n     int
	tiles [3 * maxLevels]readTile
	more  []readTile // overflow, not expected in practice
}

type readTile struct {
	level uint8
	index uint64
	data  []byte
}

func (s *tileSet) tile(ctx context.Context, r TileReader, level uint8, index uint64) ([]byte, error) {
	for i := range s.n {
		if t := &s.tiles[i]; t.level == level && t.index == index {
			return t.data, nil
		}
	}
	for i := range s.more {
		if t := &s.more[i]; t.level == level && t.index == index {
			return t.data, nil
		}
	}
	data, err := r.ReadTile(ctx, level, index)
	if err != nil {
		return nil, fmt.Errorf("merkle: reading tile %d/%d: %w", level, index, err)
	}
	if len(data)%HashSize != 0 || len(data) > tileBytes {
		return nil, fmt.Errorf("merkle: tile %d/%d has invalid length %d", level, index, len(data))
	}
	if s.n < len(s.tiles) {
		s.tiles[s.n] = readTile{level, index, data}
		s.n++
	} else {
		s.more = append(s.more, readTile{level, index, data})
	}
	return data, nil
}

// node returns the hash of the complete node id, computed from 2^(level%8)
// hashes of the level/8 tile.
func (s *tileSet) node(ctx context.Context, r TileReader, id compact.NodeID) (Hash, error) {
	if id.Level >= 64 {
		return Hash{}, fmt.Errorf("merkle: node level %d out of range", id.Level)
	}
	k, rem := id.Level/TileHeight, id.Level%TileHeight
	if id.Index > math.MaxUint64>>rem {
		return Hash{}, fmt.Errorf("merkle: node %d/%d out of range", id.Level, id.Index)
	}
	first := id.Index << rem // first covered node at tree level 8k
	if ir, ok := r.(InnerNodeReader); ok {
		n, err := ir.InnerNodes(ctx, uint8(k), first>>TileHeight)
		if err != nil {
			return Hash{}, fmt.Errorf("merkle: reading inner nodes of tile %d/%d: %w", k, first>>TileHeight, err)
		}
		if n != nil {
			if h, ok := n.Node(uint(rem), (first%TileWidth)>>rem); ok {
				return h, nil
			}
		}
	}
	data, err := s.tile(ctx, r, uint8(k), first>>TileHeight)
	if err != nil {
		return Hash{}, err
	}
	begin := (first % TileWidth) * HashSize
	end := begin + HashSize<<rem
	if uint64(len(data)) < end {
		return Hash{}, fmt.Errorf("%w: node %d/%d needs %d hashes of tile %d/%d, it has %d",
			ErrShortTile, id.Level, id.Index, end/HashSize, k, first>>TileHeight, len(data)/HashSize)
	}
	return subtreeRoot(data[begin:end]), nil
}

// NodeHash returns the hash of the complete node at the given tree level and
// index (the root of the perfect subtree over leaves
// [index·2^level, (index+1)·2^level)). It reads one tile, the one at tile
// level level/8, and hashes 2^(level%8) of its hashes.
func NodeHash(ctx context.Context, r TileReader, level uint, index uint64) (Hash, error) {
	var s tileSet
	return s.node(ctx, r, compact.NewNodeID(level, index))
}

// RootHash returns the root hash of the tree of size leaves. The empty tree's
// root is SHA-256 of the empty string.
func RootHash(ctx context.Context, r TileReader, size uint64) (Hash, error) {
	if size == 0 {
		return emptyRoot, nil
	}
	var idBuf [64]compact.NodeID
	var s tileSet
	ids := compact.RangeNodes(0, size, idBuf[:0])
	var root Hash
	for i := len(ids) - 1; i >= 0; i-- {
		h, err := s.node(ctx, r, ids[i])
		if err != nil {
			return Hash{}, fmt.Errorf("merkle: root of tree size %d: %w", size, err)
		}
		if i == len(ids)-1 {
			root = h
		} else {
			root = hashChildren(&h, &root)
		}
	}
	return root, nil
}

// PartialWidth returns the width of the right-edge tile at the given tile
// level for a tree of size leaves: floor(size/256^level) mod 256. Zero means
// the level has no partial tile.
func PartialWidth(level uint8, size uint64) int {
	if uint(level)*TileHeight >= 64 {
		return 0
	}
	return int(size >> (uint(level) * TileHeight) % TileWidth)
}

// TileWidthAt returns the width of tile (level, index) in the tree of size
// leaves: TileWidth for a full tile, the partial width for the right edge's;
// an error for a tile beyond the tree.
func TileWidthAt(level uint8, index, size uint64) (int, error) {
	shift := uint(level+1) * TileHeight
	full := uint64(0)
	if shift < 64 {
		full = size >> shift
	}
	switch {
	case index < full:
		return TileWidth, nil
	case index == full && PartialWidth(level, size) > 0:
		return PartialWidth(level, size), nil
	}
	return 0, fmt.Errorf("tile %d/%d is beyond a tree of size %d", level, index, size)
}

// SizedTileReader reads the tiles of the tree of size leaves with read,
// asking for each tile the width that size implies (TileWidthAt): the
// reader of a remote log's tiles for proofs at one tree size.
func SizedTileReader(size uint64, read func(ctx context.Context, level uint8, index uint64, width int) ([]byte, error)) TileReader {
	return TileReaderFunc(func(ctx context.Context, level uint8, index uint64) ([]byte, error) {
		w, err := TileWidthAt(level, index, size)
		if err != nil {
			return nil, err
		}
		return read(ctx, level, index, w)
	})
}

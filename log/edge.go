package log

// Tiles for proofs and appends: the right-edge tiles of the head, kept in
// memory, and the cache of full tiles with their inner nodes.

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/tabularium/tabula/merkle"
)

// edgeTile is a right-edge tile; it computes its inner nodes once, when a
// proof first needs them.
type edgeTile struct {
	once   sync.Once
	hashes []byte
	n      *merkle.InnerNodes
}

func (z *edgeTile) get() *merkle.InnerNodes {
	z.once.Do(func() { z.n = merkle.NewInnerNodes(z.hashes) })
	return z.n
}

// Node is a node of the tile (merkle.Nodes): one of its hashes, or an
// inner node (computed, all of them, the first time).
func (z *edgeTile) Node(r uint, j uint64) (merkle.Hash, bool) {
	if r == 0 {
		return tileHash(z.hashes, j)
	}
	return z.get().Node(r, j)
}

// tileHash is hash j of tile, if the tile has it.
func tileHash(tile []byte, j uint64) (merkle.Hash, bool) {
	if j >= uint64(len(tile)/merkle.HashSize) {
		return merkle.Hash{}, false
	}
	return merkle.Hash(tile[j*merkle.HashSize:]), true
}

// fullTile is a cached full tile: its hashes and, once a proof has needed
// them, its inner nodes (immutable too, so computed at most once or twice).
// A tile read with an old entry from a store that keeps upper nodes
// (storage.EntryTile) is cached as that entry's group's nodes alone, its
// hashes nil: it serves proofs for entries of that group, and a read of
// the whole tile reads it from storage.
type fullTile struct {
	hashes []byte
	group  *merkle.GroupNodes // when hashes is nil
	inner  atomic.Pointer[merkle.InnerNodes]
}

// Node is a node of the tile (merkle.Nodes).
func (t *fullTile) Node(r uint, j uint64) (merkle.Hash, bool) {
	switch {
	case t.hashes == nil:
		return t.group.Node(r, j)
	case r == 0:
		return tileHash(t.hashes, j)
	}
	return t.innerNodes().Node(r, j)
}

// tileReader reads tiles through the cache of full tiles, which also keeps
// their inner nodes for proofs (edgeTiles without an edge).
func (l *Log) tileReader() merkle.TileReader { return &edgeTiles{l: l} }

func (l *Log) readTile(ctx context.Context, level uint8, index uint64) ([]byte, error) {
	k := treeTile{l.treeID, tileKey{level, index}}
	if t, ok := l.caches.tiles.Get(k); ok && t.hashes != nil {
		return t.hashes, nil
	}
	h, err := l.store.ReadTile(ctx, level, index)
	if err != nil {
		return nil, err
	}
	if len(h) == merkle.TileWidth*merkle.HashSize {
		l.caches.tiles.Add(k, &fullTile{hashes: h})
	}
	return h, nil
}

// innerNodes returns the inner nodes of t, computing them once.
func (t *fullTile) innerNodes() *merkle.InnerNodes {
	if n := t.inner.Load(); n != nil {
		return n
	}
	n := merkle.NewInnerNodes(t.hashes)
	t.inner.Store(n)
	return n
}

// appendReader reads the tiles of the tree of size: the right-edge tiles from
// edge when known, else from storage, cut to the width size implies (a tile
// read from storage may already have grown past size) and added to edge.
func (l *Log) appendReader(size uint64, edge map[tileKey][]byte) merkle.TileReader {
	return merkle.TileReaderFunc(func(ctx context.Context, level uint8, index uint64) ([]byte, error) {
		rightEdge := index == size>>(merkle.TileHeight*(uint(level)+1))
		if rightEdge {
			if t, ok := edge[tileKey{level, index}]; ok {
				return t[:len(t):len(t)], nil
			}
		}
		t, err := l.readTile(ctx, level, index)
		if err != nil {
			return nil, err
		}
		if rightEdge {
			if w := merkle.PartialWidth(level, size) * merkle.HashSize; len(t) > w {
				t = t[:w]
			}
			edge[tileKey{level, index}] = t[:len(t):len(t)]
		}
		// Clip capacity: the appender must copy, never write into a cached tile.
		return t[:len(t):len(t)], nil
	})
}

// proofReader reads the tiles of the tree of size: the right-edge tiles of
// the head, when it covers size, else through the cache of full tiles and
// storage. A tile of a larger tree is a valid prefix for a smaller one (nodes
// never change once complete), so the edge of any head at least size serves;
// this spares a write's inclusion proof the storage reads of the partial
// tiles its own batch just wrote. The head's edge tiles this process did not
// write (after a restart, or when another process grows the tree) are read
// from storage once and kept with the head, with their inner nodes: reads at
// a steady head then need no storage at all.
func (l *Log) proofReader(size uint64) merkle.TileReader {
	l.headMu.Lock()
	edge, head := l.edge, l.head.Size
	if !l.headValid || size > head {
		edge, head = nil, 0
	}
	l.headMu.Unlock()
	return &edgeTiles{l: l, edge: edge, head: head}
}

// edgeTiles reads the right-edge tiles from edge (loading into it those of
// the tree of size head that it lacks, when head is not 0), the others
// through the cache of full tiles (with their inner nodes). Without an edge
// it is the plain cache of full tiles.
//
// It remembers the last full tile it took from the cache: a proof asks for
// up to 8 nodes of each tile it crosses, and one cache lookup (which takes
// the cache's lock) then serves them all. Not safe for concurrent use.
type edgeTiles struct {
	l    *Log
	edge map[tileKey]*edgeTile
	head uint64

	last     tileKey
	lastTile *fullTile
}

// cached returns the full tile (level, index) from the cache, nil if it is
// not there.
func (e *edgeTiles) cached(level uint8, index uint64) *fullTile {
	k := tileKey{level, index}
	if e.lastTile != nil && e.last == k {
		return e.lastTile
	}
	t, ok := e.l.caches.tiles.Get(treeTile{e.l.treeID, k})
	if !ok {
		return nil
	}
	e.last, e.lastTile = k, t
	return t
}

// edgeTile returns the right-edge tile (level, index) of the head, nil if it
// is not one.
func (e *edgeTiles) edgeTile(ctx context.Context, level uint8, index uint64) (*edgeTile, error) {
	if e.head != 0 && (uint(level) >= 8 || index != e.head>>(merkle.TileHeight*(uint(level)+1))) {
		return nil, nil // not on the head's right edge: no map lookup
	}
	if t, ok := e.edge[tileKey{level, index}]; ok {
		return t, nil
	}
	if e.head == 0 || uint(level) >= 8 || index != e.head>>(merkle.TileHeight*(uint(level)+1)) {
		return nil, nil
	}
	w := merkle.PartialWidth(level, e.head) * merkle.HashSize
	if w == 0 {
		return nil, nil
	}
	// Loaded since the snapshot (a proof asks for a tile more than once)?
	e.l.headMu.Lock()
	t, ok := e.l.edge[tileKey{level, index}]
	if ok && (!e.l.headValid || e.l.head.Size != e.head) {
		ok = false
	}
	e.l.headMu.Unlock()
	if ok {
		return t, nil
	}
	h, err := e.l.store.ReadTile(ctx, level, index)
	if err != nil {
		return nil, err
	}
	if len(h) < w {
		// Shorter than the head says: let the proof report it.
		return &edgeTile{hashes: h}, nil
	}
	t = &edgeTile{hashes: h[:w:w]}
	e.l.addEdge(e.head, tileKey{level, index}, t)
	return t, nil
}

// addEdge publishes t as a right-edge tile of the head of size, if that is
// still the head. Edge maps are never modified once published: it copies.
func (l *Log) addEdge(size uint64, k tileKey, t *edgeTile) {
	l.headMu.Lock()
	defer l.headMu.Unlock()
	if !l.headValid || l.head.Size != size {
		return
	}
	if _, ok := l.edge[k]; ok {
		return
	}
	edge := make(map[tileKey]*edgeTile, len(l.edge)+1)
	for k, v := range l.edge {
		edge[k] = v
	}
	edge[k] = t
	l.edge = edge
}

func (e *edgeTiles) ReadTile(ctx context.Context, level uint8, index uint64) ([]byte, error) {
	t, err := e.edgeTile(ctx, level, index)
	if err != nil {
		return nil, err
	}
	if t != nil {
		return t.hashes[:len(t.hashes):len(t.hashes)], nil
	}
	if f := e.cached(level, index); f != nil && f.hashes != nil {
		return f.hashes, nil
	}
	return e.l.readTile(ctx, level, index)
}

// InnerNodes returns the nodes of tile (level, index) if it is a
// right-edge tile or a cached full tile (inner nodes computed once, when
// first asked for), or a cached group of one; nil otherwise (the caller
// then reads the tile, which caches it if it is full).
func (e *edgeTiles) InnerNodes(ctx context.Context, level uint8, index uint64) (merkle.Nodes, error) {
	t, err := e.edgeTile(ctx, level, index)
	if err != nil {
		return nil, err
	}
	if t != nil {
		return t, nil
	}
	if f := e.cached(level, index); f != nil {
		return f, nil
	}
	return nil, nil
}

package log

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/storage"
)

// ErrOutOfRange: a tile, bundle, entry or proof asks for more than the tree has.
var ErrOutOfRange = errors.New("log: beyond the current tree")

// Head returns the latest tree state, reloading it from storage when the
// cached one is older than HeadMaxAge (other processes may have grown the tree).
func (l *Log) Head(ctx context.Context) (storage.TreeState, error) {
	l.headMu.Lock()
	head, fresh := l.head, l.headValid && time.Since(l.headLoaded) < l.cfg.HeadMaxAge
	l.headMu.Unlock()
	if fresh {
		return head, nil
	}
	return l.reloadHead(ctx)
}

// HeadCovering returns a head whose tree includes index, reloading once if the
// cached head is too small. It fails with ErrOutOfRange if the tree is smaller.
func (l *Log) HeadCovering(ctx context.Context, index uint64) (storage.TreeState, error) {
	head, err := l.Head(ctx)
	if err != nil {
		return head, err
	}
	if index < head.Size {
		return head, nil
	}
	head, err = l.reloadHead(ctx)
	if err != nil {
		return head, err
	}
	if index >= head.Size {
		return head, ErrOutOfRange
	}
	return head, nil
}

func (l *Log) reloadHead(ctx context.Context) (storage.TreeState, error) {
	head, err := l.store.LatestTreeState(ctx)
	if err != nil {
		return storage.TreeState{}, fmt.Errorf("log: reading tree state: %w", err)
	}
	l.headMu.Lock()
	defer l.headMu.Unlock()
	if head.Size >= l.head.Size || !l.headValid {
		if head.Size != l.head.Size {
			l.edge = nil
		}
		l.head = head
	}
	l.headValid = true
	l.headLoaded = time.Now()
	l.metrics.treeSize.Set(float64(l.head.Size))
	return l.head, nil
}

// setHead records a head this process just committed, with the tiles it
// wrote. base holds right-edge tiles of the tree the batch was built on
// (known or read while appending); those the batch did not rewrite and that
// are still on the right edge stay known, so proofs and the next batch need
// not read them from storage.
func (l *Log) setHead(head storage.TreeState, written []merkle.Tile, base map[tileKey][]byte) {
	edge := make(map[tileKey][]byte, len(written)+len(base))
	for _, t := range written {
		k := tileKey{t.Level, t.Index}
		if len(t.Hashes) == merkle.TileWidth*merkle.HashSize {
			l.tiles.Add(k, &fullTile{hashes: t.Hashes})
		} else {
			edge[k] = t.Hashes
		}
	}
	for k, v := range base {
		if _, ok := edge[k]; !ok && k.index == head.Size>>(merkle.TileHeight*(uint(k.level)+1)) &&
			len(v) < merkle.TileWidth*merkle.HashSize {
			edge[k] = v
		}
	}
	l.headMu.Lock()
	defer l.headMu.Unlock()
	tiles := make(map[tileKey]*edgeTile, len(edge))
	for k, v := range edge {
		if old, ok := l.edge[k]; ok && len(old.hashes) == len(v) {
			tiles[k] = old // the same tile, not rewritten by this batch
		} else {
			tiles[k] = &edgeTile{hashes: v}
		}
	}
	l.head = head
	l.edge = tiles
	l.headValid = true
	l.headLoaded = time.Now()
}

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

func (l *Log) invalidateHead() {
	l.headMu.Lock()
	defer l.headMu.Unlock()
	l.headValid = false
	l.edge = nil
}

// writeHead returns the head to build the next batch on, with the partial
// tiles this process knows for it (nil if it must read them from storage).
func (l *Log) writeHead(ctx context.Context) (storage.TreeState, map[tileKey][]byte, error) {
	l.headMu.Lock()
	head, valid := l.head, l.headValid
	edge := make(map[tileKey][]byte, len(l.edge))
	for k, t := range l.edge {
		edge[k] = t.hashes
	}
	l.headMu.Unlock()
	if valid {
		return head, edge, nil
	}
	head, err := l.reloadHead(ctx)
	return head, nil, err
}

// fullTile is a cached full tile: its hashes and, once a proof has needed
// them, its inner nodes (immutable too, so computed at most once or twice).
type fullTile struct {
	hashes []byte
	inner  atomic.Pointer[merkle.InnerNodes]
}

// tileReader reads tiles through the cache of full tiles, which also keeps
// their inner nodes for proofs (edgeTiles without an edge).
func (l *Log) tileReader() merkle.TileReader { return edgeTiles{l: l} }

func (l *Log) readTile(ctx context.Context, level uint8, index uint64) ([]byte, error) {
	k := tileKey{level, index}
	if t, ok := l.tiles.Get(k); ok {
		return t.hashes, nil
	}
	h, err := l.store.ReadTile(ctx, level, index)
	if err != nil {
		return nil, err
	}
	if len(h) == merkle.TileWidth*merkle.HashSize {
		l.tiles.Add(k, &fullTile{hashes: h})
	}
	return h, nil
}

// innerNodes returns the inner nodes of tile (level, index) if it is a
// cached full tile, computing them once; nil otherwise (the caller then
// reads the tile, which caches it if it is full).
func (l *Log) innerNodes(level uint8, index uint64) *merkle.InnerNodes {
	t, ok := l.tiles.Get(tileKey{level, index})
	if !ok {
		return nil
	}
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

// Entry returns the entry at index, or storage.ErrNotFound (callers check the
// index against HeadCovering first).
// The entry may come from the cache: its slices must not be modified.
func (l *Log) Entry(ctx context.Context, index uint64) (storage.Entry, error) {
	if e, ok := l.entries.get(index); ok {
		return e, nil
	}
	es, err := l.store.ReadEntries(ctx, index, index+1)
	if err != nil {
		return storage.Entry{}, fmt.Errorf("log: reading entry %d: %w", index, err)
	}
	if len(es) == 0 {
		return storage.Entry{}, fmt.Errorf("log: entry %d: %w", index, storage.ErrNotFound)
	}
	l.entries.add(es[0])
	return es[0], nil
}

// EntryByLeafHash returns the entry with that leaf hash, or storage.ErrNotFound.
// The entry may come from the cache: its slices must not be modified.
func (l *Log) EntryByLeafHash(ctx context.Context, h merkle.Hash) (storage.Entry, error) {
	if e, ok := l.entries.getByLeafHash(h); ok {
		return e, nil
	}
	e, err := l.store.ReadEntryByLeafHash(ctx, h)
	if err != nil {
		return storage.Entry{}, fmt.Errorf("log: reading entry by leaf hash: %w", err)
	}
	l.entries.add(e)
	return e, nil
}

// entryCache keeps entries read by index or leaf hash. An integrated entry
// never changes (its body, integrated time, SET and attestation are written
// once, in the transaction that gives it its index), so a cached one never
// goes stale; its inclusion proof is built per request from the tiles.
// It is bounded by count and by bytes; a nil *entryCache caches nothing.
type entryCache struct {
	byIndex  *lru.Cache[uint64, *storage.Entry]
	byHash   *lru.Cache[merkle.Hash, uint64]
	bytes    atomic.Int64
	maxBytes int64
}

// entryOverhead approximates the memory of one cached entry beyond the
// lengths of its byte slices: their size-class rounding, the storage.Entry,
// the two LRU elements and map slots (measured: about 640 bytes with
// hashedrekord entries, whose body and SET take about 630).
const entryOverhead = 640

func entryCost(e *storage.Entry) int64 {
	return int64(len(e.Body)+len(e.SET)+len(e.Attestation)) + entryOverhead
}

func newEntryCache(size int, maxBytes int64) (*entryCache, error) {
	c := &entryCache{maxBytes: maxBytes}
	var err error
	if c.byHash, err = lru.New[merkle.Hash, uint64](size); err != nil {
		return nil, err
	}
	c.byIndex, err = lru.NewWithEvict(size, func(_ uint64, e *storage.Entry) {
		c.bytes.Add(-entryCost(e))
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (c *entryCache) get(index uint64) (storage.Entry, bool) {
	if c == nil {
		return storage.Entry{}, false
	}
	e, ok := c.byIndex.Get(index)
	if !ok {
		return storage.Entry{}, false
	}
	return *e, true
}

func (c *entryCache) getByLeafHash(h merkle.Hash) (storage.Entry, bool) {
	if c == nil {
		return storage.Entry{}, false
	}
	index, ok := c.byHash.Get(h)
	if !ok {
		return storage.Entry{}, false
	}
	e, ok := c.byIndex.Get(index)
	if !ok || e.LeafHash != h {
		return storage.Entry{}, false
	}
	return *e, true
}

// maxCachedEntry is the largest entry cached: one with a large attestation
// is rare, and not worth evicting many small ones.
const maxCachedEntry = 16 << 10

// add caches e, unless it is larger than maxCachedEntry.
func (c *entryCache) add(e storage.Entry) {
	if c == nil {
		return
	}
	cost := entryCost(&e)
	if cost > maxCachedEntry || cost > c.maxBytes {
		return
	}
	e.SearchKeys = nil
	if had, _ := c.byIndex.ContainsOrAdd(e.Index, &e); !had {
		c.bytes.Add(cost)
	}
	c.byHash.Add(e.LeafHash, e.Index)
	for c.bytes.Load() > c.maxBytes {
		if _, _, ok := c.byIndex.RemoveOldest(); !ok {
			break
		}
	}
}

// bundleCache keeps full (immutable) entry bundles, bounded by count and
// by bytes: a bundle holds up to 256 entries of up to 64 KiB each, so a
// count alone bounds nothing.
type bundleCache struct {
	lru      *lru.Cache[uint64, []byte]
	bytes    atomic.Int64
	maxBytes int64
}

// bundleOverhead approximates a cached bundle's memory beyond its bytes:
// the LRU element and map slot.
const bundleOverhead = 128

func newBundleCache(size int, maxBytes int64) (*bundleCache, error) {
	c := &bundleCache{maxBytes: maxBytes}
	var err error
	c.lru, err = lru.NewWithEvict(size, func(_ uint64, b []byte) {
		c.bytes.Add(-int64(cap(b) + bundleOverhead))
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (c *bundleCache) get(index uint64) ([]byte, bool) { return c.lru.Get(index) }

// add caches bundle b, unless it alone is over the byte bound, evicting the
// least recently used bundles to keep to it.
func (c *bundleCache) add(index uint64, b []byte) {
	b = slices.Clip(b)
	cost := int64(cap(b) + bundleOverhead)
	if cost > c.maxBytes {
		return
	}
	if had, _ := c.lru.ContainsOrAdd(index, b); had {
		return
	}
	c.bytes.Add(cost)
	for c.bytes.Load() > c.maxBytes {
		if _, _, ok := c.lru.RemoveOldest(); !ok {
			break
		}
	}
}

// Search returns the indexes of entries indexed under key (the hash of a
// typed key, types.SearchKey.Hash), ascending.
func (l *Log) Search(ctx context.Context, key storage.Hash) ([]uint64, error) {
	return l.store.Search(ctx, key)
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
	return edgeTiles{l: l, edge: edge, head: head}
}

// edgeTiles reads the right-edge tiles from edge (loading into it those of
// the tree of size head that it lacks, when head is not 0), the others
// through the cache of full tiles (with their inner nodes). Without an edge
// it is the plain cache of full tiles.
type edgeTiles struct {
	l    *Log
	edge map[tileKey]*edgeTile
	head uint64
}

// edgeTile returns the right-edge tile (level, index) of the head, nil if it
// is not one.
func (e edgeTiles) edgeTile(ctx context.Context, level uint8, index uint64) (*edgeTile, error) {
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

func (e edgeTiles) ReadTile(ctx context.Context, level uint8, index uint64) ([]byte, error) {
	t, err := e.edgeTile(ctx, level, index)
	if err != nil {
		return nil, err
	}
	if t != nil {
		return t.hashes[:len(t.hashes):len(t.hashes)], nil
	}
	return e.l.readTile(ctx, level, index)
}

func (e edgeTiles) InnerNodes(ctx context.Context, level uint8, index uint64) (*merkle.InnerNodes, error) {
	t, err := e.edgeTile(ctx, level, index)
	if err != nil {
		return nil, err
	}
	if t != nil {
		return t.get(), nil
	}
	return e.l.innerNodes(level, index), nil
}

// InclusionProof proves entry index is in the tree of size (≤ the head size).
func (l *Log) InclusionProof(ctx context.Context, index, size uint64) ([]merkle.Hash, error) {
	return merkle.InclusionProof(ctx, l.proofReader(size), index, size)
}

// ConsistencyProof proves the tree of size1 is a prefix of the tree of size2.
func (l *Log) ConsistencyProof(ctx context.Context, size1, size2 uint64) ([]merkle.Hash, error) {
	return merkle.ConsistencyProof(ctx, l.proofReader(size2), size1, size2)
}

// RootHash is the root of the tree of size (≤ the head size).
func (l *Log) RootHash(ctx context.Context, size uint64) (merkle.Hash, error) {
	return merkle.RootHash(ctx, l.proofReader(size), size)
}

// servable reports whether the first width nodes of tile (level, index)
// exist in the tree of size: whether it may be served.
func servable(level uint8, index uint64, width int, size uint64) bool {
	nodes := size >> (merkle.TileHeight * uint(level))
	if level >= 8 || index > (^uint64(0)-uint64(width))/merkle.TileWidth {
		return false
	}
	return index*merkle.TileWidth+uint64(width) <= nodes
}

// Tile returns the first width hashes of tile (level, index), which must be
// covered by the current tree.
func (l *Log) Tile(ctx context.Context, level uint8, index uint64, width int) ([]byte, error) {
	head, err := l.Head(ctx)
	if err != nil {
		return nil, err
	}
	if !servable(level, index, width, head.Size) {
		return nil, ErrOutOfRange
	}
	t, err := l.readTile(ctx, level, index)
	if err != nil {
		return nil, fmt.Errorf("log: reading tile %d/%d: %w", level, index, err)
	}
	if len(t) < width*merkle.HashSize {
		return nil, fmt.Errorf("log: tile %d/%d has %d hashes, want %d", level, index, len(t)/merkle.HashSize, width)
	}
	return t[:width*merkle.HashSize], nil
}

// EntryBundle returns the C2SP entry bundle of the first width entries of
// bundle index, which must be covered by the current tree.
func (l *Log) EntryBundle(ctx context.Context, index uint64, width int) ([]byte, error) {
	full := width == merkle.TileWidth
	if full {
		if b, ok := l.bundles.get(index); ok {
			return b, nil
		}
	}
	head, err := l.Head(ctx)
	if err != nil {
		return nil, err
	}
	if !servable(0, index, width, head.Size) {
		return nil, ErrOutOfRange
	}
	start := index * merkle.TileWidth
	es, err := l.store.ReadEntries(ctx, start, start+uint64(width))
	if err != nil {
		return nil, fmt.Errorf("log: reading entries for bundle %d: %w", index, err)
	}
	if len(es) != width {
		return nil, fmt.Errorf("log: bundle %d: got %d entries, want %d", index, len(es), width)
	}
	var b []byte
	for _, e := range es {
		if b, err = merkle.AppendBundleEntry(b, e.Body); err != nil {
			return nil, fmt.Errorf("log: bundle %d: %w", index, err)
		}
	}
	if full {
		l.bundles.add(index, b)
	}
	return b, nil
}

// LeafHashes returns the leaf hashes of the entries at the given indexes
// (each below the head size), read from the level-0 tiles.
func (l *Log) LeafHashes(ctx context.Context, indexes []uint64) ([]merkle.Hash, error) {
	out := make([]merkle.Hash, len(indexes))
	for i, idx := range indexes {
		t, err := l.readTile(ctx, 0, idx/merkle.TileWidth)
		if err != nil {
			return nil, fmt.Errorf("log: reading leaf hash %d: %w", idx, err)
		}
		off := int(idx%merkle.TileWidth) * merkle.HashSize
		if len(t) < off+merkle.HashSize {
			return nil, fmt.Errorf("log: leaf %d is not in its tile", idx)
		}
		copy(out[i][:], t[off:])
	}
	return out, nil
}

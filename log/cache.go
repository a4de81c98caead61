package log

// The caches of immutable data: full tiles (with their inner nodes),
// entries and full entry bundles, bounded by count and bytes, and shared by
// the logs of a process (keys carry the tree ID).

import (
	"fmt"
	"slices"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/storage"
)

// Caches holds the caches of immutable data of one or more logs: full tiles
// with their inner nodes, full entry bundles, and entries read by index or
// leaf hash. Logs opened with the same Caches (Config.Caches) share them,
// so their bounds hold for all those logs together. Safe for concurrent use.
type Caches struct {
	tiles   *lru.Cache[treeTile, *fullTile]
	bundles *bundleCache
	entries *entryCache // nil: no cache
}

// treeTile and treeIndex are cache keys: a tile or an index of one tree.
type (
	treeTile struct {
		tree int64
		tileKey
	}
	treeIndex struct {
		tree  int64
		index uint64
	}
)

// NewCaches makes the caches sized by cfg's TileCacheSize,
// BundleCacheSize, BundleCacheBytes, EntryCacheSize and EntryCacheBytes
// (zero values: the defaults), to share among logs with Config.Caches.
func NewCaches(cfg Config) (*Caches, error) {
	cfg.setCacheDefaults()
	tiles, err := lru.New[treeTile, *fullTile](cfg.TileCacheSize)
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	bundles, err := newBundleCache(cfg.BundleCacheSize, cfg.BundleCacheBytes)
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	var entries *entryCache
	if cfg.EntryCacheSize > 0 {
		if entries, err = newEntryCache(cfg.EntryCacheSize, cfg.EntryCacheBytes); err != nil {
			return nil, fmt.Errorf("log: %w", err)
		}
	}
	return &Caches{tiles: tiles, bundles: bundles, entries: entries}, nil
}

// entryCache keeps entries read by index or leaf hash. An integrated entry
// never changes (its body, integrated time, SET and attestation are written
// once, in the transaction that gives it its index), so a cached one never
// goes stale; its inclusion proof is built per request from the tiles.
// It is bounded by count and by bytes; a nil *entryCache caches nothing.
type entryCache struct {
	byIndex  *lru.Cache[treeIndex, *storage.Entry]
	byHash   *lru.Cache[merkle.Hash, treeIndex]
	bytes    atomic.Int64
	maxBytes int64
}

func entryCost(e *storage.Entry) int64 {
	return int64(len(e.Body)+len(e.SET)+len(e.Attestation)) + entryOverhead
}

func newEntryCache(size int, maxBytes int64) (*entryCache, error) {
	c := &entryCache{maxBytes: maxBytes}
	var err error
	if c.byHash, err = lru.New[merkle.Hash, treeIndex](size); err != nil {
		return nil, err
	}
	c.byIndex, err = lru.NewWithEvict(size, func(_ treeIndex, e *storage.Entry) {
		c.bytes.Add(-entryCost(e))
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (c *entryCache) get(tree int64, index uint64) (storage.Entry, bool) {
	if c == nil {
		return storage.Entry{}, false
	}
	e, ok := c.byIndex.Get(treeIndex{tree, index})
	if !ok {
		return storage.Entry{}, false
	}
	return *e, true
}

func (c *entryCache) getByLeafHash(tree int64, h merkle.Hash) (storage.Entry, bool) {
	if c == nil {
		return storage.Entry{}, false
	}
	index, ok := c.byHash.Get(h)
	if !ok || index.tree != tree {
		return storage.Entry{}, false
	}
	e, ok := c.byIndex.Get(index)
	if !ok || e.LeafHash != h {
		return storage.Entry{}, false
	}
	return *e, true
}

// add caches e, an entry of tree, unless it is larger than maxCachedEntry.
func (c *entryCache) add(tree int64, e storage.Entry) {
	if c == nil {
		return
	}
	cost := entryCost(&e)
	if cost > maxCachedEntry || cost > c.maxBytes {
		return
	}
	e.SearchKeys = nil
	k := treeIndex{tree, e.Index}
	if had, _ := c.byIndex.ContainsOrAdd(k, &e); !had {
		c.bytes.Add(cost)
	}
	c.byHash.Add(e.LeafHash, k)
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
	lru      *lru.Cache[treeIndex, []byte]
	bytes    atomic.Int64
	maxBytes int64
}

func newBundleCache(size int, maxBytes int64) (*bundleCache, error) {
	c := &bundleCache{maxBytes: maxBytes}
	var err error
	c.lru, err = lru.NewWithEvict(size, func(_ treeIndex, b []byte) {
		c.bytes.Add(-int64(cap(b) + bundleOverhead))
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (c *bundleCache) get(tree int64, index uint64) ([]byte, bool) {
	return c.lru.Get(treeIndex{tree, index})
}

// add caches bundle index of tree, unless it alone is over the byte bound,
// evicting the least recently used bundles to keep to it.
func (c *bundleCache) add(tree int64, index uint64, b []byte) {
	b = slices.Clip(b)
	cost := int64(cap(b) + bundleOverhead)
	if cost > c.maxBytes {
		return
	}
	if had, _ := c.lru.ContainsOrAdd(treeIndex{tree, index}, b); had {
		return
	}
	c.bytes.Add(cost)
	for c.bytes.Load() > c.maxBytes {
		if _, _, ok := c.lru.RemoveOldest(); !ok {
			break
		}
	}
}

// entryOverhead approximates the memory of one cached entry beyond the
// lengths of its byte slices: their size-class rounding, the storage.Entry,
// the two LRU elements and map slots (measured: about 640 bytes with
// hashedrekord entries, whose body and SET take about 630).
const entryOverhead = 640

// maxCachedEntry is the largest entry cached: one with a large attestation
// is rare, and not worth evicting many small ones.
const maxCachedEntry = 16 << 10

// bundleOverhead approximates a cached bundle's memory beyond its bytes:
// the LRU element and map slot.
const bundleOverhead = 128

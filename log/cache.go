package log

// The caches of immutable data: full tiles (with their inner nodes),
// entries and full entry bundles, bounded by count and bytes, and shared by
// the logs of a process (keys carry the tree ID).

import (
	"encoding/binary"
	"fmt"
	"slices"
	"sync"
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

// entryCache keeps entries read by index or leaf hash, and those this
// process integrates. An integrated entry never changes (its body,
// integrated time, SET and attestation are written once, in the transaction
// that gives it its index), so a cached one never goes stale; its inclusion
// proof is built per request from the tiles.
//
// It is bounded by count and by bytes, and kept compact, so that the bytes
// hold as many entries as they can: each entry is one allocation without
// pointers (its leaf hash, body, SET and attestation back to back, which the
// GC need not scan) in an LRU by index, and the index by leaf hash is a map
// from the hash's first 8 bytes (a full hash is checked on a hit; a prefix
// shared by two entries only costs one of them a storage read). A nil
// *entryCache caches nothing.
type entryCache struct {
	byIndex  *lru.Cache[treeIndex, cachedEntry]
	mu       sync.Mutex // guards byHash
	byHash   map[uint64]treeIndex
	bytes    atomic.Int64
	maxBytes int64
}

// cachedEntry is a cached entry: rec holds its leaf hash, body, SET and
// attestation back to back.
type cachedEntry struct {
	rec            []byte
	integratedTime int64
	bodyLen        uint32
	setLen         uint32
}

// entry returns the storage.Entry of index: its slices share rec.
func (c cachedEntry) entry(index uint64) storage.Entry {
	e := storage.Entry{Index: index, IntegratedTime: c.integratedTime}
	copy(e.LeafHash[:], c.rec)
	r := c.rec[merkle.HashSize:]
	e.Body, r = r[:c.bodyLen:c.bodyLen], r[c.bodyLen:]
	if c.setLen > 0 {
		e.SET = r[:c.setLen:c.setLen]
	}
	if r = r[c.setLen:]; len(r) > 0 {
		e.Attestation = r
	}
	return e
}

func hashKey(h merkle.Hash) uint64 { return binary.BigEndian.Uint64(h[:8]) }

// entryCost is the memory of a cached entry of rec: rec and the overhead.
func entryCost(rec []byte) int64 { return int64(cap(rec)) + entryOverhead }

func newEntryCache(size int, maxBytes int64) (*entryCache, error) {
	c := &entryCache{maxBytes: maxBytes, byHash: map[uint64]treeIndex{}}
	var err error
	c.byIndex, err = lru.NewWithEvict(size, func(k treeIndex, e cachedEntry) {
		c.bytes.Add(-entryCost(e.rec))
		var h merkle.Hash
		copy(h[:], e.rec)
		c.mu.Lock()
		if c.byHash[hashKey(h)] == k {
			delete(c.byHash, hashKey(h))
		}
		c.mu.Unlock()
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
	return e.entry(index), true
}

func (c *entryCache) getByLeafHash(tree int64, h merkle.Hash) (storage.Entry, bool) {
	if c == nil {
		return storage.Entry{}, false
	}
	c.mu.Lock()
	k, ok := c.byHash[hashKey(h)]
	c.mu.Unlock()
	if !ok || k.tree != tree {
		return storage.Entry{}, false
	}
	e, ok := c.get(tree, k.index)
	if !ok || e.LeafHash != h {
		return storage.Entry{}, false
	}
	return e, true
}

// add caches e, an entry of tree, unless it is larger than maxCachedEntry.
// The cache keeps a copy: e's slices are not retained.
func (c *entryCache) add(tree int64, e *storage.Entry) {
	if c == nil {
		return
	}
	n := merkle.HashSize + len(e.Body) + len(e.SET) + len(e.Attestation)
	if int64(n)+entryOverhead > maxCachedEntry || int64(n)+entryOverhead > c.maxBytes {
		return
	}
	k := treeIndex{tree, e.Index}
	if c.byIndex.Contains(k) {
		return
	}
	rec := make([]byte, 0, n)
	rec = append(rec, e.LeafHash[:]...)
	rec = append(rec, e.Body...)
	rec = append(rec, e.SET...)
	rec = append(rec, e.Attestation...)
	ce := cachedEntry{rec: rec, integratedTime: e.IntegratedTime, bodyLen: uint32(len(e.Body)), setLen: uint32(len(e.SET))}
	c.mu.Lock()
	c.byHash[hashKey(e.LeafHash)] = k
	c.mu.Unlock()
	if had, _ := c.byIndex.ContainsOrAdd(k, ce); !had {
		c.bytes.Add(entryCost(rec))
	}
	for c.bytes.Load() > c.maxBytes {
		if _, _, ok := c.byIndex.RemoveOldest(); !ok {
			break
		}
	}
}

// addAll caches the entries of a batch this process just integrated (reads
// of new entries are the most frequent).
func (c *entryCache) addAll(tree int64, es []storage.Entry) {
	for i := range es {
		c.add(tree, &es[i])
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

// entryOverhead approximates the memory of one cached entry beyond its
// record's capacity: the record's size-class rounding, the LRU element and
// map slot, the slot in the map by leaf hash (measured with
// BenchmarkEntryCacheMemory).
const entryOverhead = 256

// maxCachedEntry is the largest entry cached: one with a large attestation
// is rare, and not worth evicting many small ones.
const maxCachedEntry = 16 << 10

// bundleOverhead approximates a cached bundle's memory beyond its bytes:
// the LRU element and map slot.
const bundleOverhead = 128

package log

// The caches of entries and entry bundles, bounded by count and bytes.

import (
	"slices"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/storage"
)

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

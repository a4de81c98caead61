package log

// The caches of immutable data: full tiles (with their inner nodes),
// entries and full entry bundles, bounded by count and bytes, and shared by
// the logs of a process (keys carry the tree ID).

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"
	"sync"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/tabularium/tabula/log/diskcache"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/bodycodec"
)

// Caches holds the caches of immutable data of one or more logs: full tiles
// with their inner nodes, full entry bundles, and entries read by index or
// leaf hash; and the body codec that encodes entries as the storage keeps
// them (see prepare), which the entry cache keeps them in too. Logs opened
// with the same Caches (Config.Caches) share them, so their bounds hold for
// all those logs together. Safe for concurrent use.
type Caches struct {
	tiles   *lru.Cache[treeTile, *fullTile]
	bundles *bundleCache
	entries *entryCache // nil: no cache
	codec   *bodycodec.Codec
	files   *diskcache.Cache // nil: no disk cache
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
// (zero values: the defaults), with cfg.DiskCache as their disk tier, to
// share among logs with Config.Caches.
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
	codec, err := bodycodec.New()
	if err != nil {
		return nil, fmt.Errorf("log: %w", err)
	}
	var entries *entryCache
	if cfg.EntryCacheSize > 0 {
		if entries, err = newEntryCache(cfg.EntryCacheSize, cfg.EntryCacheBytes, codec); err != nil {
			return nil, fmt.Errorf("log: %w", err)
		}
	}
	return &Caches{tiles: tiles, bundles: bundles, entries: entries, codec: codec, files: cfg.DiskCache}, nil
}

// entryCache keeps entries read by index or leaf hash, and those this
// process integrates. An integrated entry never changes (its body,
// integrated time, SET and attestation are written once, in the transaction
// that gives it its index), so a cached one never goes stale; its inclusion
// proof is built per request from the tiles.
//
// It is bounded by count and by bytes, and kept compact, so that the bytes
// hold as many entries as they can, and cheap for the garbage collector and
// for concurrent readers: each entry is one allocation without pointers (its
// leaf hash, body, SET and attestation back to back) in a slot of one array,
// the body as the storage keeps it (storage/bodycodec: a hashedrekord body
// of 557 bytes in 262) when it comes encoded, as the entries this process
// integrates do, and decoded on each hit (a few µs), so that the cache's
// bytes hold about twice the entries;
// found through maps without pointers (by index, and by the leaf hash's
// first 8 bytes: a full hash is checked on a hit, so a prefix shared by two
// entries only costs one of them a storage read). Eviction is CLOCK: a hit
// only sets its slot's reference bit, under a read lock; an insertion
// sweeps the slots from the hand, clearing set bits and evicting the first
// entry whose bit is clear. A nil *entryCache caches nothing.
type entryCache struct {
	codec    *bodycodec.Codec
	mu       sync.RWMutex
	byIndex  map[treeIndex]uint32 // slot
	byHash   map[uint64]uint32    // slot, by the leaf hash's first 8 bytes
	slots    []entrySlot
	hand     int
	bytes    int64
	maxBytes int64
	maxCount int
}

// entrySlot is a slot of the cache: an entry (rec nil: none) and its
// reference bit (set by readers under the read lock, atomically).
type entrySlot struct {
	key treeIndex
	cachedEntry
	ref uint32
}

// cachedEntry is a cached entry: rec holds its leaf hash, body (in
// bodyFormat, a bodycodec.Format), SET and attestation back to back.
type cachedEntry struct {
	rec            []byte
	integratedTime int64
	bodyLen        uint32
	setLen         uint32
	bodyFormat     int16
}

// entry returns the storage.Entry of index: its slices share rec, but for
// an encoded body, decoded into a new slice. ok is false if that fails
// (never for what add encoded): the caller reads storage instead.
func (c cachedEntry) entry(codec *bodycodec.Codec, index uint64) (storage.Entry, bool) {
	e := storage.Entry{Index: index, IntegratedTime: c.integratedTime}
	copy(e.LeafHash[:], c.rec)
	r := c.rec[merkle.HashSize:]
	e.Body, r = r[:c.bodyLen:c.bodyLen], r[c.bodyLen:]
	if f := bodycodec.Format(c.bodyFormat); f != bodycodec.Raw {
		body, err := codec.Decode(e.Body, f)
		if err != nil {
			return storage.Entry{}, false
		}
		e.Body = body
	}
	if c.setLen > 0 {
		e.SET = r[:c.setLen:c.setLen]
	}
	if r = r[c.setLen:]; len(r) > 0 {
		e.Attestation = r
	}
	return e, true
}

func hashKey(rec []byte) uint64 { return binary.BigEndian.Uint64(rec[:8]) }

// recordHeader is the size of marshal's fixed fields.
const recordHeader = 8 + 4 + 4 + 2

// marshal is c as bytes (the disk cache's record of the entry): the
// integrated time, the body's and the SET's lengths and the body format,
// big-endian, then rec.
func (c cachedEntry) marshal() []byte {
	b := make([]byte, recordHeader, recordHeader+len(c.rec))
	binary.BigEndian.PutUint64(b, uint64(c.integratedTime))
	binary.BigEndian.PutUint32(b[8:], c.bodyLen)
	binary.BigEndian.PutUint32(b[12:], c.setLen)
	binary.BigEndian.PutUint16(b[16:], uint16(c.bodyFormat))
	return append(b, c.rec...)
}

// unmarshalCachedEntry is the cachedEntry b marshals, sharing b; ok is
// false when b is not one.
func unmarshalCachedEntry(b []byte) (cachedEntry, bool) {
	if len(b) < recordHeader+merkle.HashSize {
		return cachedEntry{}, false
	}
	c := cachedEntry{
		integratedTime: int64(binary.BigEndian.Uint64(b)),
		bodyLen:        binary.BigEndian.Uint32(b[8:]),
		setLen:         binary.BigEndian.Uint32(b[12:]),
		bodyFormat:     int16(binary.BigEndian.Uint16(b[16:])),
		rec:            b[recordHeader:],
	}
	if uint64(c.bodyLen)+uint64(c.setLen) > uint64(len(c.rec)-merkle.HashSize) {
		return cachedEntry{}, false
	}
	return c, true
}

// entryCost is the memory of a cached entry of rec: rec and the overhead.
func entryCost(rec []byte) int64 { return int64(cap(rec)) + entryOverhead }

func newEntryCache(size int, maxBytes int64, codec *bodycodec.Codec) (*entryCache, error) {
	if size <= 0 || size > math.MaxUint32 {
		return nil, fmt.Errorf("entry cache size %d out of range", size)
	}
	return &entryCache{
		codec:    codec,
		byIndex:  map[treeIndex]uint32{},
		byHash:   map[uint64]uint32{},
		maxBytes: maxBytes,
		maxCount: size,
	}, nil
}

// lookup returns the entry of slot i, setting its reference bit; the read
// lock must be held.
func (c *entryCache) lookup(i uint32) cachedEntry {
	s := &c.slots[i]
	if atomic.LoadUint32(&s.ref) == 0 {
		atomic.StoreUint32(&s.ref, 1)
	}
	return s.cachedEntry
}

func (c *entryCache) get(tree int64, index uint64) (storage.Entry, bool) {
	if c == nil {
		return storage.Entry{}, false
	}
	c.mu.RLock()
	i, ok := c.byIndex[treeIndex{tree, index}]
	var e cachedEntry
	if ok {
		e = c.lookup(i)
	}
	c.mu.RUnlock()
	if !ok {
		return storage.Entry{}, false
	}
	return e.entry(c.codec, index)
}

func (c *entryCache) getByLeafHash(tree int64, h merkle.Hash) (storage.Entry, bool) {
	if c == nil {
		return storage.Entry{}, false
	}
	c.mu.RLock()
	i, ok := c.byHash[hashKey(h[:])]
	var (
		e cachedEntry
		k treeIndex
	)
	if ok {
		k = c.slots[i].key
		ok = k.tree == tree && [merkle.HashSize]byte(c.slots[i].rec) == h
	}
	if ok {
		e = c.lookup(i)
	}
	c.mu.RUnlock()
	if !ok {
		return storage.Entry{}, false
	}
	return e.entry(c.codec, k.index)
}

// add caches e, an entry of tree, unless it is larger than maxCachedEntry:
// its body as e.Stored has it encoded, else as it is. The cache keeps a
// copy: e's slices are not retained.
func (c *entryCache) add(tree int64, e *storage.Entry) {
	if _, had := c.peek(treeIndex{tree, e.Index}); c == nil || had {
		return
	}
	c.insert(treeIndex{tree, e.Index}, newCachedEntry(e))
}

// newCachedEntry is e as the cache keeps it, in one new allocation: its
// body as e.Stored has it encoded, else as it is.
func newCachedEntry(e *storage.Entry) cachedEntry {
	body, format := e.Body, int16(bodycodec.Raw)
	if e.Stored != nil {
		body, format = e.Stored.Data, e.Stored.Format
	}
	rec := make([]byte, 0, merkle.HashSize+len(body)+len(e.SET)+len(e.Attestation))
	rec = append(rec, e.LeafHash[:]...)
	rec = append(rec, body...)
	rec = append(rec, e.SET...)
	rec = append(rec, e.Attestation...)
	return cachedEntry{rec: rec, integratedTime: e.IntegratedTime, bodyLen: uint32(len(body)), setLen: uint32(len(e.SET)), bodyFormat: format}
}

// peek returns the cached entry of k, without marking it used.
func (c *entryCache) peek(k treeIndex) (cachedEntry, bool) {
	if c == nil {
		return cachedEntry{}, false
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	i, ok := c.byIndex[k]
	if !ok {
		return cachedEntry{}, false
	}
	return c.slots[i].cachedEntry, true
}

// insert caches ce as k, which the cache keeps (unless it is larger than
// maxCachedEntry).
func (c *entryCache) insert(k treeIndex, ce cachedEntry) {
	if c == nil {
		return
	}
	rec := ce.rec
	cost := entryCost(rec)
	if cost > maxCachedEntry || cost > c.maxBytes {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, had := c.byIndex[k]; had {
		return
	}
	slot := -1
	if len(c.slots) < c.maxCount && c.bytes+cost <= c.maxBytes {
		c.slots = append(c.slots, entrySlot{})
		slot = len(c.slots) - 1
	}
	// The sweep ends: each pass over the slots clears every reference bit
	// it does not evict, and evicting them all frees the bytes.
	for slot < 0 {
		if c.hand >= len(c.slots) {
			c.hand = 0
		}
		s := &c.slots[c.hand]
		switch {
		case s.rec != nil && s.ref != 0:
			s.ref = 0
		case s.rec != nil:
			c.evict(s)
			fallthrough
		default:
			if c.bytes+cost <= c.maxBytes {
				slot = c.hand
			}
		}
		c.hand++
	}
	c.slots[slot] = entrySlot{key: k, cachedEntry: ce}
	c.byIndex[k] = uint32(slot)
	c.byHash[hashKey(rec)] = uint32(slot)
	c.bytes += cost
}

// evict empties slot s; the lock must be held.
func (c *entryCache) evict(s *entrySlot) {
	i := c.byIndex[s.key]
	delete(c.byIndex, s.key)
	if h := hashKey(s.rec); c.byHash[h] == i {
		delete(c.byHash, h)
	}
	c.bytes -= entryCost(s.rec)
	*s = entrySlot{}
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
// record's capacity: the record's size-class rounding, its slot, and its
// slots in the maps by index and by leaf hash (measured with
// BenchmarkEntryCacheMemory).
const entryOverhead = 176

// maxCachedEntry is the largest entry cached: one with a large attestation
// is rare, and not worth evicting many small ones.
const maxCachedEntry = 16 << 10

// bundleOverhead approximates a cached bundle's memory beyond its bytes:
// the LRU element and map slot.
const bundleOverhead = 128

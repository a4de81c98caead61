// Package diskcache keeps full level-0 tiles of logs on local disk, each
// with its upper inner nodes and its 256 entries, so that a read of an old
// entry of a log larger than the memory caches is two reads of a local
// file instead of a database query (docs/ARCHITECTURE.md, "The disk cache
// of full tiles").
//
// A full tile and its entries never change, so a file is written once and
// never goes stale; the cache is bounded by bytes and evicts the files it
// wrote first. It holds only copies: a file may vanish (evicted, deleted by
// an operator or another process sharing the directory) or be corrupt, and
// a reader then reads the database instead. Read checks what it can (the
// file's shape and each record's CRC-32C); the caller checks the rest
// against the tree (a group's nodes against the tile's hash one level up,
// an entry's body against its leaf hash), since a file is not trusted
// with a proof.
//
// Layout: <dir>/<tree ID>/<tile index / 4096>/<tile index>, one file a
// tile:
//
//	magic "TABULAT1" (8 bytes)
//	257 big-endian uint32: record i spans [off[i], off[i+1]) of the records
//	the upper inner nodes (merkle.UpperNodesSize bytes)
//	the tile's 256 hashes (8192 bytes)
//	the records, each followed by its CRC-32C (Castagnoli), big-endian
//
// Files are written to a temporary name and renamed into place, so a
// reader sees a whole file or none (a crash may leave a torn file behind a
// rename the kernel had not flushed: the checks find it).
package diskcache

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"

	"github.com/tabularium/tabula/merkle"
)

// ErrMiss is returned by Read for a tile the cache does not hold.
var ErrMiss = errors.New("diskcache: tile not cached")

// ErrCorrupt is wrapped by the error Read returns for a file that is not
// what Write wrote; the file is removed.
var ErrCorrupt = errors.New("diskcache: corrupt file")

const (
	magic       = "TABULAT1"
	entries     = merkle.TileWidth
	offsetsAt   = len(magic)
	nodesAt     = offsetsAt + 4*(entries+1)
	hashesAt    = nodesAt + merkle.UpperNodesSize
	recordsAt   = hashesAt + entries*merkle.HashSize
	tilesPerDir = 4096
	crcSize     = 4

	// ChurnPerSecond bounds the tiles a full cache takes for reads (see
	// Admit): each is a read of 256 entries from the database and evicts
	// another, so a cache smaller than the log's read set would otherwise
	// spend the database's time replacing its files.
	ChurnPerSecond = 10
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// key names a cached tile.
type key struct {
	tree int64
	tile uint64
}

// Cache is a directory of cached full tiles, shared by the logs of a
// process. Safe for concurrent use.
type Cache struct {
	dir      string
	maxBytes int64

	mu    sync.Mutex
	files map[key]int64 // size in bytes
	order []key         // in the order written (or found at Open); evicted from the front
	bytes int64
	churn *rate.Limiter // Admit's, while the cache is full

	hits, misses, corrupt, writes, evictions prometheus.Counter
	size                                     prometheus.GaugeFunc
}

// Open opens (creating it if need be) the cache in dir, bounded to
// maxBytes of files, and takes stock of the files already there (a
// previous run's: they stay valid), removing temporary files a crash left
// and, past maxBytes, the files found last. reg, if not nil, receives the
// cache's metrics.
func Open(dir string, maxBytes int64, reg prometheus.Registerer) (*Cache, error) {
	if maxBytes <= 0 {
		return nil, fmt.Errorf("diskcache: size %d must be positive", maxBytes)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("diskcache: %w", err)
	}
	c := &Cache{dir: dir, maxBytes: maxBytes, files: map[key]int64{}, churn: rate.NewLimiter(ChurnPerSecond, 1)}
	c.registerMetrics(reg)
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		if strings.HasPrefix(d.Name(), ".") {
			return os.Remove(path)
		}
		k, ok := c.parsePath(path)
		if !ok {
			return nil // not ours: left alone
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		c.add(k, info.Size())
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("diskcache: taking stock of %s: %w", dir, err)
	}
	c.evict()
	return c, nil
}

func (c *Cache) registerMetrics(reg prometheus.Registerer) {
	counter := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "tabula_disk_cache_" + name, Help: help})
	}
	c.hits = counter("hits_total", "Entry reads answered from the disk cache of full tiles.")
	c.misses = counter("misses_total", "Entry reads of a full tile the disk cache did not hold.")
	c.corrupt = counter("corrupt_total", "Disk cache files found corrupt (and removed) by a read or by the caller's checks.")
	c.writes = counter("writes_total", "Full tiles written to the disk cache.")
	c.evictions = counter("evictions_total", "Full tiles evicted from the disk cache.")
	c.size = prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "tabula_disk_cache_bytes", Help: "Bytes of files in the disk cache."},
		func() float64 {
			c.mu.Lock()
			defer c.mu.Unlock()
			return float64(c.bytes)
		})
	if reg != nil {
		reg.MustRegister(c.hits, c.misses, c.corrupt, c.writes, c.evictions, c.size)
	}
}

func (c *Cache) path(k key) string {
	return filepath.Join(c.dir, strconv.FormatInt(k.tree, 10), strconv.FormatUint(k.tile/tilesPerDir, 10), strconv.FormatUint(k.tile, 10))
}

// parsePath is the key of a file at path, if path is one Cache names.
func (c *Cache) parsePath(path string) (key, bool) {
	rel, err := filepath.Rel(c.dir, path)
	if err != nil {
		return key{}, false
	}
	parts := strings.Split(filepath.ToSlash(rel), "/")
	if len(parts) != 3 {
		return key{}, false
	}
	tree, err1 := strconv.ParseInt(parts[0], 10, 64)
	shard, err2 := strconv.ParseUint(parts[1], 10, 64)
	tile, err3 := strconv.ParseUint(parts[2], 10, 64)
	k := key{tree, tile}
	if err1 != nil || err2 != nil || err3 != nil || tile/tilesPerDir != shard || c.path(k) != path {
		return key{}, false
	}
	return k, true
}

// add records a file of size bytes; c.mu must be held or c not shared yet.
func (c *Cache) add(k key, size int64) {
	if old, had := c.files[k]; had {
		c.bytes -= old
	} else {
		c.order = append(c.order, k)
	}
	c.files[k] = size
	c.bytes += size
}

// evict removes the oldest files until the cache fits its bound.
func (c *Cache) evict() {
	c.mu.Lock()
	var gone []key
	for c.bytes > c.maxBytes && len(c.order) > 0 {
		k := c.order[0]
		c.order = c.order[1:]
		if size, ok := c.files[k]; ok {
			delete(c.files, k)
			c.bytes -= size
			gone = append(gone, k)
		}
	}
	c.compact()
	c.mu.Unlock()
	for _, k := range gone {
		c.evictions.Inc()
		_ = os.Remove(c.path(k)) // gone already is as good
	}
}

// Has reports whether the cache holds full tile of tree.
func (c *Cache) Has(tree int64, tile uint64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.files[key{tree, tile}]
	return ok
}

// Admit reports whether a tile read from the database for a reader's sake
// should be written now: always while the cache has room for a tile of
// the average size of its files, else (a tile then evicts another) at
// most ChurnPerSecond a second. A tile that just filled is written anyway
// (the caller does not ask): it is what readers read most.
func (c *Cache) Admit(now time.Time) bool {
	c.mu.Lock()
	room := len(c.files) == 0 || c.bytes+c.bytes/int64(len(c.files)) <= c.maxBytes
	c.mu.Unlock()
	return room || c.churn.AllowN(now, 1)
}

// Part is what Read gives of a cached tile for one of its entries.
type Part struct {
	// Group is the 16 hashes of the entry's group (merkle.GroupWidth).
	Group []byte
	// Nodes are the tile's upper inner nodes (merkle.UpperNodes).
	Nodes []byte
	// Record is the entry's record, as given to Write.
	Record []byte
}

// Read returns entry i (0..255) of full tile of tree, with its group's
// hashes and the tile's upper nodes; ErrMiss if the cache does not hold
// the tile. A file found corrupt is removed (ErrCorrupt).
func (c *Cache) Read(tree int64, tile uint64, i int) (Part, error) {
	if i < 0 || i >= entries {
		return Part{}, fmt.Errorf("diskcache: entry %d of a tile", i)
	}
	k := key{tree, tile}
	if !c.Has(tree, tile) {
		c.misses.Inc()
		return Part{}, ErrMiss
	}
	p, err := c.read(k, i)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		c.forget(k)
		c.misses.Inc()
		return Part{}, ErrMiss
	case errors.Is(err, ErrCorrupt):
		c.Remove(tree, tile)
		return Part{}, err
	case err != nil:
		return Part{}, err
	}
	c.hits.Inc()
	return p, nil
}

func (c *Cache) read(k key, i int) (Part, error) {
	f, err := openFile(c.path(k))
	if err != nil {
		return Part{}, fmt.Errorf("diskcache: %w", err)
	}
	defer f.close()
	head := make([]byte, recordsAt)
	if err := f.readAt(head, 0); err != nil {
		return Part{}, fmt.Errorf("%w: tile %d of tree %d: header: %v", ErrCorrupt, k.tile, k.tree, err)
	}
	start := binary.BigEndian.Uint32(head[offsetsAt+4*i:])
	end := binary.BigEndian.Uint32(head[offsetsAt+4*(i+1):])
	if string(head[:offsetsAt]) != magic || end < start+crcSize || end-start > 1<<30 {
		return Part{}, fmt.Errorf("%w: tile %d of tree %d: header", ErrCorrupt, k.tile, k.tree)
	}
	rec := make([]byte, end-start)
	if err := f.readAt(rec, int64(recordsAt)+int64(start)); err != nil {
		return Part{}, fmt.Errorf("%w: tile %d of tree %d: record %d: %v", ErrCorrupt, k.tile, k.tree, i, err)
	}
	body, sum := rec[:len(rec)-crcSize], rec[len(rec)-crcSize:]
	if crc32.Checksum(body, castagnoli) != binary.BigEndian.Uint32(sum) {
		return Part{}, fmt.Errorf("%w: tile %d of tree %d: record %d: CRC", ErrCorrupt, k.tile, k.tree, i)
	}
	g := i / merkle.GroupWidth * merkle.GroupWidth * merkle.HashSize
	return Part{
		Group:  head[hashesAt+g : hashesAt+g+merkle.GroupWidth*merkle.HashSize : hashesAt+g+merkle.GroupWidth*merkle.HashSize],
		Nodes:  head[nodesAt:hashesAt:hashesAt],
		Record: body,
	}, nil
}

// Write stores full tile of tree: its 256 hashes, its upper inner nodes
// and its 256 entries' records (opaque to the cache), then evicts the
// oldest files past the bound.
func (c *Cache) Write(tree int64, tile uint64, hashes, nodes []byte, records [][]byte) error {
	if len(hashes) != entries*merkle.HashSize || len(nodes) != merkle.UpperNodesSize || len(records) != entries {
		return fmt.Errorf("diskcache: tile %d of tree %d: %d bytes of hashes, %d of nodes, %d records", tile, tree, len(hashes), len(nodes), len(records))
	}
	size := recordsAt
	for _, r := range records {
		size += len(r) + crcSize
	}
	if size > 1<<31 {
		return fmt.Errorf("diskcache: tile %d of tree %d: %d bytes", tile, tree, size)
	}
	buf := make([]byte, recordsAt, size)
	copy(buf, magic)
	copy(buf[nodesAt:], nodes)
	copy(buf[hashesAt:], hashes)
	off := uint32(0)
	for i, r := range records {
		binary.BigEndian.PutUint32(buf[offsetsAt+4*i:], off)
		buf = append(buf, r...)
		buf = binary.BigEndian.AppendUint32(buf, crc32.Checksum(r, castagnoli))
		off += uint32(len(r) + crcSize)
	}
	binary.BigEndian.PutUint32(buf[offsetsAt+4*entries:], off)

	k := key{tree, tile}
	path := c.path(k)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("diskcache: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("diskcache: %w", err)
	}
	_, err = tmp.Write(buf)
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		_ = os.Remove(tmp.Name()) // best effort: Open removes what is left
		return fmt.Errorf("diskcache: writing tile %d of tree %d: %w", tile, tree, err)
	}
	c.mu.Lock()
	c.add(k, int64(len(buf)))
	c.mu.Unlock()
	c.writes.Inc()
	c.evict()
	return nil
}

// Remove drops full tile of tree from the cache: the caller found what a
// Read gave wrong.
func (c *Cache) Remove(tree int64, tile uint64) {
	c.corrupt.Inc()
	c.forget(key{tree, tile})
	_ = os.Remove(c.path(key{tree, tile})) // gone already is as good
}

// forget drops k from the index (its place in order is skipped by evict).
func (c *Cache) forget(k key) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if size, ok := c.files[k]; ok {
		delete(c.files, k)
		c.bytes -= size
	}
	c.compact()
}

// compact drops from order the keys no longer held, and the later
// repeats of a key forgotten and written again, once they are most of it;
// c.mu must be held.
func (c *Cache) compact() {
	if len(c.order) <= 2*len(c.files)+1024 {
		return
	}
	seen := make(map[key]bool, len(c.files))
	kept := make([]key, 0, len(c.files))
	for _, k := range c.order {
		if _, ok := c.files[k]; ok && !seen[k] {
			seen[k] = true
			kept = append(kept, k)
		}
	}
	c.order = kept
}

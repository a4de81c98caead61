package log

// The disk tier of the caches (Config.DiskCache, package diskcache): full
// level-0 tiles with their 256 entries in local files. An entry missing
// from the entry cache is read from there before the storage is, when its
// tile is full; a tile goes there once full (from the entry cache, where
// this process's own entries are) or once one of its entries was read from
// the storage. What a file gives is checked against the tree before it is
// used, so a file never makes a wrong answer: the group's hashes and the
// tile's upper nodes against the tile's hash one level up (as for nodes
// read from the storage), and the entry's body against its leaf hash.

import (
	"context"
	"errors"
	"time"

	"github.com/tabularium/tabula/log/diskcache"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/storage"
)

const (
	// maxQueuedFills bounds the tiles waiting for the disk cache; a tile
	// beyond it is dropped (a later read queues it again).
	maxQueuedFills = 1024
	// fillTimeout bounds the storage read of one tile's entries.
	fillTimeout = 30 * time.Second
)

// entryFromDisk returns the entry at index from the disk cache, if it holds
// the entry's tile, a full tile of the tree of size (the head's), and what
// it holds checks out; and caches the entry and the tile's part for the
// proof answered with it in memory. A file that does not check out is
// removed.
func (l *Log) entryFromDisk(ctx context.Context, index, size uint64) (storage.Entry, bool) {
	files := l.caches.files
	if files == nil {
		return storage.Entry{}, false
	}
	tile, i := index/merkle.TileWidth, int(index%merkle.TileWidth)
	p, err := files.Read(l.treeID, tile, i)
	if err != nil {
		if !errors.Is(err, diskcache.ErrMiss) {
			l.cfg.Logger.Warn("reading the disk cache", "treeID", l.treeID, "tile", tile, "err", err)
		}
		return storage.Entry{}, false
	}
	g, j := i/merkle.GroupWidth, i%merkle.GroupWidth
	ce, ok := unmarshalCachedEntry(p.Record)
	var e storage.Entry
	if ok {
		e, ok = ce.entry(l.caches.codec, index)
	}
	n := merkle.NewGroupNodes(g, p.Group, p.Nodes)
	if !ok || n == nil || e.LeafHash != merkle.Hash(p.Group[j*merkle.HashSize:]) ||
		merkle.LeafHash(e.Body) != e.LeafHash || !l.tileRootIs(ctx, size, tile, n.Root()) {
		l.cfg.Logger.Warn("a disk cache file does not match the tree: removed", "treeID", l.treeID, "tile", tile, "entry", index)
		files.Remove(l.treeID, tile)
		return storage.Entry{}, false
	}
	k := treeTile{l.treeID, tileKey{0, tile}}
	if t, ok := l.caches.tiles.Peek(k); !ok || t.hashes == nil && t.group.Group() != g {
		l.caches.tiles.Add(k, &fullTile{group: n})
	}
	if l.caches.entries != nil {
		l.caches.entries.insert(treeIndex{l.treeID, index}, ce)
	}
	return e, true
}

// fill is a full tile queued for the disk cache: read is true when a read
// of one of its entries from the storage queued it, false when it filled.
type fill struct {
	tile uint64
	read bool
}

// queueFill asks the filler to write full tile index to the disk cache,
// unless it is there or queued already, or the queue is full.
func (l *Log) queueFill(index uint64, read bool) {
	if l.fills == nil || l.caches.files.Has(l.treeID, index) {
		return
	}
	l.fillMu.Lock()
	defer l.fillMu.Unlock()
	if l.queued[index] {
		return
	}
	select {
	case l.fills <- fill{index, read}:
		l.queued[index] = true
	default:
	}
}

// filler writes the queued tiles to the disk cache, one at a time, until
// the log closes (a fill in flight then has its storage read cancelled);
// those a read queued only as the cache admits them (diskcache.Admit).
func (l *Log) filler() {
	defer close(l.fillsDone)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		<-l.stopped
		cancel()
	}()
	for {
		select {
		case <-l.stopped:
			return
		case f := <-l.fills:
			if !f.read || l.caches.files.Admit(l.cfg.Now()) {
				if err := l.fillTile(ctx, f.tile); err != nil && ctx.Err() == nil {
					l.cfg.Logger.Warn("filling the disk cache", "treeID", l.treeID, "tile", f.tile, "err", err)
				}
			}
			l.fillMu.Lock()
			delete(l.queued, f.tile)
			l.fillMu.Unlock()
		}
	}
}

// fillTile writes full tile index to the disk cache: its entries from the
// entry cache when it holds them all, else from the storage, and its
// hashes (the entries' leaf hashes) checked against the tree first.
func (l *Log) fillTile(ctx context.Context, index uint64) error {
	if l.caches.files.Has(l.treeID, index) {
		return nil
	}
	l.headMu.Lock()
	size, valid := l.head.Size, l.headValid
	l.headMu.Unlock()
	first := index * merkle.TileWidth
	if !valid || first+merkle.TileWidth > size {
		return nil // not a full tile of the tree this process knows
	}
	records := make([][]byte, 0, merkle.TileWidth)
	hashes := make([]byte, 0, merkle.TileWidth*merkle.HashSize)
	for i := range uint64(merkle.TileWidth) {
		ce, ok := l.caches.entries.peek(treeIndex{l.treeID, first + i})
		if !ok {
			break
		}
		records = append(records, ce.marshal())
		hashes = append(hashes, ce.rec[:merkle.HashSize]...)
	}
	if len(records) < merkle.TileWidth {
		ctx, cancel := context.WithTimeout(ctx, fillTimeout)
		defer cancel()
		es, err := l.store.ReadEntries(ctx, first, first+merkle.TileWidth)
		if err != nil {
			return err
		}
		if len(es) != merkle.TileWidth {
			return errors.New("log: the storage gave a full tile's entries short")
		}
		records, hashes = records[:0], hashes[:0]
		for i := range es {
			if es[i].Index != first+uint64(i) {
				return errors.New("log: the storage gave a full tile's entries out of order")
			}
			records = append(records, newCachedEntry(&es[i]).marshal())
			hashes = append(hashes, es[i].LeafHash[:]...)
		}
	}
	nodes := merkle.UpperNodes(hashes)
	n := merkle.NewGroupNodes(0, hashes[:merkle.GroupWidth*merkle.HashSize], nodes)
	if n == nil || !l.tileRootIs(ctx, size, index, n.Root()) {
		return errors.New("log: a full tile's entries do not hash to the tree's tile")
	}
	return l.caches.files.Write(l.treeID, index, hashes, nodes, records)
}

package log

import (
	"context"
	"errors"
	"fmt"

	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/storage"
)

// ErrOutOfRange: a tile, bundle, entry or proof asks for more than the tree has.
var ErrOutOfRange = errors.New("log: beyond the current tree")

// Entry returns the entry at index, or storage.ErrNotFound (callers check the
// index against HeadCovering first).
// The entry may come from the cache: its slices must not be modified.
func (l *Log) Entry(ctx context.Context, index uint64) (storage.Entry, error) {
	if e, ok := l.caches.entries.get(l.treeID, index); ok {
		return e, nil
	}
	if e, ok, err := l.entryWithTile(ctx, index); ok || err != nil {
		return e, err
	}
	es, err := l.store.ReadEntries(ctx, index, index+1)
	if err != nil {
		return storage.Entry{}, fmt.Errorf("log: reading entry %d: %w", index, err)
	}
	if len(es) == 0 {
		return storage.Entry{}, fmt.Errorf("log: entry %d: %w", index, storage.ErrNotFound)
	}
	l.caches.entries.add(l.treeID, &es[0])
	return es[0], nil
}

// entryWithTile reads the entry at index, when its level-0 tile is full in
// the cached head, from the disk cache (entryFromDisk) or else, when the
// storage can (storage.EntryTileReader), together with what the inclusion
// proof answered with it needs of its tile, in one query; that goes to
// the tile cache (unless it holds it), where the proof finds it, and the
// tile is queued for the disk cache. The whole tile is cached as it is; a
// tile stored with its upper nodes comes as the entry's group of 16 hashes
// and those nodes (merkle.GroupNodes), cached in its place until another
// group's or the whole tile is read. On a log larger than the caches that
// makes a read of an old entry one round trip instead of two. ok is false
// when it did not read (the caller reads the entry alone).
func (l *Log) entryWithTile(ctx context.Context, index uint64) (e storage.Entry, ok bool, err error) {
	tileIndex := index / merkle.TileWidth
	group := int(index % merkle.TileWidth / merkle.GroupWidth)
	l.headMu.Lock()
	size := l.head.Size
	full := l.headValid && (tileIndex+1)*merkle.TileWidth <= size
	l.headMu.Unlock()
	if !full {
		return storage.Entry{}, false, nil
	}
	if e, ok := l.entryFromDisk(ctx, index, size); ok {
		return e, true, nil
	}
	l.queueFill(tileIndex, true)
	r, can := l.store.(storage.EntryTileReader)
	if !can {
		return storage.Entry{}, false, nil
	}
	k := treeTile{l.treeID, tileKey{0, tileIndex}}
	if t, ok := l.caches.tiles.Peek(k); ok && (t.hashes != nil || t.group.Group() == group) {
		return storage.Entry{}, false, nil
	}
	e, tile, err := r.ReadEntryAndTile(ctx, index)
	if err != nil {
		return storage.Entry{}, true, fmt.Errorf("log: reading entry %d: %w", index, err)
	}
	switch {
	case len(tile.Hashes) == merkle.TileWidth*merkle.HashSize:
		l.caches.tiles.Add(k, &fullTile{hashes: tile.Hashes})
	case tile.Group != nil:
		n := merkle.NewGroupNodes(group, tile.Group, tile.Nodes)
		if n == nil || !l.tileRootIs(ctx, size, tileIndex, n.Root()) {
			// The proof reads the whole tile instead, and is right.
			l.cfg.Logger.Warn("a tile's stored upper nodes do not match its hashes",
				"treeID", l.treeID, "tile", tileIndex, "group", group)
			break
		}
		l.caches.tiles.Add(k, &fullTile{group: n})
	}
	l.caches.entries.add(l.treeID, &e)
	return e, true, nil
}

// tileRootIs reports whether root is full level-0 tile index's hash one
// tile level up in the tree of size (the head's), read as proofs read it
// (the head's edge tiles from memory, full tiles through the cache).
func (l *Log) tileRootIs(ctx context.Context, size, index uint64, root merkle.Hash) bool {
	h, err := merkle.NodeHash(ctx, l.proofReader(size), merkle.TileHeight, index)
	return err == nil && h == root
}

// EntryByLeafHash returns the entry with that leaf hash, or storage.ErrNotFound.
// The entry may come from the cache: its slices must not be modified.
func (l *Log) EntryByLeafHash(ctx context.Context, h merkle.Hash) (storage.Entry, error) {
	if e, ok := l.caches.entries.getByLeafHash(l.treeID, h); ok {
		return e, nil
	}
	e, err := l.store.ReadEntryByLeafHash(ctx, h)
	if err != nil {
		return storage.Entry{}, fmt.Errorf("log: reading entry by leaf hash: %w", err)
	}
	l.caches.entries.add(l.treeID, &e)
	return e, nil
}

// Search returns the indexes of entries indexed under key (the hash of a
// typed key, types.SearchKey.Hash), ascending.
func (l *Log) Search(ctx context.Context, key storage.Hash) ([]uint64, error) {
	return l.store.Search(ctx, key)
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
		if b, ok := l.caches.bundles.get(l.treeID, index); ok {
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
		l.caches.bundles.add(l.treeID, index, b)
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

package log

// The head: the latest tree state this process knows, with its right-edge
// tiles, reloaded from storage when stale.

import (
	"context"
	"fmt"
	"time"

	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/storage"
)

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
	for _, t := range written {
		if len(t.Hashes) == merkle.TileWidth*merkle.HashSize {
			l.caches.tiles.Add(treeTile{l.treeID, tileKey{t.Level, t.Index}}, &fullTile{hashes: t.Hashes})
		}
	}
	edge := nextEdge(head.Size, written, base)
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

// nextEdge returns the partial right-edge tiles of the tree of size, after
// a batch that wrote the tiles written on a tree whose partial right-edge
// tiles were base: those the batch wrote, and those of base it did not
// rewrite that are still on the right edge.
func nextEdge(size uint64, written []merkle.Tile, base map[tileKey][]byte) map[tileKey][]byte {
	edge := make(map[tileKey][]byte, len(written)+len(base))
	for _, t := range written {
		if len(t.Hashes) < merkle.TileWidth*merkle.HashSize {
			edge[tileKey{t.Level, t.Index}] = t.Hashes
		}
	}
	for k, v := range base {
		if _, ok := edge[k]; !ok && k.index == size>>(merkle.TileHeight*(uint(k.level)+1)) &&
			len(v) < merkle.TileWidth*merkle.HashSize {
			edge[k] = v
		}
	}
	return edge
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

package storagetest

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/tabularium/tabula/storage"
)

// BenchmarkAppend measures Append with batches of 1, 64 and 1024 entries
// shaped like a real log's: ~600-byte canonical bodies, a 70-byte signed
// entry timestamp, three search keys per entry, and the tiles a real
// integration writes (every level-0 tile the batch touches, up to 8 KiB
// each, and the level-1 tile above them when one of them is completed). It reports entries/s.
//
// open must return a new, empty store; the benchmark closes it.
func BenchmarkAppend(b *testing.B, open func(b *testing.B) storage.Storage) {
	for _, n := range []int{1, 64, 1024} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			s := open(b)
			defer s.Close()
			ctx := context.Background()
			if err := s.CreateTree(ctx, initialState(testTreeID)); err != nil {
				b.Fatalf("CreateTree: %v", err)
			}
			g := newBatchGen()
			var appended int
			for b.Loop() {
				b.StopTimer()
				req := g.next(n)
				b.StartTimer()
				if err := s.Append(ctx, req); err != nil {
					b.Fatalf("Append: %v", err)
				}
				appended += n
			}
			b.ReportMetric(float64(appended)/b.Elapsed().Seconds(), "entries/s")
		})
	}
}

// batchGen builds realistic batches quickly: it keeps only the level-0
// hashes of the right-edge tile and the count of full tiles.
type batchGen struct {
	size     uint64
	edge     []byte // the hashes of the partial level-0 tile
	template [600]byte
}

func newBatchGen() *batchGen {
	g := &batchGen{}
	rand.Read(g.template[:])
	return g
}

func (g *batchGen) next(n int) storage.AppendRequest {
	req := storage.AppendRequest{OldSize: g.size}
	var tiles []storage.Tile
	for i := range n {
		idx := g.size + uint64(i)
		body := g.template
		binary.BigEndian.PutUint64(body[:8], idx)
		digest := sha256.Sum256(body[:])
		e := storage.Entry{
			Index:          idx,
			LeafHash:       leafHash(body[:]),
			Body:           body[:],
			IntegratedTime: 1_700_000_000 + int64(idx/1000),
			SET:            make([]byte, 70),
			SearchKeys: []storage.Hash{
				Key(fmt.Sprintf("sha256:%x", digest)),
				Key(fmt.Sprintf("key:%x", digest[:20])),
				Key(fmt.Sprintf("email:signer%d@example.com", idx%1000)),
			},
		}
		copy(e.SET, digest[:])
		req.Entries = append(req.Entries, e)
		g.edge = append(g.edge, e.LeafHash[:]...)
		if len(g.edge) == 256*32 || i == n-1 {
			tiles = append(tiles, storage.Tile{Level: 0, Index: idx / 256, Hashes: g.edge})
			if len(g.edge) == 256*32 {
				g.edge = nil
			} else {
				g.edge = append([]byte(nil), g.edge...) // the request keeps its copy
			}
		}
	}
	oldFull := g.size / 256
	g.size += uint64(n)
	if full := g.size / 256; full > oldFull { // a level-0 tile completed
		width := full % 256
		if width == 0 {
			width = 256
		}
		level1 := make([]byte, 32*width)
		rand.Read(level1)
		tiles = append(tiles, storage.Tile{Level: 1, Index: (full - 1) / 256, Hashes: level1})
	}
	req.Tiles = tiles
	root := sha256.Sum256(g.edge)
	req.State = storage.TreeState{
		TreeID:     testTreeID,
		Size:       g.size,
		Root:       root,
		Checkpoint: fmt.Appendf(nil, "tabula.example/log\n%d\n%x\n\n— tabula.example/log AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\n", g.size, root),
	}
	return req
}

package merkle

import (
	"context"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"testing"
)

// innerReader serves a memStore's tiles and the inner nodes of all of them
// (full or partial, as stored: wider than the tree asked about), counting how
// often inner nodes were used.
type innerReader struct {
	*memStore
	used atomic.Int64
}

func (r *innerReader) InnerNodes(ctx context.Context, level uint8, index uint64) (*InnerNodes, error) {
	t, err := r.ReadTile(ctx, level, index)
	if err != nil {
		return nil, err
	}
	n := NewInnerNodes(t)
	if n != nil {
		r.used.Add(1)
	}
	return n, nil
}

func TestInnerNodes(t *testing.T) {
	tile := make([]byte, 0, tileBytes)
	for _, h := range leafHashes(TileWidth) {
		tile = append(tile, h[:]...)
	}
	for _, width := range []int{1, 2, 3, 100, 128, 129, 255, 256} {
		n := NewInnerNodes(tile[:width*HashSize])
		if n.Width() != width {
			t.Fatalf("width %d: %d", width, n.Width())
		}
		for r := uint(1); r < TileHeight; r++ {
			for j := range uint64(TileWidth >> r) {
				w := 1 << r
				got, ok := n.node(r, j)
				complete := (int(j)+1)*w <= width
				if ok != complete {
					t.Fatalf("width %d: node %d/%d complete %v, want %v", width, r, j, ok, complete)
				}
				if ok && got != subtreeRoot(tile[int(j)*w*HashSize:(int(j)+1)*w*HashSize]) {
					t.Fatalf("width %d: node %d/%d: %x", width, r, j, got)
				}
			}
		}
	}
	for _, l := range []int{0, HashSize - 1, tileBytes + HashSize} {
		if NewInnerNodes(make([]byte, l)) != nil {
			t.Errorf("inner nodes of a %d-byte tile", l)
		}
	}
}

// TestProofsWithInnerNodes: proofs and roots from a reader with inner nodes
// are those computed from the tiles alone, at sizes with partial tiles at
// every level and at exact tile boundaries.
func TestProofsWithInnerNodes(t *testing.T) {
	const size = 70_001
	m := bigStore(t, size)
	ir := &innerReader{memStore: m}
	rng := rand.New(rand.NewPCG(5, 5))
	sizes := []uint64{1, 255, 256, 257, 512, 65535, 65536, 65537, size}
	for range 40 {
		sizes = append(sizes, 1+rng.Uint64N(size))
	}
	for _, n := range sizes {
		for _, idx := range []uint64{0, n - 1, rng.Uint64N(n), rng.Uint64N(n)} {
			want, err := InclusionProof(ctx, m, idx, n)
			if err != nil {
				t.Fatal(err)
			}
			got, err := InclusionProof(ctx, ir, idx, n)
			if err != nil || !slices.Equal(got, want) {
				t.Fatalf("inclusion %d in %d: %v", idx, n, err)
			}
		}
		first := 1 + rng.Uint64N(n)
		want, err := ConsistencyProof(ctx, m, first, n)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ConsistencyProof(ctx, ir, first, n)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("consistency %d to %d: %v", first, n, err)
		}
		wantRoot, _ := RootHash(ctx, m, n)
		if root, err := RootHash(ctx, ir, n); err != nil || root != wantRoot {
			t.Fatalf("root of %d: %v", n, err)
		}
	}
	if ir.used.Load() == 0 {
		t.Fatal("inner nodes never used")
	}
}

func BenchmarkInclusionProofInnerNodes(b *testing.B) {
	m := bigStore(b, benchSize)
	cached := map[tileKey]*InnerNodes{}
	for k, t := range m.tiles {
		if n := NewInnerNodes(t); n != nil {
			cached[k] = n
		}
	}
	r := cachedInner{m, cached}
	rng := rand.New(rand.NewPCG(1, 1))
	for b.Loop() {
		if _, err := InclusionProof(ctx, r, rng.Uint64N(benchSize), benchSize); err != nil {
			b.Fatal(err)
		}
	}
}

type cachedInner struct {
	*memStore
	n map[tileKey]*InnerNodes
}

func (c cachedInner) InnerNodes(_ context.Context, level uint8, index uint64) (*InnerNodes, error) {
	return c.n[tileKey{level, index}], nil
}

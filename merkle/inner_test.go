package merkle

import (
	"bytes"
	"context"
	"fmt"
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

func (r *innerReader) InnerNodes(ctx context.Context, level uint8, index uint64) (Nodes, error) {
	t, err := r.ReadTile(ctx, level, index)
	if err != nil {
		return nil, err
	}
	n := NewInnerNodes(t)
	if n == nil {
		return nil, nil
	}
	r.used.Add(1)
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
				got, ok := n.Node(r, j)
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

func (c cachedInner) InnerNodes(_ context.Context, level uint8, index uint64) (Nodes, error) {
	return c.n[tileKey{level, index}], nil // a nil *InnerNodes holds no node
}

// fullTile returns a full tile of distinct leaf hashes.
func fullTile() []byte {
	tile := make([]byte, 0, tileBytes)
	for _, h := range leafHashes(TileWidth) {
		tile = append(tile, h[:]...)
	}
	return tile
}

func TestUpperNodes(t *testing.T) {
	tile := fullTile()
	up := UpperNodes(tile)
	if len(up) != UpperNodesSize {
		t.Fatalf("%d bytes of upper nodes, want %d", len(up), UpperNodesSize)
	}
	at := 0
	for r := uint(4); r < TileHeight; r++ {
		w := HashSize << r // bytes of tile under one node
		for j := range TileWidth >> r {
			if got, want := Hash(up[at:]), subtreeRoot(tile[j*w:(j+1)*w]); got != want {
				t.Fatalf("upper node %d/%d: %x, want %x", r, j, got, want)
			}
			at += HashSize
		}
	}
	for _, l := range []int{0, HashSize, tileBytes - HashSize} {
		if UpperNodes(tile[:l]) != nil {
			t.Errorf("upper nodes of a tile of %d hashes", l/HashSize)
		}
	}
}

// TestGroupNodes: a group's nodes are the tile's, it holds exactly the
// nodes under its group and every upper node, and nodes that do not belong
// together make none.
func TestGroupNodes(t *testing.T) {
	tile := fullTile()
	inner := NewInnerNodes(tile)
	up := UpperNodes(tile)
	group := func(g int) []byte { return tile[g*GroupWidth*HashSize : (g+1)*GroupWidth*HashSize] }
	for g := range groups {
		n := NewGroupNodes(g, group(g), up)
		if n == nil || n.Group() != g {
			t.Fatalf("group %d: %v", g, n)
		}
		for r := uint(0); r < TileHeight; r++ {
			for j := range uint64(TileWidth >> r) {
				got, ok := n.Node(r, j)
				under := j<<r>>groupShift == uint64(g) // node j at height r lies in group g
				if want := r >= groupShift || under; ok != want {
					t.Fatalf("group %d: node %d/%d held %v, want %v", g, r, j, ok, want)
				}
				if !ok {
					continue
				}
				want, _ := inner.Node(r, j)
				if r == 0 {
					want = Hash(tile[j*HashSize:])
				}
				if got != want {
					t.Fatalf("group %d: node %d/%d: %x, want %x", g, r, j, got, want)
				}
			}
		}
		if _, ok := n.Node(TileHeight, 0); ok {
			t.Fatalf("group %d: a node at height %d", g, TileHeight)
		}
	}
	flip := func(node int) []byte { b := bytes.Clone(up); b[node*HashSize+5] ^= 1; return b }
	bad, bad5 := flip(0), flip(20) // the height-4 node over group 0; a height-5 node
	for _, tc := range []struct {
		name          string
		g             int
		hashes, upper []byte
	}{
		{"another group's hashes", 1, group(2), up},
		{"a wrong upper node", 0, group(0), bad},
		{"a wrong upper node of another group", 0, group(0), bad5},
		{"a wrong height-7 node", 0, group(0), flip(29)},
		{"group -1", -1, group(0), up},
		{"group 16", 16, group(0), up},
		{"15 hashes", 0, group(0)[HashSize:], up},
		{"short upper nodes", 0, group(0), up[HashSize:]},
	} {
		if NewGroupNodes(tc.g, tc.hashes, tc.upper) != nil {
			t.Errorf("%s: nodes made", tc.name)
		}
	}
	if n := NewGroupNodes(3, group(3), up); n.Root() != subtreeRoot(tile) {
		t.Error("Root is not the tile's root")
	}
	// Another tile's group and nodes belong together: Root tells.
	other := slices.Clone(tile)
	slices.Reverse(other)
	if n := NewGroupNodes(3, other[3*GroupWidth*HashSize:4*GroupWidth*HashSize], UpperNodes(other)); n == nil || n.Root() == subtreeRoot(tile) {
		t.Error("another tile's nodes: none made, or Root is this tile's root")
	}
	var none *GroupNodes
	if _, ok := none.Node(5, 0); ok {
		t.Error("a nil GroupNodes holds a node")
	}
}

// groupReader serves the level-0 tile of want only as the GroupNodes of
// want's group: a proof for want that read that tile, or needed a node of
// it outside the group, fails.
type groupReader struct {
	*memStore
	want uint64
}

func (r groupReader) ReadTile(ctx context.Context, level uint8, index uint64) ([]byte, error) {
	if level == 0 && index == r.want/TileWidth {
		return nil, fmt.Errorf("level-0 tile %d read", index)
	}
	return r.memStore.ReadTile(ctx, level, index)
}

func (r groupReader) InnerNodes(ctx context.Context, level uint8, index uint64) (Nodes, error) {
	if level != 0 || index != r.want/TileWidth {
		return nil, nil
	}
	t, err := r.memStore.ReadTile(ctx, level, index)
	if err != nil {
		return nil, err
	}
	g := int(r.want % TileWidth / GroupWidth)
	return NewGroupNodes(g, t[g*GroupWidth*HashSize:(g+1)*GroupWidth*HashSize], UpperNodes(t)), nil
}

// TestProofWithGroupNodes: an inclusion proof for an entry of a full
// level-0 tile needs of that tile only its group's nodes.
func TestProofWithGroupNodes(t *testing.T) {
	const size = 70_001
	m := bigStore(t, size)
	rng := rand.New(rand.NewPCG(6, 6))
	for _, idx := range []uint64{0, 15, 16, 255, 256, 65535, 69_887, rng.Uint64N(69_888), rng.Uint64N(69_888)} {
		want, err := InclusionProof(ctx, m, idx, size)
		if err != nil {
			t.Fatal(err)
		}
		got, err := InclusionProof(ctx, groupReader{m, idx}, idx, size)
		if err != nil || !slices.Equal(got, want) {
			t.Fatalf("inclusion %d in %d: %v", idx, size, err)
		}
	}
}

// BenchmarkProofFromTile is what a proof costs when its level-0 tile was
// just read and every other tile's inner nodes are cached (a random read of
// a log larger than the tile cache): from the whole tile, its inner nodes
// computed, or from its group and the stored upper nodes.
func BenchmarkProofFromTile(b *testing.B) {
	m := bigStore(b, benchSize)
	cached := map[tileKey]*InnerNodes{}
	uppers := map[uint64][]byte{}
	for k, t := range m.tiles {
		cached[k] = NewInnerNodes(t)
		if k.level == 0 {
			uppers[k.index] = UpperNodes(t)
		}
	}
	full := uint64(benchSize / TileWidth * TileWidth)
	b.Run("whole-tile", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 1))
		for b.Loop() {
			idx := rng.Uint64N(full)
			k := tileKey{0, idx / TileWidth}
			keep := cached[k]
			cached[k] = NewInnerNodes(m.tiles[k])
			if _, err := InclusionProof(ctx, cachedInner{m, cached}, idx, benchSize); err != nil {
				b.Fatal(err)
			}
			cached[k] = keep
		}
	})
	b.Run("group", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 1))
		for b.Loop() {
			idx := rng.Uint64N(full)
			k := tileKey{0, idx / TileWidth}
			g := int(idx % TileWidth / GroupWidth)
			n := NewGroupNodes(g, m.tiles[k][g*GroupWidth*HashSize:(g+1)*GroupWidth*HashSize], uppers[k.index])
			if _, err := InclusionProof(ctx, groupOnly{cachedInner{m, cached}, k.index, n}, idx, benchSize); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// groupOnly serves one level-0 tile's GroupNodes, every other tile's
// inner nodes from c.
type groupOnly struct {
	cachedInner
	tile uint64
	n    *GroupNodes
}

func (g groupOnly) InnerNodes(ctx context.Context, level uint8, index uint64) (Nodes, error) {
	if level == 0 && index == g.tile {
		return g.n, nil
	}
	return g.cachedInner.InnerNodes(ctx, level, index)
}

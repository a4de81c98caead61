package merkle

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
)

var ctx = context.Background()

type tileKey struct {
	level uint8
	index uint64
}

var errNoTile = errors.New("no such tile")

// memStore is an in-memory tile store holding the latest version of each tile.
type memStore struct {
	tiles map[tileKey][]byte
	size  uint64
}

func newMemStore() *memStore { return &memStore{tiles: map[tileKey][]byte{}} }

func (m *memStore) ReadTile(_ context.Context, level uint8, index uint64) ([]byte, error) {
	t, ok := m.tiles[tileKey{level, index}]
	if !ok {
		return nil, fmt.Errorf("tile %d/%d: %w", level, index, errNoTile)
	}
	return t, nil
}

// tileWidthAt returns the width tile (level, index) has in a tree of the
// given size, or 0 if the tile does not exist at that size.
func tileWidthAt(level uint8, index, size uint64) int {
	if uint(level)*TileHeight >= 64 {
		return 0
	}
	full := size >> (uint(level+1) * TileHeight)
	if uint(level+1)*TileHeight >= 64 {
		full = 0
	}
	switch {
	case index < full:
		return TileWidth
	case index == full:
		return PartialWidth(level, size)
	}
	return 0
}

// apply stores the tiles returned by Append, checking that each has the width
// the new size implies, that full tiles never change and partial tiles only
// grow.
func (m *memStore) apply(tiles []Tile, newSize uint64) error {
	for i, t := range tiles {
		if i > 0 && (tiles[i-1].Level > t.Level || tiles[i-1].Level == t.Level && tiles[i-1].Index >= t.Index) {
			return fmt.Errorf("tiles not ordered: %d/%d after %d/%d", t.Level, t.Index, tiles[i-1].Level, tiles[i-1].Index)
		}
		if len(t.Hashes)%HashSize != 0 {
			return fmt.Errorf("tile %d/%d: length %d", t.Level, t.Index, len(t.Hashes))
		}
		if got, want := t.Width(), tileWidthAt(t.Level, t.Index, newSize); got != want || want == 0 {
			return fmt.Errorf("tile %d/%d at size %d: width %d, want %d", t.Level, t.Index, newSize, got, want)
		}
		if !bytes.Equal(t.Nodes, UpperNodes(t.Hashes)) {
			return fmt.Errorf("tile %d/%d of %d hashes: %d bytes of upper nodes, not UpperNodes'", t.Level, t.Index, t.Width(), len(t.Nodes))
		}
		k := tileKey{t.Level, t.Index}
		old := m.tiles[k]
		if len(old) == TileWidth*HashSize {
			return fmt.Errorf("tile %d/%d was full and changed", t.Level, t.Index)
		}
		if !bytes.HasPrefix(t.Hashes, old) {
			return fmt.Errorf("tile %d/%d rewrote existing hashes", t.Level, t.Index)
		}
		m.tiles[k] = bytes.Clone(t.Hashes)
	}
	m.size = newSize
	return nil
}

func (m *memStore) append(t testing.TB, leaves []Hash) Hash {
	t.Helper()
	_, root := m.appendTiles(t, leaves)
	return root
}

func (m *memStore) appendTiles(t testing.TB, leaves []Hash) ([]Tile, Hash) {
	t.Helper()
	tiles, root, err := Append(ctx, m, m.size, leaves)
	if err != nil {
		t.Fatalf("Append(%d leaves at size %d): %v", len(leaves), m.size, err)
	}
	if err := m.apply(tiles, m.size+uint64(len(leaves))); err != nil {
		t.Fatalf("Append(%d leaves at size %d): %v", len(leaves), m.size, err)
	}
	return tiles, root
}

// at returns a reader that sees the store exactly as it was at tree size
// size: tiles cut to their width at that size, tiles that did not exist yet
// are errors, and reading any tile twice is an error.
func (m *memStore) at(size uint64) *sizedReader { return &sizedReader{m: m, size: size} }

type sizedReader struct {
	m     *memStore
	size  uint64
	reads []tileKey
}

func (r *sizedReader) ReadTile(_ context.Context, level uint8, index uint64) ([]byte, error) {
	k := tileKey{level, index}
	if slices.Contains(r.reads, k) {
		return nil, fmt.Errorf("tile %d/%d read twice", level, index)
	}
	r.reads = append(r.reads, k)
	w := tileWidthAt(level, index, r.size)
	if w == 0 {
		return nil, fmt.Errorf("tile %d/%d does not exist at size %d: %w", level, index, r.size, errNoTile)
	}
	t := r.m.tiles[k]
	if len(t) < w*HashSize {
		return nil, fmt.Errorf("store has %d hashes of tile %d/%d, size %d needs %d", len(t)/HashSize, level, index, r.size, w)
	}
	return t[:w*HashSize], nil
}

// leafHashes returns n deterministic pseudo-random leaf hashes.
func leafHashes(n int) []Hash {
	out := make([]Hash, n)
	for i := range out {
		var b [8]byte
		binary.BigEndian.PutUint64(b[:], uint64(i))
		out[i] = LeafHash(b[:])
	}
	return out
}

// refRoot is RFC 6962's MTH, written from the RFC's definition.
func refRoot(leaves []Hash) Hash {
	switch len(leaves) {
	case 0:
		return sha256.Sum256(nil)
	case 1:
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	l, r := refRoot(leaves[:k]), refRoot(leaves[k:])
	return Hash(rfc6962.DefaultHasher.HashChildren(l[:], r[:]))
}

// refTiles computes every tile of the tree over leaves directly from the
// tile definition: tile (L, N) lists hashes [256N, 256N+256) of the complete
// nodes of tree level 8L.
func refTiles(leaves []Hash) map[tileKey][]byte {
	tiles := map[tileKey][]byte{}
	level := leaves
	for l := 0; len(level) > 0; l++ {
		if l%TileHeight == 0 {
			for n := 0; n*TileWidth < len(level); n++ {
				var b []byte
				for _, h := range level[n*TileWidth : min(len(level), (n+1)*TileWidth)] {
					b = append(b, h[:]...)
				}
				tiles[tileKey{uint8(l / TileHeight), uint64(n)}] = b
			}
		}
		next := make([]Hash, len(level)/2)
		for i := range next {
			next[i] = Hash(rfc6962.DefaultHasher.HashChildren(level[2*i][:], level[2*i+1][:]))
		}
		level = next
	}
	return tiles
}

func checkStore(t *testing.T, m *memStore, leaves []Hash) {
	t.Helper()
	want := refTiles(leaves)
	if len(m.tiles) != len(want) {
		t.Fatalf("size %d: store has %d tiles, want %d", len(leaves), len(m.tiles), len(want))
	}
	for k, w := range want {
		if !bytes.Equal(m.tiles[k], w) {
			t.Fatalf("size %d: tile %d/%d differs (got %d hashes, want %d)", len(leaves), k.level, k.index, len(m.tiles[k])/HashSize, len(w)/HashSize)
		}
	}
}

func views(p []Hash) [][]byte {
	v := make([][]byte, len(p))
	for i := range p {
		v[i] = p[i][:]
	}
	return v
}

// checkFlips checks that flipping one bit of any proof hash makes verify fail.
func checkFlips(p [][]byte, seed uint64, verify func() error) error {
	for j := range p {
		bit := (seed + uint64(j)*37) % (8 * HashSize)
		p[j][bit/8] ^= 1 << (bit % 8)
		err := verify()
		p[j][bit/8] ^= 1 << (bit % 8)
		if err == nil {
			return fmt.Errorf("proof still verifies with bit %d of hash %d flipped", bit, j)
		}
	}
	return nil
}

// proofChecks returns the leaf indices and old sizes whose proofs are checked
// for the tree of size n: all of them when exhaustive, else the edges, the
// tile boundaries below n and a few pseudo-random ones.
func proofChecks(n uint64, exhaustive bool) []uint64 {
	if exhaustive {
		all := make([]uint64, n)
		for i := range all {
			all[i] = uint64(i)
		}
		return all
	}
	rng := rand.New(rand.NewPCG(n, 0))
	s := []uint64{0, 1, 2, n / 2, n - 2, n - 1}
	for _, b := range []uint64{127, 128, 255, 256, 257, 511, 512, 513} {
		if b < n {
			s = append(s, b)
		}
	}
	for range 12 {
		s = append(s, rng.Uint64N(n))
	}
	return s
}

// checkProofs checks, for the tree of size n, inclusion proofs for the given
// indices and consistency proofs from the given old sizes (and from n): they
// equal the reference tree's, verify, and stop verifying when any proof hash
// has a bit flipped.
func checkProofs(m *memStore, ref *testonly.Tree, roots []Hash, n uint64, checks []uint64) error {
	root := roots[n]
	for _, i := range checks {
		p, err := InclusionProof(ctx, m.at(n), i, n)
		if err != nil {
			return err
		}
		want, _ := ref.InclusionProof(i, n)
		v := views(p)
		if !slices.EqualFunc(v, want, bytes.Equal) {
			return fmt.Errorf("InclusionProof(%d, %d) differs from reference", i, n)
		}
		leaf := ref.LeafHash(i)
		verify := func() error { return proof.VerifyInclusion(rfc6962.DefaultHasher, i, n, leaf, v, root[:]) }
		if err := verify(); err != nil {
			return fmt.Errorf("InclusionProof(%d, %d): %v", i, n, err)
		}
		if err := checkFlips(v, i*n, verify); err != nil {
			return fmt.Errorf("InclusionProof(%d, %d): %v", i, n, err)
		}
	}
	for _, m1 := range append(checks, n) {
		p, err := ConsistencyProof(ctx, m.at(n), m1, n)
		if err != nil {
			return err
		}
		want, _ := ref.ConsistencyProof(m1, n)
		v := views(p)
		if !slices.EqualFunc(v, want, bytes.Equal) {
			return fmt.Errorf("ConsistencyProof(%d, %d) differs from reference", m1, n)
		}
		root1 := roots[m1]
		verify := func() error {
			return proof.VerifyConsistency(rfc6962.DefaultHasher, m1, n, v, root1[:], root[:])
		}
		if err := verify(); err != nil {
			return fmt.Errorf("ConsistencyProof(%d, %d): %v", m1, n, err)
		}
		if err := checkFlips(v, m1*n, verify); err != nil {
			return fmt.Errorf("ConsistencyProof(%d, %d): %v", m1, n, err)
		}
	}
	return nil
}

// TestTree grows a tree leaf by leaf past two tile boundaries and checks, at
// every size, the tiles and the root. At every size up to 270 and around 512
// it checks every inclusion proof and every consistency proof from a smaller
// size, and that flipping a bit of any proof hash breaks it; at the other
// sizes it does so for a sample of indices and sizes. (Checking every proof
// at every size up to 600 costs about 30 CPU-seconds, for no more coverage:
// proof shapes depend on the tile boundaries crossed, not on the size.)
func TestTree(t *testing.T) {
	const N = 600
	leaves := leafHashes(N)
	m := newMemStore()
	ref := testonly.New(rfc6962.DefaultHasher)
	roots := []Hash{sha256.Sum256(nil)}
	for n := 1; n <= N; n++ {
		root := m.append(t, leaves[n-1:n])
		ref.Append(leaves[n-1][:])
		want := refRoot(leaves[:n])
		if root != want {
			t.Fatalf("Append root at size %d = %x, want %x", n, root, want)
		}
		if got := ref.Hash(); !bytes.Equal(got, want[:]) {
			t.Fatalf("references disagree at size %d", n)
		}
		got, err := RootHash(ctx, m.at(uint64(n)), uint64(n))
		if err != nil || got != want {
			t.Fatalf("RootHash(%d) = %x, %v, want %x", n, got, err, want)
		}
		checkStore(t, m, leaves[:n])
		roots = append(roots, root)
	}
	if got, err := RootHash(ctx, m.at(0), 0); err != nil || got != roots[0] {
		t.Fatalf("RootHash(0) = %x, %v, want %x", got, err, roots[0])
	}

	// The store only grows, and m.at(n) shows it as it was at size n, so the
	// proofs of all sizes can be checked in parallel afterwards.
	sizes := make(chan uint64)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for n := range sizes {
				exhaustive := n <= 270 || n >= 505 && n <= 520
				if err := checkProofs(m, ref, roots, n, proofChecks(n, exhaustive)); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for n := uint64(1); n <= N; n++ {
		sizes <- n
	}
	close(sizes)
	wg.Wait()
}

// TestTreeBatches grows trees in random batches and checks tiles and roots
// after each batch.
func TestTreeBatches(t *testing.T) {
	const N = 600
	leaves := leafHashes(N)
	for seed := range uint64(8) {
		rng := rand.New(rand.NewPCG(seed, 1))
		m := newMemStore()
		for m.size < N {
			k := min(uint64(N)-m.size, 1+rng.Uint64N(uint64(1)<<rng.UintN(9)))
			if rng.UintN(10) == 0 {
				k = 0 // an empty append changes nothing
			}
			root := m.append(t, leaves[m.size:m.size+k])
			if want := refRoot(leaves[:m.size]); root != want {
				t.Fatalf("seed %d: root at size %d = %x, want %x", seed, m.size, root, want)
			}
			checkStore(t, m, leaves[:m.size])
		}
	}
}

// TestLargeTree grows a tree past 256^2 leaves in random batches and checks
// roots and random proofs against testonly's tree.
func TestLargeTree(t *testing.T) {
	const N = 70_000
	leaves := leafHashes(N)
	rng := rand.New(rand.NewPCG(1, 2))
	m := newMemStore()
	ref := testonly.New(rfc6962.DefaultHasher)
	// Sizes to stop at: batches are cut so the tree passes through these.
	stops := []uint64{255, 256, 257, 65535, 65536, 65537, 65536 + 256}
	check := func(i, n uint64) {
		t.Helper()
		root := Hash(ref.HashAt(n))
		p, err := InclusionProof(ctx, m.at(n), i, n)
		if err != nil {
			t.Fatal(err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, i, n, leaves[i][:], views(p), root[:]); err != nil {
			t.Fatalf("InclusionProof(%d, %d): %v", i, n, err)
		}
		if r, _ := ref.InclusionProof(i, n); !slices.EqualFunc(views(p), r, bytes.Equal) {
			t.Fatalf("InclusionProof(%d, %d) differs from reference", i, n)
		}
		size1 := i // any size1 <= n
		p, err = ConsistencyProof(ctx, m.at(n), size1, n)
		if err != nil {
			t.Fatal(err)
		}
		root1 := ref.HashAt(size1)
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, size1, n, views(p), root1, root[:]); err != nil {
			t.Fatalf("ConsistencyProof(%d, %d): %v", size1, n, err)
		}
		if r, _ := ref.ConsistencyProof(size1, n); !slices.EqualFunc(views(p), r, bytes.Equal) {
			t.Fatalf("ConsistencyProof(%d, %d) differs from reference", size1, n)
		}
	}
	for m.size < N {
		k := 1 + rng.Uint64N(1<<rng.UintN(13))
		for _, s := range stops {
			if m.size < s && m.size+k > s {
				k = s - m.size
			}
		}
		k = min(k, N-m.size)
		batch := leaves[m.size : m.size+k]
		root := m.append(t, batch)
		for i := range batch {
			ref.Append(batch[i][:])
		}
		n := m.size
		if want := Hash(ref.Hash()); root != want {
			t.Fatalf("Append root at size %d = %x, want %x", n, root, want)
		}
		if got, err := RootHash(ctx, m.at(n), n); err != nil || got != root {
			t.Fatalf("RootHash(%d) = %x, %v, want %x", n, got, err, root)
		}
		// Proofs at the new size, and at random older sizes.
		for range 8 {
			check(rng.Uint64N(n), n)
			n2 := 1 + rng.Uint64N(n)
			check(rng.Uint64N(n2), n2)
		}
		check(n-1, n)
		check(0, n)
	}
	checkStore(t, m, leaves)
	for _, n := range stops {
		check(n-1, n)
		check(0, n)
		check(n/2, n)
	}
}

// TestProofReads checks that a proof reads exactly the distinct tiles of
// its nodes, once each.
func TestProofReads(t *testing.T) {
	m := bigStore(t, 70_000)
	rng := rand.New(rand.NewPCG(3, 4))
	tilesOf := func(ids []compact.NodeID) int {
		var keys []tileKey
		for _, id := range ids {
			r := id.Level % TileHeight
			k := tileKey{uint8(id.Level / TileHeight), id.Index << r >> TileHeight}
			if !slices.Contains(keys, k) {
				keys = append(keys, k)
			}
		}
		return len(keys)
	}
	for range 1000 {
		size := 1 + rng.Uint64N(m.size)
		index := rng.Uint64N(size)
		r := m.at(size) // fails on a second read of any tile
		if _, err := InclusionProof(ctx, r, index, size); err != nil {
			t.Fatal(err)
		}
		nodes, _ := proof.Inclusion(index, size)
		if got, want := len(r.reads), tilesOf(nodes.IDs); got != want {
			t.Fatalf("InclusionProof(%d, %d) read %d tiles, want %d", index, size, got, want)
		}
		r = m.at(size)
		if _, err := ConsistencyProof(ctx, r, index, size); err != nil {
			t.Fatal(err)
		}
		nodes, _ = proof.Consistency(index, size)
		if got, want := len(r.reads), tilesOf(nodes.IDs); got != want {
			t.Fatalf("ConsistencyProof(%d, %d) read %d tiles, want %d", index, size, got, want)
		}
		r = m.at(size)
		if _, err := RootHash(ctx, r, size); err != nil {
			t.Fatal(err)
		}
		if got, want := len(r.reads), tilesOf(compact.RangeNodes(0, size, nil)); got != want {
			t.Fatalf("RootHash(%d) read %d tiles, want %d", size, got, want)
		}
	}
}

// TestAppendReads checks that Append reads only the right-edge tiles.
func TestAppendReads(t *testing.T) {
	m := bigStore(t, 70_000)
	for _, size := range []uint64{0, 1, 255, 256, 257, 65535, 65536, 65537, 69_999, 70_000} {
		r := m.at(size)
		if _, _, err := Append(ctx, r, size, leafHashes(3)); err != nil {
			t.Fatalf("Append at %d: %v", size, err)
		}
		var want int
		for k := uint8(0); k < 3; k++ {
			if PartialWidth(k, size) != 0 {
				want++
			}
		}
		if len(r.reads) != want {
			t.Errorf("Append at %d read %v, want the %d edge tiles", size, r.reads, want)
		}
	}
}

func TestNodeHash(t *testing.T) {
	const N = 70_000
	m := bigStore(t, N)
	ref := testonly.New(rfc6962.DefaultHasher)
	for _, h := range leafHashes(N) {
		ref.Append(h[:])
	}
	for level := uint(0); level <= 16; level++ {
		for _, index := range []uint64{0, 1, (N >> level) - 1} {
			if index >= N>>level {
				continue
			}
			got, err := NodeHash(ctx, m, level, index)
			if err != nil {
				t.Fatalf("NodeHash(%d, %d): %v", level, index, err)
			}
			// A perfect subtree's root is the root of a tree of its size.
			begin, end := compact.NewNodeID(level, index).Coverage()
			leaves := leafHashes(int(end))[begin:]
			if want := refRoot(leaves); got != want {
				t.Errorf("NodeHash(%d, %d) = %x, want %x", level, index, got, want)
			}
		}
	}
	// Incomplete nodes are not stored.
	if _, err := NodeHash(ctx, m, 4, N>>4); !errors.Is(err, ErrShortTile) {
		t.Errorf("NodeHash of an incomplete node: %v, want ErrShortTile", err)
	}
	if _, err := NodeHash(ctx, m, 24, 0); !errors.Is(err, errNoTile) {
		t.Errorf("NodeHash above the tree: %v, want the reader's error", err)
	}
	for _, c := range []struct {
		level uint
		index uint64
	}{{64, 0}, {100, 0}, {1, math.MaxUint64}, {63, 2}} {
		if _, err := NodeHash(ctx, m, c.level, c.index); err == nil {
			t.Errorf("NodeHash(%d, %d) succeeded", c.level, c.index)
		}
	}
}

func TestHashChildren(t *testing.T) {
	l, r := LeafHash([]byte("l")), LeafHash([]byte("r"))
	want := rfc6962.DefaultHasher.HashChildren(l[:], r[:])
	if got := hashChildren(&l, &r); !bytes.Equal(got[:], want) {
		t.Errorf("hashChildren = %x, want %x", got, want)
	}
	if got := hashChildrenSlice(l[:], r[:]); !bytes.Equal(got, want) {
		t.Errorf("hashChildrenSlice = %x, want %x", got, want)
	}
	if got, want := LeafHash([]byte("x")), rfc6962.DefaultHasher.HashLeaf([]byte("x")); !bytes.Equal(got[:], want) {
		t.Errorf("LeafHash = %x, want %x", got, want)
	}
}

func TestArgumentErrors(t *testing.T) {
	m := bigStore(t, 1000)
	for _, c := range []struct {
		name string
		err  error
	}{
		{"inclusion index == size", second(InclusionProof(ctx, m, 10, 10))},
		{"inclusion index > size", second(InclusionProof(ctx, m, 11, 10))},
		{"inclusion size 0", second(InclusionProof(ctx, m, 0, 0))},
		{"inclusion index max", second(InclusionProof(ctx, m, math.MaxUint64, 10))},
		{"consistency size1 > size2", second(ConsistencyProof(ctx, m, 11, 10))},
		{"append overflow", third(Append(ctx, m, math.MaxUint64, make([]Hash, 1)))},
	} {
		if c.err == nil {
			t.Errorf("%s: no error", c.name)
		}
	}
	for _, c := range [][2]uint64{{0, 0}, {0, 5}, {5, 5}} {
		p, err := ConsistencyProof(ctx, m.at(c[1]), c[0], c[1])
		if err != nil || len(p) != 0 {
			t.Errorf("ConsistencyProof(%d, %d) = %x, %v, want empty", c[0], c[1], p, err)
		}
	}
}

func second[T any](_ T, err error) error        { return err }
func third[T, U any](_ T, _ U, err error) error { return err }

// TestReaderErrors checks that reader errors and short tiles are reported,
// never taken for empty tiles.
func TestReaderErrors(t *testing.T) {
	m := bigStore(t, 70_000)
	boom := errors.New("boom")
	for _, k := range []tileKey{{0, 0}, {0, 70_000 / 256}, {1, 0}, {1, 1}, {2, 0}} {
		failing := TileReaderFunc(func(ctx context.Context, level uint8, index uint64) ([]byte, error) {
			if (tileKey{level, index}) == k {
				return nil, boom
			}
			return m.ReadTile(ctx, level, index)
		})
		short := TileReaderFunc(func(ctx context.Context, level uint8, index uint64) ([]byte, error) {
			b, err := m.ReadTile(ctx, level, index)
			if (tileKey{level, index}) == k {
				b = b[:len(b)-HashSize]
			}
			return b, err
		})
		for _, c := range []struct {
			r    TileReader
			want error
		}{{failing, boom}, {short, ErrShortTile}} {
			// A proof touching each tile: leaf 0 goes through tiles 0/0, 1/0, 2/0;
			// the last leaf through the edge tiles.
			errs := []error{
				second(RootHash(ctx, c.r, 70_000)),
				third(Append(ctx, c.r, 70_000, leafHashes(1))),
			}
			for _, i := range []uint64{0, 65_535, 69_999} {
				errs = append(errs, second(InclusionProof(ctx, c.r, i, 70_000)))
			}
			for _, s := range []uint64{1, 255, 257, 65_537} {
				errs = append(errs, second(ConsistencyProof(ctx, c.r, s, 70_000)))
			}
			var hit bool
			for _, err := range errs {
				if err != nil && !errors.Is(err, c.want) {
					t.Errorf("tile %v: error %v does not wrap %v", k, err, c.want)
				}
				hit = hit || err != nil
			}
			if !hit {
				t.Errorf("tile %v: no function failed with %v", k, c.want)
			}
		}
	}
	bad := TileReaderFunc(func(context.Context, uint8, uint64) ([]byte, error) { return make([]byte, 33), nil })
	if _, err := RootHash(ctx, bad, 1); err == nil {
		t.Error("RootHash accepted a tile of 33 bytes")
	}
	huge := TileReaderFunc(func(context.Context, uint8, uint64) ([]byte, error) { return make([]byte, 257*HashSize), nil })
	if _, err := RootHash(ctx, huge, 1); err == nil {
		t.Error("RootHash accepted a tile of 257 hashes")
	}
}

// TestGrownTiles checks that proofs for an old size are the same when the
// reader returns the tiles as they are now, grown since.
func TestGrownTiles(t *testing.T) {
	m := bigStore(t, 70_000)
	rng := rand.New(rand.NewPCG(5, 6))
	for range 200 {
		size := 1 + rng.Uint64N(m.size)
		i := rng.Uint64N(size)
		p1, err1 := InclusionProof(ctx, m, i, size)
		p2, err2 := InclusionProof(ctx, m.at(size), i, size)
		if err1 != nil || err2 != nil || !slices.Equal(p1, p2) {
			t.Fatalf("InclusionProof(%d, %d) from grown tiles differs: %v, %v", i, size, err1, err2)
		}
		r1, err1 := RootHash(ctx, m, size)
		r2, err2 := RootHash(ctx, m.at(size), size)
		if err1 != nil || err2 != nil || r1 != r2 {
			t.Fatalf("RootHash(%d) from grown tiles differs: %v, %v", size, err1, err2)
		}
	}
}

func TestProofAllocs(t *testing.T) {
	m := bigStore(t, 70_000)
	allocs := testing.AllocsPerRun(100, func() {
		if _, err := InclusionProof(ctx, m, 12_345, 69_999); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 3 {
		t.Errorf("InclusionProof: %v allocations, want <= 3", allocs)
	}
	allocs = testing.AllocsPerRun(100, func() {
		if _, err := ConsistencyProof(ctx, m, 12_345, 69_999); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 3 {
		t.Errorf("ConsistencyProof: %v allocations, want <= 3", allocs)
	}
	allocs = testing.AllocsPerRun(100, func() {
		if _, err := RootHash(ctx, m, 69_999); err != nil {
			t.Fatal(err)
		}
	})
	if allocs > 0 {
		t.Errorf("RootHash: %v allocations, want 0", allocs)
	}
}

var bigStores sync.Map // size -> *memStore

// bigStore returns a shared, read-only store of a tree of size leaves.
func bigStore(tb testing.TB, size int) *memStore {
	tb.Helper()
	if m, ok := bigStores.Load(size); ok {
		return m.(*memStore)
	}
	leaves := leafHashes(size)
	m := newMemStore()
	for len(leaves) > 0 {
		n := min(len(leaves), 1<<16)
		m.append(tb, leaves[:n])
		leaves = leaves[n:]
	}
	m2, _ := bigStores.LoadOrStore(size, m)
	return m2.(*memStore)
}

func TestTileWidthAt(t *testing.T) {
	for _, tc := range []struct {
		level        uint8
		index, size  uint64
		want         int
		beyondTheLog bool
	}{
		{0, 0, 1, 1, false},
		{0, 0, 256, 256, false},
		{0, 1, 256, 0, true},
		{0, 1, 300, 44, false},
		{0, 2, 300, 0, true},
		{1, 0, 300, 1, false},
		{1, 0, 65536, 256, false},
		{1, 1, 65536, 0, true},
		{0, 0, 0, 0, true},
		{7, 0, 1 << 63, 128, false},
		{7, 1, 1 << 63, 0, true},
	} {
		w, err := TileWidthAt(tc.level, tc.index, tc.size)
		if (err != nil) != tc.beyondTheLog || w != tc.want {
			t.Errorf("TileWidthAt(%d, %d, %d) = %d, %v; want %d (beyond: %v)", tc.level, tc.index, tc.size, w, err, tc.want, tc.beyondTheLog)
		}
	}
}

package merkle

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"
	"github.com/transparency-dev/merkle/testonly"
)

// The vectors in testdata/rfc6962 are transparency-dev/merkle's
// testdata/{inclusion,consistency} (see testdata/README.md). Hashes are
// base64; a negative vector is named for its mutation and has wantErr set.
type inclusionVector struct {
	LeafIdx  uint64   `json:"leafIdx"`
	TreeSize uint64   `json:"treeSize"`
	Root     []byte   `json:"root"`
	LeafHash []byte   `json:"leafHash"`
	Proof    [][]byte `json:"proof"`
	Desc     string   `json:"desc"`
	WantErr  bool     `json:"wantErr"`
}

type consistencyVector struct {
	Size1   uint64   `json:"size1"`
	Size2   uint64   `json:"size2"`
	Root1   []byte   `json:"root1"`
	Root2   []byte   `json:"root2"`
	Proof   [][]byte `json:"proof"`
	Desc    string   `json:"desc"`
	WantErr bool     `json:"wantErr"`
}

func loadVectors[V any](t *testing.T, dir string) map[string]V {
	t.Helper()
	out := map[string]V{}
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".json") {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		var v V
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		out[path] = v
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// vectorTree is the 8-leaf tree behind the vectors in inclusion/1 and
// consistency/1: testonly.LeafInputs, whose roots are testonly.RootHashes.
func vectorTree(t *testing.T) (*memStore, []Hash, []Hash) {
	t.Helper()
	m := newMemStore()
	var leaves []Hash
	roots := []Hash{emptyRoot}
	for i, in := range testonly.LeafInputs() {
		leaves = append(leaves, LeafHash(in))
		roots = append(roots, m.append(t, leaves[i:]))
		if want := testonly.RootHashes()[i+1]; !bytes.Equal(roots[i+1][:], want) {
			t.Fatalf("root of the first %d vector leaves = %x, want %x", i+1, roots[i+1], want)
		}
	}
	return m, leaves, roots
}

func TestInclusionVectors(t *testing.T) {
	vectors := loadVectors[inclusionVector](t, "testdata/rfc6962/inclusion")
	m, leaves, roots := vectorTree(t)
	var pos, neg, reproduced int
	for path, v := range vectors {
		err := proof.VerifyInclusion(rfc6962.DefaultHasher, v.LeafIdx, v.TreeSize, v.LeafHash, v.Proof, v.Root)
		if (err != nil) != v.WantErr {
			t.Errorf("%s (%s): VerifyInclusion error %v, wantErr %v", path, v.Desc, err, v.WantErr)
		}
		if v.WantErr {
			neg++
		} else {
			pos++
		}

		// Rebuild the proof where the vector's tree is known.
		var r TileReader
		var root, leaf Hash
		switch filepath.Base(filepath.Dir(path)) {
		case "1":
			if v.LeafIdx >= v.TreeSize || v.TreeSize > uint64(len(leaves)) {
				continue // parameters outside the tree: nothing to rebuild
			}
			r, root, leaf = m.at(v.TreeSize), roots[v.TreeSize], leaves[v.LeafIdx]
		case "single-entry":
			if len(v.LeafHash) != HashSize {
				continue
			}
			one := newMemStore()
			root, leaf = one.append(t, []Hash{Hash(v.LeafHash)}), Hash(v.LeafHash)
			r = one
		default:
			t.Fatalf("%s: unknown vector directory", path)
		}
		p, err := InclusionProof(ctx, r, v.LeafIdx, v.TreeSize)
		if err != nil {
			t.Fatalf("%s: InclusionProof: %v", path, err)
		}
		if err := proof.VerifyInclusion(rfc6962.DefaultHasher, v.LeafIdx, v.TreeSize, leaf[:], views(p), root[:]); err != nil {
			t.Errorf("%s: our proof does not verify: %v", path, err)
		}
		same := bytes.Equal(root[:], v.Root) && bytes.Equal(leaf[:], v.LeafHash) &&
			slices.EqualFunc(views(p), v.Proof, bytes.Equal)
		if same == v.WantErr {
			t.Errorf("%s (%s): our (root, leaf, proof) equal to the vector's: %v, want %v", path, v.Desc, same, !v.WantErr)
		}
		if same {
			reproduced++
		}
	}
	if pos < 2 || neg < 20 || reproduced != pos {
		t.Errorf("found %d positive and %d negative inclusion vectors, reproduced %d", pos, neg, reproduced)
	}
}

func TestConsistencyVectors(t *testing.T) {
	vectors := loadVectors[consistencyVector](t, "testdata/rfc6962/consistency")
	m, _, roots := vectorTree(t)
	var pos, neg, reproduced int
	for path, v := range vectors {
		err := proof.VerifyConsistency(rfc6962.DefaultHasher, v.Size1, v.Size2, v.Proof, v.Root1, v.Root2)
		if (err != nil) != v.WantErr {
			t.Errorf("%s (%s): VerifyConsistency error %v, wantErr %v", path, v.Desc, err, v.WantErr)
		}
		if v.WantErr {
			neg++
		} else {
			pos++
		}
		if v.Size1 > v.Size2 || v.Size2 > uint64(len(roots)-1) {
			continue
		}
		p, err := ConsistencyProof(ctx, m.at(v.Size2), v.Size1, v.Size2)
		if err != nil {
			t.Fatalf("%s: ConsistencyProof: %v", path, err)
		}
		root1, root2 := roots[v.Size1], roots[v.Size2]
		if err := proof.VerifyConsistency(rfc6962.DefaultHasher, v.Size1, v.Size2, views(p), root1[:], root2[:]); err != nil {
			t.Errorf("%s: our proof does not verify: %v", path, err)
		}
		same := bytes.Equal(root1[:], v.Root1) && bytes.Equal(root2[:], v.Root2) &&
			slices.EqualFunc(views(p), v.Proof, bytes.Equal)
		if same == v.WantErr {
			t.Errorf("%s (%s): our (roots, proof) equal to the vector's: %v, want %v", path, v.Desc, same, !v.WantErr)
		}
		if same {
			reproduced++
		}
	}
	if pos < 2 || neg < 15 || reproduced != pos {
		t.Errorf("found %d positive and %d negative consistency vectors, reproduced %d", pos, neg, reproduced)
	}
}

// The tlog-tiles-tessera testdata is a 15-entry log written by Tessera, one
// entry at a time: checkpoint.N is the checkpoint at size N, and
// tile/0/000.p/N and tile/entries/000.p/N the partial tiles at size N.
const tesseraDir = "testdata/tlog-tiles-tessera"

func tesseraCheckpoint(t *testing.T, name string) (uint64, Hash) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tesseraDir, name))
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(string(b), "\n")
	if len(lines) < 3 || lines[0] != "example.com/log/testdata" {
		t.Fatalf("%s: unexpected checkpoint %q", name, b)
	}
	size, err := strconv.ParseUint(lines[1], 10, 64)
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	root, err := base64.StdEncoding.DecodeString(lines[2])
	if err != nil || len(root) != HashSize {
		t.Fatalf("%s: bad root %q", name, lines[2])
	}
	return size, Hash(root)
}

func tesseraFile(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(tesseraDir, filepath.FromSlash(path)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestTesseraLog(t *testing.T) {
	const N = 15
	latest := tesseraFile(t, "tile/0/000.p/15")
	grown := TileReaderFunc(func(_ context.Context, level uint8, index uint64) ([]byte, error) {
		if level != 0 || index != 0 {
			return nil, errNoTile
		}
		return latest, nil
	})
	if size, root := tesseraCheckpoint(t, "checkpoint"); size != N || root != Hash(mustRoot(t, grown, N)) {
		t.Errorf("latest checkpoint: size %d root %x, want our root of size %d", size, root, N)
	}

	m := newMemStore()
	for n := uint64(0); n <= N; n++ {
		size, want := tesseraCheckpoint(t, "checkpoint."+strconv.FormatUint(n, 10))
		if size != n {
			t.Fatalf("checkpoint.%d has size %d", n, size)
		}
		if got := mustRoot(t, grown, n); got != want {
			t.Errorf("RootHash(%d) from the latest tile = %x, checkpoint has %x", n, got, want)
		}
		if n == 0 {
			continue
		}
		path := TilePath{Index: 0, Width: int(n)}
		tile := tesseraFile(t, path.String())
		exact := TileReaderFunc(func(context.Context, uint8, uint64) ([]byte, error) { return tile, nil })
		if got := mustRoot(t, exact, n); got != want {
			t.Errorf("RootHash(%d) from %s = %x, checkpoint has %x", n, path, got, want)
		}

		// The entry bundle hashes to the tile, and re-encodes to itself.
		path.Entries = true
		bundle := tesseraFile(t, path.String())
		entries, err := ParseBundle(bundle)
		if err != nil || len(entries) != int(n) {
			t.Fatalf("ParseBundle(%s) = %d entries, %v", path, len(entries), err)
		}
		var hashes, reencoded []byte
		for _, e := range entries {
			h := LeafHash(e)
			hashes = append(hashes, h[:]...)
			if reencoded, err = AppendBundleEntry(reencoded, e); err != nil {
				t.Fatal(err)
			}
		}
		if !bytes.Equal(hashes, tile) {
			t.Errorf("leaf hashes of %s differ from its tile", path)
		}
		if !bytes.Equal(reencoded, bundle) {
			t.Errorf("%s does not re-encode to itself", path)
		}

		// Appending the newest entry to our copy of the log writes exactly
		// Tessera's tile and reaches the checkpoint's root.
		tiles, root := m.appendTiles(t, []Hash{LeafHash(entries[n-1])})
		if root != want {
			t.Errorf("Append to size %d: root %x, checkpoint has %x", n, root, want)
		}
		if len(tiles) != 1 || tiles[0].Path() != (TilePath{Width: int(n)}) || !bytes.Equal(tiles[0].Hashes, tile) {
			t.Errorf("Append to size %d: tiles %v, want exactly Tessera's tile/0/000.p/%d", n, tiles, n)
		}
	}
	if string(tesseraFile(t, "tile/entries/000.p/2")) != "\x00\x03one\x00\x03two" {
		t.Error("unexpected first entries")
	}
}

func TestTesseraPaths(t *testing.T) {
	var n int
	err := filepath.WalkDir(filepath.Join(tesseraDir, "tile"), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(tesseraDir, path)
		rel = filepath.ToSlash(rel)
		p, err := ParseTilePath(rel)
		if err != nil {
			t.Errorf("ParseTilePath(%q): %v", rel, err)
			return nil
		}
		if p.String() != rel {
			t.Errorf("ParseTilePath(%q).String() = %q", rel, p.String())
		}
		b, _ := os.ReadFile(path)
		if !p.Entries && len(b) != p.Width*HashSize {
			t.Errorf("%s holds %d bytes, want %d hashes", rel, len(b), p.Width)
		}
		n++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n != 30 {
		t.Errorf("found %d tile files, want 30", n)
	}
}

func mustRoot(t *testing.T, r TileReader, size uint64) Hash {
	t.Helper()
	root, err := RootHash(ctx, r, size)
	if err != nil {
		t.Fatalf("RootHash(%d): %v", size, err)
	}
	return root
}

package verify_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/verify"
)

func hash32(b []byte) ([32]byte, bool) {
	var h [32]byte
	if len(b) != 32 {
		return h, false
	}
	copy(h[:], b)
	return h, true
}

// TestRFC6962Vectors runs transparency-dev/merkle's inclusion and
// consistency vectors (kept once, in package merkle's testdata) through
// Inclusion and Consistency.
func TestRFC6962Vectors(t *testing.T) {
	inc, _ := filepath.Glob("../merkle/testdata/rfc6962/inclusion/*/*.json")
	con, _ := filepath.Glob("../merkle/testdata/rfc6962/consistency/*/*.json")
	if len(inc) < 20 || len(con) < 20 {
		t.Fatalf("vectors missing: %d inclusion, %d consistency", len(inc), len(con))
	}
	for _, f := range inc {
		t.Run(f, func(t *testing.T) {
			var v struct {
				LeafIdx  uint64   `json:"leafIdx"`
				TreeSize uint64   `json:"treeSize"`
				Root     []byte   `json:"root"`
				LeafHash []byte   `json:"leafHash"`
				Proof    [][]byte `json:"proof"`
				WantErr  bool     `json:"wantErr"`
			}
			b, _ := os.ReadFile(f)
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			root, ok1 := hash32(v.Root)
			leaf, ok2 := hash32(v.LeafHash)
			err := verify.Inclusion(leaf, v.LeafIdx, v.TreeSize, root, v.Proof)
			if got := err != nil || !ok1 || !ok2; got != v.WantErr {
				t.Fatalf("rejected=%v (%v), want %v", got, err, v.WantErr)
			}
		})
	}
	for _, f := range con {
		t.Run(f, func(t *testing.T) {
			var v struct {
				Size1   uint64   `json:"size1"`
				Size2   uint64   `json:"size2"`
				Root1   []byte   `json:"root1"`
				Root2   []byte   `json:"root2"`
				Proof   [][]byte `json:"proof"`
				WantErr bool     `json:"wantErr"`
			}
			b, _ := os.ReadFile(f)
			if err := json.Unmarshal(b, &v); err != nil {
				t.Fatal(err)
			}
			r1, ok1 := hash32(v.Root1)
			r2, ok2 := hash32(v.Root2)
			err := verify.Consistency(checkpoint.Checkpoint{Origin: "o", Size: v.Size1, Root: r1}, checkpoint.Checkpoint{Origin: "o", Size: v.Size2, Root: r2}, v.Proof)
			if got := err != nil || !ok1 || !ok2; got != v.WantErr {
				t.Fatalf("rejected=%v (%v), want %v", got, err, v.WantErr)
			}
		})
	}
}

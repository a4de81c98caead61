package merkle

import (
	"context"
	"fmt"

	"github.com/transparency-dev/merkle/proof"
)

// InclusionProof returns the RFC 6962 inclusion proof for the leaf at index in
// the tree of size leaves. It requires index < size.
func InclusionProof(ctx context.Context, r TileReader, index, size uint64) ([]Hash, error) {
	if index >= size {
		return nil, fmt.Errorf("merkle: inclusion proof: index %d out of range for tree size %d", index, size)
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, fmt.Errorf("merkle: inclusion proof for %d in %d: %w", index, size, err)
	}
	p, err := buildProof(ctx, r, nodes)
	if err != nil {
		return nil, fmt.Errorf("merkle: inclusion proof for %d in %d: %w", index, size, err)
	}
	return p, nil
}

// ConsistencyProof returns the RFC 6962 consistency proof between the trees of
// size1 and size2 leaves. It requires size1 <= size2; the proof is empty when
// size1 == size2 or size1 == 0.
func ConsistencyProof(ctx context.Context, r TileReader, size1, size2 uint64) ([]Hash, error) {
	if size1 > size2 {
		return nil, fmt.Errorf("merkle: consistency proof: size1 %d > size2 %d", size1, size2)
	}
	if size1 == size2 || size1 == 0 {
		return []Hash{}, nil
	}
	nodes, err := proof.Consistency(size1, size2)
	if err != nil {
		return nil, fmt.Errorf("merkle: consistency proof %d to %d: %w", size1, size2, err)
	}
	p, err := buildProof(ctx, r, nodes)
	if err != nil {
		return nil, fmt.Errorf("merkle: consistency proof %d to %d: %w", size1, size2, err)
	}
	return p, nil
}

// buildProof fetches the hashes of nodes.IDs, reading each tile once, and
// folds the ephemeral node's children into it with Nodes.Rehash. It makes
// three allocations whatever the proof: the IDs (in package proof), the
// hashes (with room for the rehashed ones) and the slice views Rehash takes.
func buildProof(ctx context.Context, r TileReader, nodes proof.Nodes) ([]Hash, error) {
	var s tileSet
	n := len(nodes.IDs)
	_, begin, end := nodes.Ephem()
	spare := max(end-begin-1, 0) // hashes Rehash computes
	hashes := make([]Hash, n+spare)
	for i, id := range nodes.IDs {
		h, err := s.node(ctx, r, id)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
	}
	if spare == 0 {
		return hashes, nil // nothing to rehash
	}
	views := make([][]byte, n)
	for i := range views {
		views[i] = hashes[i][:]
	}
	next := n
	out, err := nodes.Rehash(views, func(left, right []byte) []byte {
		h := &hashes[next]
		next++
		*h = hashChildren((*Hash)(left), (*Hash)(right))
		return h[:]
	})
	if err != nil {
		return nil, err
	}
	// out[i] aliases hashes[j] for some j >= i, so copying in increasing i
	// never overwrites a hash still to be read.
	for i := range out {
		copy(hashes[i][:], out[i])
	}
	return hashes[:len(out):len(out)], nil
}

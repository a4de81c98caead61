package merkle

import (
	"math/rand/v2"
	"testing"
)

// benchSize is about a million leaves, and not a power of two, so proofs
// touch partial tiles at every level.
const benchSize = 1_000_003

func BenchmarkInclusionProof(b *testing.B) {
	m := bigStore(b, benchSize)
	rng := rand.New(rand.NewPCG(1, 1))
	for b.Loop() {
		if _, err := InclusionProof(ctx, m, rng.Uint64N(benchSize), benchSize); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkConsistencyProof(b *testing.B) {
	m := bigStore(b, benchSize)
	rng := rand.New(rand.NewPCG(1, 1))
	for b.Loop() {
		if _, err := ConsistencyProof(ctx, m, 1+rng.Uint64N(benchSize-1), benchSize); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkRootHash(b *testing.B) {
	m := bigStore(b, benchSize)
	for b.Loop() {
		if _, err := RootHash(ctx, m, benchSize); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAppend appends a batch of 1024 leaves onto the million-leaf tree
// (without storing the result, so every iteration starts from the same size).
func BenchmarkAppend(b *testing.B) {
	m := bigStore(b, benchSize)
	leaves := leafHashes(1024)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Append(ctx, m, benchSize, leaves); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(leaves)), "ns/leaf")
}

// BenchmarkBuild builds the million-leaf tree from scratch in batches of
// 65536 leaves.
func BenchmarkBuild(b *testing.B) {
	leaves := leafHashes(benchSize)
	b.ReportAllocs()
	for b.Loop() {
		m := newMemStore()
		for rest := leaves; len(rest) > 0; {
			n := min(len(rest), 1<<16)
			m.append(b, rest[:n])
			rest = rest[n:]
		}
	}
}

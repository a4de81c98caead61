package storage

// What both drivers check of an append and how they store tiles and search
// keys: one copy of the rules the conformance suite holds them to.

import (
	"fmt"
	"math"
	"slices"
)

// FullTileBytes is the size of a full tile: 256 hashes of 32 bytes;
// nodesBytes the size of its upper inner nodes (merkle.UpperNodesSize).
const (
	FullTileBytes = 256 * 32
	nodesBytes    = 30 * 32
)

// CheckAppendRequest rejects a batch that breaks AppendRequest's
// invariants before anything touches the database: storing it would
// corrupt the log; such a failure is the caller's bug.
func CheckAppendRequest(req AppendRequest) error {
	n := uint64(len(req.Entries))
	if req.OldSize > math.MaxInt64 || n > math.MaxInt64-req.OldSize {
		return fmt.Errorf("invalid batch: size %d + %d entries overflows", req.OldSize, n)
	}
	if req.State.Size != req.OldSize+n {
		return fmt.Errorf("invalid batch: new size %d, want %d + %d entries", req.State.Size, req.OldSize, n)
	}
	for i, e := range req.Entries {
		if want := req.OldSize + uint64(i); e.Index != want {
			return fmt.Errorf("invalid batch: entry %d has index %d, want %d", i, e.Index, want)
		}
	}
	for _, t := range req.Tiles {
		if t.Index > math.MaxInt64 {
			return fmt.Errorf("invalid batch: tile %d/%d: index out of range", t.Level, t.Index)
		}
		if l := len(t.Hashes); l == 0 || l%32 != 0 || l > FullTileBytes {
			return fmt.Errorf("invalid batch: tile %d/%d: %d bytes is not 1 to 256 hashes", t.Level, t.Index, l)
		}
		if t.Nodes != nil && (len(t.Nodes) != nodesBytes || len(t.Hashes) != FullTileBytes) {
			return fmt.Errorf("invalid batch: tile %d/%d of %d bytes: %d bytes of upper nodes", t.Level, t.Index, len(t.Hashes), len(t.Nodes))
		}
	}
	// Every column of an entry holds any value of its Go type (search keys
	// are fixed-size hashes, bodies bytes of any content): no entry's own
	// data needs a check here. One that does returns a *EntryError
	// naming the entry, so that the caller can drop it alone.
	return nil
}

// StoredTiles is what the drivers' Append writes of tiles: the last of
// several tiles with the same coordinates (so one upsert never touches a
// row twice), and no partial level-0 tile. ReadTile answers the right-edge
// level-0 tile from its entries' leaf hashes (each driver's readTileSQL),
// so a batch does not rewrite it: on PostgreSQL that rewrite, ~4 KiB on
// average, TOASTed, was ~12 % of the WAL and left ~160 bytes of dead tile
// per entry on disk (docs/BENCHMARKS.md).
func StoredTiles(tiles []Tile) []Tile {
	type key struct {
		level uint8
		index uint64
	}
	seen := make(map[key]int, len(tiles))
	out := make([]Tile, 0, len(tiles))
	for _, t := range tiles {
		k := key{t.Level, t.Index}
		if i, ok := seen[k]; ok {
			out[i] = t
			continue
		}
		seen[k] = len(out)
		out = append(out, t)
	}
	return slices.DeleteFunc(out, func(t Tile) bool { return t.Level == 0 && len(t.Hashes) < FullTileBytes })
}

// StoredSearchKey is how the drivers store a search key: its first 16 bytes (a 128-bit
// prefix of a SHA-256; see Storage.Search for what a collision
// would cost and why it is out of reach). Migration 7 cut the stored keys
// the same way.
func StoredSearchKey(k Hash) [16]byte { return [16]byte(k[:16]) }

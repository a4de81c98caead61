package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/tabularium/tabula/storage"
)

// LegacySearchKey is a search key as schema version 1 stored it (untyped,
// lower-cased text), the entry indexed under it, and the kind schema version
// 2 gives it.
type LegacySearchKey struct {
	Text  string
	Index uint64
	Kind  string
}

// LegacySearchKeys are version-1 keys of every kind, for the drivers'
// upgrade tests: each driver writes them at version 1, migrates, and hands
// the store to CheckUpgrade.
var LegacySearchKeys = []LegacySearchKey{
	{"sha256:" + strings.Repeat("0a", 32), 0, "digest"},
	{"sha512:" + strings.Repeat("b1", 64), 0, "digest"},
	{"gitcommit:1234abcd", 1, "digest"},
	{strings.Repeat("c2", 32), 1, "key"},
	{"alice@example.com", 2, "email"},
	{"élodie@exämple.org", 2, "email"},
	{"https://github.com/o/r/.github/workflows/w.yml@refs/heads/main", 3, "subject"},
	{"example.com", 3, "subject"},
	{"192.0.2.1", 3, "subject"},
	{"spiffe://example.org/a@b", 4, "subject"},
	{"alice@example.com", 4, "email"}, // a key shared by two entries
	{"sha256:" + strings.Repeat("0a", 32), 4, "digest"},
}

// LegacyBulk is how many more version-1 keys the upgrade tests write (one
// per entry, "subject <i>" at index 100+i), so that a migration working in
// chunks crosses several.
const LegacyBulk = 12_000

// CheckUpgrade checks that s, migrated from version 1 holding
// LegacySearchKeys and the LegacyBulk keys, finds each under its kind's
// hash (hash(kind, text) is types.SearchKey{kind, text}.Hash()) and under
// no other kind's.
func CheckUpgrade(t *testing.T, s storage.Storage, hash func(kind, text string) storage.Hash) {
	t.Helper()
	ctx := context.Background()
	want := map[storage.Hash][]uint64{}
	for _, k := range LegacySearchKeys {
		h := hash(k.Kind, k.Text)
		want[h] = append(want[h], k.Index)
	}
	for _, k := range LegacySearchKeys {
		for _, kind := range []string{"digest", "key", "email", "subject"} {
			got, err := s.Search(ctx, hash(kind, k.Text))
			if err != nil {
				t.Fatalf("Search(%s %q): %v", kind, k.Text, err)
			}
			var w []uint64
			if kind == k.Kind {
				w = want[hash(kind, k.Text)]
			}
			if !slices.Equal(got, w) {
				t.Errorf("Search(%s %q) = %v, want %v", kind, k.Text, got, w)
			}
		}
	}
	for _, i := range []int{0, 1, 4999, 5000, 5001, LegacyBulk - 1} {
		text := fmt.Sprintf("subject %d", i)
		got, err := s.Search(ctx, hash("subject", text))
		if err != nil {
			t.Fatal(err)
		}
		if w := []uint64{uint64(100 + i)}; !slices.Equal(got, w) {
			t.Errorf("Search(subject %q) = %v, want %v", text, got, w)
		}
	}
}

// Schema version 7 stops storing partial level-0 tiles and stores search
// keys as their first 16 bytes. The drivers' upgrade tests write, at the
// version before it, the rows an older release left (Legacy7Logs, their
// entries with leaf hashes Legacy7Leaf, Legacy7Tiles, Legacy7Keys), open
// the database, which migrates it, and hand the set to CheckUpgrade7.

// Legacy7Log is a log of the set the version-7 upgrade tests write.
type Legacy7Log struct {
	TreeID int64
	Start  uint64 // virtual index of its first entry
	Size   uint64
	Frozen bool
}

// Legacy7Logs are a frozen log of 300 entries and its successor of 5, from
// virtual index 300: both end with a partial level-0 tile.
var Legacy7Logs = []Legacy7Log{{7, 0, 300, true}, {8, 300, 5, false}}

// Legacy7Leaf is the leaf hash of the entry at virtual index idx.
func Legacy7Leaf(idx uint64) storage.Hash { return Key(fmt.Sprintf("leaf %d", idx)) }

// Legacy7Tile is a tile row as an older release stored it.
type Legacy7Tile struct {
	TreeID int64
	Level  uint8
	Index  uint64
	Hashes []byte
}

// legacy7Leaves is the leaf hashes of the log's entries [lo, hi) (its own
// indexes).
func legacy7Leaves(l Legacy7Log, lo, hi uint64) []byte {
	var b []byte
	for i := lo; i < hi; i++ {
		h := Legacy7Leaf(l.Start + i)
		b = append(b, h[:]...)
	}
	return b
}

// legacy7Level1 stands in for the level-1 tile of log 7.
var legacy7Level1 = nodeHash(1, 0)

// Legacy7Tiles are the tiles an older release stored for Legacy7Logs:
// every level-0 tile, full or partial, and a level-1 tile.
func Legacy7Tiles() []Legacy7Tile {
	a, b := Legacy7Logs[0], Legacy7Logs[1]
	return []Legacy7Tile{
		{a.TreeID, 0, 0, legacy7Leaves(a, 0, 256)},
		{a.TreeID, 0, 1, legacy7Leaves(a, 256, 300)},
		{a.TreeID, 1, 0, legacy7Level1[:]},
		{b.TreeID, 0, 0, legacy7Leaves(b, 0, 5)},
	}
}

// Legacy7Key is a 32-byte search key row: the key and a virtual index.
type Legacy7Key struct {
	Key   storage.Hash
	Index uint64
}

// legacy7Twin shares its first 16 bytes with Key("twin").
var legacy7Twin = func() storage.Hash { k := Key("twin"); k[31] ^= 1; return k }()

// Legacy7Keys are search key rows of both logs: a key shared by entries of
// both, and two keys sharing their first 16 bytes at one index, which
// collapse onto one row.
var Legacy7Keys = []Legacy7Key{
	{Key("shared"), 0}, {Key("shared"), 299}, {Key("shared"), 301},
	{Key("one"), 1},
	{Key("twin"), 2}, {legacy7Twin, 2}, {legacy7Twin, 304},
}

// CheckUpgrade7 checks set, migrated to version 7 from Legacy7Logs and
// their rows: every level-0 tile (the partial ones made of the entries),
// the level-1 tile, and every search key, in the logs' own indexes.
func CheckUpgrade7(t *testing.T, set storage.LogSet) {
	t.Helper()
	ctx := context.Background()
	a, err := set.OpenLog(ctx, Legacy7Logs[0].TreeID)
	if err != nil {
		t.Fatal(err)
	}
	b, err := set.OpenLog(ctx, Legacy7Logs[1].TreeID)
	if err != nil {
		t.Fatal(err)
	}
	CheckLegacy7Tiles(t, a, b)
	for _, tc := range []struct {
		s    storage.Storage
		key  storage.Hash
		want []uint64
	}{
		{a, Key("shared"), []uint64{0, 299}},
		{b, Key("shared"), []uint64{1}},
		{a, Key("one"), []uint64{1}},
		{b, Key("one"), nil},
		{a, Key("twin"), []uint64{2}},
		{a, legacy7Twin, []uint64{2}},
		{b, Key("twin"), []uint64{4}},
		{a, Key("absent"), nil},
	} {
		got, err := tc.s.Search(ctx, tc.key)
		if err != nil || !slices.Equal(got, tc.want) {
			t.Errorf("Search(%x…) = %v, %v; want %v", tc.key[:4], got, err, tc.want)
		}
	}
	checkEdge(t, a, &model{entries: legacy7Entries(Legacy7Logs[0])})
	checkEdge(t, b, &model{entries: legacy7Entries(Legacy7Logs[1])})
}

// CheckLegacy7Tiles checks the tiles of Legacy7Logs through a and b, their
// handles.
func CheckLegacy7Tiles(t *testing.T, a, b storage.Storage) {
	t.Helper()
	ctx := context.Background()
	la, lb := Legacy7Logs[0], Legacy7Logs[1]
	for _, tc := range []struct {
		s     storage.Storage
		level uint8
		index uint64
		want  []byte
	}{
		{a, 0, 0, legacy7Leaves(la, 0, 256)},
		{a, 0, 1, legacy7Leaves(la, 256, 300)},
		{a, 1, 0, legacy7Level1[:]},
		{a, 0, 2, nil},
		{b, 0, 0, legacy7Leaves(lb, 0, 5)},
		{b, 0, 1, nil},
		{b, 1, 0, nil},
	} {
		got, err := tc.s.ReadTile(ctx, tc.level, tc.index)
		switch {
		case tc.want == nil && !errors.Is(err, storage.ErrNotFound):
			t.Errorf("ReadTile(%d, %d) = %d bytes, %v; want ErrNotFound", tc.level, tc.index, len(got), err)
		case tc.want != nil && (err != nil || !bytes.Equal(got, tc.want)):
			t.Errorf("ReadTile(%d, %d) = %d bytes, %v; want %d bytes", tc.level, tc.index, len(got), err, len(tc.want))
		}
	}
}

// legacy7Entries are the log's entries as the model holds them (only their
// leaf hashes matter to checkEdge).
func legacy7Entries(l Legacy7Log) []storage.Entry {
	es := make([]storage.Entry, l.Size)
	for i := range es {
		es[i] = storage.Entry{Index: uint64(i), LeafHash: Legacy7Leaf(l.Start + uint64(i))}
	}
	return es
}

package storagetest

import (
	"context"
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

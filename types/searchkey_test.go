package types_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"unicode"

	"github.com/tabularium/tabula/types"
)

// TestSearchKeyHash pins the encoding: SHA-256 of "tabula-search-key:",
// the kind, ":" and the lower-cased value. The values were computed apart
// (Python's hashlib), so a change to the encoding fails here.
func TestSearchKeyHash(t *testing.T) {
	fp := strings.Repeat("ab", 32)
	tests := []struct {
		key  types.SearchKey
		want string
	}{
		{types.SearchKey{Kind: types.KindDigest, Value: "sha256:" + fp}, "f4cb53fa14846597a25974be7d2eaa6c75b8cd0c2d513d02af0ced0f869b043f"},
		{types.SearchKey{Kind: types.KindDigest, Value: "SHA256:" + strings.ToUpper(fp)}, "f4cb53fa14846597a25974be7d2eaa6c75b8cd0c2d513d02af0ced0f869b043f"},
		{types.SearchKey{Kind: types.KindKey, Value: fp}, "2875a890ae80413796e534dcf07f7a8db9a2b39ee2ba66009d38f9528c48ed40"},
		{types.SearchKey{Kind: types.KindEmail, Value: "Alice@Example.COM"}, "a65d62e8be6ff751fcea63a8ef75641d78ecb02a1ca5710d8097a92ee08d471e"},
		{types.SearchKey{Kind: types.KindSubject, Value: "https://example.com/x"}, "31e282169c5c348083488967c6cf96b94744ef0ecf4519d37b5c6b8a7355926e"},
		{types.SearchKey{Kind: types.KindSubject, Value: "a\x00b"}, "b406c10bfa690f7929a357301fa98cf88b30a48ddbfe3d015d51d4e672f335bd"},
		{types.SearchKey{Kind: types.KindEmail, Value: ""}, "92f26d8014dae16d472d87dadeb0f1e36087489518c9f96431c2bd9e955b4f73"},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/%.20q", tt.key.Kind, tt.key.Value), func(t *testing.T) {
			h := tt.key.Hash()
			if got := hex.EncodeToString(h[:]); got != tt.want {
				t.Fatalf("Hash = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestSearchKeyKindsDiffer: the same text under two kinds gives two hashes.
func TestSearchKeyKindsDiffer(t *testing.T) {
	kinds := []types.KeyKind{types.KindDigest, types.KindKey, types.KindEmail, types.KindSubject}
	for _, v := range []string{"a@b.c", strings.Repeat("0", 64), "sha256:" + strings.Repeat("0", 64), ""} {
		seen := map[[32]byte]types.KeyKind{}
		for _, k := range kinds {
			h := types.SearchKey{Kind: k, Value: v}.Hash()
			if other, ok := seen[h]; ok {
				t.Fatalf("%q: kinds %s and %s hash alike", v, other, k)
			}
			seen[h] = k
		}
	}
}

// TestLowerIdempotent: keys stored lower-cased (the schema migration hashes
// them as stored) hash as the same values lower-cased again (as searches
// do): Go's lower-casing is idempotent on every rune.
func TestLowerIdempotent(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if l := unicode.ToLower(r); unicode.ToLower(l) != l {
			t.Fatalf("ToLower(ToLower(%U)) = %U, not %U", r, unicode.ToLower(l), l)
		}
	}
	for _, v := range []string{"Alice@Example.COM", "İSTANBUL", "\xff\x00A", "ǅ"} {
		once := strings.ToLower(v)
		if types.HashSearchKey(types.KindSubject, once) != (types.SearchKey{Kind: types.KindSubject, Value: once}).Hash() {
			t.Fatalf("%q: a stored lower-case value hashes apart from its search", v)
		}
	}
}

func TestKeySet(t *testing.T) {
	var x types.KeySet
	x.Add(types.KindDigest, "SHA256:AB", "", "sha256:ab")
	x.Add(types.KindEmail, "A@b.C", "a@B.c")
	x.Add(types.KindSubject, "a@b.c", "Z")
	want := []types.SearchKey{
		{Kind: types.KindDigest, Value: "sha256:ab"},
		{Kind: types.KindEmail, Value: "a@b.c"},
		{Kind: types.KindSubject, Value: "a@b.c"}, // another kind: kept
		{Kind: types.KindSubject, Value: "z"},
	}
	if !slices.Equal(x.Keys(), want) {
		t.Fatalf("keys %q, want %q", x.Keys(), want)
	}
}

// keysType is an entry type that indexes its entries under the keys its
// spec lists: {"keys":[["email","a@b.c"],...]}.
type keysType struct{}

func (keysType) Kind() string       { return "keys" }
func (keysType) Versions() []string { return []string{"0.0.1"} }
func (keysType) Canonicalize(_ context.Context, _ string, spec json.RawMessage) (types.Canonical, error) {
	var s struct{ Keys [][2]string }
	if err := json.Unmarshal(spec, &s); err != nil {
		return types.Canonical{}, types.Invalidf("%v", err)
	}
	c := types.Canonical{Body: []byte(`{}`)}
	for _, k := range s.Keys {
		c.SearchKeys = append(c.SearchKeys, types.SearchKey{Kind: types.KeyKind(k[0]), Value: k[1]})
	}
	return c, nil
}

// TestSearchKeyCap: the registry removes repeats, then refuses an entry with
// more than MaxSearchKeys keys as invalid (a 400).
func TestSearchKeyCap(t *testing.T) {
	reg := types.NewRegistry(keysType{})
	entry := func(n, repeats int) []byte {
		var keys [][2]string
		for i := range n {
			keys = append(keys, [2]string{"subject", fmt.Sprintf("S%d", i)})
		}
		for i := range repeats {
			keys = append(keys, [2]string{"subject", fmt.Sprintf("s%d", i)}) // a repeat once lower-cased
		}
		spec, err := json.Marshal(map[string]any{"keys": keys})
		if err != nil {
			t.Fatal(err)
		}
		return fmt.Appendf(nil, `{"kind":"keys","apiVersion":"0.0.1","spec":%s}`, spec)
	}
	tests := []struct {
		name     string
		n, dup   int
		wantKeys int // -1: refused
	}{
		{"none", 0, 0, 0},
		{"at the cap", types.MaxSearchKeys, 0, types.MaxSearchKeys},
		{"at the cap with repeats", types.MaxSearchKeys, 500, types.MaxSearchKeys},
		{"one over", types.MaxSearchKeys + 1, 0, -1},
		{"far over", 20 * types.MaxSearchKeys, 0, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := reg.Canonicalize(context.Background(), entry(tt.n, tt.dup))
			if tt.wantKeys < 0 {
				var ie *types.InvalidError
				if !errors.As(err, &ie) || !strings.Contains(err.Error(), fmt.Sprintf("at most %d", types.MaxSearchKeys)) {
					t.Fatalf("Canonicalize = %v, want an *InvalidError naming the cap", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(c.SearchKeys) != tt.wantKeys {
				t.Fatalf("%d keys, want %d", len(c.SearchKeys), tt.wantKeys)
			}
		})
	}
}

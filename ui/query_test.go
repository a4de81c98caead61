package ui

import (
	"strings"
	"testing"

	"github.com/tabularium/tabula/pki"
	"github.com/tabularium/tabula/types"
)

func TestClassify(t *testing.T) {
	hex64 := strings.Repeat("ab", 32)
	tests := []struct {
		q, kind string
		key     *types.SearchKey // the first key of the first term
		leaf    bool
		index   bool
		bad     bool
	}{
		{q: "alice@example.com", kind: "email", key: &types.SearchKey{Kind: types.KindEmail, Value: "alice@example.com"}},
		{q: " https://github.com/o/r/.github/workflows/x.yml@refs/heads/main ", kind: "URI identity",
			key: &types.SearchKey{Kind: types.KindSubject, Value: "https://github.com/o/r/.github/workflows/x.yml@refs/heads/main"}},
		{q: hex64, kind: "entry UUID or sha256 digest", key: &types.SearchKey{Kind: types.KindDigest, Value: "sha256:" + hex64}, leaf: true},
		{q: "SHA256:" + strings.ToUpper(hex64), kind: "sha256 digest", key: &types.SearchKey{Kind: types.KindDigest, Value: "sha256:" + hex64}},
		{q: strings.Repeat("c", 40), kind: "sha1 digest or gitsign commit SHA", key: &types.SearchKey{Kind: types.KindDigest, Value: "sha1:" + strings.Repeat("c", 40)}},
		{q: "sha1:" + strings.Repeat("1", 40), kind: "sha1 digest or gitsign commit SHA", key: &types.SearchKey{Kind: types.KindDigest, Value: "sha1:" + strings.Repeat("1", 40)}},
		{q: strings.Repeat("d", 128), kind: "sha512 digest", key: &types.SearchKey{Kind: types.KindDigest, Value: "sha512:" + strings.Repeat("d", 128)}},
		{q: strings.Repeat("0", 16) + hex64, kind: "entry UUID", leaf: true},
		{q: "12345", kind: "log index", index: true},
		{q: strings.Repeat("1", 40), kind: "sha1 digest or gitsign commit SHA", key: &types.SearchKey{Kind: types.KindDigest, Value: "sha1:" + strings.Repeat("1", 40)}},
		{q: "build.example.com", kind: "identity", key: &types.SearchKey{Kind: types.KindSubject, Value: "build.example.com"}},
		{q: "sha256:abcd", bad: true},
		{q: "", bad: true},
		{q: "99999999999999999999999", bad: true},
		{q: "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----", bad: true},
		{q: "-----BEGIN PUBLIC KEY-----AAAA-----END PUBLIC KEY-----", bad: true},
		{q: testPEM, kind: "public key", key: &types.SearchKey{Kind: types.KindKey, Value: testPEMFingerprint}},
		// A one-line search box drops a pasted key's line breaks, or makes
		// them spaces.
		{q: strings.ReplaceAll(testPEM, "\n", ""), kind: "public key", key: &types.SearchKey{Kind: types.KindKey, Value: testPEMFingerprint}},
		{q: strings.ReplaceAll(testPEM, "\n", " "), kind: "public key", key: &types.SearchKey{Kind: types.KindKey, Value: testPEMFingerprint}},
	}
	for _, tt := range tests {
		t.Run(tt.q, func(t *testing.T) {
			got, err := classify(tt.q)
			if tt.bad {
				if err == nil {
					t.Fatalf("read as %q, want an error", got.Kind)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Kind != tt.kind || (got.Leaf != nil) != tt.leaf || (got.Index != nil) != tt.index {
				t.Fatalf("got %+v", got)
			}
			if tt.key != nil && (len(got.Terms) == 0 || got.Terms[0][0] != *tt.key) {
				t.Fatalf("terms %v, want %v first", got.Terms, *tt.key)
			}
			if tt.key == nil && len(got.Terms) != 0 {
				t.Fatalf("terms %v, want none", got.Terms)
			}
		})
	}
}

// testPEM is an ECDSA P-256 public key.
const testPEM = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEDKTBUqOR32QnvP9EoFRXizSX/VgQ
/pqdbkmg1ExpoVAHslpFZOmgdkFaF0K/+PFnxiEAkLleiEGPYKqCZmlbtw==
-----END PUBLIC KEY-----
`

var testPEMFingerprint = func() string {
	k, err := pki.ParsePEM([]byte(testPEM))
	if err != nil {
		panic(err)
	}
	c, err := k.CanonicalPEM()
	if err != nil {
		panic(err)
	}
	return pki.FingerprintPEM(c)
}()

// FuzzClassify feeds the search box arbitrary text: classify never panics,
// and what it accepts is something to look for (search terms, a leaf hash
// or an index) named in words.
func FuzzClassify(f *testing.F) {
	for _, q := range []string{"alice@example.com", "https://github.com/o/r/.github/workflows/x.yml@refs/heads/main",
		strings.Repeat("ab", 32), "sha1:" + strings.Repeat("1", 40), strings.Repeat("0", 16) + strings.Repeat("ab", 32),
		"12345", testPEM, strings.ReplaceAll(testPEM, "\n", ""), "<script>x</script>@evil.example", "\u202e", ""} {
		f.Add(q)
	}
	f.Fuzz(func(t *testing.T, q string) {
		got, err := classify(q)
		if err != nil {
			return
		}
		if got.Kind == "" || (len(got.Terms) == 0 && got.Leaf == nil && got.Index == nil) {
			t.Fatalf("classify(%q) = %+v: accepted, but nothing to look for", q, got)
		}
		for _, term := range got.Terms {
			if len(term) == 0 {
				t.Fatalf("classify(%q): an empty term", q)
			}
		}
	})
}

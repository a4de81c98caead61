package migrations

import (
	"strings"
	"testing"

	"github.com/tabularium/tabula/types"
)

func TestLegacyKeyKind(t *testing.T) {
	hex64 := strings.Repeat("ab", 32)
	tests := []struct {
		stored string
		want   types.KeyKind
	}{
		{"sha256:" + hex64, types.KindDigest},
		{"sha1:" + strings.Repeat("0", 40), types.KindDigest},
		{"gitcommit:abc", types.KindDigest},
		{"sha256:", types.KindSubject}, // no digest
		{"sha256:xyz", types.KindSubject},
		{hex64, types.KindKey},
		{hex64[:63], types.KindSubject},
		{hex64 + "0", types.KindSubject},
		{"alice@example.com", types.KindEmail},
		{"mailto:alice@example.com", types.KindSubject},
		{"https://example.com/a@b", types.KindSubject},
		{"example.com", types.KindSubject},
		{"2001:db8::1", types.KindSubject},
		{"", types.KindSubject},
	}
	for _, tt := range tests {
		if got := LegacyKeyKind(tt.stored); got != tt.want {
			t.Errorf("LegacyKeyKind(%q) = %s, want %s", tt.stored, got, tt.want)
		}
	}
}

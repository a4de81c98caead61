package bulkload

import (
	"context"
	"errors"
	"testing"

	"github.com/tabularium/tabula/internal/testentry"
	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/merkle"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/hashedrekord"
)

// certSigner signs with a self-made certificate carrying an extension of
// extBytes bytes, which makes its entries about 1.8 × extBytes long.
func certSigner(t *testing.T, extBytes int) *testentry.Signer {
	t.Helper()
	s, err := testentry.NewSelfSignedSigner(testentry.SelfSigned{Emails: []string{"bulk@example.com"}, ExtensionBytes: extBytes})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestTemplateTooLarge: a key whose entries the log would refuse as too
// large for an entry bundle fails the load before it starts, with the
// log's own error.
func TestTemplateTooLarge(t *testing.T) {
	reg := types.NewRegistry(hashedrekord.New())
	for _, tc := range []struct {
		name     string
		extBytes int
		tooLarge bool
	}{
		{"small certificate", 100, false},
		{"just under the limit", 34_000, false},
		{"over the limit", 41_000, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tmpl, err := newTemplate(context.Background(), reg, certSigner(t, tc.extBytes), [8]byte{1}, 0)
			var tooLarge *log.EntryTooLargeError
			switch {
			case tc.tooLarge && (!errors.As(err, &tooLarge) || tooLarge.Limit != merkle.MaxBundleEntry || tooLarge.Size <= merkle.MaxBundleEntry):
				t.Fatalf("err = %v, want an EntryTooLargeError", err)
			case !tc.tooLarge && err != nil:
				t.Fatal(err)
			case !tc.tooLarge && len(tmpl.body) > merkle.MaxBundleEntry:
				t.Fatalf("a template of %d bytes", len(tmpl.body))
			}
		})
	}
}

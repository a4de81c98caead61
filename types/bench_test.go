package types_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/dsse"
	"github.com/tabularium/tabula/types/hashedrekord"
	"github.com/tabularium/tabula/types/intoto"
	"github.com/tabularium/tabula/types/rekord"
)

// BenchmarkCanonicalize measures what the API does with a proposed entry
// before it is queued (parse, validate, verify every signature, canonical
// body, search keys), for every kind, over each kind's golden requests.
//
//	go test -run '^$' -bench Canonicalize -benchmem ./types/
func BenchmarkCanonicalize(b *testing.B) {
	reg := types.NewRegistry(hashedrekord.New(), dsse.New(), intoto.New(), rekord.New())
	globs := []string{
		"hashedrekord/testdata/*-request.json",
		"dsse/testdata/golden/*.request.json",
		"intoto/testdata/golden/*.request.json",
		"rekord/testdata/*.request.json",
	}
	var n int
	for _, g := range globs {
		files, err := filepath.Glob(g)
		if err != nil {
			b.Fatal(err)
		}
		for _, f := range files {
			raw, err := os.ReadFile(f)
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			if _, err := reg.Canonicalize(ctx, raw); err != nil {
				continue // a golden request of a refused entry
			}
			n++
			name := strings.SplitN(g, "/", 2)[0] + "/" + strings.TrimSuffix(strings.TrimSuffix(filepath.Base(f), ".json"), ".request")
			b.Run(strings.TrimSuffix(name, "-request"), func(b *testing.B) {
				b.ReportAllocs()
				b.SetBytes(int64(len(raw)))
				for b.Loop() {
					if _, err := reg.Canonicalize(ctx, raw); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
	if n < 10 {
		b.Fatalf("only %d golden requests canonicalized", n)
	}
}

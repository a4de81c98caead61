package client_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/client"
	"github.com/tabularium/tabula/internal/testentry"
	tlog "github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/profile/rekorv1"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/sqlite"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/hashedrekord"
)

// exampleServer starts a throwaway Tabula over SQLite; real code would
// point the client at a running log instead.
func exampleServer() (url string, stop func()) {
	dir, _ := os.MkdirTemp("", "tabula-example")
	set, err := sqlite.Open(context.Background(), filepath.Join(dir, "tabula.db"))
	if err != nil {
		panic(err)
	}
	store := storage.Active(set, "rekor-v1", nil)
	k, _ := signer.Generate(signer.ECDSAP256)
	sgn, _ := signer.New(k)
	l, err := tlog.Open(context.Background(), tlog.Config{Storage: store, Signer: sgn, Profile: rekorv1.Profile("tabula.example")})
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(api.New(api.Config{Log: l, Types: types.NewRegistry(hashedrekord.New()), Storage: store}))
	return ts.URL, func() { ts.Close(); l.Close(context.Background()); store.Close(); os.RemoveAll(dir) }
}

func Example() {
	server, stop := exampleServer()
	defer stop()
	ctx := context.Background()

	c, err := client.New(server)
	if err != nil {
		panic(err)
	}
	sgn, _ := testentry.NewSigner()
	proposed, _ := sgn.HashedRekord([]byte("hello, world"))

	uuid, entry, err := c.CreateEntry(ctx, proposed)
	if err != nil {
		panic(err)
	}
	fmt.Println("logged at index", entry.LogIndex, "with a", len(uuid), "hex UUID")

	_, _, err = c.CreateEntry(ctx, proposed)
	fmt.Println("again:", err.(*client.Error).Code)

	info, err := c.LogInfo(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println("tree size", info.TreeSize)
	// Output:
	// logged at index 0 with a 80 hex UUID
	// again: 409
	// tree size 1
}

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
	"github.com/tabularium/tabula/logset"
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
	k, _ := signer.Generate(signer.ECDSAP256)
	sgn, _ := signer.New(k)
	logs, err := logset.Open(context.Background(), logset.Config{
		Store: set,
		Name:  rekorv1.Name,
		Profile: func(info storage.LogInfo) tlog.Profile {
			return rekorv1.ShardProfile("tabula.example", info.StartIndex)
		},
		Keys: []logset.Signer{sgn},
	})
	if err != nil {
		panic(err)
	}
	ts := httptest.NewServer(api.New(api.Config{Logs: logs, Types: types.NewRegistry(hashedrekord.New())}))
	return ts.URL, func() { ts.Close(); logs.Close(context.Background()); set.Close(); os.RemoveAll(dir) }
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

package client_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/internal/logsettest"
	"github.com/tabularium/tabula/internal/pgtest"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/postgres"
	"github.com/tabularium/tabula/storage/sqlite"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/hashedrekord"
)

type engine struct {
	name string
	open func(t testing.TB) storage.LogSet
}

var engines = []engine{
	{"sqlite", func(t testing.TB) storage.LogSet {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tabula.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
	{"postgres", func(t testing.TB) storage.LogSet {
		s, err := postgres.Open(context.Background(), pgtest.NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	}},
}

// newServer runs a real Tabula API over set, reached through real HTTP.
func newServer(t testing.TB, set storage.LogSet) (*httptest.Server, *signer.Local) {
	t.Helper()
	sgn := logsettest.Key(t)
	logs := logsettest.Open(t, set, sgn)
	ts := httptest.NewServer(api.New(api.Config{Logs: logs, Types: types.NewRegistry(hashedrekord.New())}))
	t.Cleanup(ts.Close)
	return ts, sgn
}

package client_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/internal/pgtest"
	tlog "github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/profile/rekorv1"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/postgres"
	"github.com/tabularium/tabula/storage/sqlite"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/hashedrekord"
)

type engine struct {
	name string
	open func(t testing.TB) storage.Storage
}

var engines = []engine{
	{"sqlite", func(t testing.TB) storage.Storage {
		s, err := sqlite.Open(context.Background(), filepath.Join(t.TempDir(), "tabula.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return storage.Active(s, "rekor-v1", nil)
	}},
	{"postgres", func(t testing.TB) storage.Storage {
		s, err := postgres.Open(context.Background(), pgtest.NewDatabase(t))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return storage.Active(s, "rekor-v1", nil)
	}},
}

// newServer runs a real Tabula API over store, reached through real HTTP.
func newServer(t testing.TB, store storage.Storage) (*httptest.Server, *signer.Local) {
	t.Helper()
	k, err := signer.Generate(signer.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	sgn, err := signer.New(k)
	if err != nil {
		t.Fatal(err)
	}
	l, err := tlog.Open(context.Background(), tlog.Config{Storage: store, Signer: sgn, Profile: rekorv1.Profile("tabula.test")})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(api.New(api.Config{Log: l, Types: types.NewRegistry(hashedrekord.New()), Storage: store}))
	t.Cleanup(func() {
		ts.Close()
		l.Close(context.Background())
	})
	return ts, sgn
}

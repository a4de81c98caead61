package client_test

import (
	"net/http/httptest"
	"testing"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/internal/logsettest"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/types"
	"github.com/tabularium/tabula/types/hashedrekord"
)

// engines are the storage engines the tests run on.
var engines = logsettest.Engines()

// newServer runs a real Tabula API over set, reached through real HTTP.
func newServer(t testing.TB, set storage.LogSet) (*httptest.Server, *signer.Local) {
	t.Helper()
	sgn := logsettest.Key(t)
	logs := logsettest.Open(t, set, sgn)
	ts := httptest.NewServer(api.New(api.Config{Logs: logs, Types: types.NewRegistry(hashedrekord.New())}))
	t.Cleanup(ts.Close)
	return ts, sgn
}

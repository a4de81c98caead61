package logsettest

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/tabularium/tabula/internal/pgtest"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/postgres"
	"github.com/tabularium/tabula/storage/sqlite"
)

// Engine is a storage engine tests run on.
type Engine struct {
	Name string
	// Open gives a new, empty database of the engine, closed when the test
	// ends.
	Open func(t testing.TB) storage.LogSet
	// Database makes a new, empty database and returns what opens it: each
	// call is another connection to the same database (another process,
	// another replica), closed when its test ends.
	Database func(t testing.TB) func(t testing.TB) storage.LogSet
}

// Engines returns the two engines every storage-facing test runs on:
// SQLite in a temporary directory, and PostgreSQL in a database of its own
// (internal/pgtest).
func Engines() []Engine {
	es := []Engine{
		{Name: "sqlite", Database: func(t testing.TB) func(t testing.TB) storage.LogSet {
			path := filepath.Join(t.TempDir(), "tabula.db")
			return func(t testing.TB) storage.LogSet {
				s, err := sqlite.Open(context.Background(), path)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
		}},
		{Name: "postgres", Database: func(t testing.TB) func(t testing.TB) storage.LogSet {
			url := pgtest.NewDatabase(t)
			return func(t testing.TB) storage.LogSet {
				s, err := postgres.Open(context.Background(), url)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { s.Close() })
				return s
			}
		}},
	}
	for i := range es {
		db := es[i].Database
		es[i].Open = func(t testing.TB) storage.LogSet { return db(t)(t) }
	}
	return es
}

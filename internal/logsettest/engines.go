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

// Engine is a storage engine tests run on: Open gives a new, empty
// database of it, closed when the test ends.
type Engine struct {
	Name string
	Open func(t testing.TB) storage.LogSet
}

// Engines returns the two engines every storage-facing test runs on:
// SQLite in a temporary directory, and PostgreSQL in a database of its own
// (internal/pgtest).
func Engines() []Engine {
	return []Engine{
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
}

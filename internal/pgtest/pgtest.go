// Package pgtest gives each test a PostgreSQL database of its own.
//
// NewDatabase creates a fresh, empty database with a unique name on the test
// server and drops it (WITH (FORCE)) when the test ends, so tests may run in
// parallel, within and across packages, without seeing each other's rows.
//
// The server is the one named by TABULA_TEST_DATABASE_URL, a postgres:// URL
// to any existing database on it (default DefaultURL); its role must be
// allowed to CREATE DATABASE. Tests talk to a real PostgreSQL: when the
// server is unreachable, the test fails, unless TABULA_TEST_SKIP_POSTGRES=1,
// which skips it instead.
package pgtest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// DefaultURL is the test server used when TABULA_TEST_DATABASE_URL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// Environment variables read by NewDatabase.
const (
	EnvURL  = "TABULA_TEST_DATABASE_URL"
	EnvSkip = "TABULA_TEST_SKIP_POSTGRES"
)

// NewDatabase creates an empty database for t and returns its URL.
func NewDatabase(t testing.TB) string {
	t.Helper()
	if os.Getenv(EnvSkip) == "1" {
		t.Skipf("pgtest: %s=1: skipping a test that needs PostgreSQL", EnvSkip)
	}
	admin := os.Getenv(EnvURL)
	if admin == "" {
		admin = DefaultURL
	}
	u, err := url.Parse(admin)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		t.Fatalf("pgtest: %s must be a postgres:// URL to a database on the test server", EnvURL)
	}

	var b [8]byte
	rand.Read(b[:]) // never fails
	name := "tabula_test_" + hex.EncodeToString(b[:])

	// The name is ours (lowercase hex), so quoting it is enough; DDL takes no
	// bound parameters.
	shown := u.Redacted()
	exec(t, admin, shown, `CREATE DATABASE "`+name+`" TEMPLATE template0`)
	t.Cleanup(func() {
		exec(t, admin, shown, `DROP DATABASE IF EXISTS "`+name+`" WITH (FORCE)`)
	})

	u.Path = "/" + name
	return u.String()
}

// exec runs one statement on the admin database, failing t clearly if the
// server cannot be reached.
func exec(t testing.TB, admin, shown, sql string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, admin)
	if err != nil {
		t.Fatalf("pgtest: cannot reach the test PostgreSQL server at %s: %v\n"+
			"Start PostgreSQL there, point %s at another server, or set %s=1 to skip the tests that need it.",
			shown, err, EnvURL, EnvSkip)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("pgtest: %s: %v", sql, err)
	}
}

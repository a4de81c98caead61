package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"strconv"
	"strings"
	"time"

	"github.com/tabularium/tabula/migrations"
)

// OpenReplica opens a read-only replica of a Tabula database (a PostgreSQL
// hot standby): it runs no migrations, which a standby refuses, and checks
// instead that the replica's schema is the one this build writes, so that
// its reads mean what the primary's mean. Only its reads may be used
// (package storage/readroute routes them); every write fails on a standby.
func OpenReplica(ctx context.Context, url string, opts ...Option) (*Store, error) {
	s, err := Open(ctx, url, append(opts, WithoutMigrations())...)
	if err != nil {
		return nil, fmt.Errorf("replica: %w", err)
	}
	// A standby started beside a primary that just migrated may not have
	// replayed the migration yet: give it schemaWait to catch up.
	deadline := time.Now().Add(schemaWait)
	for {
		err := s.checkSchema(ctx)
		if err == nil {
			return s, nil
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.Close()
			return nil, fmt.Errorf("postgres: open replica: %w", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// schemaWait is how long OpenReplica waits for the replica's schema to
// become the one this build writes.
const schemaWait = 10 * time.Second

// SchemaVersion is the version of the newest embedded migration: the schema
// this build writes.
func SchemaVersion() (int64, error) {
	entries, err := fs.ReadDir(migrations.Postgres, "postgres")
	if err != nil {
		return 0, fmt.Errorf("reading the embedded migrations: %w", err)
	}
	var v int64
	for _, e := range entries {
		num, _, ok := strings.Cut(e.Name(), "_")
		if !ok || !strings.HasSuffix(e.Name(), ".sql") {
			continue
		}
		n, err := strconv.ParseInt(num, 10, 64)
		if err != nil {
			continue
		}
		v = max(v, n)
	}
	if v == 0 {
		return 0, errors.New("no embedded migration")
	}
	return v, nil
}

// checkSchema fails unless the database's schema version (goose's version
// table) is SchemaVersion.
func (s *Store) checkSchema(ctx context.Context) error {
	want, err := SchemaVersion()
	if err != nil {
		return err
	}
	var got *int64
	if err := s.pool.QueryRow(ctx, `SELECT max(version_id) FROM goose_db_version`).Scan(&got); err != nil {
		return fmt.Errorf("reading the schema version (is this a Tabula database?): %w", err)
	}
	if got == nil || *got != want {
		v := "none"
		if got != nil {
			v = strconv.FormatInt(*got, 10)
		}
		return fmt.Errorf("schema version %s, want %d: the replica must replicate a database this version of tabula has migrated", v, want)
	}
	return nil
}

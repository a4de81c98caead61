// Package sqlite is the embedded implementation of storage.LogSet (and of
// each log's storage.Storage): one SQLite file, pure Go (modernc.org/sqlite,
// no cgo), for the single-node deployment and the "try it in ten seconds"
// path.
//
// What it promises, beyond the storage contract:
//
//   - Commits are durable: the database runs in WAL mode with
//     synchronous=FULL, so a batch Append acknowledged survives power loss.
//   - Open applies the embedded schema migrations (package migrations).
//   - Append runs in one BEGIN IMMEDIATE transaction on the store's single
//     writer connection: it reads the log's state (storage.ErrFrozen unless
//     active) and tree size, compares the size with the batch's
//     OldSize (storage.ErrStaleTree), writes the entries, search keys, tiles
//     and new head, and commits. BEGIN IMMEDIATE takes SQLite's write lock up
//     front, so even two processes sharing the file cannot fork the tree.
//   - Rotate runs in the same kind of transaction, so a rotation from
//     another process (tabula log rotate) is seen by this one's next
//     Append: the store keeps no log state in memory.
//   - Reads go through a separate pool of read-only connections and, thanks
//     to WAL, never wait for a writer.
//   - Every error is wrapped with "sqlite: <operation>:" and, where callers
//     branch, with a storage sentinel error.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver

	"github.com/tabularium/tabula/migrations"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/bodycodec"
)

// busyTimeoutMillis is how long a connection waits for another process's
// lock before failing with SQLITE_BUSY.
const busyTimeoutMillis = 10_000

// writerCacheKiB is the writer connection's page cache.
const writerCacheKiB = 64 << 10

// Store is a storage.LogSet on one SQLite file. It is safe for concurrent
// use.
type Store struct {
	w         *sql.DB // one connection; every transaction is BEGIN IMMEDIATE
	r         *sql.DB // read-only connections
	closeOnce sync.Once
	closeErr  error

	codec *bodycodec.Codec // entry bodies on disk
}

var _ storage.LogSet = (*Store)(nil)

// Open opens (creating if needed) the database file at path, applies the
// schema migrations, and returns the Store. The file's directory must exist.
// The file is accompanied by SQLite's -wal and -shm files; copy all three
// together, or none while the store is open.
func Open(ctx context.Context, path string) (*Store, error) {
	if path == "" || path == ":memory:" || strings.HasPrefix(path, "file:") {
		return nil, fmt.Errorf("sqlite: open: %q: want the path of a file", path)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	w, err := openDB(abs, false)
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	w.SetConnMaxIdleTime(0)
	if err := migrate(ctx, w); err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	r, err := openDB(abs, true)
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	n := max(4, runtime.GOMAXPROCS(0))
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	if err := r.PingContext(ctx); err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	codec, err := bodycodec.New()
	if err != nil {
		r.Close()
		w.Close()
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	return &Store{w: w, r: r, codec: codec}, nil
}

// openDB returns a handle on the file at abs whose every connection is set
// up by the DSN: WAL, synchronous=FULL, a busy timeout and, for the writer,
// BEGIN IMMEDIATE transactions; readers are query_only.
func openDB(abs string, readOnly bool) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busyTimeoutMillis))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(FULL)")
	if readOnly {
		q.Add("_pragma", "query_only(1)")
	} else {
		q.Set("_txlock", "immediate")
		// A batch of 1024 entries dirties a few MiB of pages; with SQLite's
		// default 2 MiB cache they spill to the WAL before COMMIT.
		q.Add("_pragma", fmt.Sprintf("cache_size(-%d)", writerCacheKiB))
	}
	// A file: URI with the path escaped, so no character of the path can be
	// read as a query parameter.
	dsn := (&url.URL{Scheme: "file", Path: filepath.ToSlash(abs), RawQuery: q.Encode()}).String()
	return sql.Open("sqlite", dsn)
}

// migrate brings the schema up to date on the writer connection.
//
// SQLite has no advisory lock for goose to hold, so two processes opening a
// new file at once can both find a migration pending; the loser's migration
// fails inside its own transaction (goose runs each file in one, and SQLite
// DDL is transactional), leaving nothing behind. Trying again, with a fresh
// provider, finds the work done.
func migrate(ctx context.Context, db *sql.DB) error {
	fsys, err := fs.Sub(migrations.SQLite, "sqlite")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	const attempts = 8
	for attempt := 1; ; attempt++ {
		p, err := goose.NewProvider(goose.DialectSQLite3, db, fsys,
			goose.WithDisableGlobalRegistry(true),
			goose.WithGoMigrations(migrations.SQLiteGo()...),
		)
		if err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		_, err = p.Up(ctx)
		if err == nil {
			return nil
		}
		if attempt == attempts || ctx.Err() != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		select {
		case <-time.After(time.Duration(attempt) * 50 * time.Millisecond):
		case <-ctx.Done():
			return fmt.Errorf("migrate: %w", err)
		}
	}
}

// Ping checks that the database file can be read.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.r.QueryRowContext(ctx, `SELECT 1`).Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close closes the database, checkpointing the WAL into the main file.
// Calling it more than once is harmless.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.closeErr = errors.Join(s.r.Close(), s.w.Close())
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("sqlite: close: %w", s.closeErr)
		}
	})
	return s.closeErr
}

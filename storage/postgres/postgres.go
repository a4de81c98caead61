// Package postgres is the PostgreSQL implementation of storage.LogSet (and
// of each log's storage.Storage), the production engine of Tabula.
//
// What it promises, beyond the storage contract:
//
//   - Open applies the embedded schema migrations (package migrations) under a
//     PostgreSQL session advisory lock, so any number of processes may start
//     against one database at once.
//   - Append is one transaction: it locks the log's tree-state and logs rows
//     (SELECT … FOR UPDATE), refuses a log that is not active
//     (storage.ErrFrozen), compares the stored size with the batch's OldSize, writes the
//     entries, search keys, tiles and new head, and commits. Any number of
//     processes may therefore append to one database; the row lock puts their
//     batches in a single total order and the size check refuses a batch built
//     on a head that moved (storage.ErrStaleTree).
//   - Rotate takes CreateLog's advisory lock, then the same rows Append
//     locks, and freezes the log and creates its successor in that one
//     transaction: an Append is either in the final size or gets
//     storage.ErrFrozen, from any process.
//   - Every error is wrapped with "postgres: <operation>:" and, where callers
//     branch, with a storage sentinel error.
//   - Only bound parameters reach SQL; no input is ever spliced into a query.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/tabularium/tabula/migrations"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/bodycodec"
)

// DefaultConnectTimeout bounds how long establishing one connection may take
// when the URL sets no connect_timeout, so that Ping and every other call
// fail fast when the server is unreachable even if their context has no
// deadline.
const DefaultConnectTimeout = 5 * time.Second

// Store is a storage.LogSet on one PostgreSQL database. It is safe for
// concurrent use.
type Store struct {
	pool      *pgxpool.Pool
	codec     *bodycodec.Codec // entry bodies on disk
	closeOnce sync.Once
}

var _ storage.LogSet = (*Store)(nil)

// Option configures Open.
type Option func(*options)

type options struct {
	maxConns int32
	migrate  bool
}

// WithMaxConns sets the size of the connection pool (pgxpool's default is the
// larger of 4 and the number of CPUs). It overrides pool_max_conns in the URL.
func WithMaxConns(n int32) Option {
	return func(o *options) { o.maxConns = n }
}

// WithoutMigrations makes Open skip applying the schema migrations, for
// deployments that run them separately (tabula migrate) with a more
// privileged role.
func WithoutMigrations() Option {
	return func(o *options) { o.migrate = false }
}

// Open connects to the database at url (a postgres:// URL or a libpq
// key=value string), applies the schema migrations unless WithoutMigrations
// is given, and returns the Store. The Store owns a connection pool; Close
// releases it.
func Open(ctx context.Context, url string, opts ...Option) (*Store, error) {
	o := options{migrate: true}
	for _, opt := range opts {
		if opt != nil {
			opt(&o)
		}
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		// The parse error may quote the URL, password included: do not wrap it.
		return nil, errors.New("postgres: open: invalid database URL")
	}
	if cfg.ConnConfig.ConnectTimeout == 0 {
		cfg.ConnConfig.ConnectTimeout = DefaultConnectTimeout
	}
	// Every query here is a short index lookup or a small batch. JIT
	// compilation only pays for long analytic queries; on a big table whose
	// statistics are missing or stale it cost a point read ~160 ms (measured
	// on the 10M-entry log, docs/SCALE.md). A jit setting in the URL wins.
	if _, set := cfg.ConnConfig.RuntimeParams["jit"]; !set {
		cfg.ConnConfig.RuntimeParams["jit"] = "off"
	}
	if o.maxConns < 0 {
		return nil, fmt.Errorf("postgres: open: negative pool size %d", o.maxConns)
	}
	if o.maxConns > 0 {
		cfg.MaxConns = o.maxConns
		if cfg.MinConns > cfg.MaxConns {
			cfg.MinConns = cfg.MaxConns
		}
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	codec, err := bodycodec.New()
	if err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	s := &Store{pool: pool, codec: codec}
	if o.migrate {
		if err := s.migrate(ctx); err != nil {
			pool.Close()
			return nil, fmt.Errorf("postgres: open: %w", err)
		}
	} else if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	return s, nil
}

// migrationLockID is the advisory lock key held while migrating: fixed, and
// not goose's default, which other applications on the server may use.
const migrationLockID int64 = 0x7461_6275_6c61_6d67 // "tabulamg"

// migrate brings the schema up to date. goose's session locker holds a
// PostgreSQL advisory lock on one connection for the whole run, so concurrent
// starters wait for each other instead of racing on DDL.
func (s *Store) migrate(ctx context.Context) error {
	fsys, err := fs.Sub(migrations.Postgres, "postgres")
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	// Retry the lock every second, for up to five minutes (and never past ctx).
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(migrationLockID), lock.WithLockTimeout(1, 300))
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close() // does not close the pool
	p, err := goose.NewProvider(goose.DialectPostgres, db, fsys,
		goose.WithSessionLocker(locker),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	return nil
}

// Ping checks that a connection to the database can be acquired and used.
// It is bounded by ctx and by the connect timeout.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close closes the connection pool, waiting for acquired connections to be
// released. Calling it more than once is harmless.
func (s *Store) Close() error {
	s.closeOnce.Do(s.pool.Close)
	return nil
}

package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/tabularium/tabula/internal/bulkload"
	"github.com/tabularium/tabula/log"
)

// runBenchLoad is `tabula bench load`: build a large log directly in its
// database through the log's own integration code (no HTTP), for scale
// measurements. The server must not be running on that database with
// another key; it may run beside it with the same key (the tree-size
// compare-and-swap keeps one tree), though measurements want it stopped.
func runBenchLoad(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("bench load", stderr, "usage: tabula bench load --entries N [--database-url URL | --data-dir DIR] [flags]\n\n"+
		"Adds N distinct, validly signed hashedrekord entries to the log in the database\n"+
		"through the log's batcher and integration (SETs, tiles, checkpoints, storage),\n"+
		"as `tabula serve` would, without HTTP. One template entry per key and one entry\n"+
		"in --check-every go through the entry type's full verification and canonicalization.")
	var c serveConfig
	fs.StringVar(&c.DataDir, "data-dir", "./tabula-data", "data directory: embedded database and generated key (as for serve)")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL URL (postgres://…); empty: embedded SQLite in the data directory")
	fs.StringVar(&c.Key, "key", "", "log private key (PEM); empty: <data-dir>/log-key.pem, created on first start")
	fs.StringVar(&c.Hostname, "hostname", "tabula.local", "log name, as for serve")
	fs.IntVar(&c.BatchMaxSize, "batch-max-size", log.DefaultBatchMaxSize, "most entries integrated in one transaction")
	var lc bulkload.Config
	fs.IntVar(&lc.Entries, "entries", 1_000_000, "entries to add")
	fs.IntVar(&lc.Keys, "keys", 16, "distinct signing keys the entries are spread over")
	fs.StringVar(&lc.KeyKind, "key-type", bulkload.KeyECDSA, "entries' keys: ecdsa (P-256 public key) or cert (P-256 with a Fulcio-style certificate)")
	fs.IntVar(&lc.Workers, "workers", 4096, "Add calls in flight")
	fs.IntVar(&lc.CheckEvery, "check-every", 1000, "verify and canonicalize one entry in N in full and compare")
	fs.DurationVar(&lc.ProgressEvery, "progress", 10*time.Second, "interval of progress lines on stderr")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	set, engine, err := openStorage(ctx, &c)
	if err != nil {
		return err
	}
	defer set.Close()
	keys, _, err := loadKeys(&c, logger)
	if err != nil {
		return err
	}
	kinds, err := entryTypes("hashedrekord")
	if err != nil {
		return err
	}
	logs, err := openLogs(ctx, set, c.Hostname, keys, log.Config{
		BatchMaxSize: c.BatchMaxSize,
		MaxPending:   max(4*c.BatchMaxSize, lc.Workers),
		Logger:       logger,
	}, logger)
	if err != nil {
		return err
	}
	active, err := logs.Active(ctx)
	if err != nil {
		logs.Close(context.WithoutCancel(ctx)) //nolint:errcheck // the first error is the one returned
		return err
	}
	lg := active.Log
	lc.Log, lc.Types, lc.Progress = lg, kinds, stderr
	fmt.Fprintf(stderr, "bench load: adding %d entries to %s\n", lc.Entries, engine)
	res, runErr := bulkload.Run(ctx, lc)
	closeCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	if err := logs.Close(closeCtx); err != nil && runErr == nil {
		runErr = err
	}
	fmt.Fprintf(stdout, "added %d entries in %.1f s (%.0f/s), tree size %d → %d, %d checked in full, %d duplicates\n",
		res.Added, res.Seconds, res.PerSecond, res.StartSize, res.EndSize, res.Checked, res.Duplicates)
	line, err := json.Marshal(res)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n", line)
	return runErr
}

package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os/signal"
	"syscall"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/profile/rekorv1"
	"github.com/tabularium/tabula/signer"
)

// ceilingConfig configures `tabula bench ceiling`. Everything else (server
// timeouts, limits, body and attestation bounds) is serve's default.
type ceilingConfig struct {
	Listen     string
	Key        string // log private key (PEM); empty: a new P-256 key in memory
	Hostname   string
	EntryTypes string
	TreeID     int64
	LogLevel   string
}

// runBenchCeiling is `tabula bench ceiling`: serve the write path's
// ceiling (api.NewCeiling) until interrupted.
func runBenchCeiling(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlagSet("bench ceiling", stderr, "usage: tabula bench ceiling [--listen ADDR] [--key FILE] [flags]\n\n"+
		"Serves POST /api/v1/log/entries doing only the per-write work a log cannot avoid:\n"+
		"HTTP with serve's server settings, router, metrics and limits; reading and\n"+
		"canonicalizing the proposed entry through the same entry types (its signature\n"+
		"verified); the leaf hash; the SET signed with the log key (Rekor v1 profile); the\n"+
		"same LogEntry answer. No storage and no tree: the index is a counter and the\n"+
		"inclusion proof a dummy of a real one's size that does not verify. Load it with\n"+
		"`tabula bench --ceiling --mode write`; scripts/bench-series.sh (CEILING=1) runs\n"+
		"it beside `tabula serve` and prints the ratio (issue 15).")
	var c ceilingConfig
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:3106", "listen address")
	fs.StringVar(&c.Key, "key", "", "log private key (PEM); empty: a new ECDSA P-256 key, in memory only")
	fs.StringVar(&c.Hostname, "hostname", defaultHostname, "log name, as for serve (checkpoint origin and key name)")
	fs.StringVar(&c.EntryTypes, "entry-types", "", "entry kinds accepted, as for serve (empty: all)")
	fs.Int64Var(&c.TreeID, "tree-id", 1, "tree ID of the pretended log (the EntryIDs' prefix)")
	fs.StringVar(&c.LogLevel, "log-level", "warn", "log level: debug, info, warn, error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return benchCeiling(ctx, &c, logger, nil)
}

// benchCeiling serves the ceiling until ctx ends. If ready is not nil it
// receives the address once the server accepts connections (for tests).
func benchCeiling(ctx context.Context, c *ceilingConfig, logger *slog.Logger, ready chan<- string) error {
	// serve's defaults, from its own flags.
	d := serveFlags(flag.NewFlagSet("serve", flag.ContinueOnError))
	kinds, err := entryTypes(c.EntryTypes)
	if err != nil {
		return err
	}
	limits, err := apiLimits(d)
	if err != nil {
		return err
	}
	var key signer.Signer
	if c.Key != "" {
		if key, err = signer.LoadFile(c.Key); err != nil {
			return fmt.Errorf("--key: %w", err)
		}
	} else {
		priv, err := signer.Generate(signer.ECDSAP256)
		if err != nil {
			return err
		}
		if key, err = signer.New(priv); err != nil {
			return err
		}
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	handler, err := api.NewCeiling(api.CeilingConfig{
		Types:              kinds,
		Signer:             key,
		Profile:            rekorv1.Profile(c.Hostname),
		TreeID:             c.TreeID,
		MaxRequestBody:     d.MaxRequestBody,
		MaxAttestationSize: d.MaxAttestationSize,
		Limits:             limits,
		Logger:             logger,
		Registerer:         reg,
	})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	srv := apiServer(handler, d, logger)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	logger.Info("tabula bench ceiling serving", "url", "http://"+ln.Addr().String())
	if ready != nil {
		ready <- ln.Addr().String()
	}
	_, cancel := awaitShutdown(ctx, errc, logger, srv, nil)
	cancel()
	return nil
}

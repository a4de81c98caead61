package main

import (
	"context"
	"crypto/ed25519"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/tabularium/tabula/checkpoint"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/postgres"
	"github.com/tabularium/tabula/storage/sqlite"
	"github.com/tabularium/tabula/witness"
	"github.com/tabularium/tabula/witness/feeder"
	"github.com/tabularium/tabula/witness/loglist"
)

// witnessKeyFile is the witness key's file name in the data directory.
const witnessKeyFile = "witness-key.pem"

// witnessConfig is the configuration of `tabula witness`.
type witnessConfig struct {
	Listen        string
	MetricsListen string
	DataDir       string
	DatabaseURL   string
	Key           string
	Name          string
	Logs          string
	FeedInterval  time.Duration
	LogLevel      string
}

func witnessFlags(fs *flag.FlagSet) *witnessConfig {
	c := &witnessConfig{}
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:3100", "tlog-witness listen address (POST /add-checkpoint, GET /<hex sha256(origin)>/checkpoint)")
	fs.StringVar(&c.MetricsListen, "metrics-listen", "127.0.0.1:2113", "Prometheus /metrics listen address (empty: off)")
	fs.StringVar(&c.DataDir, "data-dir", "./tabula-witness", "data directory: embedded database ("+"witness.db"+") and generated key")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL URL (postgres://…); empty: embedded SQLite in the data directory")
	fs.StringVar(&c.Key, "key", "", "witness private key, Ed25519 PKCS #8 PEM, created (mode 0600) if missing (empty: <data-dir>/"+witnessKeyFile+")")
	fs.StringVar(&c.Name, "name", "tabula-witness", "the witness's key name on its cosignatures (e.g. witness.example.com)")
	fs.StringVar(&c.Logs, "logs", "", "log list file (witness network logs/v0 format, with Tabula's feed lines); required")
	fs.DurationVar(&c.FeedInterval, "feed-interval", feeder.DefaultInterval, "how often logs with a feed line are fetched")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	return c
}

// witnessEnvPrefix prefixes the environment variables of `tabula witness`'s
// flags (TABULA_WITNESS_LISTEN, …).
const witnessEnvPrefix = "TABULA_WITNESS_"

// runWitness is `tabula witness`, and `tabula witness vkey`.
func runWitness(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "vkey" {
		return runWitnessVKey(args[1:], stdout, stderr)
	}
	fs := flag.NewFlagSet("witness", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(stderr, "Usage: tabula witness [flags]        run a tlog-witness (c2sp.org/tlog-witness)")
		fmt.Fprintln(stderr, "       tabula witness vkey --key F --name N   print the witness's vkey, for policies")
		fs.PrintDefaults()
	}
	c := witnessFlags(fs)
	if err := parseFlagsEnv(fs, args, witnessEnvPrefix); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "tabula witness: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	logger, err := jsonLogger(stderr, c.LogLevel)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return runWitnessServer(ctx, c, logger, nil)
}

func runWitnessVKey(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("witness vkey", flag.ContinueOnError)
	fs.SetOutput(stderr)
	key := fs.String("key", "", "witness private key (Ed25519 PEM); required")
	name := fs.String("name", "tabula-witness", "the witness's key name")
	if err := parseFlagsEnv(fs, args, witnessEnvPrefix); err != nil {
		return err
	}
	if *key == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "Usage: tabula witness vkey --key FILE [--name NAME]")
		return errUsage
	}
	priv, err := loadWitnessKey(*key, false)
	if err != nil {
		return err
	}
	s, err := checkpoint.NewCosignatureSigner(*name, priv, nil)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(stdout, checkpoint.CosignatureVKey(s.Name(), s.Verifier().Public()))
	return err
}

// loadWitnessKey reads the Ed25519 key at path, creating it (mode 0600) if
// create is set and the file does not exist.
func loadWitnessKey(path string, create bool) (ed25519.PrivateKey, error) {
	if _, err := os.Stat(path); create && errors.Is(err, fs.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(nil)
		if err != nil {
			return nil, err
		}
		pemBytes, err := signer.PrivateKeyPEM(priv)
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, fmt.Errorf("witness key: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("witness key: %w", err)
		}
		if _, err := f.Write(pemBytes); err != nil {
			f.Close()
			return nil, fmt.Errorf("witness key: %w", err)
		}
		if err := f.Close(); err != nil {
			return nil, fmt.Errorf("witness key: %w", err)
		}
	}
	k, err := signer.LoadPrivateKeyFile(path)
	if err != nil {
		return nil, fmt.Errorf("witness key: %w", err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("witness key %s: a %T, want an Ed25519 key", path, k)
	}
	return priv, nil
}

// witnessStore is the witness's state store and what closes it.
type witnessStore interface {
	storage.WitnessState
	Close() error
}

func openWitnessStore(ctx context.Context, c *witnessConfig) (witnessStore, string, error) {
	if c.DatabaseURL != "" {
		s, err := postgres.Open(ctx, c.DatabaseURL)
		if err != nil {
			return nil, "", err
		}
		return s, "postgres", nil
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, "", fmt.Errorf("data directory: %w", err)
	}
	path := filepath.Join(c.DataDir, "witness.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, "", err
	}
	return s, "sqlite (" + path + ")", nil
}

// runWitnessServer runs the witness until ctx ends. If ready is not nil it
// receives the listen address once the server accepts connections (for
// tests).
func runWitnessServer(ctx context.Context, c *witnessConfig, logger *slog.Logger, ready chan<- string) error {
	if c.Logs == "" {
		return errors.New("--logs is required: the log list file")
	}
	list, err := os.ReadFile(c.Logs)
	if err != nil {
		return fmt.Errorf("--logs: %w", err)
	}
	logs, err := loglist.Parse(list)
	if err != nil {
		return fmt.Errorf("--logs %s: %w", c.Logs, err)
	}
	keyPath := c.Key
	if keyPath == "" {
		keyPath = filepath.Join(c.DataDir, witnessKeyFile)
	}
	priv, err := loadWitnessKey(keyPath, true)
	if err != nil {
		return err
	}
	cs, err := checkpoint.NewCosignatureSigner(c.Name, priv, nil)
	if err != nil {
		return fmt.Errorf("--name: %w", err)
	}
	st, engine, err := openWitnessStore(ctx, c)
	if err != nil {
		return err
	}
	defer st.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	w, err := witness.New(witness.Config{Signer: cs, Logs: logs, State: st, Logger: logger, Metrics: reg})
	if err != nil {
		return err
	}
	f, err := feeder.New(feeder.Config{Witness: w, Interval: c.FeedInterval, Logger: logger, Metrics: reg})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	srv := &http.Server{
		Handler:           w.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 2)
	go func() { errc <- srv.Serve(ln) }()
	var msrv *http.Server
	if c.MetricsListen != "" {
		mln, err := net.Listen("tcp", c.MetricsListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listening for metrics: %w", err)
		}
		msrv = &http.Server{Handler: metricsHandler(reg, false), ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- msrv.Serve(mln) }()
	}
	fctx, stopFeeder := context.WithCancel(ctx)
	feederDone := make(chan struct{})
	go func() { defer close(feederDone); f.Run(fctx) }()

	logger.Info("tabula witness serving",
		"url", "http://"+ln.Addr().String(),
		"vkey", w.VKey(),
		"logs", len(logs),
		"fed", len(f.Logs()),
		"engine", engine,
		"key", keyPath,
		"metrics", c.MetricsListen)
	if ready != nil {
		ready <- ln.Addr().String()
	}

	_, cancel := awaitShutdown(ctx, errc, logger, srv, msrv)
	defer cancel()
	stopFeeder()
	<-feederDone
	logger.Info("stopped")
	return nil
}

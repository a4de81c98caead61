package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/pki/keyformat"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/postgres"
	"github.com/tabularium/tabula/storage/sqlite"
)

// serveConfig is everything `tabula serve` takes; each field is a flag with a
// TABULA_* environment equivalent.
type serveConfig struct {
	// Listen is the API address (Rekor's port by default).
	Listen string
	// MetricsListen is the Prometheus /metrics address, kept off the API port.
	MetricsListen string
	// DataDir holds the embedded database and the generated key.
	DataDir string
	// DatabaseURL selects PostgreSQL; empty means embedded SQLite in DataDir.
	DatabaseURL string
	// Key lists private key PEM files, comma-separated: the active log is
	// served with the one whose public key it stores, and the first creates
	// the first log. Empty means DataDir's own, created on first start.
	Key string
	// Hostname is the checkpoint origin's host part and signature key name.
	Hostname string
	// BatchMaxSize, BatchMaxAge: see log.DefaultBatchMaxSize, log.DefaultBatchMaxAge.
	BatchMaxSize int
	BatchMaxAge  time.Duration
	// MaxRequestBody bounds request bodies (bytes).
	MaxRequestBody int64
	// LogLevel is debug, info, warn or error.
	LogLevel string
	// EntryTypes lists the kinds accepted for new entries (comma-separated;
	// empty: all). MaxAttestationSize bounds the attestations stored beside
	// intoto entries; larger ones are not stored (the entry still is).
	EntryTypes         string
	MaxAttestationSize int

	// TLSCert and TLSKey make the API serve HTTPS.
	TLSCert, TLSKey string
	// Timeouts of the API server; ReadHeaderTimeout cuts off slow clients.
	ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout time.Duration
	// Limits: concurrency cap and per-client rate limiting.
	MaxConcurrent int
	RateLimit     float64
	RateBurst     int
	RateLoopback  bool
	// Body and per-client budgets (api.Limits); 0 turns one off.
	BodyBudgetMiB       int64
	ClientMaxRequests   int
	ClientBodyBudgetMiB int64
	BodyStallTimeout    time.Duration
	// TrustedProxies: CIDRs whose X-Forwarded-For names the client.
	TrustedProxies string
	// MemoryLimitMiB sets the Go runtime's soft memory limit unless
	// GOMEMLIMIT is set (0: none).
	MemoryLimitMiB int64
	// Pprof serves net/http/pprof at /debug/pprof/ on the metrics listener.
	Pprof bool
	// TileCacheSize (tiles) and EntryCacheMiB (0: off) size the log's
	// caches of immutable tiles and entries (docs/SCALE.md).
	TileCacheSize int
	EntryCacheMiB int
	// BundleCacheMiB bounds the memory of cached full entry bundles.
	BundleCacheMiB int
}

func serveFlags(fs *flag.FlagSet) *serveConfig {
	c := &serveConfig{}
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:3000", "API listen address")
	fs.StringVar(&c.MetricsListen, "metrics-listen", "127.0.0.1:2112", "Prometheus /metrics listen address (empty: off)")
	fs.StringVar(&c.DataDir, "data-dir", "./tabula-data", "data directory: embedded database and generated key")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL URL (postgres://…); empty: embedded SQLite in the data directory")
	fs.StringVar(&c.Key, "key", "", "log private keys (PEM), comma-separated: the active log's must be one of them, and the first creates a new database's log (empty: <data-dir>/log-key.pem, created on first start)")
	fs.StringVar(&c.Hostname, "hostname", "tabula.local", "log name: the checkpoint origin is '<hostname> - <treeID>'")
	fs.IntVar(&c.BatchMaxSize, "batch-max-size", log.DefaultBatchMaxSize, "most entries integrated in one transaction")
	fs.DurationVar(&c.BatchMaxAge, "batch-max-age", log.DefaultBatchMaxAge, "longest an idle integrator waits for a batch to fill (0: group commit, integrate at once)")
	fs.Int64Var(&c.MaxRequestBody, "max-request-body", api.DefaultMaxRequestBody, "largest request body in bytes (larger: 413)")
	fs.StringVar(&c.LogLevel, "log-level", "info", "log level: debug, info, warn, error")
	fs.StringVar(&c.EntryTypes, "entry-types", "", "entry kinds accepted for new entries, comma-separated (empty: all of "+strings.Join(kindNames(allEntryTypes()), ", ")+")")
	fs.IntVar(&c.MaxAttestationSize, "max-attestation-size", api.DefaultMaxAttestationSize, "largest attestation (bytes) stored beside an entry; larger ones are not stored (0: store none)")
	fs.StringVar(&c.TLSCert, "tls-cert", "", "TLS certificate chain (PEM) for the API; with --tls-key, serve HTTPS")
	fs.StringVar(&c.TLSKey, "tls-key", "", "TLS private key (PEM) for the API")
	fs.DurationVar(&c.ReadHeaderTimeout, "read-header-timeout", 10*time.Second, "time allowed to read request headers (cuts off slow clients)")
	fs.DurationVar(&c.ReadTimeout, "read-timeout", 60*time.Second, "time allowed to read a whole request")
	fs.DurationVar(&c.WriteTimeout, "write-timeout", 60*time.Second, "time allowed to write a response")
	fs.DurationVar(&c.IdleTimeout, "idle-timeout", 120*time.Second, "how long an idle keep-alive connection is kept")
	fs.IntVar(&c.MaxConcurrent, "max-concurrent-requests", 4096, "requests served at once; beyond it 503 (0: no cap)")
	fs.Float64Var(&c.RateLimit, "rate-limit", 0, "requests per second allowed to one client IP (0: off)")
	fs.IntVar(&c.RateBurst, "rate-burst", 50, "requests a client may send at once above --rate-limit")
	fs.BoolVar(&c.RateLoopback, "rate-limit-loopback", false, "apply --rate-limit to loopback clients too")
	fs.Int64Var(&c.BodyBudgetMiB, "body-budget-mib", api.DefaultBodyBytesInFlight>>20, "request body memory held by all requests at once, in MiB; beyond it 503 (0: no cap)")
	fs.IntVar(&c.ClientMaxRequests, "client-max-requests", api.DefaultClientRequests, "requests one client may have in flight; beyond it 429 (0: no cap; loopback included)")
	fs.Int64Var(&c.ClientBodyBudgetMiB, "client-body-budget-mib", api.DefaultClientBodyBytes>>20, "request body memory one client may hold at once, in MiB; beyond it 429 (0: no cap; loopback included)")
	fs.DurationVar(&c.BodyStallTimeout, "body-stall-timeout", api.DefaultBodyStallTimeout, "a request body that sends nothing for this long is cut with 408 (0: only --read-timeout)")
	fs.StringVar(&c.TrustedProxies, "trusted-proxies", "", "comma-separated CIDRs or addresses of reverse proxies whose X-Forwarded-For names the client (empty: the peer is the client)")
	fs.Int64Var(&c.MemoryLimitMiB, "memory-limit-mib", defaultMemoryLimitMiB, "Go runtime soft memory limit in MiB, unless GOMEMLIMIT is set (0: none)")
	fs.BoolVar(&c.Pprof, "pprof", false, "serve Go profiles at /debug/pprof/ on the metrics listener (needs --metrics-listen)")
	fs.IntVar(&c.TileCacheSize, "tile-cache-size", log.DefaultTileCacheSize, "full tiles kept in memory (up to 16 KiB each with their inner nodes)")
	fs.IntVar(&c.EntryCacheMiB, "entry-cache-mib", log.DefaultEntryCacheBytes>>20, "memory for entries kept for reads by index or UUID, in MiB (0: none)")
	fs.IntVar(&c.BundleCacheMiB, "bundle-cache-mib", log.DefaultBundleCacheBytes>>20, "memory for full entry bundles kept for /tile/entries reads, in MiB (at least 1)")
	return c
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := serveFlags(fs)
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
	return serve(ctx, c, logger, nil)
}

// serve runs the server until ctx ends. If ready is not nil it receives the
// API's address once the server accepts connections (for tests).
func serve(ctx context.Context, c *serveConfig, logger *slog.Logger, ready chan<- string) error {
	kinds, err := entryTypes(c.EntryTypes)
	if err != nil {
		return err
	}
	if c.MaxAttestationSize < 0 {
		return fmt.Errorf("--max-attestation-size must not be negative")
	}
	if c.TileCacheSize < 1 {
		return fmt.Errorf("--tile-cache-size must be at least 1")
	}
	if c.EntryCacheMiB < 0 {
		return fmt.Errorf("--entry-cache-mib must not be negative")
	}
	if c.BundleCacheMiB < 1 {
		return fmt.Errorf("--bundle-cache-mib must be at least 1")
	}
	limits, err := apiLimits(c)
	if err != nil {
		return err
	}
	setMemoryLimit(c.MemoryLimitMiB, logger)
	// The memory bound is what matters; the count only has to stay above
	// it (entries take over 1 KiB each). log.Config: a negative count is off.
	entryCount, entryBytes := -1, int64(c.EntryCacheMiB)<<20
	if c.EntryCacheMiB > 0 {
		entryCount = c.EntryCacheMiB << 10
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	set, engine, err := openStorage(ctx, c)
	if err != nil {
		return err
	}
	defer set.Close()

	keys, keyPath, err := loadKeys(c, logger)
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	logs, err := openLogs(ctx, set, c.Hostname, keys, log.Config{
		BatchMaxSize: c.BatchMaxSize,
		BatchMaxAge:  c.BatchMaxAge,
		Logger:       logger,
		Registerer:   reg,

		TileCacheSize:   c.TileCacheSize,
		EntryCacheSize:  entryCount,
		EntryCacheBytes: entryBytes,

		BundleCacheBytes: int64(c.BundleCacheMiB) << 20,
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
	handler := api.New(api.Config{
		Logs:               logs,
		Types:              kinds,
		MaxAttestationSize: c.MaxAttestationSize,
		CanonicalKey:       keyformat.CanonicalKey,
		WriteWait:          writeWait(c.WriteTimeout),
		MaxRequestBody:     c.MaxRequestBody,
		Logger:             logger,
		Registerer:         reg,
		Limits:             limits,
	})
	var tlsConfig *tls.Config
	if c.TLSCert != "" || c.TLSKey != "" {
		cert, err := tls.LoadX509KeyPair(c.TLSCert, c.TLSKey)
		if err != nil {
			return fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}

	ln, err := net.Listen("tcp", c.Listen)
	if err != nil {
		return fmt.Errorf("listening: %w", err)
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		TLSConfig:         tlsConfig,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 2)
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
		go func() { errc <- srv.ServeTLS(ln, "", "") }()
	} else {
		go func() { errc <- srv.Serve(ln) }()
	}

	var msrv *http.Server
	if c.MetricsListen != "" {
		mln, err := net.Listen("tcp", c.MetricsListen)
		if err != nil {
			ln.Close()
			return fmt.Errorf("listening for metrics: %w", err)
		}
		msrv = &http.Server{
			Handler:           metricsHandler(reg, c.Pprof),
			ReadHeaderTimeout: 10 * time.Second,
		}
		go func() { errc <- msrv.Serve(mln) }()
	}

	head, _ := lg.Head(ctx)
	shards, _ := logs.Shards(ctx)
	logger.Info("tabula serving",
		"url", scheme+"://"+ln.Addr().String(),
		"origin", lg.Origin(),
		"logs", len(shards),
		"engine", engine,
		"publicKey", keyPath,
		"treeSize", head.Size,
		"metrics", c.MetricsListen,
		"pprof", c.Pprof && c.MetricsListen != "")
	if ready != nil {
		ready <- ln.Addr().String()
	}

	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			logger.Error("server failed", "err", err)
		}
	}

	// Stop accepting, let in-flight requests (and so the batch in flight)
	// finish, then stop the integrator and close the database.
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("shutdown", "err", err)
	}
	if msrv != nil {
		_ = msrv.Shutdown(sctx)
	}
	if err := logs.Close(sctx); err != nil {
		logger.Warn("closing logs", "err", err)
	}
	logger.Info("stopped")
	return nil
}

// metricsHandler serves Prometheus metrics and, if pprof is set, the Go
// profiles under /debug/pprof/ (on its own mux, never http.DefaultServeMux).
func metricsHandler(reg *prometheus.Registry, pprof bool) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	if pprof {
		mux.HandleFunc("/debug/pprof/", httppprof.Index)
		mux.HandleFunc("/debug/pprof/cmdline", httppprof.Cmdline)
		mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", httppprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", httppprof.Trace)
	} else {
		mux.Handle("/debug/pprof/", http.NotFoundHandler())
	}
	return mux
}

func openStorage(ctx context.Context, c *serveConfig) (storage.LogSet, string, error) {
	if c.DatabaseURL != "" {
		s, err := postgres.Open(ctx, c.DatabaseURL)
		if err != nil {
			return nil, "", err
		}
		return s, "postgres", nil
	}
	path := filepath.Join(c.DataDir, "tabula.db")
	s, err := sqlite.Open(ctx, path)
	if err != nil {
		return nil, "", err
	}
	return s, "sqlite (" + path + ")", nil
}

// loadKeys loads every key of --key (comma-separated), or the data
// directory's key, creating that one on first start. It returns the signers
// and the first public key's path.
func loadKeys(c *serveConfig, logger *slog.Logger) ([]logset.Signer, string, error) {
	if c.Key != "" {
		var keys []logset.Signer
		for _, f := range strings.Split(c.Key, ",") {
			if f = strings.TrimSpace(f); f == "" {
				continue
			}
			s, err := signer.LoadFile(f)
			if err != nil {
				return nil, "", err
			}
			keys = append(keys, s)
		}
		if len(keys) == 0 {
			return nil, "", errors.New("--key: no key file named")
		}
		return keys, publicKeyPath(strings.TrimSpace(strings.Split(c.Key, ",")[0])) + " (or GET /api/v1/log/publicKey)", nil
	}
	priv := filepath.Join(c.DataDir, "log-key.pem")
	pub := publicKeyPath(priv)
	s, created, err := signer.LoadOrCreate(priv, pub)
	if err != nil {
		return nil, "", err
	}
	if created {
		logger.Info("created a new log signing key", "privateKey", priv, "publicKey", pub)
	}
	return []logset.Signer{s}, pub, nil
}

// publicKeyPath is where keygen puts the public key of a private key file.
func publicKeyPath(priv string) string {
	return strings.TrimSuffix(priv, ".pem") + ".pub.pem"
}

func runMigrate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := &serveConfig{}
	fs.StringVar(&c.DataDir, "data-dir", "./tabula-data", "data directory of the embedded database")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL URL; empty: the embedded database")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return err
	}
	s, engine, err := openStorage(ctx, c)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "migrations applied (%s)\n", engine)
	return s.Close()
}

// apiLimits turns the limit flags into api.Limits (whose 0 means the
// default and a negative value off, where a flag's 0 means off).
func apiLimits(c *serveConfig) (api.Limits, error) {
	if c.BodyBudgetMiB < 0 || c.ClientMaxRequests < 0 || c.ClientBodyBudgetMiB < 0 || c.BodyStallTimeout < 0 {
		return api.Limits{}, fmt.Errorf("--body-budget-mib, --client-max-requests, --client-body-budget-mib and --body-stall-timeout must not be negative")
	}
	proxies, err := api.ParseTrustedProxies(c.TrustedProxies)
	if err != nil {
		return api.Limits{}, fmt.Errorf("--trusted-proxies: %w", err)
	}
	offIfZero := func(v int64) int64 {
		if v == 0 {
			return -1
		}
		return v
	}
	return api.Limits{
		MaxConcurrent:     c.MaxConcurrent,
		RatePerClient:     c.RateLimit,
		Burst:             c.RateBurst,
		LimitLoopback:     c.RateLoopback,
		BodyBytesInFlight: offIfZero(c.BodyBudgetMiB << 20),
		ClientRequests:    int(offIfZero(int64(c.ClientMaxRequests))),
		ClientBodyBytes:   offIfZero(c.ClientBodyBudgetMiB << 20),
		BodyStallTimeout:  time.Duration(offIfZero(int64(c.BodyStallTimeout))),
		BodyReadTimeout:   c.ReadTimeout,
		TrustedProxies:    proxies,
	}, nil
}

// defaultMemoryLimitMiB is --memory-limit-mib's default.
const defaultMemoryLimitMiB = 0

// setMemoryLimit sets the runtime's soft memory limit, unless GOMEMLIMIT
// (which the runtime has read already) is set.
func setMemoryLimit(mib int64, logger *slog.Logger) {
	if _, ok := os.LookupEnv("GOMEMLIMIT"); ok || mib <= 0 {
		return
	}
	debug.SetMemoryLimit(mib << 20)
	logger.Info("memory limit set", "mib", mib)
}

// writeWait bounds a write's wait for integration so that its 503 is sent
// well within the response write timeout (and never later than
// api.DefaultWriteWait).
func writeWait(writeTimeout time.Duration) time.Duration {
	if writeTimeout <= 0 {
		return api.DefaultWriteWait
	}
	return min(api.DefaultWriteWait, writeTimeout/2)
}

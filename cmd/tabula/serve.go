package main

import (
	"context"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tabularium/tabula/api"
	"github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/log/diskcache"
	"github.com/tabularium/tabula/logset"
	"github.com/tabularium/tabula/pki/keyformat"
	"github.com/tabularium/tabula/profile/rekorv2"
	"github.com/tabularium/tabula/signer"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/postgres"
	"github.com/tabularium/tabula/storage/readroute"
	"github.com/tabularium/tabula/storage/sqlite"
	"github.com/tabularium/tabula/trustroot"
	"github.com/tabularium/tabula/tsa"
	"github.com/tabularium/tabula/ui"
	"github.com/tabularium/tabula/witness/submit"
)

// serveConfig is everything `tabula serve` takes; each field is a flag with a
// TABULA_* environment equivalent.
type serveConfig struct {
	// Listen is the API address (Rekor's port by default).
	Listen string
	// UI serves the explorer (package ui) at / beside the API.
	UI bool
	// MetricsListen is the Prometheus /metrics address, kept off the API port.
	MetricsListen string
	// DataDir holds the embedded database and the generated key.
	DataDir string
	// DatabaseURL selects PostgreSQL; empty means embedded SQLite in DataDir.
	DatabaseURL string
	// ReadDatabaseURL is a read-only replica of DatabaseURL (a PostgreSQL
	// hot standby) that serves the reads it has caught up with (package
	// storage/readroute); empty: every read on DatabaseURL.
	ReadDatabaseURL string
	// Key lists private key PEM files, comma-separated: the active log is
	// served with the one whose public key it stores, and the first creates
	// the first log. Empty means DataDir's own, created on first start.
	Key string
	// V2Key lists the private key PEM files of the Rekor v2 logs (see Key);
	// empty means DataDir's own v2 key, created on first start.
	V2Key string
	// Hostname is the checkpoint origin's host part and signature key name.
	Hostname string
	// TSAKey and TSACertChain are the timestamp authority's private key and
	// PEM chain (signing certificate first); both empty: DataDir's own,
	// created on first start. TSAPolicyOID is its policy.
	TSAKey, TSACertChain, TSAPolicyOID string
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
	// GOMEMLIMIT is set (0: none; autoMemoryLimit: see memoryLimitMiB).
	MemoryLimitMiB int64
	// Pprof serves net/http/pprof at /debug/pprof/ on the metrics listener.
	Pprof bool
	// TileCacheSize (tiles) and EntryCacheMiB (0: off) size the log's
	// caches of immutable tiles and entries (docs/SCALE.md).
	TileCacheSize int
	EntryCacheMiB int
	// BundleCacheMiB bounds the memory of cached full entry bundles.
	BundleCacheMiB int
	// DiskCacheMiB bounds the disk cache of full tiles with their entries
	// in DiskCacheDir (0: none; docs/SCALE.md).
	DiskCacheMiB int64
	DiskCacheDir string
	// WitnessPolicy lists tlog-policy files, comma-separated: the logs
	// they apply to get their checkpoints cosigned by their witnesses.
	WitnessPolicy string
	// WitnessWait is how long writes wait for a cosigned checkpoint unless
	// they ask (Tabula-Witness-Wait), WitnessWaitMax the most they may ask.
	WitnessWait, WitnessWaitMax time.Duration
	// WitnessTimeout bounds one submission; WitnessMinInterval spaces a
	// witness's submissions.
	WitnessTimeout, WitnessMinInterval time.Duration
}

func serveFlags(fs *flag.FlagSet) *serveConfig {
	c := &serveConfig{}
	fs.StringVar(&c.Listen, "listen", "127.0.0.1:3000", "API listen address")
	fs.StringVar(&c.MetricsListen, "metrics-listen", "127.0.0.1:2112", "Prometheus /metrics listen address (empty: off)")
	fs.StringVar(&c.DataDir, "data-dir", "./tabula-data", "data directory: embedded database and generated key")
	fs.StringVar(&c.DatabaseURL, "database-url", "", "PostgreSQL URL (postgres://…); empty: embedded SQLite in the data directory")
	fs.StringVar(&c.ReadDatabaseURL, "read-database-url", "", "PostgreSQL URL of a read replica (hot standby) of --database-url: entry, proof, tile and search reads go to it when it has caught up with what they need, to --database-url otherwise (empty: all reads on --database-url)")
	fs.StringVar(&c.Key, "key", "", "log private keys (PEM), comma-separated: the active log's must be one of them, and the first creates a new database's log (empty: <data-dir>/log-key.pem, created on first start)")
	fs.StringVar(&c.V2Key, "v2-key", "", "private keys (PEM) of the Rekor v2 logs (tabula log create --api v2), comma-separated: the active v2 log's must be one of them (empty: <data-dir>/"+v2KeyFile+", an Ed25519 key created on first start)")
	fs.StringVar(&c.Hostname, "hostname", defaultHostname, "log name: the checkpoint origin is '<hostname> - <treeID>'")
	fs.StringVar(&c.TSAKey, "tsa-key", "", "timestamp authority private key (PEM), with --tsa-cert-chain (empty: <data-dir>/"+tsa.KeyFile+", created on first start)")
	fs.StringVar(&c.TSACertChain, "tsa-cert-chain", "", "timestamp authority certificate chain (PEM, signing certificate first, root last), with --tsa-key (empty: <data-dir>/"+tsa.ChainFile+", created on first start)")
	fs.StringVar(&c.TSAPolicyOID, "tsa-policy-oid", tsa.DefaultPolicy.String(), "timestamp authority policy OID, put in every timestamp; requests may name no other")
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
	fs.Int64Var(&c.MemoryLimitMiB, "memory-limit-mib", autoMemoryLimit, "Go runtime soft memory limit in MiB, unless GOMEMLIMIT is set (-1: the bounds of the entry, tile and bundle caches plus 128 MiB; 0: none)")
	fs.BoolVar(&c.Pprof, "pprof", false, "serve Go profiles at /debug/pprof/ on the metrics listener (needs --metrics-listen)")
	fs.IntVar(&c.TileCacheSize, "tile-cache-size", log.DefaultTileCacheSize, "full tiles kept in memory (up to 16 KiB each with their inner nodes)")
	fs.IntVar(&c.EntryCacheMiB, "entry-cache-mib", log.DefaultEntryCacheBytes>>20, "memory for entries kept for reads by index or UUID, in MiB (0: none)")
	fs.Int64Var(&c.DiskCacheMiB, "disk-cache-mib", 0, "disk space for full tiles with their entries kept in local files, read for old entries before the database is, in MiB (0: none; ~110 KiB per 256 hashedrekord entries; for a PostgreSQL log larger than the entry cache, docs/SCALE.md)")
	fs.StringVar(&c.DiskCacheDir, "disk-cache-dir", "", "directory of the disk cache (empty: <data-dir>/cache)")
	fs.IntVar(&c.BundleCacheMiB, "bundle-cache-mib", log.DefaultBundleCacheBytes>>20, "memory for full entry bundles kept for /tile/entries reads, in MiB (at least 1)")
	fs.StringVar(&c.WitnessPolicy, "witness-policy", "", "witness policy files (c2sp.org/tlog-policy), comma-separated: each active log a policy applies to (a policy with log lines: the logs whose keys it lists; without: every log) gets its checkpoints cosigned by the policy's witnesses, and /checkpoint serves the newest quorum-cosigned one (empty: no witnesses)")
	fs.DurationVar(&c.WitnessWait, "witness-wait", 0, "how long a write to a witnessed log waits for a cosigned checkpoint covering its entry, to prove its inclusion in it, when the request has no "+api.WitnessWaitHeader+" header (0: writes do not wait)")
	fs.DurationVar(&c.WitnessWaitMax, "witness-wait-max", api.DefaultWitnessWaitMax, "the longest wait a write may ask for in its "+api.WitnessWaitHeader+" header (seconds)")
	fs.DurationVar(&c.WitnessTimeout, "witness-timeout", submit.DefaultTimeout, "timeout of one checkpoint submission to a witness")
	fs.DurationVar(&c.WitnessMinInterval, "witness-min-interval", submit.DefaultMinInterval, "least time between two submissions to one witness")
	fs.BoolVar(&c.UI, "ui", true, "serve the explorer's pages at / (search, entries, logs; --ui=false: API only)")
	return c
}

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	c := serveFlags(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	logger, err := jsonLogger(stderr, c.LogLevel)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	return serve(ctx, c, logger, nil)
}

// jsonLogger is a server's logger: JSON lines on w from level (--log-level)
// up.
func jsonLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l})), nil
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
	if c.MemoryLimitMiB < autoMemoryLimit {
		return fmt.Errorf("--memory-limit-mib must be -1 (sized from the caches), 0 (none) or a size")
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
	if c.DiskCacheMiB < 0 || c.DiskCacheMiB > math.MaxInt64>>20 {
		return fmt.Errorf("--disk-cache-mib must be 0 (none) or a size")
	}
	limits, err := apiLimits(c)
	if err != nil {
		return err
	}
	setMemoryLimit(c.memoryLimitMiB(), logger)
	// The memory bound is what matters; the count only has to stay above
	// it: an entry takes over 256 bytes (a hashedrekord about 540, its body
	// compressed). (One per KiB, as it was, capped 192 MiB at 196,608
	// entries.) log.Config: a negative count is off.
	entryCount, entryBytes := -1, int64(c.EntryCacheMiB)<<20
	if c.EntryCacheMiB > 0 {
		entryCount = c.EntryCacheMiB << 12
	}
	if c.ReadDatabaseURL != "" && c.DatabaseURL == "" {
		return errors.New("--read-database-url needs --database-url: a read replica is a PostgreSQL hot standby, and the embedded SQLite database has none")
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("creating data directory: %w", err)
	}
	set, engine, err := openStorage(ctx, c)
	if err != nil {
		return err
	}
	defer set.Close()
	reg := prometheus.NewRegistry()
	if c.ReadDatabaseURL != "" {
		if set, err = withReadReplica(ctx, set, c.ReadDatabaseURL, reg, logger); err != nil {
			return err
		}
		defer set.Close()
		engine += " with a read replica"
	}

	keys, keyPath, err := loadKeys(c, logger)
	if err != nil {
		return err
	}
	authority, tsaChainPath, err := loadTSA(c, logger)
	if err != nil {
		return err
	}

	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	logCfg := log.Config{
		BatchMaxSize: c.BatchMaxSize,
		BatchMaxAge:  c.BatchMaxAge,
		Logger:       logger,
		Registerer:   reg,

		TileCacheSize:   c.TileCacheSize,
		EntryCacheSize:  entryCount,
		EntryCacheBytes: entryBytes,

		BundleCacheBytes: int64(c.BundleCacheMiB) << 20,
	}
	if c.DiskCacheMiB > 0 {
		dir := c.DiskCacheDir
		if dir == "" {
			dir = filepath.Join(c.DataDir, "cache")
		}
		if logCfg.DiskCache, err = diskcache.Open(dir, c.DiskCacheMiB<<20, reg); err != nil {
			return err
		}
	}
	if logCfg.Caches, err = log.NewCaches(logCfg); err != nil { // one set for every log
		return err
	}
	logs, err := openLogs(ctx, set, c.Hostname, keys, logCfg, logger)
	if err != nil {
		return err
	}
	defer logs.Close(context.WithoutCancel(ctx)) //nolint:errcheck // closed below; a second Close only waits
	active, err := logs.Active(ctx)
	if err != nil {
		return err
	}
	v2logs, err := openV2Logs(ctx, set, c, logCfg, logger)
	if err != nil {
		return err
	}
	defer v2logs.Close(context.WithoutCancel(ctx)) //nolint:errcheck // closed below; a second Close only waits
	lg := active.Log
	witnesses, err := witnessManager(c, set, []*logset.Set{logs, v2logs}, reg, logger)
	if err != nil {
		return err
	}
	wctx, stopWitnesses := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWitnesses()
	witnessesDone := make(chan struct{})
	if witnesses != nil {
		go func() { defer close(witnessesDone); witnesses.Run(wctx) }()
	} else {
		close(witnessesDone)
	}
	var explorer http.Handler
	if c.UI {
		x, err := ui.New(ui.Config{Logs: logs, V2Logs: v2logs, Witnesses: witnesses, Logger: logger, About: aboutDocuments(logs, v2logs, authority)})
		if err != nil {
			return err
		}
		explorer = x
	}
	handler := api.New(api.Config{
		Logs:               logs,
		V2Logs:             v2logs,
		Types:              kinds,
		TSA:                authority,
		MaxAttestationSize: c.MaxAttestationSize,
		CanonicalKey:       keyformat.CanonicalKey,
		WriteWait:          writeWait(c.WriteTimeout),
		MaxRequestBody:     c.MaxRequestBody,
		Logger:             logger,
		Registerer:         reg,
		Limits:             limits,
		Witnesses:          witnesses,
		WitnessWait:        c.WitnessWait,
		WitnessWaitMax:     c.WitnessWaitMax,
		UI:                 explorer,
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
	srv := apiServer(handler, c, logger)
	srv.TLSConfig = tlsConfig
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
		"tsaCertChain", tsaChainPath,
		"treeSize", head.Size,
		"metrics", c.MetricsListen,
		"pprof", c.Pprof && c.MetricsListen != "")
	if ready != nil {
		ready <- ln.Addr().String()
	}

	// Stop accepting, let in-flight requests (and so the batch in flight)
	// finish, then stop the integrator and close the database.
	sctx, cancel := awaitShutdown(ctx, errc, logger, srv, msrv)
	defer cancel()
	stopWitnesses() // before the logs they read close; gives their leases up
	<-witnessesDone
	if err := logs.Close(sctx); err != nil {
		logger.Warn("closing logs", "err", err)
	}
	if err := v2logs.Close(sctx); err != nil {
		logger.Warn("closing Rekor v2 logs", "err", err)
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

// withReadReplica opens the read replica at url and returns primary with
// its reads routed (readroute.Set); closing it closes both.
func withReadReplica(ctx context.Context, primary storage.LogSet, url string, reg prometheus.Registerer, logger *slog.Logger) (storage.LogSet, error) {
	replica, err := postgres.OpenReplica(ctx, url)
	if err != nil {
		return nil, fmt.Errorf("--read-database-url: %w", err)
	}
	set, err := readroute.New(readroute.Config{Primary: primary, Replica: replica, Logger: logger, Registerer: reg})
	if err != nil {
		replica.Close()
		return nil, err
	}
	return set, nil
}

// loadKeys loads every key of --key (comma-separated), or the data
// directory's key, creating that one on first start. It returns the signers
// and the first public key's path.
func loadKeys(c *serveConfig, logger *slog.Logger) ([]logset.Signer, string, error) {
	if c.Key != "" {
		keys, err := loadKeyFiles(c.Key)
		if err != nil {
			return nil, "", fmt.Errorf("--key: %w", err)
		}
		return keys, publicKeyPath(strings.TrimSpace(strings.Split(c.Key, ",")[0])) + " (or GET /api/v1/log/publicKey)", nil
	}
	priv := filepath.Join(c.DataDir, v1KeyFile)
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

// loadKeyFiles loads the private keys of a comma-separated list of files.
func loadKeyFiles(list string) ([]logset.Signer, error) {
	var keys []logset.Signer
	for _, f := range strings.Split(list, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		s, err := signer.LoadFile(f)
		if err != nil {
			return nil, err
		}
		keys = append(keys, s)
	}
	if len(keys) == 0 {
		return nil, errors.New("no key file named")
	}
	return keys, nil
}

// openV2Logs opens the Rekor v2 logs of the database, with the keys of
// --v2-key or the data directory's v2 key (Ed25519, created on first
// start). It creates none: until `tabula log create --api v2` makes the
// first, which the server then finds within a second, it serves no v2 log.
func openV2Logs(ctx context.Context, set storage.LogSet, c *serveConfig, cfg log.Config, logger *slog.Logger) (*logset.Set, error) {
	var keys []logset.Signer
	if c.V2Key != "" {
		var err error
		if keys, err = loadKeyFiles(c.V2Key); err != nil {
			return nil, fmt.Errorf("--v2-key: %w", err)
		}
	} else {
		priv := filepath.Join(c.DataDir, v2KeyFile)
		s, created, err := signer.LoadOrCreateAlg(priv, publicKeyPath(priv), signer.Ed25519)
		if err != nil {
			return nil, err
		}
		if created {
			logger.Info("created a new Rekor v2 log signing key", "privateKey", priv, "publicKey", publicKeyPath(priv))
		}
		keys = []logset.Signer{s}
	}
	return logset.Open(ctx, logset.Config{
		Store:    set,
		Name:     rekorv2.Name,
		Profile:  rekorv2.LogProfiles,
		Base:     rekorv2.Base,
		Keys:     keys,
		NoCreate: true,
		Log:      cfg,
		Logger:   logger,
	})
}

// loadTSA loads the timestamp authority of --tsa-key and --tsa-cert-chain,
// or the data directory's, creating that on first start. It returns the
// authority and the chain's path.
func loadTSA(c *serveConfig, logger *slog.Logger) (*tsa.Authority, string, error) {
	policy, err := parseOID(c.TSAPolicyOID)
	if err != nil {
		return nil, "", fmt.Errorf("--tsa-policy-oid: %w", err)
	}
	var (
		key       crypto.Signer
		chain     []*x509.Certificate
		chainPath = c.TSACertChain
	)
	switch {
	case c.TSAKey != "" && c.TSACertChain != "":
		if key, chain, err = tsa.LoadFiles(c.TSAKey, c.TSACertChain); err != nil {
			return nil, "", err
		}
	case c.TSAKey != "" || c.TSACertChain != "":
		return nil, "", errors.New("--tsa-key and --tsa-cert-chain go together")
	default:
		var created bool
		key, chain, created, err = tsa.LoadOrCreate(c.DataDir, c.Hostname, time.Now())
		if err != nil {
			return nil, "", err
		}
		chainPath = filepath.Join(c.DataDir, tsa.ChainFile)
		if created {
			logger.Info("created a timestamp authority certificate chain", "privateKey", filepath.Join(c.DataDir, tsa.KeyFile), "certChain", chainPath)
		}
	}
	a, err := tsa.New(tsa.Config{Signer: key, Chain: chain, Policy: policy})
	if err != nil {
		return nil, "", fmt.Errorf("%s: %w", chainPath, err)
	}
	return a, chainPath, nil
}

// parseOID parses a dotted-decimal object identifier.
func parseOID(s string) (asn1.ObjectIdentifier, error) {
	var oid asn1.ObjectIdentifier
	for _, v := range strings.Split(s, ".") {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return nil, fmt.Errorf("%q is not a dotted-decimal OID", s)
		}
		oid = append(oid, n)
	}
	if len(oid) < 2 {
		return nil, fmt.Errorf("%q is not a dotted-decimal OID", s)
	}
	return oid, nil
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
	tileNodes := fs.Bool("tile-nodes", false, "then store the upper inner nodes of full tiles written before schema 9 (safe while servers run)")
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
	defer s.Close()
	fmt.Fprintf(stdout, "migrations applied (%s)\n", engine)
	if !*tileNodes {
		return s.Close()
	}
	b, ok := s.(storage.TileNodesBackfiller)
	if !ok {
		return fmt.Errorf("--tile-nodes: %s cannot store tile nodes", engine)
	}
	last := time.Now()
	n, err := b.BackfillTileNodes(ctx, 1000, func(done int) {
		if time.Since(last) >= 10*time.Second {
			fmt.Fprintf(stderr, "%d tiles given their upper nodes so far\n", done)
			last = time.Now()
		}
	})
	if err != nil {
		return fmt.Errorf("--tile-nodes: %w", err)
	}
	fmt.Fprintf(stdout, "%d full tiles given their upper nodes\n", n)
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

// defaultHostname is --hostname's default: the key name of the Rekor v1
// logs' checkpoints, and so the host of their trusted root baseUrl.
const defaultHostname = "tabula.local"

// autoMemoryLimit is --memory-limit-mib's default: a limit sized from the
// caches (see memoryLimitMiB).
const autoMemoryLimit = -1

// memoryHeadroomMiB is what the automatic memory limit allows beyond the
// caches' bounds: requests in flight, batches, the right-edge tiles, the
// runtime's own.
const memoryHeadroomMiB = 128

// memoryLimitMiB is the soft memory limit to set: --memory-limit-mib, or
// for autoMemoryLimit the most the caches may hold (entries, tiles with
// their inner nodes at 16 KiB each, bundles) plus memoryHeadroomMiB. The
// caches are the live heap of a busy server; without a limit the collector
// lets the heap grow to twice the live heap (GOGC=100), so a server whose
// reads fill the caches would take about twice their size. With the limit
// the collector runs more often instead, which costs little: the cached
// entries hold no pointers to scan.
func (c *serveConfig) memoryLimitMiB() int64 {
	if c.MemoryLimitMiB != autoMemoryLimit {
		return c.MemoryLimitMiB
	}
	return int64(c.EntryCacheMiB) + int64(c.TileCacheSize)*16>>10 + int64(c.BundleCacheMiB) + memoryHeadroomMiB
}

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

// awaitShutdown waits for ctx to end (a signal) or a server to fail, then
// stops srv and msrv (nil: none) accepting and lets the requests in flight
// finish, within 30 s. The returned context bounds the rest of the
// shutdown; its cancel must be called.
func awaitShutdown(ctx context.Context, errc <-chan error, logger *slog.Logger, srv, msrv *http.Server) (context.Context, context.CancelFunc) {
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			logger.Error("server failed", "err", err)
		}
	}
	logger.Info("shutting down")
	sctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	if err := srv.Shutdown(sctx); err != nil {
		logger.Warn("shutdown", "err", err)
	}
	if msrv != nil {
		_ = msrv.Shutdown(sctx)
	}
	return sctx, cancel
}

// aboutDocuments builds the explorer's /about documents: the trusted root
// and signing config `tabula trusted-root --server` and `tabula
// signing-config --server` print for a client reaching the server at
// baseURL, built from the log sets rather than over HTTP.
func aboutDocuments(logs, v2logs *logset.Set, authority *tsa.Authority) func(ctx context.Context, baseURL string) ([]byte, []byte, error) {
	return func(ctx context.Context, baseURL string) ([]byte, []byte, error) {
		s := trustroot.Server{BaseURL: baseURL, Sets: []*logset.Set{logs, v2logs}}
		if authority != nil {
			s.TSAChain = authority.Chain()
		}
		return s.Documents(ctx, time.Now())
	}
}

// apiServer is the API's http.Server: c's timeouts, a 64 KiB header limit,
// its own errors logged as warnings.
func apiServer(h http.Handler, c *serveConfig, logger *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: c.ReadHeaderTimeout,
		ReadTimeout:       c.ReadTimeout,
		WriteTimeout:      c.WriteTimeout,
		IdleTimeout:       c.IdleTimeout,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(logger.Handler(), slog.LevelWarn),
	}
}

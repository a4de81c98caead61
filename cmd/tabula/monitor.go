package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tabularium/tabula/client"
	"github.com/tabularium/tabula/monitor"
)

// listFlag is a repeatable string flag; each value may also be a
// comma-separated list (as TABULA_* environment variables give them).
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// logFlags are the flags monitor and audit share: the log and its pinned key.
type logFlags struct {
	server, logKey, stateDir string
}

func addLogFlags(fs *flag.FlagSet) *logFlags {
	f := &logFlags{}
	fs.StringVar(&f.server, "server", client.DefaultServer, "base URL of the log")
	fs.StringVar(&f.logKey, "log-key", "", "the log's public key (PEM) to pin (required; for a Tabula it is log-key.pub.pem in the data directory, or GET /api/v1/log/publicKey once, over a channel you trust)")
	fs.StringVar(&f.stateDir, "state-dir", "", "directory of the saved state (default: $XDG_STATE_HOME/tabula or the user config dir's tabula)")
	return f
}

// open returns the log client, the pinned key's verifier and the state
// directory.
func (f *logFlags) open(cmd string, stderr io.Writer) (*client.Client, *monitor.Verifier, string, error) {
	if f.logKey == "" {
		fmt.Fprintf(stderr, "tabula %s: --log-key is required: it trusts only checkpoints signed by the key you pin\n", cmd)
		return nil, nil, "", errUsage
	}
	b, err := os.ReadFile(f.logKey)
	if err != nil {
		return nil, nil, "", fmt.Errorf("reading --log-key: %w", err)
	}
	v, err := monitor.NewVerifier(b)
	if err != nil {
		return nil, nil, "", err
	}
	cl, err := client.New(f.server, client.WithUserAgent("tabula/"+version()), client.WithHTTPClient(&http.Client{Timeout: time.Minute}))
	if err != nil {
		return nil, nil, "", err
	}
	dir := f.stateDir
	if dir == "" {
		if dir, err = clientStateDir(); err != nil {
			return nil, nil, "", err
		}
	}
	return cl, v, dir, nil
}

// errAlerts is returned by `monitor --once` when it raised alerts.
var errAlerts = errors.New("alerts raised")

const monitorUsage = `Usage: tabula monitor --log-key KEY.pem [--server URL] [--once] [--watch-… VALUE]…

Follows the log from its last verified checkpoint (saved in --state-dir): proves every new
checkpoint consistent with it, reads the new entries from the tile entry bundles, checks they
make the signed tree, and alerts on a forked or lying log and on entries matching the watch list.`

func runMonitor(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("monitor", stderr, monitorUsage)
	lf := addLogFlags(fs)
	var w monitor.Watch
	fs.Var((*listFlag)(&w.Emails), "watch-email", "alert on entries whose certificate has this email SAN (repeatable; \"*@example.com\" matches a domain)")
	fs.Var((*listFlag)(&w.URIs), "watch-uri", "alert on entries whose certificate has this URI SAN (repeatable; a trailing * matches a prefix, e.g. https://github.com/my-org/*)")
	fs.Var((*listFlag)(&w.OIDCIssuers), "watch-oidc-issuer", "alert on entries whose certificate names this OIDC issuer (Fulcio extension 1.3.6.1.4.1.57264.1.8 or .1.1; repeatable)")
	fs.Var((*listFlag)(&w.KeyFingerprints), "watch-key-fingerprint", "alert on entries signed by this key: hex SHA-256 of its PEM (as Rekor indexes it) or of its DER (repeatable)")
	fs.Var((*listFlag)(&w.Digests), "watch-digest", "alert on entries naming this artifact or payload digest, sha256:HEX or HEX (repeatable)")
	once := fs.Bool("once", false, "check once and exit: status 1 if the check raised an alert or failed")
	interval := fs.Duration("interval", time.Minute, "time between checks")
	fromStart := fs.Bool("from-start", false, "with no saved state, read every entry from index 0 (default: start at the current checkpoint)")
	workers := fs.Int("workers", 4, "entry bundles fetched at once")
	metricsListen := fs.String("metrics-listen", "", "serve Prometheus metrics at http://ADDR/metrics (e.g. 127.0.0.1:2113; empty: off)")
	webhook := fs.String("webhook", "", "POST each alert as JSON to this URL")
	logLevel := fs.String("log-level", "info", "debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	cl, v, dir, err := lf.open("monitor", stderr)
	if err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	metrics, err := monitor.NewMetrics(reg)
	if err != nil {
		return err
	}
	notifiers := []monitor.Notifier{monitor.SlogNotifier{Logger: logger}}
	if *webhook != "" {
		notifiers = append(notifiers, monitor.WebhookNotifier{URL: *webhook})
	}
	state := filepath.Join(dir, "monitor", v.KeyID()[:16]+".json")
	m, err := monitor.New(monitor.Config{
		Log: cl, Verifier: v, StatePath: state, Watch: w, FromStart: *fromStart,
		Workers: *workers, Notifiers: notifiers, Metrics: metrics, Logger: logger,
	})
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *metricsListen != "" {
		ln, err := net.Listen("tcp", *metricsListen)
		if err != nil {
			return fmt.Errorf("--metrics-listen: %w", err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		logger.Info("serving metrics", "addr", "http://"+ln.Addr().String()+"/metrics")
	}

	if !*once {
		logger.Info("monitoring", "server", cl.Server(), "log_id", v.KeyID(), "state", state, "interval", *interval)
		return m.Run(ctx, *interval)
	}
	res, err := m.Check(ctx)
	if err != nil {
		return err
	}
	printCheck(stdout, res)
	if len(res.Alerts) > 0 {
		return fmt.Errorf("%w: %d", errAlerts, len(res.Alerts))
	}
	return nil
}

func plural(n uint64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

func printCheck(w io.Writer, res monitor.Result) {
	cp := res.Checkpoint
	fmt.Fprintf(w, "Origin:       %s\n", cp.Origin)
	fmt.Fprintf(w, "Tree size:    %d\n", cp.Size)
	fmt.Fprintf(w, "Root hash:    %x\n", cp.Root)
	switch {
	case len(res.Alerts) > 0 && res.Alerts[0].Kind != monitor.AlertWatchMatch:
		fmt.Fprintf(w, "Verified:     NO — the log misbehaved; the last verified checkpoint (size %d) is kept\n", res.Previous.Size)
	case res.Previous.Size == 0 && res.Previous.Root == [32]byte{} && res.Entries == 0:
		fmt.Fprintf(w, "Verified:     first checkpoint from this log: its tiles make its root; remembered\n")
	case res.Entries == 0:
		fmt.Fprintf(w, "Verified:     no new entries since size %d\n", res.Previous.Size)
	default:
		fmt.Fprintf(w, "Verified:     consistent with size %d; %d new %s read and proved in the tree\n", res.Previous.Size, res.Entries, plural(res.Entries, "entry", "entries"))
	}
	fmt.Fprintf(w, "Alerts:       %d\n", len(res.Alerts))
	for _, a := range res.Alerts {
		if a.Kind == monitor.AlertWatchMatch {
			fmt.Fprintf(w, "  %s: entry %d (%s, leaf %s): %s\n", a.Kind, *a.Index, a.EntryKind, a.LeafHash, strings.Join(a.Matches, ", "))
		} else {
			fmt.Fprintf(w, "  %s: %s\n", a.Kind, a.Message)
		}
	}
}

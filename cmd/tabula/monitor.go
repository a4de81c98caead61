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
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tabularium/tabula/api/models"
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

// logFlags are the flags monitor and audit share: the server and its pinned
// keys.
type logFlags struct {
	server   string
	logKeys  listFlag
	stateDir string
}

func addLogFlags(fs *flag.FlagSet) *logFlags {
	f := &logFlags{}
	fs.StringVar(&f.server, "server", client.DefaultServer, "base URL of the log")
	fs.Var(&f.logKeys, "log-key", "a log's public key (PEM) to pin (required; repeatable: every log of the server must be signed by a pinned key, so pin each key a rotation brought; for a Tabula it is log-key.pub.pem in the data directory, and log-key-v2.pub.pem for its Rekor v2 logs, or GET /api/v1/log/publicKey?treeID= once, over a channel you trust)")
	fs.StringVar(&f.stateDir, "state-dir", "", "directory of the saved state (default: $XDG_STATE_HOME/tabula or the user config dir's tabula)")
	return f
}

// opened is what monitor and audit work with: the server's logs, the pinned
// keys and the state directory for the command, named after the first key.
type opened struct {
	cl        *client.Client
	set       *serverSet
	verifiers []*monitor.Verifier
	// stateDir holds logs.json and a state file per log; legacy is the
	// one-log state file of an earlier release.
	stateDir, legacy string
}

// open reads the pinned keys and returns the server and the state
// directory of command cmd ("monitor" or "audit").
func (f *logFlags) open(cmd string, stderr io.Writer) (*opened, error) {
	if len(f.logKeys) == 0 {
		fmt.Fprintf(stderr, "tabula %s: --log-key is required: it trusts only checkpoints signed by the keys you pin\n", cmd)
		return nil, errUsage
	}
	o := &opened{}
	for _, path := range f.logKeys {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("reading --log-key: %w", err)
		}
		v, err := monitor.NewVerifier(b)
		if err != nil {
			return nil, fmt.Errorf("--log-key %s: %w", path, err)
		}
		o.verifiers = append(o.verifiers, v)
	}
	cl, err := client.New(f.server, client.WithUserAgent("tabula/"+version()), client.WithHTTPClient(&http.Client{Timeout: time.Minute}))
	if err != nil {
		return nil, err
	}
	o.cl, o.set = cl, &serverSet{cl: cl}
	dir := f.stateDir
	if dir == "" {
		if dir, err = clientStateDir(); err != nil {
			return nil, err
		}
	}
	o.stateDir, o.legacy = stateDirOf(filepath.Join(dir, cmd), o.verifiers)
	return o, nil
}

// stateDirOf picks the state of monitor or audit in dir: named after the
// first pinned key that has one (the keys may be given in another order
// after a rotation), or that has a one-log state file of an earlier
// release, else after the first key.
func stateDirOf(dir string, vs []*monitor.Verifier) (stateDir, legacy string) {
	for _, suffix := range []string{"", ".json"} {
		for _, v := range vs {
			id := v.KeyID()[:16]
			if _, err := os.Stat(filepath.Join(dir, id+suffix)); err == nil {
				return filepath.Join(dir, id), filepath.Join(dir, id+".json")
			}
		}
	}
	id := vs[0].KeyID()[:16]
	return filepath.Join(dir, id), filepath.Join(dir, id+".json")
}

// serverSet is the log set of a Tabula (or Rekor) server: GET /api/v1/log
// lists the Rekor v1 logs, GET /logs the Rekor v2 ones, and each is read
// under /logs/{treeID}/. A server of an
// earlier release, with one log and no /logs/ paths, is read at / instead.
type serverSet struct {
	cl *client.Client

	mu       sync.Mutex
	active   string // tree ID of the active log, as last listed
	single   bool   // the last listing had no frozen logs
	rootOnly bool   // the server answered 404 under /logs/: read at /
}

func (s *serverSet) LogInfo(ctx context.Context) (models.LogInfo, error) {
	li, err := s.cl.LogInfo(ctx)
	if err == nil {
		s.mu.Lock()
		s.active, s.single = li.TreeID, len(li.InactiveShards) == 0
		s.mu.Unlock()
	}
	return li, err
}

// V2Logs lists the server's Rekor v2 logs from GET /logs; a server of an
// earlier release (404) has none.
func (s *serverSet) V2Logs(ctx context.Context) ([]monitor.SetLog, error) {
	logs, err := s.cl.Logs(ctx)
	if client.IsNotFound(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []monitor.SetLog
	for _, l := range logs {
		if l.API != "v2" {
			continue
		}
		if l.State != "active" && l.State != "frozen" {
			return nil, fmt.Errorf("GET /logs: log %s has state %q", l.TreeID, l.State)
		}
		out = append(out, monitor.SetLog{TreeID: l.TreeID, API: l.API, Frozen: l.State == "frozen", Checkpoint: []byte(l.Checkpoint)})
	}
	return out, nil
}

func (s *serverSet) Log(treeID string) monitor.Log { return &serverLog{s: s, tree: s.cl.Tree(treeID)} }

// serverLog reads one log of a serverSet.
type serverLog struct {
	s    *serverSet
	tree *client.Tree
}

// root reports whether the log is read at / (an earlier release's server).
func (l *serverLog) root() bool {
	l.s.mu.Lock()
	defer l.s.mu.Unlock()
	return l.s.rootOnly && l.s.single && l.s.active == l.tree.TreeID()
}

func (l *serverLog) Checkpoint(ctx context.Context) ([]byte, error) {
	if l.root() {
		return l.s.cl.Checkpoint(ctx)
	}
	b, err := l.tree.Checkpoint(ctx)
	if client.IsNotFound(err) {
		l.s.mu.Lock()
		l.s.rootOnly = l.s.single && l.s.active == l.tree.TreeID()
		l.s.mu.Unlock()
		if l.root() {
			return l.s.cl.Checkpoint(ctx)
		}
	}
	return b, err
}

// LatestCheckpoint is the log's latest log-only checkpoint (GET
// latest-checkpoint, beside the checkpoint door that serves the newest
// cosigned one on a Tabula with witnesses); nil when the server has no
// such door (404): its checkpoint is then the latest.
func (l *serverLog) LatestCheckpoint(ctx context.Context) ([]byte, error) {
	var b []byte
	var err error
	if l.root() {
		b, err = l.s.cl.LatestCheckpoint(ctx)
	} else {
		b, err = l.tree.LatestCheckpoint(ctx)
	}
	if client.IsNotFound(err) {
		return nil, nil
	}
	return b, err
}

func (l *serverLog) Tile(ctx context.Context, level uint8, index uint64, width int) ([]byte, error) {
	if l.root() {
		return l.s.cl.Tile(ctx, level, index, width)
	}
	return l.tree.Tile(ctx, level, index, width)
}

func (l *serverLog) EntryBundle(ctx context.Context, index uint64, width int) ([]byte, error) {
	if l.root() {
		return l.s.cl.EntryBundle(ctx, index, width)
	}
	return l.tree.EntryBundle(ctx, index, width)
}

// errAlerts is returned by `monitor --once` when it raised alerts.
var errAlerts = errors.New("alerts raised")

const monitorUsage = `Usage: tabula monitor --log-key KEY.pem [--log-key KEY2.pem]… [--server URL] [--once] [--watch-… VALUE]…

Follows every log of the server (the active one and those frozen by a rotation, Rekor v1 and,
listed by GET /logs, Rekor v2) from its last
verified checkpoint (saved in --state-dir): proves every new checkpoint consistent with it, reads
the new entries from the tile entry bundles, checks they make the signed tree, and alerts on a
forked or lying log, on a frozen log that changes, and on entries matching the watch list. A log
that appears (a rotation) is reported and read from its first entry.

With --witness-policy (c2sp.org/tlog-policy), it also reads each active log's latest log-only
checkpoint (latest-checkpoint), its cosigned one (checkpoint) and each policy witness's
(<witness URL>/<hex sha256(origin)>/checkpoint) at every check, and alerts "split-view" on two
checkpoints of one size with different roots (one cosigned), "inconsistent-checkpoint" on a log
that forked after witnesses cosigned, and "uncosigned" when a head stays uncovered by a quorum-
cosigned checkpoint longer than --uncosigned-after. Evidence notes go to the state directory.`

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
	witnessPolicy := fs.String("witness-policy", "", "a witness policy (c2sp.org/tlog-policy): check the logs' checkpoints against its witnesses (split-view, fork after cosigning, uncosigned)")
	uncosignedAfter := fs.Duration("uncosigned-after", 10*time.Minute, "with --witness-policy: alert \"uncosigned\" when a head of a log stays uncovered by a quorum-cosigned checkpoint this long (0: off)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	var wc *monitor.WitnessConfig
	if *witnessPolicy != "" {
		p, err := readPolicy(*witnessPolicy)
		if err != nil {
			return err
		}
		wc = &monitor.WitnessConfig{Policy: p, UncosignedAfter: *uncosignedAfter, Client: &http.Client{Timeout: 10 * time.Second}}
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	o, err := lf.open("monitor", stderr)
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
	m, err := monitor.NewSet(monitor.SetConfig{
		Set: o.set, Verifiers: o.verifiers, StateDir: o.stateDir, LegacyState: o.legacy, Watch: w, FromStart: *fromStart,
		Workers: *workers, Notifiers: notifiers, Metrics: metrics, Logger: logger, Witness: wc,
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
		logger.Info("monitoring", "server", o.cl.Server(), "log_id", o.verifiers[0].KeyID(), "state", o.stateDir, "interval", *interval)
		return m.Run(ctx, *interval)
	}
	res, err := m.Check(ctx)
	if err != nil {
		return err
	}
	printSetCheck(stdout, res)
	if n := len(res.AllAlerts()); n > 0 {
		return fmt.Errorf("%w: %d", errAlerts, n)
	}
	return res.Err()
}

func plural(n uint64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// printSetCheck prints what a check found of each log of the set, then
// the set's own alerts.
func printSetCheck(w io.Writer, res monitor.SetResult) {
	for i, l := range res.Logs {
		if i > 0 {
			fmt.Fprintln(w)
		}
		state := "active"
		if l.Frozen {
			state = "frozen"
		}
		if l.API == "v2" {
			state = "Rekor v2, " + state
		}
		if l.New {
			state += ", new since the last check: read from its first entry"
		}
		fmt.Fprintf(w, "Log:          %s (%s)\n", l.TreeID, state)
		switch {
		case l.Err != nil:
			fmt.Fprintf(w, "Verified:     NOT CHECKED — %v\n", l.Err)
		case l.Checked:
			cp := l.Checkpoint
			fmt.Fprintf(w, "Origin:       %s\n", cp.Origin)
			fmt.Fprintf(w, "Tree size:    %d\n", cp.Size)
			fmt.Fprintf(w, "Root hash:    %x\n", cp.Root)
			if slices.ContainsFunc(res.Alerts, func(a monitor.Alert) bool { return a.Origin == cp.Origin }) {
				fmt.Fprintf(w, "Verified:     NO — the frozen log changed (see the log set alerts)\n")
			} else {
				fmt.Fprintf(w, "Verified:     frozen; its listed and served checkpoints are its final one\n")
			}
		default:
			printCheck(w, l.Result)
		}
	}
	if len(res.Alerts) > 0 {
		fmt.Fprintf(w, "\nLog set alerts: %d\n", len(res.Alerts))
		for _, a := range res.Alerts {
			fmt.Fprintf(w, "  %s: %s\n", a.Kind, a.Message)
		}
	}
}

func printCheck(w io.Writer, res monitor.Result) {
	cp := res.Checkpoint
	fmt.Fprintf(w, "Origin:       %s\n", cp.Origin)
	fmt.Fprintf(w, "Tree size:    %d\n", cp.Size)
	fmt.Fprintf(w, "Root hash:    %x\n", cp.Root)
	switch {
	case slices.ContainsFunc(res.Alerts, func(a monitor.Alert) bool {
		return a.Kind != monitor.AlertWatchMatch && a.Kind != monitor.AlertUncosigned
	}):
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
		for _, path := range a.Evidence {
			fmt.Fprintf(w, "    evidence: %s\n", path)
		}
	}
}

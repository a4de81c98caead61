package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// AlertKind says what an alert is about.
type AlertKind string

const (
	// AlertInconsistent: a signed checkpoint is not consistent with an
	// earlier verified one (a fork, a rollback, a changed origin).
	AlertInconsistent AlertKind = "inconsistent-checkpoint"
	// AlertEntriesMismatch: the entry bundles do not make the signed tree
	// (an entry dropped, changed or added).
	AlertEntriesMismatch AlertKind = "entries-mismatch"
	// AlertTilesMismatch: the hash tiles do not make the signed tree, or do
	// not hold the hashes the entries give.
	AlertTilesMismatch AlertKind = "tiles-mismatch"
	// AlertWatchMatch: a new entry matches the watch list.
	AlertWatchMatch AlertKind = "watch-match"
	// AlertFrozenChanged: a frozen log of a server's log set (a Rekor
	// inactive shard) signed another checkpoint than its final one, became
	// active again, or left the set.
	AlertFrozenChanged AlertKind = "frozen-log-changed"
)

// AlertKinds lists every kind, for metrics.
var alertKinds = []AlertKind{AlertInconsistent, AlertEntriesMismatch, AlertTilesMismatch, AlertWatchMatch, AlertFrozenChanged, AlertUncosigned, AlertSplitView}

// Alert is one finding, as logged and as POSTed to a webhook.
type Alert struct {
	Kind    AlertKind `json:"kind"`
	Time    time.Time `json:"time"`
	Origin  string    `json:"origin,omitempty"` // the log's checkpoint origin
	Message string    `json:"message"`
	// For a watch match: the entry and what matched.
	Index     *uint64  `json:"logIndex,omitempty"`
	LeafHash  string   `json:"leafHash,omitempty"` // hex; the v1 API finds the entry by it
	EntryKind string   `json:"entryKind,omitempty"`
	Matches   []string `json:"matches,omitempty"`
	// For a misbehaving log, the evidence: the last verified checkpoint and
	// the new signed checkpoint it disagrees with.
	Verified   string `json:"verifiedCheckpoint,omitempty"`
	Checkpoint string `json:"checkpoint,omitempty"`
	// Evidence are the files in the state directory holding the signed
	// checkpoints that prove a split view or a fork after cosigning.
	Evidence []string `json:"evidence,omitempty"`
}

// Notifier delivers alerts.
type Notifier interface {
	Notify(ctx context.Context, a Alert) error
}

// SlogNotifier logs each alert at level ERROR (misbehavior) or WARN (a
// watch match).
type SlogNotifier struct{ Logger *slog.Logger }

func (n SlogNotifier) Notify(ctx context.Context, a Alert) error {
	level := slog.LevelError
	attrs := []slog.Attr{slog.String("kind", string(a.Kind)), slog.String("origin", a.Origin)}
	if a.Kind == AlertWatchMatch {
		level = slog.LevelWarn
		attrs = append(attrs, slog.Uint64("index", *a.Index), slog.String("leaf_hash", a.LeafHash),
			slog.String("entry_kind", a.EntryKind), slog.Any("matches", a.Matches))
	}
	n.Logger.LogAttrs(ctx, level, "ALERT: "+a.Message, attrs...)
	return nil
}

// WebhookNotifier POSTs each alert as JSON to URL.
type WebhookNotifier struct {
	URL    string
	Client *http.Client // nil: a client with a 10-second timeout
}

func (n WebhookNotifier) Notify(ctx context.Context, a Alert) error {
	body, err := json.Marshal(a)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	hc := n.Client
	if hc == nil {
		hc = &http.Client{Timeout: 10 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("webhook %s answered %s", n.URL, resp.Status)
	}
	return nil
}

// Metrics are the monitor's Prometheus metrics.
type Metrics struct {
	treeSize     prometheus.Gauge
	verifiedTime prometheus.Gauge
	entries      prometheus.Counter
	checks       *prometheus.CounterVec
	alerts       *prometheus.CounterVec
}

// NewMetrics registers the monitor's metrics with reg.
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		treeSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tabula_monitor_verified_tree_size", Help: "Tree size of the last verified checkpoint."}),
		verifiedTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tabula_monitor_last_verified_timestamp_seconds", Help: "When the last check verified the log (Unix time)."}),
		entries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tabula_monitor_entries_read_total", Help: "Entries read from entry bundles and verified."}),
		checks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tabula_monitor_checks_total", Help: "Checks of the log, by result (ok, alert, error)."}, []string{"result"}),
		alerts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tabula_monitor_alerts_total", Help: "Alerts raised, by kind."}, []string{"kind"}),
	}
	for _, c := range []prometheus.Collector{m.treeSize, m.verifiedTime, m.entries, m.checks, m.alerts} {
		if err := reg.Register(c); err != nil {
			return nil, fmt.Errorf("registering monitor metrics: %w", err)
		}
	}
	for _, r := range []string{"ok", "alert", "error"} {
		m.checks.WithLabelValues(r)
	}
	for _, k := range alertKinds {
		m.alerts.WithLabelValues(string(k))
	}
	return m, nil
}

package log_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tabularium/tabula/checkpoint"
	tlog "github.com/tabularium/tabula/log"
	"github.com/tabularium/tabula/profile/rekorv1"
	"github.com/tabularium/tabula/storage"
	"github.com/tabularium/tabula/storage/sqlite"
)

func openSQLite(t *testing.T, path string) storage.Storage {
	t.Helper()
	s, err := sqlite.Open(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return storage.Active(s, "test", nil)
}

// seriesByLog is the value of metric name for each value of its log label,
// for the series whose other labels include want.
func seriesByLog(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) map[string]float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, lp := range m.GetLabel() {
				labels[lp.GetName()] = lp.GetValue()
			}
			for k, v := range want {
				if labels[k] != v {
					continue series
				}
			}
			switch {
			case m.Gauge != nil:
				out[labels["log"]] = m.GetGauge().GetValue()
			case m.Counter != nil:
				out[labels["log"]] = m.GetCounter().GetValue()
			case m.Histogram != nil:
				out[labels["log"]] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}

// TestMetricsTwoLogs opens two logs (two SQLite databases) on one registry:
// both open and take entries, and every metric has one series per log,
// told apart by the log label (the origin). A second log of the same origin
// on the registry is refused while the first is open, and opens once the
// first is closed (Close takes its series off).
func TestMetricsTwoLogs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	sgn := newSigner(t)
	var logs []*tlog.Log
	for i, host := range []string{"a.example", "b.example"} {
		l, err := tlog.Open(ctx, tlog.Config{
			Storage:    openSQLite(t, filepath.Join(dir, host+".db")),
			Signer:     sgn,
			Profile:    rekorv1.Profile(host),
			Registerer: reg,
		})
		if err != nil {
			t.Fatalf("opening log %s: %v", host, err)
		}
		defer l.Close(ctx)
		for j := range i + 1 {
			res, err := l.Add(ctx, leaf(j))
			if err != nil {
				t.Fatal(err)
			}
			checkResult(t, l, res)
		}
		logs = append(logs, l)
	}
	a, b := logs[0].Origin(), logs[1].Origin()
	tests := []struct {
		metric string
		labels map[string]string
		want   map[string]float64
	}{
		{"tabula_tree_size", nil, map[string]float64{a: 1, b: 2}},
		{"tabula_integrations_total", map[string]string{"result": "ok"}, map[string]float64{a: 1, b: 2}},
		{"tabula_batch_size", nil, map[string]float64{a: 1, b: 2}},
		{"tabula_integration_seconds", nil, map[string]float64{a: 1, b: 2}},
		{"tabula_pending_leaves", nil, map[string]float64{a: 0, b: 0}},
		{"tabula_rejected_entries_total", nil, map[string]float64{a: 0, b: 0}},
	}
	for _, tt := range tests {
		got := seriesByLog(t, reg, tt.metric, tt.labels)
		if len(got) != len(tt.want) {
			t.Errorf("%s: series %v, want %v", tt.metric, got, tt.want)
			continue
		}
		for origin, v := range tt.want {
			if g, ok := got[origin]; !ok || g != v {
				t.Errorf("%s{log=%q} = %v (present: %t), want %v", tt.metric, origin, g, ok, v)
			}
		}
	}

	// The same log again on the registry: refused, nothing registered.
	again := tlog.Config{
		Storage:    openSQLite(t, filepath.Join(dir, "a.example.db")),
		Signer:     sgn,
		Profile:    rekorv1.Profile("a.example"),
		Registerer: reg,
	}
	if l, err := tlog.Open(ctx, again); err == nil || !strings.Contains(err.Error(), "registering metrics") {
		if l != nil {
			l.Close(ctx)
		}
		t.Fatalf("second open of %s on one registry: err = %v", a, err)
	}
	if err := logs[0].Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := seriesByLog(t, reg, "tabula_tree_size", nil); len(got) != 1 || got[b] != 2 {
		t.Fatalf("after closing %s: tabula_tree_size %v, want only %s", a, got, b)
	}
	l, err := tlog.Open(ctx, again)
	if err != nil {
		t.Fatalf("reopening %s after Close: %v", a, err)
	}
	defer l.Close(ctx)
	if got := seriesByLog(t, reg, "tabula_tree_size", nil); got[a] != 1 || got[b] != 2 {
		t.Fatalf("after reopening: tabula_tree_size %v", got)
	}
}

// TestProfileWithoutSET: a profile without SignEntry integrates entries with
// no SET, and its checkpoints carry its own origin and key name.
func TestProfileWithoutSET(t *testing.T) {
	ctx := context.Background()
	p := rekorv1.Profile("nose.example")
	p.Name = "no-set"
	p.SignEntry = nil
	p.Origin = func(int64) string { return "nose.example/log" }
	store := openSQLite(t, filepath.Join(t.TempDir(), "tabula.db"))
	sgn := newSigner(t)
	l := openLog(t, store, sgn, func(c *tlog.Config) { c.Profile = p })
	res, err := l.Add(ctx, leaf(1))
	if err != nil {
		t.Fatal(err)
	}
	if res.Entry.SET != nil {
		t.Fatalf("entry has a SET: %x", res.Entry.SET)
	}
	if l.Origin() != "nose.example/log" {
		t.Fatalf("origin %q", l.Origin())
	}
	if _, err := checkpoint.Verify(res.Head.Checkpoint, "nose.example/log", "nose.example", checkpoint.KeyIDRekorV1, sgn.Public()); err != nil {
		t.Fatal(err)
	}
	e, err := l.Entry(ctx, res.Entry.Index)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.SET) != 0 {
		t.Fatalf("stored entry has a SET: %x", e.SET)
	}
}

// TestProfileRequired: Open refuses a profile without what it needs.
func TestProfileRequired(t *testing.T) {
	full := rekorv1.Profile("x.example")
	tests := []struct {
		name string
		mod  func(*tlog.Profile)
	}{
		{"zero", func(p *tlog.Profile) { *p = tlog.Profile{} }},
		{"no origin", func(p *tlog.Profile) { p.Origin = nil }},
		{"no key name", func(p *tlog.Profile) { p.KeyName = "" }},
		{"no key ID form", func(p *tlog.Profile) { p.KeyIDForm = 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := full
			tt.mod(&p)
			_, err := tlog.Open(context.Background(), tlog.Config{
				Storage: openSQLite(t, filepath.Join(t.TempDir(), "tabula.db")),
				Signer:  newSigner(t),
				Profile: p,
			})
			if err == nil || !strings.Contains(err.Error(), "profile") {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

package log

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	batchSize    prometheus.Histogram
	integration  prometheus.Histogram
	integrations *prometheus.CounterVec
	rejected     prometheus.Counter
	treeSize     prometheus.Gauge
	pending      prometheus.Gauge

	// unregister takes the metrics off the registry they were registered
	// with (the integrator does when it stops, so a closed log's series
	// go away and the same log may be opened again on the registry).
	unregister func()
}

// newMetrics makes the log's metrics and registers them with r (if not nil),
// each with the constant label log=name, so that several logs register in
// one registry side by side. A second log of the same name on r is an error.
func newMetrics(r prometheus.Registerer, name string) (*metrics, error) {
	m := &metrics{
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tabula_batch_size",
			Help:    "Leaves per integrated batch (after dropping duplicates).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		integration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "tabula_integration_seconds",
			Help:    "Time to integrate one batch, from taking it off the queue to commit.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		integrations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tabula_integrations_total",
			Help: "Integration attempts by result (ok, stale, duplicate: a leaf of the batch was stored, rebuilt with the lookup; frozen; rejected: the storage refused an entry's data; error).",
		}, []string{"result"}),
		rejected: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "tabula_rejected_entries_total",
			Help: "Entries refused alone because the storage cannot hold their data.",
		}),
		treeSize: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tabula_tree_size",
			Help: "Entries in the tree as last seen by this process.",
		}),
		pending: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "tabula_pending_leaves",
			Help: "Leaves waiting for integration.",
		}),
	}
	m.unregister = func() {}
	if r == nil {
		return m, nil
	}
	r = prometheus.WrapRegistererWith(prometheus.Labels{"log": name}, r)
	var done []prometheus.Collector
	for _, c := range []prometheus.Collector{m.batchSize, m.integration, m.integrations, m.rejected, m.treeSize, m.pending} {
		if err := r.Register(c); err != nil {
			for _, d := range done {
				r.Unregister(d)
			}
			return nil, fmt.Errorf("log: registering metrics for log %q: %w", name, err)
		}
		done = append(done, c)
	}
	m.unregister = func() {
		for _, d := range done {
			r.Unregister(d)
		}
	}
	return m, nil
}

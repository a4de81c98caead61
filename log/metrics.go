package log

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	batchSize    prometheus.Histogram
	integration  prometheus.Histogram
	integrations *prometheus.CounterVec
	rejected     prometheus.Counter
	treeSize     prometheus.Gauge
	pending      prometheus.Gauge
}

func newMetrics(r prometheus.Registerer) *metrics {
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
			Help: "Integration attempts by result (ok, stale, rejected: the storage refused an entry's data, error).",
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
	if r != nil {
		r.MustRegister(m.batchSize, m.integration, m.integrations, m.rejected, m.treeSize, m.pending)
	}
	return m
}

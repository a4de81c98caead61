package submit

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the submitters' Prometheus metrics, labelled by tree ID (and
// by the policy's witness name): one set per process, shared by its
// submitters.
type Metrics struct {
	submissions  *prometheus.CounterVec
	cosignedSize *prometheus.GaugeVec
	lag          *prometheus.GaugeVec
	lastCosigned *prometheus.GaugeVec
}

// NewMetrics registers the metrics with reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		submissions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tabula_witness_submissions_total",
			Help: "Checkpoint submissions to witnesses, by tree ID, witness and outcome (cosigned, conflict: a 409 with the witness's size, error).",
		}, []string{"tree_id", "witness", "outcome"}),
		cosignedSize: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tabula_witness_cosigned_size",
			Help: "Tree size of the newest checkpoint cosigned by a quorum of witnesses.",
		}, []string{"tree_id"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tabula_witness_lag_entries",
			Help: "Head size minus the cosigned size, as the submitter holding the lease last saw them.",
		}, []string{"tree_id"}),
		lastCosigned: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "tabula_witness_last_cosigned_timestamp_seconds",
			Help: "When the newest cosigned checkpoint was stored, in Unix seconds.",
		}, []string{"tree_id"}),
	}
	if reg != nil {
		reg.MustRegister(m.submissions, m.cosignedSize, m.lag, m.lastCosigned)
	}
	return m
}

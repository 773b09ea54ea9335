package audit

import "github.com/prometheus/client_golang/prometheus"

type chainMetrics struct {
	events         prometheus.Counter
	appendFailures prometheus.Counter
	batchEvents    prometheus.Histogram
	commitSeconds  prometheus.Histogram
	head           prometheus.Gauge
	failed         prometheus.Gauge
	waiting        prometheus.Gauge
	checkpoints    *prometheus.CounterVec
	witnessSeq     prometheus.Gauge
}

func newChainMetrics() *chainMetrics {
	return &chainMetrics{
		events: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ura_audit_events_total",
			Help: "Audit events made durable.",
		}),
		appendFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ura_audit_append_failures_total",
			Help: "Audit events whose commit failed (each failed request was answered 503).",
		}),
		batchEvents: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ura_audit_commit_batch_events",
			Help:    "Events per group commit (one write and one fsync).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 12),
		}),
		commitSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ura_audit_commit_seconds",
			Help:    "Duration of one group commit: write and fsync, or one database transaction.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		head: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ura_audit_head_seq",
			Help: "Sequence number of the last durable audit event.",
		}),
		failed: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ura_audit_failed",
			Help: "1 once an audit commit failed: every request needing the audit log is refused until restart.",
		}),
		waiting: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ura_audit_appends_waiting",
			Help: "Appends waiting for their group commit (requests held before their response).",
		}),
		checkpoints: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_audit_checkpoints_total",
			Help: "Checkpoint signing attempts, by result (ok, sign_error, store_error), and failures to keep them off the host (witness_error, rollback).",
		}, []string{"result"}),
		witnessSeq: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ura_audit_checkpoint_offhost_seq",
			Help: "Event count covered by the latest checkpoint kept off the host (audit.checkpoint.vault_kv); 0 when none.",
		}),
	}
}

func (m *chainMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.events, m.appendFailures, m.batchEvents, m.commitSeconds, m.head, m.failed, m.waiting, m.checkpoints, m.witnessSeq}
}

func (m *chainMetrics) describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

func (m *chainMetrics) collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

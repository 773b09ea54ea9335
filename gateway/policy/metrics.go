package policy

import (
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// opaMetrics are the engine's series; the engine is a prometheus.Collector
// so that the server registers them on its own registry.
type opaMetrics struct {
	eval          prometheus.Histogram
	decisions     *prometheus.CounterVec
	reloads       *prometheus.CounterVec
	divergences   prometheus.Counter
	shadowSkipped prometheus.Counter
	shared        prometheus.Counter
}

func newOPAMetrics() *opaMetrics {
	return &opaMetrics{
		eval: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ura_policy_eval_seconds",
			Help:    "Time to evaluate the active policy for one record.",
			Buckets: prometheus.ExponentialBuckets(0.000025, 2, 14),
		}),
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_policy_decisions_total",
			Help: "Per-record policy decisions by action (push, pull) and result (allow, deny, error = undefined, timeout, evaluation error or malformed result).",
		}, []string{"action", "result"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_policy_reloads_total",
			Help: "Policy reloads by result (ok, error); an error keeps the running policy.",
		}, []string{"result"}),
		divergences: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ura_policy_shadow_divergences_total",
			Help: "Decisions where the shadow policy disagreed with the active one (allow or redactions).",
		}),
		shadowSkipped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ura_policy_shadow_skipped_total",
			Help: "Decisions the shadow policy was not evaluated for because it was busy.",
		}),
		shared: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ura_policy_shared_decisions_total",
			Help: "Pull decisions of a chunk given, under their own decision IDs, from another record of the chunk with the same values at every path the policy reads (no evaluation of their own).",
		}),
	}
}

// observe records one decision begun at start, by either engine: its time,
// its result, and a warning when the policy could not decide (and so denied).
func (m *opaMetrics) observe(log *slog.Logger, in Input, d Decision, failed bool, start time.Time) {
	m.eval.Observe(time.Since(start).Seconds())
	result := "deny"
	switch {
	case failed:
		result = "error"
		log.Warn("policy could not decide; denied", "decision_id", d.ID, "revision", d.Revision,
			"record_id", recordID(in), "member", in.Caller.ID, "reason", d.Reasons[0].Code)
	case d.Allow:
		result = "allow"
	}
	m.decisions.WithLabelValues(string(in.Action), result).Inc()
}

func (m *opaMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.eval, m.decisions, m.reloads, m.divergences, m.shadowSkipped, m.shared}
}

// Describe implements prometheus.Collector.
func (e *OPA) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range e.metrics.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (e *OPA) Collect(ch chan<- prometheus.Metric) {
	for _, c := range e.metrics.collectors() {
		c.Collect(ch)
	}
}

package policy

import "github.com/prometheus/client_golang/prometheus"

// opaMetrics are the engine's series; the engine is a prometheus.Collector
// so that the server registers them on its own registry.
type opaMetrics struct {
	eval          prometheus.Histogram
	decisions     *prometheus.CounterVec
	reloads       *prometheus.CounterVec
	divergences   prometheus.Counter
	shadowSkipped prometheus.Counter
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
	}
}

func (m *opaMetrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.eval, m.decisions, m.reloads, m.divergences, m.shadowSkipped}
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

package upstream

import "github.com/prometheus/client_golang/prometheus"

type metrics struct {
	pending    *prometheus.GaugeVec
	delivered  *prometheus.CounterVec
	failed     *prometheus.CounterVec
	parked     *prometheus.CounterVec
	withheld   *prometheus.CounterVec
	superseded *prometheus.CounterVec
	receipts   *prometheus.CounterVec
	seconds    *prometheus.HistogramVec
}

func newMetrics() *metrics {
	return &metrics{
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ura_outbox_pending",
			Help: "Records in the outbox waiting for a destination.",
		}, []string{"destination"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_outbox_delivered_total",
			Help: "Records a destination confirmed (2xx, or 409 for one it already had; a peer gateway: a signed receipt that verified and matched).",
		}, []string{"destination"}),
		failed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_outbox_failed_attempts_total",
			Help: "Delivery attempts that will be retried, by reason (store, signing, audit, network, tls, timeout, http_408, http_429, http_5xx, receipt).",
		}, []string{"destination", "reason"}),
		parked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_outbox_parked_total",
			Help: "Records a destination refused for good, moved to dead letters for an operator.",
		}, []string{"destination"}),
		withheld: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_outbox_withheld_total",
			Help: "Records the policy withheld from a destination's member at delivery time: audited, never sent.",
		}, []string{"destination"}),
		superseded: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_outbox_superseded_total",
			Help: "Queued record versions not sent because a newer version is stored (its own entry is decided and sent).",
		}, []string{"destination"}),
		receipts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_outbox_receipts_total",
			Help: "Peer gateways' answers checked as receipts, by result (valid, missing, malformed, too_large, wrong_type, wrong_recipient, wrong_record, digest_mismatch, or why the signature failed: bad_signature, unknown_kid, keys_unavailable, ...).",
		}, []string{"destination", "result"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ura_outbox_attempt_seconds",
			Help:    "Duration of one delivery attempt.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"destination"}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.pending, m.delivered, m.failed, m.parked, m.withheld, m.superseded, m.receipts, m.seconds}
}

// Describe lets the server register the outbox on its registry.
func (o *Outbox) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range o.m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (o *Outbox) Collect(ch chan<- prometheus.Metric) {
	for _, c := range o.m.collectors() {
		c.Collect(ch)
	}
}

var _ prometheus.Collector = (*Outbox)(nil)

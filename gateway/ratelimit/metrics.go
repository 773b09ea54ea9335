package ratelimit

import "github.com/prometheus/client_golang/prometheus"

// Results of a decision, as counted in ura_ratelimit_requests_total.
const (
	resultAllowed = "allowed"
	resultLimited = "limited"
	resultError   = "error"
)

// Modes, as ura_ratelimit_mode reports them.
const (
	modeRedis = "redis"
	modeLocal = "local"
)

type metrics struct {
	requests *prometheus.CounterVec
	records  *prometheus.CounterVec
	mode     *prometheus.GaugeVec
	switches *prometheus.CounterVec
	seconds  *prometheus.HistogramVec
}

func newMetrics() *metrics {
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_ratelimit_requests_total",
			Help: "Rate-limit decisions by member, route class and result (allowed, limited, error).",
		}, []string{"member", "class", "result"}),
		records: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_ratelimit_records_total",
			Help: "Records charged to a member's limit by route class.",
		}, []string{"member", "class"}),
		mode: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ura_ratelimit_mode",
			Help: "1 for the limiter's current mode: redis (shared by every replica) or local (in-process, Redis unavailable or not configured).",
		}, []string{"mode"}),
		switches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_ratelimit_mode_switches_total",
			Help: "Switches between the redis and local modes, by the mode switched to.",
		}, []string{"to"}),
		seconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ura_ratelimit_decision_seconds",
			Help:    "Time to make one rate-limit decision, by backend (redis, local).",
			Buckets: prometheus.ExponentialBuckets(0.00005, 2, 14),
		}, []string{"backend"}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.records, m.mode, m.switches, m.seconds}
}

func (m *metrics) setMode(mode string) {
	for _, md := range []string{modeRedis, modeLocal} {
		v := 0.0
		if md == mode {
			v = 1
		}
		m.mode.WithLabelValues(md).Set(v)
	}
}

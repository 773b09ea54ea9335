package console

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of a chain verification, as counted.
const (
	resultIntact     = "intact"
	resultBroken     = "broken"
	resultIncomplete = "incomplete"
)

// Reasons a console request is refused, as counted by Refused.
const (
	RefusedNotAuditor = "not_auditor"
	RefusedCSRF       = "csrf"
	RefusedOrigin     = "cross_origin"
)

type metrics struct {
	verifications *prometheus.CounterVec
	verifySeconds prometheus.Histogram
	refusals      *prometheus.CounterVec
}

func newMetrics() *metrics {
	m := &metrics{
		verifications: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_console_chain_verifications_total",
			Help: "Chain verifications run from the console, by result (intact, broken, incomplete).",
		}, []string{"result"}),
		verifySeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "ura_console_chain_verify_duration_seconds",
			Help:    "Time one console chain verification took to read and check the whole log.",
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 10),
		}),
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_console_refusals_total",
			Help: "Console requests refused, by reason (not_auditor, csrf, cross_origin): a rising csrf or cross_origin count is an attack on an officer's browser.",
		}, []string{"reason"}),
	}
	for _, r := range []string{resultIntact, resultBroken, resultIncomplete} {
		m.verifications.WithLabelValues(r)
	}
	for _, r := range []string{RefusedNotAuditor, RefusedCSRF, RefusedOrigin} {
		m.refusals.WithLabelValues(r)
	}
	return m
}

func (m *metrics) register(reg prometheus.Registerer) error {
	for _, c := range []prometheus.Collector{m.verifications, m.verifySeconds, m.refusals} {
		if err := reg.Register(c); err != nil {
			var already prometheus.AlreadyRegisteredError
			if errors.As(err, &already) {
				continue
			}
			return fmt.Errorf("console metrics: %w", err)
		}
	}
	return nil
}

// Refused counts a refused console request.
func (c *Console) Refused(reason string) {
	switch reason {
	case RefusedNotAuditor, RefusedCSRF, RefusedOrigin:
		c.m.refusals.WithLabelValues(reason).Inc()
	}
}

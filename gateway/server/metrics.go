package server

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// metrics are the server's own Prometheus series. Parts of the chain register
// theirs on the same registry.
type metrics struct {
	registry          *prometheus.Registry
	handshakeFailures *prometheus.CounterVec
	reloads           *prometheus.CounterVec
	screeningReloads  *prometheus.CounterVec
	crlFetches        *prometheus.CounterVec
	crlRollbacks      prometheus.Counter
	crlStateWrites    prometheus.Counter
	requests          *prometheus.CounterVec
	duration          *prometheus.HistogramVec
	series            requestSeries
}

func newMetrics() *metrics {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := &metrics{
		registry: reg,
		handshakeFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_tls_handshake_failures_total",
			Help: "TLS handshakes refused, by reason (expired, revoked, unknown_ca, prefix_not_allowed, ...).",
		}, []string{"reason"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_tls_reloads_total",
			Help: "Hot reloads of certificates, keys, CAs and CRLs, by result (ok, error).",
		}, []string{"result"}),
		screeningReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_screening_reloads_total",
			Help: "Reloads of the sanctions list (screening.sanctions_file) after its content changed, by result (ok, error).",
		}, []string{"result"}),
		crlFetches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_crl_fetches_total",
			Help: "CRL fetches from distribution URLs, by result.",
		}, []string{"result"}),
		crlRollbacks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ura_crl_rollbacks_total",
			Help: "CRLs refused because a CRL with a higher number from the same issuer was seen before.",
		}),
		crlStateWrites: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ura_crl_state_write_failures_total",
			Help: "Failed writes of tls.crl_state_file; the higher CRL number is still enforced until the process restarts.",
		}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_http_requests_total",
			Help: "HTTP requests by route, method and status code.",
		}, []string{"route", "method", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ura_http_request_duration_seconds",
			Help:    "HTTP request latency by route and method.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.handshakeFailures, m.reloads, m.screeningReloads, m.crlFetches, m.crlRollbacks, m.crlStateWrites, m.requests, m.duration)
	return m
}

// methodLabel is a request's method as a metric label: the methods of RFC
// 9110 as they are, anything else "other", so that a client cannot make up
// series with made-up methods.
// requestSeries are the children of ura_http_requests_total and
// ura_http_request_duration_seconds one request adds to, kept once found:
// WithLabelValues hashes its labels and takes the vector's lock on every
// call, a cost every request paid twice. The keys are bounded like the
// series themselves (routes, methods, status codes).
type requestSeries struct {
	m sync.Map // seriesKey -> *seriesChildren
}

type seriesKey struct {
	route, method string
	status        int
}

type seriesChildren struct {
	requests prometheus.Counter
	duration prometheus.Observer
}

func (rs *requestSeries) get(m *metrics, route, method string, status int) *seriesChildren {
	k := seriesKey{route, method, status}
	if c, ok := rs.m.Load(k); ok {
		return c.(*seriesChildren)
	}
	c := &seriesChildren{
		requests: m.requests.WithLabelValues(route, method, strconv.Itoa(status)),
		duration: m.duration.WithLabelValues(route, method),
	}
	got, _ := rs.m.LoadOrStore(k, c)
	return got.(*seriesChildren)
}

func methodLabel(method string) string {
	switch method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return method
	}
	return "other"
}

// registerIfCollector puts dep's series on reg when dep keeps any, that is
// when it is a prometheus.Collector; found reports whether it is one. A
// collector registered already (a second server on the same registry) is not
// an error.
func registerIfCollector(reg prometheus.Registerer, dep any) (found bool, err error) {
	col, ok := dep.(prometheus.Collector)
	if !ok {
		return false, nil
	}
	if err := reg.Register(col); err != nil {
		var already prometheus.AlreadyRegisteredError
		if !errors.As(err, &already) {
			return true, err
		}
	}
	return true, nil
}

// registerDepMetrics puts the series of the parts the server is built from
// on its registry: they are built before it, so they cannot register them
// themselves. The signer and the peer verifier share one set of signing
// series, so the first of them that keeps any is enough.
func registerDepMetrics(reg prometheus.Registerer, d Deps) error {
	for _, dep := range []struct {
		name string
		v    []any
	}{
		{"rate limit", []any{d.Limiter}},
		{"policy", []any{d.Policy}},
		{"signing", []any{d.Signer, d.Peers}},
		{"store", []any{d.Store}},
		{"outbox", []any{d.Forwarder}},
		{"audit", []any{d.Audit}},
	} {
		for _, v := range dep.v {
			found, err := registerIfCollector(reg, v)
			if err != nil {
				return fmt.Errorf("%s metrics: %w", dep.name, err)
			}
			if found {
				break
			}
		}
	}
	return nil
}

package sign

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the signing package's Prometheus series, shared by the signer,
// the Vault login loop and the peer verifiers. The signer is a
// prometheus.Collector for all of them, so registering the signer on the
// server's registry publishes every series.
type Metrics struct {
	signatures    *prometheus.CounterVec
	signSeconds   *prometheus.HistogramVec
	failures      *prometheus.CounterVec
	vaultRequests *prometheus.CounterVec
	keyVersion    *prometheus.GaugeVec
	jwksKeys      *prometheus.GaugeVec
	logins        *prometheus.CounterVec
	renewals      *prometheus.CounterVec
	peerResults   *prometheus.CounterVec
}

var (
	_ prometheus.Collector = (*Metrics)(nil)
	_ prometheus.Collector = (*VaultSigner)(nil)
)

// NewMetrics creates the series, registered nowhere.
func NewMetrics() *Metrics {
	return &Metrics{
		signatures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_sign_signatures_total",
			Help: "JWS signatures produced, by mode (transit, kv).",
		}, []string{"mode"}),
		signSeconds: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "ura_sign_batch_seconds",
			Help:    "Time to sign one batch of payloads, by mode.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 18),
		}, []string{"mode"}),
		failures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_sign_failures_total",
			Help: "Sign calls that produced nothing, by mode and failing step (load key, sign, self-check).",
		}, []string{"mode", "op"}),
		vaultRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_sign_vault_requests_total",
			Help: "Vault requests made for signing, by operation and result (ok, error).",
		}, []string{"op", "result"}),
		keyVersion: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ura_sign_key_version",
			Help: "Key version new signatures use.",
		}, []string{"mode", "key"}),
		jwksKeys: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "ura_sign_jwks_keys",
			Help: "Key versions published in the JWKS.",
		}, []string{"mode", "key"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_vault_logins_total",
			Help: "Logins to Vault, by auth method and result (ok, error).",
		}, []string{"method", "result"}),
		renewals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_vault_token_renewals_total",
			Help: "Renewals of the gateway's Vault token, by result (ok, ended).",
		}, []string{"result"}),
		peerResults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_sign_peer_verifications_total",
			Help: "Signatures on records from peer gateways, by peer and result (valid, or the reason refused).",
		}, []string{"peer", "result"}),
	}
}

func (m *Metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.signatures, m.signSeconds, m.failures, m.vaultRequests,
		m.keyVersion, m.jwksKeys, m.logins, m.renewals, m.peerResults}
}

// Describe implements prometheus.Collector.
func (m *Metrics) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range m.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (m *Metrics) Collect(ch chan<- prometheus.Metric) {
	for _, c := range m.collectors() {
		c.Collect(ch)
	}
}

// Describe implements prometheus.Collector with the shared Metrics.
func (s *VaultSigner) Describe(ch chan<- *prometheus.Desc) { s.m.Describe(ch) }

// Collect implements prometheus.Collector with the shared Metrics.
func (s *VaultSigner) Collect(ch chan<- prometheus.Metric) { s.m.Collect(ch) }

func orNew(m *Metrics) *Metrics {
	if m == nil {
		return NewMetrics()
	}
	return m
}

func (m *Metrics) vault(op string, err error) {
	res := "ok"
	if err != nil {
		res = "error"
	}
	m.vaultRequests.WithLabelValues(op, res).Inc()
}

// Describe implements prometheus.Collector with the shared Metrics.
func (p *Peers) Describe(ch chan<- *prometheus.Desc) { p.m.Describe(ch) }

// Collect implements prometheus.Collector with the shared Metrics.
func (p *Peers) Collect(ch chan<- prometheus.Metric) { p.m.Collect(ch) }

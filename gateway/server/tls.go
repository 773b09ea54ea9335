package server

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/ura-gateway/ura/certs/reload"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/identity"
)

// tlsState is everything the listener needs for one handshake. It is built
// whole and swapped atomically, so a handshake sees either the old or the new
// certificates and CRLs, never a mix.
type tlsState struct {
	config *tls.Config
	trust  *identity.Trust
	min    uint16
}

// tlsManager owns the current tlsState and rebuilds it from disk.
type tlsManager struct {
	cfg     *config.Config
	fetcher *reload.CRLFetcher
	metrics *metrics
	log     *slog.Logger
	now     func() time.Time
	current atomic.Pointer[tlsState]
	// numbers keeps the highest verified CRL number per issuer across
	// restarts (tls.crl_state_file); set by openCRLNumbers.
	numbers *identity.CRLNumbers
}

func newTLSManager(cfg *config.Config, m *metrics, log *slog.Logger) *tlsManager {
	tm := &tlsManager{cfg: cfg, metrics: m, log: log, now: time.Now}
	var urls []string
	for _, ca := range cfg.TLS.ClientCAs {
		for _, s := range ca.CRLs {
			if s.URL != "" {
				urls = append(urls, s.URL)
			}
		}
	}
	if len(urls) > 0 {
		tm.fetcher = &reload.CRLFetcher{
			URLs:    urls,
			Refresh: cfg.TLS.CRLRefresh,
			Logger:  log,
			Result: func(_ string, err error) {
				m.crlFetches.WithLabelValues(result(err)).Inc()
			},
		}
	}
	return tm
}

// openCRLNumbers reads tls.crl_state_file, once, before the first load. A
// missing file is a first start; a corrupt one stops start-up. When any
// CRL is configured, the file's directory is made now, so that a directory
// the gateway cannot create stops start-up rather than the first write.
func (tm *tlsManager) openCRLNumbers() error {
	path := tm.cfg.Path(tm.cfg.TLS.CRLStateFile)
	n, err := identity.OpenCRLNumbers(path)
	if err != nil {
		return err
	}
	if slices.ContainsFunc(tm.cfg.TLS.ClientCAs, func(ca config.ClientCA) bool { return len(ca.CRLs) > 0 }) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return fmt.Errorf("crl state file %s: %w", path, err)
		}
	}
	n.OnWriteError = func(err error) {
		tm.metrics.crlStateWrites.Inc()
		tm.log.Error("crl number not recorded: a restart before the next successful write would forget it", "error", err)
	}
	tm.numbers = n
	return nil
}

// watchedFiles are the files whose change triggers a reload.
func (tm *tlsManager) watchedFiles() []string {
	t := tm.cfg.TLS
	files := []string{tm.cfg.Path(t.CertFile), tm.cfg.Path(t.KeyFile)}
	for _, ca := range t.ClientCAs {
		files = append(files, tm.cfg.Path(ca.CertFile))
		for _, s := range ca.CRLs {
			if s.File != "" {
				files = append(files, tm.cfg.Path(s.File))
			}
		}
	}
	return files
}

// load builds a new state from disk and swaps it in, or changes nothing.
func (tm *tlsManager) load() error {
	st, err := tm.build()
	if err != nil {
		return err
	}
	tm.current.Store(st)
	return nil
}

func (tm *tlsManager) build() (*tlsState, error) {
	t := tm.cfg.TLS
	cert, err := tls.LoadX509KeyPair(tm.cfg.Path(t.CertFile), tm.cfg.Path(t.KeyFile))
	if err != nil {
		return nil, fmt.Errorf("server certificate: %w", err)
	}
	anchors := make([]identity.AnchorConfig, 0, len(t.ClientCAs))
	for _, ca := range t.ClientCAs {
		pem, err := os.ReadFile(tm.cfg.Path(ca.CertFile))
		if err != nil {
			return nil, fmt.Errorf("client CA %s: %w", ca.Name, err)
		}
		ac := identity.AnchorConfig{Name: ca.Name, CertPEM: pem, Prefixes: ca.Prefixes}
		for _, s := range ca.CRLs {
			var raw []byte
			if s.File != "" {
				if raw, err = os.ReadFile(tm.cfg.Path(s.File)); err != nil {
					return nil, fmt.Errorf("client CA %s: crl: %w", ca.Name, err)
				}
			} else if tm.fetcher != nil {
				var ok bool
				if raw, ok = tm.fetcher.Get(s.URL); !ok {
					// Not fetched yet: leave it out; certificates that need it
					// are refused as crl_missing until it arrives.
					continue
				}
			}
			ac.CRLs = append(ac.CRLs, raw)
		}
		anchors = append(anchors, ac)
	}
	var prev *identity.Trust
	if cur := tm.current.Load(); cur != nil {
		prev = cur.trust
	}
	trust, err := identity.NewTrustWith(anchors, identity.TrustOptions{Grace: t.CRLGrace, Prev: prev, Numbers: tm.numbers})
	if err != nil {
		return nil, err
	}
	for _, r := range trust.Rollbacks() {
		tm.metrics.crlRollbacks.Inc()
		msg := "crl refused: numbered lower than one already seen from its issuer; the newer one stays in force"
		if r.Recorded {
			msg = "crl refused: numbered lower than one already seen from its issuer; none that high is loaded " +
				"(the number is from the CRL state file), so the certificates it covers are refused until one is"
		}
		tm.log.Warn(msg, "issuer", r.Issuer, "crl_number", r.Number.String(), "kept_crl_number", r.Kept.String(),
			"kept_unverified", r.Unverified, "kept_from", keptFrom(r))
	}
	st := &tlsState{trust: trust, min: tls.VersionTLS13}
	if t.MinVersion == "1.2" {
		st.min = tls.VersionTLS12
	}
	st.config = &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   st.min,
		// Go's TLS 1.3 suites are all AEAD; for 1.2 only AEAD suites with
		// forward secrecy are offered.
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		// The certificate is requested but verified by VerifyConnection, so
		// that every refusal is classified, counted and logged by reason.
		ClientAuth:       tls.RequestClientCert,
		NextProtos:       []string{"h2", "http/1.1"},
		VerifyConnection: tm.verifier(trust),
	}
	return st, nil
}

func (tm *tlsManager) verifier(trust *identity.Trust) func(tls.ConnectionState) error {
	return func(cs tls.ConnectionState) error {
		id, err := trust.Verify(cs.PeerCertificates, tm.now())
		if err != nil {
			reason := identity.ReasonOf(err)
			tm.metrics.handshakeFailures.WithLabelValues(reason).Inc()
			tm.log.Warn("client certificate refused", "reason", reason, "error", err)
			return err
		}
		tm.log.Debug("client certificate accepted", "member", id)
		return nil
	}
}

// baseConfig is the listener's config: it only dispatches to the current
// state, which is what makes hot reload possible without a restart.
func (tm *tlsManager) baseConfig() *tls.Config {
	return &tls.Config{
		MinVersion:         tls.VersionTLS12,
		NextProtos:         []string{"h2", "http/1.1"},
		GetConfigForClient: tm.configForClient,
	}
}

// errProtocolVersion is how crypto/tls words its refusal of a client that
// offers no version st.config's MinVersion allows; it answers such a client
// with alert 70 (protocol_version).
const errProtocolVersion = "tls: client offered only unsupported versions"

// configForClient hands every client the current config. A client that
// offers no version it allows is counted here and refused by crypto/tls
// itself, with the protocol_version alert: an error returned from here would
// send internal_error instead.
func (tm *tlsManager) configForClient(hello *tls.ClientHelloInfo) (*tls.Config, error) {
	st := tm.current.Load()
	if !slices.ContainsFunc(hello.SupportedVersions, func(v uint16) bool { return v >= st.min }) {
		tm.metrics.handshakeFailures.WithLabelValues(identity.ReasonProtocolVersion).Inc()
	}
	return st.config, nil
}

// handshakeLog receives net/http's "TLS handshake error" lines. Refusals made
// by the verifier are already counted and logged; anything else crypto/tls
// rejected on its own is counted as "other".
type handshakeLog struct {
	metrics *metrics
	log     *slog.Logger
}

func (h handshakeLog) Write(p []byte) (int, error) {
	msg := strings.TrimSpace(string(p))
	switch {
	case strings.Contains(msg, "ura identity refused"), strings.Contains(msg, errProtocolVersion):
	case strings.Contains(msg, "TLS handshake error"):
		if strings.HasSuffix(msg, "EOF") || strings.Contains(msg, "connection reset") {
			// Port scans and health probes that hang up: not an attack signal.
			h.metrics.handshakeFailures.WithLabelValues("closed").Inc()
			h.log.Debug("tls handshake aborted", "error", msg)
			return len(p), nil
		}
		h.metrics.handshakeFailures.WithLabelValues("other").Inc()
		h.log.Warn("tls handshake failed", "error", msg)
	default:
		h.log.Warn("http server", "error", msg)
	}
	return len(p), nil
}

// keptFrom says where a rollback's kept number comes from.
func keptFrom(r identity.Rollback) string {
	if r.Recorded {
		return "state_file"
	}
	return "memory"
}

func result(err error) string {
	if err != nil {
		return "error"
	}
	return "ok"
}

package upstream

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/sign"
)

// destination is one configured destination with its client.
type destination struct {
	name     string
	kind     string // http | peer
	endpoint string
	kinds    map[string]bool
	nation   string

	timeout        time.Duration
	maxAttempts    int
	backoffInitial time.Duration
	backoffMax     time.Duration

	client *http.Client
	wake   chan struct{}

	// member, signer and issuer sign what a peer destination receives.
	member string
	signer sign.Signer
	issuer string
}

func newDestination(dc config.Destination, resolve func(string) string) (*destination, error) {
	d := &destination{
		name:           dc.Name,
		kind:           dc.Kind,
		nation:         dc.Nation,
		member:         dc.Member,
		kinds:          map[string]bool{},
		timeout:        orDefault(dc.Timeout, DefaultTimeout),
		maxAttempts:    dc.MaxAttempts,
		backoffInitial: orDefault(dc.BackoffInitial, DefaultBackoffInitial),
		backoffMax:     orDefault(dc.BackoffMax, DefaultBackoffMax),
		wake:           make(chan struct{}, 1),
	}
	for _, k := range dc.Kinds {
		d.kinds[k] = true
	}
	u, err := url.Parse(dc.URL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, errors.New("url must be an https URL")
	}
	switch dc.Kind {
	case "http":
		d.endpoint = u.String()
	case "peer":
		if dc.Member == "" {
			return nil, errors.New("member must name the peer gateway's member ID")
		}
		d.endpoint = u.JoinPath("/v1/records").String()
	default:
		return nil, fmt.Errorf("kind must be http or peer; got %q", dc.Kind)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if dc.CAFile != "" {
		pem, err := os.ReadFile(resolve(dc.CAFile))
		if err != nil {
			return nil, fmt.Errorf("ca_file: %w", err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, errors.New("ca_file: no PEM certificate in it")
		}
	}
	kp := &keyPair{cert: resolve(dc.ClientCertFile), key: resolve(dc.ClientKeyFile)}
	if _, err := kp.get(); err != nil {
		return nil, err
	}
	tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return kp.get() }
	d.client = &http.Client{
		Timeout: d.timeout,
		Transport: &http.Transport{
			// Records go straight to the configured host, never through
			// a proxy taken from the environment.
			Proxy:               nil,
			TLSClientConfig:     tc,
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 2,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
		},
		// A redirect would send the record to a host nobody configured.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return d, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// wants reports whether rec goes to this destination: its kind is one the
// destination takes and, when the destination has a nation, the label
// releases the record to that nation.
func (d *destination) wants(rec *records.Record) bool {
	if !d.kinds[rec.Kind] {
		return false
	}
	return d.nation == "" || slices.Contains(rec.Label.ReleasableTo, d.nation)
}

func (d *destination) wakeUp() {
	select {
	case d.wake <- struct{}{}:
	default:
	}
}

// keyPair is the client certificate, re-read when its files change so that
// a renewed certificate is used without a restart.
type keyPair struct {
	cert, key string

	mu      sync.Mutex
	stamp   string
	current *tls.Certificate
}

func (k *keyPair) get() (*tls.Certificate, error) {
	stamp, err := fileStamp(k.cert, k.key)
	if err != nil {
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.current != nil && stamp == k.stamp {
		return k.current, nil
	}
	c, err := tls.LoadX509KeyPair(k.cert, k.key)
	if err != nil {
		if k.current != nil {
			// A half-written renewal: keep the working certificate.
			return k.current, nil
		}
		return nil, fmt.Errorf("client certificate: %w", err)
	}
	k.current, k.stamp = &c, stamp
	return k.current, nil
}

func fileStamp(paths ...string) (string, error) {
	var b strings.Builder
	for _, p := range paths {
		fi, err := os.Stat(p)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(&b, "%d/%d;", fi.Size(), fi.ModTime().UnixNano())
	}
	return b.String(), nil
}

// attempt is the outcome of one delivery attempt.
type attempt struct {
	status int
	// verdict is delivered, retry or park.
	verdict verdict
	// reason says why, for the log and the dead letter (no response body
	// content beyond the destination's own short per-record reason).
	reason string
	// retryAfter is the destination's Retry-After, if any.
	retryAfter time.Duration
	// failure labels ura_outbox_failed_attempts_total.
	failure string
}

type verdict int

const (
	delivered verdict = iota
	retry
	park
)

// deliver sends one entry. Only this entry's fate is decided here.
func (d *destination) deliver(ctx context.Context, e *entry) attempt {
	body := []byte(e.Raw)
	ct := "application/json"
	if d.kind == "peer" {
		line, err := d.signedLine(ctx, e)
		if err != nil {
			// Signing happens here, not at enqueue, so a Vault outage
			// delays delivery instead of losing or refusing records.
			return attempt{verdict: retry, reason: err.Error(), failure: "signing"}
		}
		body = append(line, '\n')
		ct = "application/x-ndjson"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.endpoint, bytes.NewReader(body))
	if err != nil {
		return attempt{verdict: park, reason: "cannot build request: " + err.Error()}
	}
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Idempotency-Key", e.IdempotencyKey())
	req.Header.Set("User-Agent", "ura-gateway")
	resp, err := d.client.Do(req)
	if err != nil {
		return attempt{verdict: retry, reason: err.Error(), failure: transportFailure(err)}
	}
	defer func() { _ = resp.Body.Close() }() // read only: nothing to lose on close
	return classify(d.kind, resp)
}

func transportFailure(err error) string {
	var (
		verr *tls.CertificateVerificationError
		uerr x509.UnknownAuthorityError
		herr x509.HostnameError
		cerr x509.CertificateInvalidError
	)
	switch {
	case errors.As(err, &verr), errors.As(err, &uerr), errors.As(err, &herr), errors.As(err, &cerr):
		return "tls"
	case errors.Is(err, context.DeadlineExceeded) || isTimeout(err):
		return "timeout"
	}
	return "network"
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

// fedLine is the one NDJSON line a peer gateway receives per record.
type fedLine struct {
	JWS string `json:"jws"`
}

// signedLine signs e for the peer as a sign.Delivery bound to the peer's
// member ID, so the peer can tell it was meant for it, by whom, under which
// decision.
func (d *destination) signedLine(ctx context.Context, e *entry) ([]byte, error) {
	payload, err := json.Marshal(sign.Delivery{
		Record:         e.Raw,
		DecisionID:     e.DecisionID,
		PolicyRevision: e.PolicyRevision,
		Redactions:     []string{},
		Recipient:      d.member,
		Issuer:         d.issuer,
		IssuedAt:       time.Now().Unix(),
	})
	if err != nil {
		return nil, fmt.Errorf("delivery payload: %w", err)
	}
	jws, err := d.signer.SignTyped(ctx, sign.TypFederation, [][]byte{payload})
	if err == nil && len(jws) != 1 {
		err = fmt.Errorf("signer returned %d signatures for 1 payload", len(jws))
	}
	if err != nil {
		return nil, fmt.Errorf("signing for peer %s: %w", d.member, err)
	}
	return json.Marshal(fedLine{JWS: jws[0]})
}

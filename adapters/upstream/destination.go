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
	"strings"
	"sync"
	"time"

	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/release"
	"github.com/ura-gateway/ura/gateway/sign"
)

// destination is one configured destination with its client.
type destination struct {
	name     string
	kind     string // http | peer
	endpoint string
	kinds    map[string]bool
	// member is the configured member ID (who, once the registry is read).
	member string
	// who is the destination's registry member: the caller of every
	// delivery-time decision, and the recipient of what a peer is sent.
	who identity.Member

	timeout        time.Duration
	maxAttempts    int
	backoffInitial time.Duration
	backoffMax     time.Duration

	client *http.Client
	wake   chan struct{}

	// signer and issuer sign what a peer destination receives.
	signer sign.Signer
	issuer string
}

func newDestination(dc config.Destination, resolve func(string) string) (*destination, error) {
	d := &destination{
		name:           dc.Name,
		kind:           dc.Kind,
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
	if dc.Member == "" {
		return nil, errors.New("member must name the destination's registry member")
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

// wants reports whether rec is queued for this destination: its kind is
// one the destination takes. Whether it is sent, and how much of it, the
// policy decides at delivery time.
// A peer gateway is never queued a record in the name of an institution of
// its own instance: that record came from it (it relayed it here), and its
// relay rule would refuse it back (relay_originator_own_instance).
func (d *destination) wants(rec *records.Record) bool {
	if d.kind == "peer" && identity.Instance(rec.Label.Originator) == identity.Instance(d.member) {
		return false
	}
	return d.kinds[rec.Kind]
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
	// verdict is delivered, retry, park, withheld or superseded.
	verdict fate
	// reason says why, for the log and the entry's status (no response
	// body content beyond the destination's own short per-record reason).
	reason string
	// retryAfter is the destination's Retry-After, if any.
	retryAfter time.Duration
	// failure labels ura_outbox_failed_attempts_total.
	failure string
	// body is the bounded response body of a 2xx, for a peer's receipt.
	body []byte
}

// fate is what an attempt means for its entry.
type fate int

const (
	delivered fate = iota
	retry
	park
	// withheld: the policy does not release the record to the
	// destination's member; audited, never sent.
	withheld
	// superseded: a newer version is stored; its own entry sends it.
	superseded
)

// String names the fate, for an attempt's span.
func (f fate) String() string {
	switch f {
	case delivered:
		return "delivered"
	case retry:
		return "retry"
	case park:
		return "parked"
	case withheld:
		return "withheld"
	case superseded:
		return "superseded"
	}
	return "unknown"
}

// send posts body to the destination. Only this entry's fate is decided
// here.
func (d *destination) send(ctx context.Context, e *entry, body []byte, contentType string) attempt {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.endpoint, bytes.NewReader(body))
	if err != nil {
		return attempt{verdict: park, reason: "cannot build request: " + err.Error()}
	}
	req.Header.Set("Content-Type", contentType)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Idempotency-Key", e.IdempotencyKey())
	req.Header.Set("User-Agent", "ura-gateway")
	resp, err := d.client.Do(req)
	if err != nil {
		return attempt{verdict: retry, reason: err.Error(), failure: transportFailure(err)}
	}
	defer func() { _ = resp.Body.Close() }() // read only: nothing to lose on close
	return classify(resp)
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

// signedLines signs what each of xs releases for the peer, with one
// signer call, as a sign.Delivery bound to the peer's member ID and to the
// delivery-time decision, so the peer can tell it was meant for it, by
// whom, under which decision and with which redactions. It returns each
// one's NDJSON line and signing kid.
func (d *destination) signedLines(ctx context.Context, xs []*release.Outcome) ([][]byte, []string, error) {
	iat := time.Now().Unix()
	payloads := make([][]byte, len(xs))
	labels := make([]json.RawMessage, len(xs))
	for i, x := range xs {
		p, err := x.Delivery(d.who.ID, d.issuer, iat)
		if err != nil {
			return nil, nil, fmt.Errorf("delivery payload: %w", err)
		}
		payloads[i], labels[i] = p, x.Label()
	}
	jws, err := d.signer.SignLabelled(ctx, sign.TypFederation, payloads, labels)
	if err == nil && len(jws) != len(xs) {
		err = fmt.Errorf("signer returned %d signatures for %d payloads", len(jws), len(xs))
	}
	if err != nil {
		return nil, nil, fmt.Errorf("signing for peer %s: %w", d.who.ID, err)
	}
	lines := make([][]byte, len(jws))
	kids := make([]string, len(jws))
	for i, j := range jws {
		line, err := json.Marshal(fedLine{JWS: j})
		if err != nil {
			return nil, nil, err
		}
		lines[i], kids[i] = append(line, '\n'), sign.KeyID(j)
	}
	return lines, kids, nil
}

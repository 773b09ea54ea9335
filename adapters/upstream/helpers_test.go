package upstream

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ura-gateway/ura/certs"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// pki is an in-test PKI: a root and issuing intermediate the gateway and the
// back office both trust, and a foreign root nobody trusts.
type pki struct {
	t       testing.TB
	dir     string
	root    *certs.CA
	inter   *certs.CA
	foreign *certs.CA
}

func newPKI(t testing.TB) *pki {
	t.Helper()
	p := &pki{t: t, dir: t.TempDir()}
	var err error
	if p.root, err = certs.NewRootCA("test root", time.Hour); err != nil {
		t.Fatal(err)
	}
	if p.inter, err = p.root.NewIntermediate("test issuing CA", time.Hour); err != nil {
		t.Fatal(err)
	}
	if p.foreign, err = certs.NewRootCA("untrusted root", time.Hour); err != nil {
		t.Fatal(err)
	}
	if err := certs.WriteCertsPEM(p.path("ca.crt"), p.root.Cert); err != nil {
		t.Fatal(err)
	}
	return p
}

func (p *pki) path(name string) string { return filepath.Join(p.dir, name) }

// gatewayCert writes the certificate the gateway presents to upstreams: a
// member certificate, as a peer gateway expects.
func (p *pki) gatewayCert(member string) (certFile, keyFile string) {
	p.t.Helper()
	l, err := p.inter.Issue(certs.LeafOptions{CommonName: member, URIs: []string{identity.MemberURI(member)}, Client: true})
	if err != nil {
		p.t.Fatal(err)
	}
	stem := strings.ReplaceAll(member, "/", "_")
	certFile, keyFile = p.path(stem+".crt"), p.path(stem+".key")
	if err := certs.WriteCertsPEM(certFile, l.Chain...); err != nil {
		p.t.Fatal(err)
	}
	if err := certs.WriteKeyPEM(keyFile, l.Key); err != nil {
		p.t.Fatal(err)
	}
	return certFile, keyFile
}

// serverTLS is a back office's TLS: a certificate for 127.0.0.1 from ca, and
// client certificates required from clientRoot.
func (p *pki) serverTLS(ca *certs.CA, clientRoot *certs.CA) *tls.Config {
	p.t.Helper()
	l, err := ca.Issue(certs.LeafOptions{CommonName: "backoffice", IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	if err != nil {
		p.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(clientRoot.Cert)
	return &tls.Config{
		Certificates: []tls.Certificate{l.TLSCertificate()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
		MinVersion:   tls.VersionTLS13,
	}
}

// delivery is one request a back office received.
type delivery struct {
	key, contentType, path, client string
	body                           []byte
}

// backOffice is an institution's HTTP back office: it stores each
// idempotency key once (201) and answers 409 for a key it already has.
// respond, when set, decides the answer instead.
type backOffice struct {
	mu       sync.Mutex
	requests []delivery
	stored   map[string][]byte
	order    []string
	respond  func(d delivery, n int) (status int, header http.Header, body string)
	// hold, when set, is called after a request is stored and before the
	// answer is written; it can block to simulate a slow answer.
	hold func(r *http.Request, d delivery)
}

func newBackOffice() *backOffice { return &backOffice{stored: map[string][]byte{}} }

func (b *backOffice) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	d := delivery{key: r.Header.Get("Idempotency-Key"), contentType: r.Header.Get("Content-Type"), path: r.URL.Path, body: body}
	if r.TLS != nil && len(r.TLS.PeerCertificates) > 0 && len(r.TLS.PeerCertificates[0].URIs) == 1 {
		d.client = r.TLS.PeerCertificates[0].URIs[0].String()
	}
	b.mu.Lock()
	b.requests = append(b.requests, d)
	n := len(b.requests)
	respond := b.respond
	_, dup := b.stored[d.key]
	if !dup && respond == nil {
		b.stored[d.key] = body
		b.order = append(b.order, d.key)
	}
	hold := b.hold
	b.mu.Unlock()
	if hold != nil {
		hold(r, d)
	}
	if respond != nil {
		status, h, text := respond(d, n)
		for k, v := range h {
			w.Header()[k] = v
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, text)
		return
	}
	if dup {
		w.WriteHeader(http.StatusConflict)
		return
	}
	w.WriteHeader(http.StatusCreated)
}

func (b *backOffice) snapshot() (requests []delivery, order []string, stored map[string][]byte) {
	b.mu.Lock()
	defer b.mu.Unlock()
	stored = make(map[string][]byte, len(b.stored))
	for k, v := range b.stored {
		stored[k] = v
	}
	return append([]delivery(nil), b.requests...), append([]string(nil), b.order...), stored
}

// upstreamServer runs h with TLS on a fixed port, so it can be stopped and
// started again at the same address.
type upstreamServer struct {
	t    testing.TB
	addr string
	tls  *tls.Config
	h    http.Handler
	srv  *httptest.Server
}

func newUpstream(t testing.TB, tc *tls.Config, h http.Handler) *upstreamServer {
	u := &upstreamServer{t: t, addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreePort(t))), tls: tc, h: h}
	t.Cleanup(u.stop)
	return u
}

func (u *upstreamServer) url() string { return "https://" + u.addr }

func (u *upstreamServer) start() {
	u.t.Helper()
	var (
		ln  net.Listener
		err error
	)
	// The port was just released by stop; the kernel may need a moment.
	for i := 0; i < 100; i++ {
		if ln, err = net.Listen("tcp", u.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		u.t.Fatalf("listen %s: %v", u.addr, err)
	}
	srv := httptest.NewUnstartedServer(u.h)
	srv.Listener.Close()
	srv.Listener = ln
	srv.TLS = u.tls.Clone()
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS()
	u.srv = srv
}

func (u *upstreamServer) stop() {
	if u.srv != nil {
		u.srv.CloseClientConnections()
		u.srv.Close()
		u.srv = nil
	}
}

// waitFor polls cond until it holds; the deadline only guards against a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// destination config for a back office at url.
func (p *pki) destination(name, kind, url string, kinds ...string) config.Destination {
	cert, key := p.gatewayCert("AL/GOV/AIM")
	member := aimID
	if kind == "peer" {
		member = itID
	}
	return config.Destination{
		Name: name, Kind: kind, URL: url, Kinds: kinds, Member: member,
		CAFile: p.path("ca.crt"), ClientCertFile: cert, ClientKeyFile: key,
		Timeout: 5 * time.Second, BackoffInitial: 10 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
	}
}

func keyOf(id string, v int) string { return fmt.Sprintf("%s@%d", id, v) }

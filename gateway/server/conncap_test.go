package server

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ura-gateway/ura/certs"
	"github.com/ura-gateway/ura/gateway/identity"
)

// capClient is an HTTPS client of its own (one transport, at most one
// connection) presenting leaf, over HTTP/2 or HTTP/1.1. Each client keeps
// its connection open between requests, so n clients hold n connections.
func capClient(p *testPKI, leaf *certs.Leaf, h2 bool) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(p.root.Cert)
	tc := &tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{leaf.TLSCertificate()}}
	if !h2 {
		tc.NextProtos = []string{"http/1.1"}
	}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: h2, MaxConnsPerHost: 1},
	}
}

// capWhoami asks /v1/whoami and returns the status, the member named, the
// protocol and whether the request went over a connection opened before.
func capWhoami(t *testing.T, c *http.Client, addr string) (status int, member string, proto int, reused bool, err error) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "https://"+addr+"/v1/whoami", nil)
	if err != nil {
		t.Fatal(err)
	}
	req = req.WithContext(httptrace.WithClientTrace(req.Context(), &httptrace.ClientTrace{
		GotConn: func(ci httptrace.GotConnInfo) { reused = ci.Reused },
	}))
	resp, err := c.Do(req)
	if err != nil {
		return 0, "", 0, false, err
	}
	defer resp.Body.Close()
	var body struct {
		Member string `json:"member"`
	}
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &body)
	return resp.StatusCode, body.Member, resp.ProtoMajor, reused, nil
}

// waitHeld waits until member holds n connections at the gateway: a client
// closing its connection is seen by the gateway when it next reads.
func waitHeld(t *testing.T, srv *Server, member string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for srv.conns.slots.held(member) != n {
		if time.Now().After(deadline) {
			t.Fatalf("%s holds %d connections, want %d", member, srv.conns.slots.held(member), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestConnectionCapPerMember: a member holding http.max_connections_per_member
// open connections is refused the next one, right after its handshake, and
// counted; its open connections go on working, another member connects, and
// once it closes one it may open another.
func TestConnectionCapPerMember(t *testing.T) {
	const aim, mod = "AL/GOV/AIM", "AL/GOV/MOD"
	p := newTestPKI(t)
	cfg := p.config()
	cfg.HTTP.MaxConnectionsPerMember = 3
	e := startGateway(t, withPKI(p), useConfig(cfg), withoutParts())
	srv, addr := e.srv, e.addr
	a := p.member(p.inter, aim)

	// A holds three connections: two over HTTP/2, one over HTTP/1.1.
	held := []*http.Client{capClient(p, a, true), capClient(p, a, false), capClient(p, a, true)}
	for i, c := range held {
		status, member, proto, _, err := capWhoami(t, c, addr)
		if err != nil || status != http.StatusOK || member != aim {
			t.Fatalf("connection %d of %s: %d %q %v", i+1, aim, status, member, err)
		}
		if want := map[bool]int{true: 2, false: 1}[i != 1]; proto != want {
			t.Fatalf("connection %d went over HTTP/%d, want HTTP/%d", i+1, proto, want)
		}
	}
	if n := srv.conns.slots.held(aim); n != 3 {
		t.Fatalf("%s holds %d connections, want 3", aim, n)
	}

	// The next connection of A is refused, over either protocol, and each
	// refusal is counted for A.
	refused := srv.conns.refused.WithLabelValues(aim)
	for i, h2 := range []bool{false, true} {
		if status, _, _, _, err := capWhoami(t, capClient(p, a, h2), addr); err == nil {
			t.Fatalf("a fourth connection of %s (h2 %v) was served: %d", aim, h2, status)
		}
		if got := testutil.ToFloat64(refused); got != float64(i+1) {
			t.Fatalf("ura_tls_connections_refused_total{member=%q} = %v after %d refusals", aim, got, i+1)
		}
	}
	if n := srv.conns.slots.held(aim); n != 3 {
		t.Fatalf("after the refusals %s holds %d connections, want 3", aim, n)
	}

	// The connections A holds are untouched: each answers on the same
	// connection.
	for i, c := range held {
		status, _, _, reused, err := capWhoami(t, c, addr)
		if err != nil || status != http.StatusOK || !reused {
			t.Fatalf("held connection %d: status %d, reused %v, %v", i+1, status, reused, err)
		}
	}

	// Another member is not affected.
	b := capClient(p, p.member(p.inter, mod), false)
	if status, member, _, _, err := capWhoami(t, b, addr); err != nil || status != http.StatusOK || member != mod {
		t.Fatalf("%s refused while %s is at its cap: %d %q %v", mod, aim, status, member, err)
	}
	if got := testutil.ToFloat64(srv.conns.refused.WithLabelValues(mod)); got != 0 {
		t.Fatalf("refusals counted for %s: %v", mod, got)
	}

	// A closes its HTTP/1.1 connection; once the gateway has seen it go, A
	// connects again.
	held[1].CloseIdleConnections()
	waitHeld(t, srv, aim, 2)
	again := capClient(p, a, false)
	if status, member, _, _, err := capWhoami(t, again, addr); err != nil || status != http.StatusOK || member != aim {
		t.Fatalf("%s refused after closing a connection: %d %q %v", aim, status, member, err)
	}
	if n := srv.conns.slots.held(aim); n != 3 {
		t.Fatalf("%s holds %d connections, want 3", aim, n)
	}

	// Closing an HTTP/2 connection releases it as well.
	held[0].CloseIdleConnections()
	waitHeld(t, srv, aim, 2)
	if got := testutil.ToFloat64(refused); got != 2 {
		t.Fatalf("ura_tls_connections_refused_total{member=%q} = %v, want 2", aim, got)
	}
}

// TestConnectionCapReleasedByIdleTimeout: connections the gateway closes
// itself (idle timeout; an HTTP/2 connection gets a GOAWAY first) give
// their member's count back.
func TestConnectionCapReleasedByIdleTimeout(t *testing.T) {
	const aim = "AL/GOV/AIM"
	p := newTestPKI(t)
	cfg := p.config()
	cfg.HTTP.MaxConnectionsPerMember = 2
	cfg.HTTP.IdleTimeout = 200 * time.Millisecond
	e := startGateway(t, withPKI(p), useConfig(cfg), withoutParts())
	srv, addr := e.srv, e.addr
	a := p.member(p.inter, aim)
	for _, h2 := range []bool{true, false} {
		if status, _, _, _, err := capWhoami(t, capClient(p, a, h2), addr); err != nil || status != http.StatusOK {
			t.Fatalf("h2 %v: %d %v", h2, status, err)
		}
	}
	waitHeld(t, srv, aim, 0)
	for _, h2 := range []bool{true, false} {
		if status, _, _, _, err := capWhoami(t, capClient(p, a, h2), addr); err != nil || status != http.StatusOK {
			t.Fatalf("h2 %v after the idle timeout: %d %v", h2, status, err)
		}
	}
	if got := testutil.ToFloat64(srv.conns.refused.WithLabelValues(aim)); got != 0 {
		t.Fatalf("%v connections refused, want none", got)
	}
}

// TestConnectionCapUnregisteredShareOneCount: certificates that name no
// registered member (answered 403) share one count, whatever IDs they name,
// so that an anchor vouching for a prefix cannot multiply the cap by
// minting IDs; registered members are not affected.
func TestConnectionCapUnregisteredShareOneCount(t *testing.T) {
	p := newTestPKI(t)
	cfg := p.config()
	cfg.HTTP.MaxConnectionsPerMember = 1
	e := startGateway(t, withPKI(p), useConfig(cfg), withoutParts())
	srv, addr := e.srv, e.addr
	first := capClient(p, p.member(p.inter, "AL/GOV/NOBODY"), false)
	if status, _, _, _, err := capWhoami(t, first, addr); err != nil || status != http.StatusForbidden {
		t.Fatalf("unregistered member: %d %v, want 403", status, err)
	}
	if status, _, _, _, err := capWhoami(t, capClient(p, p.member(p.inter, "AL/GOV/OTHER"), false), addr); err == nil {
		t.Fatalf("a second unregistered ID was served (%d) while the first holds the shared count", status)
	}
	if got := testutil.ToFloat64(srv.conns.refused.WithLabelValues(unregisteredMember)); got != 1 {
		t.Fatalf("ura_tls_connections_refused_total{member=%q} = %v, want 1", unregisteredMember, got)
	}
	if status, _, _, _, err := capWhoami(t, capClient(p, p.member(p.inter, "AL/GOV/AIM"), false), addr); err != nil || status != http.StatusOK {
		t.Fatalf("a registered member was refused: %d %v", status, err)
	}
}

// TestConnectionRefusalLogRateLimited: refusals of one member are logged at
// most once a minute, each line saying how many went unlogged before it;
// every refusal is counted, and a closed connection gives its count back.
func TestConnectionRefusalLogRateLimited(t *testing.T) {
	const aim = "AL/GOV/AIM"
	var logs bytes.Buffer
	registry := identity.NewRegistry([]identity.Member{{ID: aim}})
	c, err := newConnCap(1, registry, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_700_000_000, 0)
	c.now = func() time.Time { return now }
	p := newTestPKI(t)
	cs := tls.ConnectionState{PeerCertificates: []*x509.Certificate{p.member(p.inter, aim).Cert}}

	first := pipeConn(t)
	if !c.admit(cs, first) {
		t.Fatal("the first connection was refused")
	}
	lines := func() []string {
		var out []string
		for _, l := range strings.Split(logs.String(), "\n") {
			if strings.Contains(l, "connection refused") {
				out = append(out, l)
			}
		}
		return out
	}
	for range 3 {
		if c.admit(cs, pipeConn(t)) {
			t.Fatal("a connection over the cap was admitted")
		}
	}
	now = now.Add(30 * time.Second)
	if c.admit(cs, pipeConn(t)) {
		t.Fatal("a connection over the cap was admitted")
	}
	if got := lines(); len(got) != 1 || !strings.Contains(got[0], "member="+aim) || !strings.Contains(got[0], "refused_unlogged=0") {
		t.Fatalf("log lines within a minute: %q", got)
	}
	now = now.Add(31 * time.Second)
	if c.admit(cs, pipeConn(t)) {
		t.Fatal("a connection over the cap was admitted")
	}
	if got := lines(); len(got) != 2 || !strings.Contains(got[1], "refused_unlogged=3") {
		t.Fatalf("log lines after a minute: %q", got)
	}
	if got := testutil.ToFloat64(c.refused.WithLabelValues(aim)); got != 5 {
		t.Fatalf("refusals counted: %v, want 5", got)
	}
	_ = first.Close()
	if !c.admit(cs, pipeConn(t)) {
		t.Fatal("refused after the held connection closed")
	}
}

// pipeConn is a countedConn over one end of an in-memory pipe.
func pipeConn(t *testing.T) *countedConn {
	t.Helper()
	a, b := net.Pipe()
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return &countedConn{Conn: a}
}

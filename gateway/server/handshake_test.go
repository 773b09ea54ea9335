package server

import (
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ura-gateway/ura/certs"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/problem"
)

func whoami(t *testing.T, c *http.Client, addr string, header http.Header) (*http.Response, map[string]any, error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "https://"+addr+"/v1/whoami", nil)
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	var body map[string]any
	raw, _ := io.ReadAll(resp.Body)
	if err := json.Unmarshal(raw, &body); err != nil {
		t.Fatalf("response is not JSON: %q", raw)
	}
	return resp, body, nil
}

// TestHandshakeMatrix runs every certificate an attacker or a misconfigured
// partner could present against a real TLS listener.
func TestHandshakeMatrix(t *testing.T) {
	p := newTestPKI(t)
	revoked := p.member(p.inter, "AL/GOV/MOD")
	p.revoke(revoked.Cert.SerialNumber)
	g := startGateway(t, withPKI(p))
	srv, addr := g.srv, g.addr

	cases := []struct {
		name       string
		leaf       *certs.Leaf
		maxVersion uint16
		wantMember string // "" = the handshake must fail
		wantStatus int
		wantReason string
	}{
		{name: "valid AL member via intermediate", leaf: p.member(p.inter, "AL/GOV/AIM"), wantMember: "AL/GOV/AIM", wantStatus: 200},
		{name: "valid partner under its own CA", leaf: p.member(p.it, "IT/GOV/MOD"), wantMember: "IT/GOV/MOD", wantStatus: 200},
		{name: "no certificate", leaf: nil, wantReason: identity.ReasonNoCertificate},
		{name: "expired", leaf: p.leaf(p.inter, certs.LeafOptions{URIs: []string{identity.MemberURI("AL/GOV/AIM")}, Client: true,
			NotBefore: time.Now().Add(-48 * time.Hour), NotAfter: time.Now().Add(-time.Hour)}), wantReason: identity.ReasonExpired},
		{name: "revoked", leaf: revoked, wantReason: identity.ReasonRevoked},
		{name: "unknown CA", leaf: p.member(p.foreign, "AL/GOV/AIM"), wantReason: identity.ReasonUnknownCA},
		{name: "partner CA claims AL prefix", leaf: p.member(p.it, "AL/GOV/AIM"), wantReason: identity.ReasonPrefix},
		{name: "two SAN URIs", leaf: p.leaf(p.inter, certs.LeafOptions{Client: true,
			URIs: []string{identity.MemberURI("AL/GOV/AIM"), identity.MemberURI("AL/GOV/MOD")}}), wantReason: identity.ReasonSANCount},
		{name: "no SAN URI, identity only in CN", leaf: p.leaf(p.inter, certs.LeafOptions{CommonName: "AL/GOV/AIM", Client: true}),
			wantReason: identity.ReasonSANCount},
		{name: "malformed member URI", leaf: p.leaf(p.inter, certs.LeafOptions{Client: true, URIs: []string{"urn:ura:member:al/gov/aim"}}),
			wantReason: identity.ReasonSANInvalid},
		{name: "foreign URI scheme", leaf: p.leaf(p.inter, certs.LeafOptions{Client: true, URIs: []string{"spiffe://al/gov/aim"}}),
			wantReason: identity.ReasonSANInvalid},
		{name: "server-only certificate used as client", leaf: p.leaf(p.inter, certs.LeafOptions{Server: true,
			URIs: []string{identity.MemberURI("AL/GOV/AIM")}}), wantReason: identity.ReasonBadChain},
		{name: "TLS 1.2 when only 1.3 is allowed", leaf: p.member(p.inter, "AL/GOV/AIM"), maxVersion: tls.VersionTLS12,
			wantReason: identity.ReasonProtocolVersion},
		{name: "valid certificate, member not registered", leaf: p.member(p.inter, "AL/GOV/NOBODY"), wantStatus: 403},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var before float64
			if tc.wantReason != "" {
				before = testutil.ToFloat64(srv.metrics.handshakeFailures.WithLabelValues(tc.wantReason))
			}
			resp, body, err := whoami(t, p.client(tc.leaf, tc.maxVersion, false), addr, nil)
			if tc.wantReason != "" {
				if err == nil {
					t.Fatalf("handshake succeeded with status %d; want refusal %s", resp.StatusCode, tc.wantReason)
				}
				after := testutil.ToFloat64(srv.metrics.handshakeFailures.WithLabelValues(tc.wantReason))
				if after != before+1 {
					t.Errorf("ura_tls_handshake_failures_total{reason=%q} went %v → %v; want +1", tc.wantReason, before, after)
				}
				return
			}
			if err != nil {
				t.Fatalf("request failed: %v", err)
			}
			if resp.StatusCode != tc.wantStatus {
				t.Fatalf("status %d, want %d (%v)", resp.StatusCode, tc.wantStatus, body)
			}
			if tc.wantMember != "" && body["member"] != tc.wantMember {
				t.Errorf("whoami member = %v, want %s", body["member"], tc.wantMember)
			}
			if resp.StatusCode >= 400 {
				if ct := resp.Header.Get("Content-Type"); ct != problem.ContentType {
					t.Errorf("Content-Type %q, want %s", ct, problem.ContentType)
				}
				if body["type"] != problem.TypeUnknownMember {
					t.Errorf("problem type %v, want %s", body["type"], problem.TypeUnknownMember)
				}
			}
		})
	}
}

func TestTLS12WhenConfigured(t *testing.T) {
	g := startGateway(t, withConfig(func(cfg *config.Config) { cfg.TLS.MinVersion = "1.2" }))
	p, addr := g.p, g.addr
	resp, body, err := whoami(t, p.client(p.member(p.inter, "AL/GOV/AIM"), tls.VersionTLS12, false), addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.TLS.Version != tls.VersionTLS12 || body["member"] != "AL/GOV/AIM" {
		t.Fatalf("got TLS %x member %v", resp.TLS.Version, body["member"])
	}
	if !strings.Contains(tls.CipherSuiteName(resp.TLS.CipherSuite), "GCM") && !strings.Contains(tls.CipherSuiteName(resp.TLS.CipherSuite), "CHACHA20") {
		t.Errorf("TLS 1.2 negotiated non-AEAD suite %s", tls.CipherSuiteName(resp.TLS.CipherSuite))
	}
}

func TestStaleCRLFailsClosed(t *testing.T) {
	p := newTestPKI(t)
	p.writeCRL(time.Now().Add(-2 * time.Hour)) // past nextUpdate + 1h grace
	g := startGateway(t, withPKI(p))
	srv, addr := g.srv, g.addr
	if _, _, err := whoami(t, p.client(p.member(p.inter, "AL/GOV/AIM"), 0, false), addr, nil); err == nil {
		t.Fatal("a certificate covered only by a stale CRL was accepted")
	}
	if got := testutil.ToFloat64(srv.metrics.handshakeFailures.WithLabelValues(identity.ReasonCRLStale)); got != 1 {
		t.Errorf("crl_stale failures = %v, want 1", got)
	}
	// The partner CA has no CRL configured: unaffected.
	if _, body, err := whoami(t, p.client(p.member(p.it, "IT/GOV/MOD"), 0, false), addr, nil); err != nil || body["member"] != "IT/GOV/MOD" {
		t.Fatalf("partner refused: %v %v", err, body)
	}
}

func TestCRLWithinGraceAccepted(t *testing.T) {
	p := newTestPKI(t)
	p.writeCRL(time.Now().Add(-30 * time.Minute)) // past nextUpdate, inside 1h grace
	addr := startGateway(t, withPKI(p)).addr
	if _, body, err := whoami(t, p.client(p.member(p.inter, "AL/GOV/AIM"), 0, false), addr, nil); err != nil || body["member"] != "AL/GOV/AIM" {
		t.Fatalf("refused within grace: %v %v", err, body)
	}
}

func TestCRLFromURL(t *testing.T) {
	p := newTestPKI(t)
	revoked := p.member(p.inter, "AL/GOV/MOD")
	p.revoke(revoked.Cert.SerialNumber)
	crlSrv := httptestCRL(t, p.path("crl.pem"))
	addr := startGateway(t, withPKI(p), withConfig(func(cfg *config.Config) {
		cfg.TLS.ClientCAs[0].CRLs = []config.CRLSource{{URL: crlSrv}}
	})).addr
	if _, _, err := whoami(t, p.client(revoked, 0, false), addr, nil); err == nil {
		t.Fatal("revoked certificate accepted with the CRL fetched from a URL")
	}
	if _, body, err := whoami(t, p.client(p.member(p.inter, "AL/GOV/AIM"), 0, false), addr, nil); err != nil || body["member"] != "AL/GOV/AIM" {
		t.Fatalf("valid member refused: %v %v", err, body)
	}
}

// TestSpoofedIdentityHeadersIgnored sends every identity header a proxy
// might trust; whoami must still answer the certificate's member.
func TestSpoofedIdentityHeadersIgnored(t *testing.T) {
	g := startGateway(t)
	p, addr := g.p, g.addr
	spoof := http.Header{
		"X-Forwarded-Client-Cert": {"By=spiffe://x;URI=urn:ura:member:AL/GOV/AIM"},
		"X-Ura-Member":            {"AL/GOV/AIM"},
		"X-Ssl-Client-S-Dn":       {"CN=AL/GOV/AIM"},
		"X-Ssl-Client-Verify":     {"SUCCESS"},
		"X-Remote-User":           {"AL/GOV/AIM"},
	}
	_, body, err := whoami(t, p.client(p.member(p.inter, "AL/GOV/MOD"), 0, true), addr, spoof)
	if err != nil {
		t.Fatal(err)
	}
	if body["member"] != "AL/GOV/MOD" {
		t.Fatalf("spoofed header changed identity: whoami = %v", body["member"])
	}
}

func TestStripIdentityHeaders(t *testing.T) {
	h := http.Header{}
	for _, name := range []string{"X-Forwarded-Client-Cert", "X-Ura-Member", "X-Ssl-Client-Cert", "X-Client-Cert-Chain", "Ssl-Client-Verify", "X-Remote-User"} {
		h.Set(name, "AL/GOV/AIM")
	}
	h.Set("Accept", "application/json")
	got := runStrip(h)
	if len(got) != 1 || got.Get("Accept") == "" {
		t.Fatalf("after strip: %v; want only Accept", got)
	}
}

// TestHotReloadUnderLoad rotates the server certificate and the CRL while a
// client makes 1,000 requests, each with a fresh handshake. No request may
// fail, and the certificate revoked by the new CRL is refused afterwards,
// both on new handshakes and on a connection opened before the reload.
func TestHotReloadUnderLoad(t *testing.T) {
	g := startGateway(t)
	p, srv, addr := g.p, g.srv, g.addr
	aim := p.client(p.member(p.inter, "AL/GOV/AIM"), 0, false)
	victim := p.member(p.inter, "AL/GOV/MOD")
	victimKept := p.client(victim, 0, true)
	if _, body, err := whoami(t, victimKept, addr, nil); err != nil || body["member"] != "AL/GOV/MOD" {
		t.Fatalf("victim refused before revocation: %v %v", err, body)
	}
	reloadsBefore := testutil.ToFloat64(srv.metrics.reloads.WithLabelValues("ok"))

	const total = 1000
	var failed atomic.Int64
	var wg sync.WaitGroup
	done := make(chan struct{})
	work := make(chan int)
	for range 4 {
		wg.Go(func() {
			for range work {
				resp, body, err := whoami(t, aim, addr, nil)
				if err != nil || resp.StatusCode != 200 || body["member"] != "AL/GOV/AIM" {
					failed.Add(1)
					t.Logf("request failed: %v", err)
				}
			}
		})
	}
	go func() {
		defer close(done)
		for i := range 5 {
			time.Sleep(30 * time.Millisecond)
			p.writeServer()
			if i == 2 {
				p.revoke(victim.Cert.SerialNumber)
			} else {
				p.writeCRL(time.Now().Add(time.Hour))
			}
		}
	}()
	for i := range total {
		work <- i
	}
	close(work)
	wg.Wait()
	<-done
	if n := failed.Load(); n != 0 {
		t.Fatalf("%d of %d requests failed during hot reload", n, total)
	}
	waitFor(t, func() bool {
		_, err := srv.tls.current.Load().trust.Verify(victim.Chain, time.Now())
		return identity.ReasonOf(err) == identity.ReasonRevoked
	})
	if got := testutil.ToFloat64(srv.metrics.reloads.WithLabelValues("ok")); got <= reloadsBefore {
		t.Errorf("no successful reload was counted (%v)", got)
	}
	if _, _, err := whoami(t, p.client(victim, 0, false), addr, nil); err == nil {
		t.Error("newly revoked certificate accepted on a new handshake")
	}
	resp, body, err := whoami(t, victimKept, addr, nil)
	if err == nil && resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("newly revoked certificate still served on its open connection: %d %v", resp.StatusCode, body)
	}
}

func TestBadReloadKeepsOldState(t *testing.T) {
	g := startGateway(t)
	p, srv, addr := g.p, g.srv, g.addr
	before := srv.tls.current.Load()
	writeFile(t, p.path("crl.pem"), []byte("-----BEGIN X509 CRL-----\nMIIB"))
	writeFile(t, p.path("server.crt"), []byte("not a certificate"))
	waitFor(t, func() bool { return testutil.ToFloat64(srv.metrics.reloads.WithLabelValues("error")) >= 1 })
	if srv.tls.current.Load() != before {
		t.Fatal("a broken reload replaced the TLS state")
	}
	if _, body, err := whoami(t, p.client(p.member(p.inter, "AL/GOV/AIM"), 0, false), addr, nil); err != nil || body["member"] != "AL/GOV/AIM" {
		t.Fatalf("gateway stopped serving after a broken reload: %v %v", err, body)
	}
	// Repairing the files is picked up.
	p.writeServer()
	p.writeCRL(time.Now().Add(time.Hour))
	waitFor(t, func() bool { return srv.tls.current.Load() != before })
}

func TestMetricsRestricted(t *testing.T) {
	g := startGateway(t)
	p, addr := g.p, g.addr
	for _, tc := range []struct {
		member string
		want   int
	}{{"AL/GOV/AIM", 403}, {"AL/GOV/AUDIT", 200}} {
		resp, err := p.client(p.member(p.inter, tc.member), 0, false).Get("https://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%s GET /metrics = %d, want %d", tc.member, resp.StatusCode, tc.want)
		}
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 30s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

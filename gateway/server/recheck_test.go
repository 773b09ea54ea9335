package server

import (
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ura-gateway/ura/certs"
	"github.com/ura-gateway/ura/gateway/config"
)

// waitRefusedOnOpenConnection polls whoami on a kept-alive client until the
// gateway answers 401 on the connection opened before the change. A 401 can
// only come from the per-request check: a new handshake with the same
// certificate fails in TLS and never reaches a handler.
func waitRefusedOnOpenConnection(t *testing.T, kept *http.Client, addr string) {
	t.Helper()
	waitFor(t, func() bool {
		resp, body, err := whoami(t, kept, addr, nil)
		if err != nil {
			t.Fatalf("the open connection was dropped instead of answered: %v", err)
		}
		if resp.StatusCode == http.StatusOK {
			return false
		}
		if resp.StatusCode != http.StatusUnauthorized || body["type"] != "urn:ura:problem:unauthenticated" {
			t.Fatalf("refusal on the open connection = %d %v, want 401 unauthenticated", resp.StatusCode, body)
		}
		return true
	})
}

func wantHandshakeRefused(t *testing.T, p *testPKI, leaf *certs.Leaf, addr string) {
	t.Helper()
	if resp, _, err := whoami(t, p.client(leaf, 0, false), addr, nil); err == nil {
		t.Fatalf("a new handshake was accepted: %d", resp.StatusCode)
	}
}

// TestOpenConnectionRecheckedOnEveryRequest keeps a connection open across
// a change that a new handshake would refuse, and expects the next request on
// it to be refused as well: every request checks the whole chain against the
// current anchors and CRLs, not only the leaf's revocation.
func TestOpenConnectionRecheckedOnEveryRequest(t *testing.T) {
	cases := []struct {
		name   string
		member func(p *testPKI) *certs.Leaf
		change func(t *testing.T, p *testPKI)
	}{
		{
			name:   "intermediate revoked by the root's CRL",
			member: func(p *testPKI) *certs.Leaf { return p.member(p.inter, "AL/GOV/AIM") },
			change: func(t *testing.T, p *testPKI) {
				p.writeRootCRL(2, p.inter.Cert.SerialNumber)
			},
		},
		{
			name:   "trust anchor removed",
			member: func(p *testPKI) *certs.Leaf { return p.member(p.it, "IT/GOV/MOD") },
			change: func(t *testing.T, p *testPKI) {
				if err := certs.WriteCertsPEM(p.path("it-ca.crt"), p.foreign.Cert); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "leaf expired",
			member: func(p *testPKI) *certs.Leaf {
				return p.leaf(p.inter, certs.LeafOptions{CommonName: "AL/GOV/AIM", Client: true,
					URIs: []string{"urn:ura:member:AL/GOV/AIM"}, NotAfter: time.Now().Add(3 * time.Second)})
			},
			change: func(*testing.T, *testPKI) {}, // time passes
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestPKI(t)
			p.writeRootCRL(1)
			addr := startGateway(t, withPKI(p), withConfig(func(cfg *config.Config) {
				cfg.TLS.ClientCAs[0].CRLs = append(cfg.TLS.ClientCAs[0].CRLs, config.CRLSource{File: p.path("root-crl.pem")})
			})).addr
			leaf := tc.member(p)
			kept := p.client(leaf, 0, true)
			if resp, body, err := whoami(t, kept, addr, nil); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("refused before the change: %v %v", err, body)
			}
			tc.change(t, p)
			waitRefusedOnOpenConnection(t, kept, addr)
			wantHandshakeRefused(t, p, leaf, addr)
			// Another member is unaffected where the change does not concern it.
			if tc.name != "intermediate revoked by the root's CRL" {
				if _, body, err := whoami(t, p.client(p.member(p.inter, "AL/GOV/MOD"), 0, false), addr, nil); err != nil || body["member"] != "AL/GOV/MOD" {
					t.Fatalf("an unaffected member was refused: %v %v", err, body)
				}
			}
		})
	}
}

// writeRootCRL writes the root's CRL (number n) revoking serials, to
// root-crl.pem.
func (p *testPKI) writeRootCRL(n int64, serials ...*big.Int) {
	p.t.Helper()
	var revoked []certs.Revoked
	for _, s := range serials {
		revoked = append(revoked, certs.Revoked{Serial: s, At: time.Now().Add(-time.Minute)})
	}
	der, err := p.root.CRL(n, revoked, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	if err != nil {
		p.t.Fatal(err)
	}
	if err := certs.WriteCRLPEM(p.path("root-crl.pem"), der); err != nil {
		p.t.Fatal(err)
	}
}

// TestCRLRollbackOverURL serves, at the CRL's URL, an older CRL that is still
// inside its validity and predates a revocation. The gateway must keep the
// newer CRL in force, count the refusal, and go on refusing the revoked
// certificate.
func TestCRLRollbackOverURL(t *testing.T) {
	p := newTestPKI(t)
	victim := p.member(p.inter, "AL/GOV/MOD")
	older := p.crlPEM(1)
	p.revoked = append(p.revoked, certs.Revoked{Serial: victim.Cert.SerialNumber, At: time.Now()})
	newer := p.crlPEM(2)

	var mu sync.Mutex
	serving := newer
	dp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		_, _ = w.Write(serving)
	}))
	t.Cleanup(dp.Close)

	g := startGateway(t, withPKI(p), withConfig(func(cfg *config.Config) {
		cfg.TLS.ClientCAs[0].CRLs = []config.CRLSource{{URL: dp.URL}}
		cfg.TLS.CRLRefresh = 20 * time.Millisecond
	}))
	srv, addr := g.srv, g.addr
	wantHandshakeRefused(t, p, victim, addr)

	mu.Lock()
	serving = older
	mu.Unlock()
	waitFor(t, func() bool { return testutil.ToFloat64(srv.metrics.crlRollbacks) >= 1 })
	wantHandshakeRefused(t, p, victim, addr)
	if _, body, err := whoami(t, p.client(p.member(p.inter, "AL/GOV/AIM"), 0, false), addr, nil); err != nil || body["member"] != "AL/GOV/AIM" {
		t.Fatalf("a valid member was refused after the rollback: %v %v", err, body)
	}
	if n := srv.tls.current.Load().trust.Rollbacks(); len(n) != 1 || n[0].Number.Int64() != 1 || n[0].Kept.Int64() != 2 {
		t.Fatalf("rollbacks = %+v, want CRL 1 refused and CRL 2 kept", n)
	}
}

// crlPEM is the intermediate's CRL number n over p.revoked, current for an
// hour, without writing it anywhere.
func (p *testPKI) crlPEM(n int64) []byte {
	p.t.Helper()
	der, err := p.inter.CRL(n, p.revoked, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	if err != nil {
		p.t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: der})
}

package server

import (
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ura-gateway/ura/certs"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/identity"
)

// testPKI is an in-test PKI: root → intermediate → leaves, plus an Italian
// partner root and a root the gateway does not trust.
type testPKI struct {
	t       *testing.T
	dir     string
	root    *certs.CA
	inter   *certs.CA
	it      *certs.CA
	foreign *certs.CA
	revoked []certs.Revoked
	crlNum  int64
}

func newTestPKI(t *testing.T) *testPKI {
	t.Helper()
	p := &testPKI{t: t, dir: t.TempDir()}
	var err error
	must := func(e error) {
		t.Helper()
		if e != nil {
			t.Fatal(e)
		}
	}
	p.root, err = certs.NewRootCA("test root", 24*time.Hour)
	must(err)
	p.inter, err = p.root.NewIntermediate("test issuing CA", 24*time.Hour)
	must(err)
	p.it, err = certs.NewRootCA("test IT partner CA", 24*time.Hour)
	must(err)
	p.foreign, err = certs.NewRootCA("untrusted CA", 24*time.Hour)
	must(err)
	must(certs.WriteCertsPEM(p.path("ca.crt"), p.root.Cert))
	must(certs.WriteCertsPEM(p.path("it-ca.crt"), p.it.Cert))
	p.writeServer()
	p.writeCRL(time.Now().Add(time.Hour))
	return p
}

func (p *testPKI) path(name string) string { return filepath.Join(p.dir, name) }

func (p *testPKI) writeServer() *certs.Leaf {
	p.t.Helper()
	l, err := p.inter.Issue(certs.LeafOptions{CommonName: "localhost", DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	if err != nil {
		p.t.Fatal(err)
	}
	if err := certs.WriteKeyPEM(p.path("server.key.new"), l.Key); err != nil {
		p.t.Fatal(err)
	}
	if err := certs.WriteCertsPEM(p.path("server.crt.new"), l.Chain...); err != nil {
		p.t.Fatal(err)
	}
	// Key and certificate change together, as an operator's rotation would
	// leave them; the watcher may see one before the other and must cope.
	for _, n := range []string{"server.key", "server.crt"} {
		if err := os.Rename(p.path(n+".new"), p.path(n)); err != nil {
			p.t.Fatal(err)
		}
	}
	return l
}

func (p *testPKI) writeCRL(nextUpdate time.Time) {
	p.t.Helper()
	p.crlNum++
	der, err := p.inter.CRL(p.crlNum, p.revoked, nextUpdate.Add(-2*time.Hour), nextUpdate)
	if err != nil {
		p.t.Fatal(err)
	}
	if err := certs.WriteCRLPEM(p.path("crl.pem"), der); err != nil {
		p.t.Fatal(err)
	}
}

func (p *testPKI) revoke(serial *big.Int) {
	p.revoked = append(p.revoked, certs.Revoked{Serial: serial, At: time.Now()})
	p.writeCRL(time.Now().Add(time.Hour))
}

func (p *testPKI) member(ca *certs.CA, id string) *certs.Leaf {
	return p.leaf(ca, certs.LeafOptions{CommonName: id, URIs: []string{identity.MemberURI(id)}, Client: true})
}

// memberFiles issues member a certificate from ca and writes it and its
// key to files named name.crt and name.key, for clients that read them.
func (p *testPKI) memberFiles(ca *certs.CA, id, name string) (certFile, keyFile string) {
	p.t.Helper()
	leaf := p.member(ca, id)
	certFile, keyFile = p.path(name+".crt"), p.path(name+".key")
	if err := certs.WriteCertsPEM(certFile, leaf.Chain...); err != nil {
		p.t.Fatal(err)
	}
	if err := certs.WriteKeyPEM(keyFile, leaf.Key); err != nil {
		p.t.Fatal(err)
	}
	return certFile, keyFile
}

func (p *testPKI) leaf(ca *certs.CA, opts certs.LeafOptions) *certs.Leaf {
	p.t.Helper()
	l, err := ca.Issue(opts)
	if err != nil {
		p.t.Fatal(err)
	}
	return l
}

// config is a valid gateway config over this PKI, listening on a free port.
func (p *testPKI) config() *config.Config {
	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.TLS.CertFile = p.path("server.crt")
	cfg.TLS.KeyFile = p.path("server.key")
	cfg.TLS.ReloadInterval = 20 * time.Millisecond
	cfg.TLS.CRLStateFile = p.path("crl-numbers.json")
	cfg.TLS.ClientCAs = []config.ClientCA{
		{Name: "al", CertFile: p.path("ca.crt"), Prefixes: []string{"AL/", "NATO/"}, CRLs: []config.CRLSource{{File: p.path("crl.pem")}}},
		{Name: "it", CertFile: p.path("it-ca.crt"), Prefixes: []string{"IT/"}},
	}
	cfg.Members = []config.Member{
		{ID: "AL/GOV/AIM", Name: "AIM", Nation: "ALB", Kind: "agency", Clearance: "SECRET", Roles: []string{"licensing"}},
		{ID: "AL/GOV/MOD", Name: "MoD", Nation: "ALB", Kind: "ministry", Clearance: "SECRET"},
		{ID: "IT/GOV/MOD", Name: "Italy MoD", Nation: "ITA", Kind: "partner", Clearance: "CONFIDENTIAL"},
		{ID: "AL/GOV/AUDIT", Name: "Security officer", Nation: "ALB", Kind: "auditor", Clearance: "SECRET"},
		{ID: "AL/GOV/DPD", Name: "Customs", Nation: "ALB", Kind: "customs", Clearance: "RESTRICTED"},
		{ID: "NATO/ORG/LIAISON", Name: "NATO liaison", Nation: "NATO", Kind: "liaison", Clearance: "SECRET"},
	}
	cfg.Shutdown.Timeout = 2 * time.Second
	// The tests read each record's own JWS; the chunk profile has its own.
	cfg.Sign.Proof = config.ProofJWS
	return cfg
}

// client is an HTTPS client presenting leaf (nil: no certificate).
func (p *testPKI) client(leaf *certs.Leaf, maxVersion uint16, keepAlive bool) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(p.root.Cert)
	tc := &tls.Config{RootCAs: pool, MaxVersion: maxVersion, ServerName: "localhost"}
	if leaf != nil {
		tc.Certificates = []tls.Certificate{leaf.TLSCertificate()}
	}
	return &http.Client{
		Timeout:   10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: tc, DisableKeepAlives: !keepAlive, ForceAttemptHTTP2: true},
	}
}

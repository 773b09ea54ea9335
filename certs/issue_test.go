package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"slices"
	"testing"
	"time"
)

// certsTestPKI is a root -> intermediate pair for the tests of this package.
func certsTestPKI(t *testing.T) (root, inter *CA) {
	t.Helper()
	root, err := NewRootCA("test root", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	inter, err = root.NewIntermediate("test issuing", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return root, inter
}

func TestIssue(t *testing.T) {
	root, inter := certsTestPKI(t)
	roots := x509.NewCertPool()
	roots.AddCert(root.Cert)
	now := time.Now()

	tests := []struct {
		name     string
		ca       *CA
		opts     LeafOptions
		wantErr  bool
		usage    x509.ExtKeyUsage
		wantURIs []string
		chainLen int
	}{
		{
			name:     "member client",
			ca:       inter,
			opts:     LeafOptions{CommonName: "AL/GOV/AIM", URIs: []string{"urn:ura:member:AL/GOV/AIM"}, Client: true},
			usage:    x509.ExtKeyUsageClientAuth,
			wantURIs: []string{"urn:ura:member:AL/GOV/AIM"},
			chainLen: 2,
		},
		{
			name:     "server",
			ca:       inter,
			opts:     LeafOptions{CommonName: "localhost", DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv6loopback}, Server: true},
			usage:    x509.ExtKeyUsageServerAuth,
			chainLen: 2,
		},
		{
			name:     "directly under root",
			ca:       root,
			opts:     LeafOptions{CommonName: "x", URIs: []string{"urn:ura:member:IT/GOV/MOD"}, Client: true},
			usage:    x509.ExtKeyUsageClientAuth,
			wantURIs: []string{"urn:ura:member:IT/GOV/MOD"},
			chainLen: 1,
		},
		{
			name:     "no URI",
			ca:       inter,
			opts:     LeafOptions{CommonName: "AL/GOV/AIM", Client: true},
			usage:    x509.ExtKeyUsageClientAuth,
			chainLen: 2,
		},
		{
			name:     "two URIs",
			ca:       inter,
			opts:     LeafOptions{CommonName: "x", URIs: []string{"urn:ura:member:AL/GOV/AIM", "urn:ura:member:AL/GOV/MOD"}, Client: true},
			usage:    x509.ExtKeyUsageClientAuth,
			wantURIs: []string{"urn:ura:member:AL/GOV/AIM", "urn:ura:member:AL/GOV/MOD"},
			chainLen: 2,
		},
		{
			name:     "malformed member",
			ca:       inter,
			opts:     LeafOptions{CommonName: "x", URIs: []string{"urn:ura:member:al/gov/aim"}, Client: true},
			usage:    x509.ExtKeyUsageClientAuth,
			wantURIs: []string{"urn:ura:member:al/gov/aim"},
			chainLen: 2,
		},
		{
			name:    "unparsable URI",
			ca:      inter,
			opts:    LeafOptions{CommonName: "x", URIs: []string{"://no-scheme"}},
			wantErr: true,
		},
		{
			name:    "NotAfter before NotBefore",
			ca:      inter,
			opts:    LeafOptions{CommonName: "x", NotBefore: now, NotAfter: now.Add(-time.Second)},
			wantErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			leaf, err := tt.ca.Issue(tt.opts)
			if tt.wantErr {
				if err == nil {
					t.Fatal("Issue succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			c := leaf.Cert
			if c.IsCA {
				t.Error("leaf is a CA")
			}
			if c.Subject.CommonName != tt.opts.CommonName {
				t.Errorf("CN = %q, want %q", c.Subject.CommonName, tt.opts.CommonName)
			}
			var uris []string
			for _, u := range c.URIs {
				uris = append(uris, u.String())
			}
			if !slices.Equal(uris, tt.wantURIs) {
				t.Errorf("URIs = %q, want %q", uris, tt.wantURIs)
			}
			if len(leaf.Chain) != tt.chainLen || leaf.Chain[0] != c {
				t.Fatalf("chain has %d certificates (leaf first?), want %d", len(leaf.Chain), tt.chainLen)
			}
			if slices.ContainsFunc(leaf.Chain, func(c *x509.Certificate) bool { return c.Equal(root.Cert) }) {
				t.Error("chain contains the root")
			}
			if c.SerialNumber.Sign() <= 0 || c.SerialNumber.BitLen() > 128 || c.SerialNumber.BitLen() < 64 {
				t.Errorf("serial %x is not a positive random 128-bit number", c.SerialNumber)
			}
			if d := time.Until(c.NotAfter); d < DefaultLeafValidity-time.Hour || d > DefaultLeafValidity+time.Hour {
				t.Errorf("NotAfter in %s, want about %s", d, DefaultLeafValidity)
			}
			inters := x509.NewCertPool()
			for _, ic := range leaf.Chain[1:] {
				inters.AddCert(ic)
			}
			if _, err := c.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{tt.usage}}); err != nil {
				t.Errorf("does not verify for %v: %v", tt.usage, err)
			}
			other := x509.ExtKeyUsageServerAuth
			if tt.usage == other {
				other = x509.ExtKeyUsageClientAuth
			}
			if _, err := c.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{other}}); err == nil {
				t.Errorf("verifies for %v too", other)
			}
		})
	}
}

func TestIssueSerialsDiffer(t *testing.T) {
	_, inter := certsTestPKI(t)
	seen := map[string]bool{}
	for range 20 {
		leaf, err := inter.Issue(LeafOptions{CommonName: "x", Client: true})
		if err != nil {
			t.Fatal(err)
		}
		s := leaf.Cert.SerialNumber.String()
		if seen[s] {
			t.Fatalf("serial %s issued twice", s)
		}
		seen[s] = true
	}
}

func TestIssueExpired(t *testing.T) {
	root, inter := certsTestPKI(t)
	now := time.Now()
	leaf, err := inter.Issue(LeafOptions{CommonName: "old", Client: true, NotBefore: now.Add(-2 * time.Hour), NotAfter: now.Add(-time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root.Cert)
	inters := x509.NewCertPool()
	inters.AddCert(inter.Cert)
	_, err = leaf.Cert.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inters, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}})
	var invalid x509.CertificateInvalidError
	if !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
		t.Errorf("Verify = %v, want Expired", err)
	}
}

// TestTLSCertificateHandshake runs a real mutual-TLS 1.3 handshake with the
// certificates Issue makes, so the chains are known to be what crypto/tls
// needs, not only what x509.Verify accepts.
func TestTLSCertificateHandshake(t *testing.T) {
	root, inter := certsTestPKI(t)
	server, err := inter.Issue(LeafOptions{CommonName: "localhost", DNSNames: []string{"localhost"}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	client, err := inter.Issue(LeafOptions{CommonName: "AL/GOV/AIM", URIs: []string{"urn:ura:member:AL/GOV/AIM"}, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root.Cert)

	cConn, sConn := net.Pipe()
	defer cConn.Close()
	defer sConn.Close()
	srv := tls.Server(sConn, &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{server.TLSCertificate()},
		ClientAuth:   tls.RequireAndVerifyClientCert,
		ClientCAs:    pool,
	})
	cli := tls.Client(cConn, &tls.Config{
		MinVersion:   tls.VersionTLS13,
		ServerName:   "localhost",
		RootCAs:      pool,
		Certificates: []tls.Certificate{client.TLSCertificate()},
	})
	errc := make(chan error, 1)
	go func() { errc <- srv.Handshake() }()
	if err := cli.Handshake(); err != nil {
		t.Fatalf("client handshake: %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatalf("server handshake: %v", err)
	}
	peer := srv.ConnectionState().PeerCertificates
	if len(peer) != 2 || len(peer[0].URIs) != 1 || peer[0].URIs[0].String() != "urn:ura:member:AL/GOV/AIM" {
		t.Errorf("server saw %d peer certificates, leaf URIs %v", len(peer), peer[0].URIs)
	}
}

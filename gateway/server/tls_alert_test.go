package server

import (
	"crypto/tls"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/identity"
)

// TLS alert descriptions (RFC 8446 6.2).
const (
	alertProtocolVersion = 70
	alertInternalError   = 80
)

// recordingConn keeps every byte the server sent, so that a test can read
// the alert record a client library would only turn into an error string.
type recordingConn struct {
	net.Conn
	mu   sync.Mutex
	read []byte
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.mu.Lock()
	c.read = append(c.read, p[:n]...)
	c.mu.Unlock()
	return n, err
}

// alertFor sends a ClientHello offering only version and returns the
// description of the alert record the server answered with, or -1.
func alertFor(t *testing.T, addr string, version uint16) int {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.SetDeadline(time.Now().Add(5 * time.Second))
	conn := &recordingConn{Conn: raw}
	//nolint:gosec // the point is to offer an old version and be refused
	c := tls.Client(conn, &tls.Config{MinVersion: version, MaxVersion: version, ServerName: "localhost", InsecureSkipVerify: true})
	if err := c.Handshake(); err == nil {
		t.Fatalf("a client offering only %s completed the handshake", tls.VersionName(version))
	}
	conn.mu.Lock()
	defer conn.mu.Unlock()
	// The answer is one record: type 21 (alert), version, length 2, then
	// level and description.
	if b := conn.read; len(b) >= 7 && b[0] == 21 && b[3] == 0 && b[4] == 2 {
		return int(b[6])
	}
	t.Logf("server sent % x", conn.read)
	return -1
}

// TestTLSOldVersionsGetProtocolVersionAlert: a client that offers only
// versions below tls.min_version is refused with alert 70 protocol_version,
// as RFC 8446 asks, not 80 internal_error; the refusal is counted once,
// as protocol_version.
func TestTLSOldVersionsGetProtocolVersionAlert(t *testing.T) {
	for _, tc := range []struct {
		min      string
		versions []uint16
	}{
		{"1.3", []uint16{tls.VersionTLS10, tls.VersionTLS11, tls.VersionTLS12}}, // the default
		{"1.2", []uint16{tls.VersionTLS10, tls.VersionTLS11}},
	} {
		t.Run("min "+tc.min, func(t *testing.T) {
			var opts []gatewayOption
			if tc.min != "1.3" {
				opts = append(opts, withConfig(func(c *config.Config) { c.TLS.MinVersion = tc.min }))
			}
			e := startGateway(t, opts...)
			m := e.srv.metrics.handshakeFailures
			for _, v := range tc.versions {
				before, otherBefore := testutil.ToFloat64(m.WithLabelValues(identity.ReasonProtocolVersion)), testutil.ToFloat64(m.WithLabelValues("other"))
				switch got := alertFor(t, e.addr, v); got {
				case alertProtocolVersion:
				case alertInternalError:
					t.Errorf("%s: alert 80 internal_error, want 70 protocol_version", tls.VersionName(v))
				default:
					t.Errorf("%s: alert %d, want 70 protocol_version", tls.VersionName(v), got)
				}
				if after := testutil.ToFloat64(m.WithLabelValues(identity.ReasonProtocolVersion)); after != before+1 {
					t.Errorf("%s: ura_tls_handshake_failures_total{reason=protocol_version} went %v → %v, want +1", tls.VersionName(v), before, after)
				}
				// net/http logs the handshake error after the alert has gone:
				// give it the time to, then check it was not counted again.
				time.Sleep(100 * time.Millisecond)
				if other := testutil.ToFloat64(m.WithLabelValues("other")); other != otherBefore {
					t.Errorf("%s: counted as other too", tls.VersionName(v))
				}
			}
			if strings.Contains(e.logs.String(), "tls handshake failed") {
				t.Errorf("a refused old version was logged as an unexplained handshake failure:\n%s", e.logs.String())
			}
		})
	}
}

// TestTLSAllowedVersionStillConnects: the version floor refuses nothing it
// allows.
func TestTLSAllowedVersionStillConnects(t *testing.T) {
	e := startGateway(t, withConfig(func(c *config.Config) { c.TLS.MinVersion = "1.2" }))
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		resp, _, err := whoami(t, e.p.client(e.p.member(e.p.inter, "AL/GOV/AIM"), v, false), e.addr, nil)
		if err != nil {
			t.Fatalf("%s: %v", tls.VersionName(v), err)
		}
		if resp.TLS.Version != v || resp.StatusCode != 200 {
			t.Errorf("%s: negotiated %s, status %d", tls.VersionName(v), tls.VersionName(resp.TLS.Version), resp.StatusCode)
		}
	}
}

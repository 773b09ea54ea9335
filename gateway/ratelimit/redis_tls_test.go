package ratelimit

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ura-gateway/ura/certs"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// tlsRedis is a private redis-server that speaks only TLS, with a
// certificate for 127.0.0.1 and name redis.test from its own root.
type tlsRedis struct {
	addr, password, caFile, otherCAFile string
}

func startTLSRedis(t *testing.T) tlsRedis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server not installed")
	}
	dir := t.TempDir()
	root, err := certs.NewRootCA("redis test root", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	other, err := certs.NewRootCA("some other root", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := root.Issue(certs.LeafOptions{CommonName: "redis.test", DNSNames: []string{"redis.test"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	r := tlsRedis{
		password:    "tls-test-" + runID,
		caFile:      filepath.Join(dir, "ca.crt"),
		otherCAFile: filepath.Join(dir, "other.crt"),
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(certs.WriteCertsPEM(r.caFile, root.Cert))
	must(certs.WriteCertsPEM(r.otherCAFile, other.Cert))
	must(certs.WriteCertsPEM(filepath.Join(dir, "server.crt"), leaf.Chain...))
	must(certs.WriteKeyPEM(filepath.Join(dir, "server.key"), leaf.Key))
	port := testenv.FreePort(t)
	r.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	conf := strings.Join([]string{
		"bind 127.0.0.1", "port 0", "tls-port " + strconv.Itoa(port),
		"tls-cert-file " + filepath.Join(dir, "server.crt"),
		"tls-key-file " + filepath.Join(dir, "server.key"),
		"tls-ca-cert-file " + r.caFile,
		"tls-auth-clients no",
		"requirepass " + r.password,
		`save ""`, "appendonly no", "dir " + dir, "",
	}, "\n")
	cmd := exec.Command(bin, "-")
	cmd.Stdin = strings.NewReader(conf)
	logf, err := os.Create(filepath.Join(dir, "redis.log"))
	must(err)
	cmd.Stdout, cmd.Stderr = logf, logf
	must(cmd.Start())
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logf.Close()
	})
	c := config.Redis{Addrs: []string{r.addr}, Password: r.password, Timeout: time.Second}
	c.TLS = config.RedisTLS{Enabled: true, CAFile: r.caFile}
	good, err := NewClient(c, func(s string) string { return s })
	must(err)
	t.Cleanup(func() { _ = good.Close() })
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := good.Ping(context.Background()).Err(); err == nil {
			return r
		} else if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(dir, "redis.log"))
			t.Fatalf("TLS redis not ready: %v\n%s", err, log)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestRedisTLS: the limiter works over TLS to Redis, and every way of
// getting the connection wrong is an unavailable limiter, never an
// unlimited one.
func TestRedisTLS(t *testing.T) {
	r := startTLSRedis(t)
	m := testMember("partner")
	rl := limits(config.Rate{Rate: 1, Burst: 2, Period: time.Minute}, m)
	cases := []struct {
		name       string
		caFile     string
		serverName string
		wantOK     bool
	}{
		{"verified by its CA", r.caFile, "", true},
		{"verified under its DNS name", r.caFile, "redis.test", true},
		{"certificate from an untrusted root", r.otherCAFile, "", false},
		{"server name mismatch", r.caFile, "evil.test", false},
		{"plain text to a TLS port", "", "", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := config.Redis{Addrs: []string{r.addr}, Password: r.password, Timeout: time.Second}
			c.TLS = config.RedisTLS{Enabled: tc.caFile != "", CAFile: tc.caFile, ServerName: tc.serverName}
			rc, err := NewClient(c, func(s string) string { return s })
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = rc.Close() })
			g, _ := newTestGCRA(t, rc, rl)
			res, err := g.Take(context.Background(), m, ClassPull, 1)
			if tc.wantOK {
				if err != nil || !res.Allowed || res.Local {
					t.Fatalf("over TLS: %+v, %v", res, err)
				}
				return
			}
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("got %+v, %v; want ErrUnavailable", res, err)
			}
		})
	}
}

package partnerclient

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// repoRoot is the ura repository this module lives in.
var repoRoot = filepath.Join("..", "..")

// gateway is a real `ura serve` process started for one test: built from
// this repository, with a development PKI of its own (`ura certs init`), the
// shared development stack's Vault (and Redis, when the stack has it), an
// embedded store and a file audit log in the test's temporary directory.
type gateway struct {
	// URL is https://127.0.0.1:<port>, served with pki/server.crt.
	URL string
	// PKI is the directory `ura certs init` wrote: ca.crt, clients/<member>.crt|key.
	PKI string
	// Bin is the ura binary the gateway runs, for `ura verify`.
	Bin string
	// Env is the environment the gateway runs with, and so the one a
	// script talking to it runs with.
	Env []string
	log string
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// TestMain removes the binary uraBinary built: it is outside any test's
// TempDir (one build serves every test), and a run left it behind before.
func TestMain(m *testing.M) {
	code := m.Run()
	if buildBin != "" {
		_ = os.RemoveAll(filepath.Dir(buildBin))
	}
	os.Exit(code)
}

// uraBinary builds ./cmd/ura once per test binary.
func uraBinary(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "partnerclient-ura-")
		if err != nil {
			buildErr = err
			return
		}
		buildBin = filepath.Join(dir, "ura")
		cmd := exec.Command("go", "build", "-o", buildBin, "./cmd/ura")
		cmd.Dir = repoRoot
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("go build ./cmd/ura: %w\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// stackEnv is the development stack from var/dev/stack.env: Vault is
// required, Redis is used when present. Without Vault the test is skipped
// on a workstation and fails in CI, as the repository's other stack tests.
func stackEnv(t *testing.T) (vaultAddr, vaultToken, redisAddr, redisPassword string) {
	t.Helper()
	vaultAddr, vaultToken = os.Getenv("URA_VAULT_ADDR"), os.Getenv("URA_VAULT_TOKEN")
	if vaultAddr == "" || vaultToken == "" {
		need(t, "URA_VAULT_ADDR and URA_VAULT_TOKEN are not set: source var/dev/stack.env (make up)")
	}
	return vaultAddr, vaultToken, os.Getenv("URA_REDIS_ADDR"), os.Getenv("URA_REDIS_PASSWORD")
}

// gatewayConfig is deploy/dev/ura.yaml without Italy's gateway (no peers,
// no outbox) and with everything it writes in the test's directory. The
// institutions and trust anchors are the demo's; relative paths resolve
// against the file's directory.
const gatewayConfig = `development: true
listen: 127.0.0.1:%d
ops_listen: 127.0.0.1:%d
tls:
  cert_file: pki/server.crt
  key_file: pki/server.key
  min_version: "1.3"
  client_cas:
    - name: al-dev-root
      cert_file: pki/ca.crt
      prefixes: ["AL/", "NATO/"]
      crls:
        - file: pki/crl.pem
    - name: it-partner
      cert_file: pki/it-ca.crt
      prefixes: ["IT/"]
  crl_state_file: data/crl-numbers.json
members:
  - {id: AL/GOV/AIM, name: Defence Industry Agency, nation: ALB, kind: agency, clearance: SECRET, roles: [licensing, registers, marking]}
  - {id: AL/GOV/MOD, name: Ministry of Defence, nation: ALB, kind: ministry, clearance: SECRET, roles: [procurement, end_user_certificates]}
  - {id: AL/GOV/DPD, name: General Directorate of Customs, nation: ALB, kind: customs, clearance: RESTRICTED, roles: [declarations]}
  - {id: IT/GOV/MOD, name: Ministero della Difesa, nation: ITA, kind: partner, clearance: CONFIDENTIAL, roles: [tracing]}
  - {id: NATO/ORG/LIAISON, name: NATO liaison office, nation: NATO, kind: liaison, clearance: SECRET, roles: [tracing]}
  - {id: AL/GOV/AUDIT, name: Security officer, nation: ALB, kind: auditor, clearance: SECRET, roles: [audit]}
%s
vault:
  addr: %s
  token_file: vault.token
sign:
  mode: transit
  key: ura-signing
  algorithm: ed25519
  issuer: ura.partner.test
  proof: jws
# A generous deadline: the machine is shared, and a timeout would deny.
policy:
  timeout: 5s
store:
  driver: embedded
  path: data/ura.db
audit:
  driver: file
  dir: audit
  checkpoint:
    every: 20
    interval: 200ms
log:
  level: info
  format: text
`

// redisConfig puts the limiter's keys in a database of their own: the
// shared Redis also holds the demo's, and the members here are the demo's.
const redisConfig = `redis:
  addrs: [%q]
  password_file: redis.password
  db: 11
ratelimit:
  fail: closed`

// startGateway starts the gateway and waits until it is ready and answers
// over mutual TLS. It is stopped, by its PID, when the test ends.
func startGateway(t *testing.T) *gateway {
	t.Helper()
	vaultAddr, vaultToken, redisAddr, redisPassword := stackEnv(t)
	bin := uraBinary(t)
	dir := t.TempDir()
	g := &gateway{PKI: filepath.Join(dir, "pki"), Bin: bin, log: filepath.Join(dir, "ura.log")}
	if out, err := exec.Command(bin, "certs", "init", "--dir", g.PKI).CombinedOutput(); err != nil {
		t.Fatalf("ura certs init: %v\n%s", err, out)
	}
	writeSecret(t, filepath.Join(dir, "vault.token"), vaultToken)
	limiter := "# No Redis in this environment: the limiter is per process."
	if redisAddr != "" {
		writeSecret(t, filepath.Join(dir, "redis.password"), redisPassword)
		limiter = fmt.Sprintf(redisConfig, redisAddr)
	}
	port, opsPort := freePort(t), freePort(t)
	cfg := filepath.Join(dir, "ura.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, gatewayConfig, port, opsPort, limiter, vaultAddr), 0o600); err != nil {
		t.Fatal(err)
	}
	g.URL = fmt.Sprintf("https://127.0.0.1:%d", port)
	// The stack's URA_* variables override the file's addresses and
	// secrets (URA_POSTGRES_DSN, URA_LISTEN); the file says everything.
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "URA_") {
			g.Env = append(g.Env, kv)
		}
	}

	logFile, err := os.Create(g.log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", "--config", cfg)
	cmd.Env, cmd.Stdout, cmd.Stderr = g.Env, logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		// SIGTERM: a clean stop writes the last audit checkpoint.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case err := <-exited:
			if err != nil {
				t.Errorf("the gateway did not stop cleanly: %v", err)
			}
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("the gateway did not stop within 30s of SIGTERM: %v", <-exited)
		}
		_ = logFile.Close()
		if t.Failed() {
			t.Logf("gateway log:\n%s", g.tail())
		}
	})

	client := g.client(t, "AL_GOV_AIM")
	readyz := fmt.Sprintf("http://127.0.0.1:%d/readyz", opsPort)
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("the gateway exited during start-up (%v):\n%s", err, g.tail())
		default:
		}
		if status(http.DefaultClient, readyz) == http.StatusOK && status(client, g.URL+"/v1/whoami") == http.StatusOK {
			return g
		}
		if time.Now().After(deadline) {
			t.Fatalf("the gateway was not ready after 60s:\n%s", g.tail())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// client is an HTTP client presenting member's certificate from the dev
// PKI (clients/<member>.crt) and trusting only the PKI's root for the
// gateway's certificate: mutual TLS, TLS 1.3.
func (g *gateway) client(t *testing.T, member string) *http.Client {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(g.PKI, "clients", member+".crt"),
		filepath.Join(g.PKI, "clients", member+".key"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(g.PKI, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		t.Fatal("ca.crt holds no certificate")
	}
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, MinVersion: tls.VersionTLS13},
		ForceAttemptHTTP2: true,
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 60 * time.Second}
}

// api is the generated client for member.
func (g *gateway) api(t *testing.T, member string) *ClientWithResponses {
	t.Helper()
	c, err := NewClientWithResponses(g.URL, WithHTTPClient(g.client(t, member)))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (g *gateway) tail() string {
	b, _ := os.ReadFile(g.log)
	if len(b) > 6000 {
		b = b[len(b)-6000:]
	}
	return string(b)
}

func status(c *http.Client, url string) int {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return 0
	}
	res, err := c.Do(req)
	if err != nil {
		return 0
	}
	_ = res.Body.Close()
	return res.StatusCode
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = l.Close() }()
	return l.Addr().(*net.TCPAddr).Port
}

func writeSecret(t *testing.T, path, value string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.TrimSpace(value)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// seedFile is one of the demo's seed files (deploy/dev/seed).
func seedFile(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "dev", "seed", name))
	if err != nil {
		t.Fatal(err)
	}
	return bytes.TrimRight(b, "\n")
}

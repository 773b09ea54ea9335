package main

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ura-gateway/ura/certs/devpki"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// gatewayFixture is a real gateway's configuration for tests that run
// `ura serve` as a child process (the test binary re-executed as
// TestGatewayCrashChild): the dev PKI, the shared Vault, an embedded store
// and a file audit log in a temporary directory.
type gatewayFixture struct {
	dir, pki, auditDir, cfgPath string
	port, opsPort               int
	// env is the child's environment: none of the stack's URA_* variables,
	// which override the file (URA_REDIS_ADDR would switch on the shared
	// Redis, for one).
	env []string
}

// newGatewayFixture writes the configuration. extraMembers is YAML added to
// members:, extraCAs to tls.client_cas.
func newGatewayFixture(t *testing.T, extraCAs, extraMembers string) *gatewayFixture {
	t.Helper()
	vaultAddr, vaultToken := testenv.Vault(t)
	dir := t.TempDir()
	fx := &gatewayFixture{dir: dir, pki: filepath.Join(dir, "pki"), auditDir: filepath.Join(dir, "audit"),
		cfgPath: filepath.Join(dir, "ura.yaml"), port: testenv.FreePort(t), opsPort: testenv.FreePort(t)}
	if err := devpki.Init(devpki.InitOptions{Dir: fx.pki}); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "vault.token"), []byte(vaultToken+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Relative paths resolve against the config's directory. No redis: the
	// limiter is then per process, and AIM's push limit is far above the load.
	// development: the shared Vault listens on plain http.
	cfg := fmt.Sprintf(`development: true
listen: 127.0.0.1:%d
ops_listen: 127.0.0.1:%d
tls:
  cert_file: pki/server.crt
  key_file: pki/server.key
  client_cas:
    - name: al-dev-root
      cert_file: pki/ca.crt
      prefixes: ["AL/"]
%smembers:
  - id: AL/GOV/AIM
    name: Defence Industry Agency
    nation: ALB
    kind: agency
    clearance: SECRET
    roles: [licensing, registers, marking]
%sratelimit:
  members:
    AL/GOV/AIM:
      push: {rate: 1000000, burst: 10000, period: 1s}
vault:
  addr: %s
  token_file: vault.token
sign:
  mode: transit
  key: ura-signing
  algorithm: ed25519
  issuer: ura.crash.test
  proof: jws
store:
  driver: embedded
  path: data/ura.db
# A generous policy deadline: the race-built child on a loaded machine can
# exceed the 50ms default, and a timeout (a deny) is not what these tests check.
policy:
  timeout: 5s
audit:
  driver: file
  dir: audit
  segment_bytes: 262144
  checkpoint:
    every: 50
    interval: 100ms
log:
  level: warn
  format: text
`, fx.port, fx.opsPort, extraCAs, extraMembers, vaultAddr)
	if err := os.WriteFile(fx.cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "URA_") {
			fx.env = append(fx.env, kv)
		}
	}
	fx.env = append(fx.env, crashChildEnv+"=1", crashConfigEnv+"="+fx.cfgPath)
	return fx
}

// gatewayChild is one running `ura serve` child.
type gatewayChild struct {
	cmd     *exec.Cmd
	exited  chan error
	logPath string
	logFile *os.File
}

// start runs the gateway and waits until it is ready on the ops port and
// answers whoami over mutual TLS. Its output goes to dir/<name>.log.
func (fx *gatewayFixture) start(t *testing.T, name string, client *http.Client) *gatewayChild {
	t.Helper()
	g := &gatewayChild{logPath: filepath.Join(fx.dir, name+".log"), exited: make(chan error, 1)}
	var err error
	if g.logFile, err = os.Create(g.logPath); err != nil {
		t.Fatal(err)
	}
	g.cmd = exec.Command(os.Args[0], "-test.run=^TestGatewayCrashChild$", "-test.count=1")
	g.cmd.Env = fx.env
	g.cmd.Stdout, g.cmd.Stderr = g.logFile, g.logFile
	if err := g.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { g.exited <- g.cmd.Wait() }()
	t.Cleanup(func() {
		if g.cmd.ProcessState == nil {
			_ = g.cmd.Process.Kill()
			// Killed: its exit status says so and nothing more.
			if err := <-g.exited; err == nil {
				t.Log("the gateway had already exited")
			}
		}
	})
	base := fmt.Sprintf("https://127.0.0.1:%d", fx.port)
	readyz := fmt.Sprintf("http://127.0.0.1:%d/readyz", fx.opsPort)
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case err := <-g.exited:
			g.exited <- err
			t.Fatalf("%s: gateway exited before it was ready (%v):\n%s", name, err, g.log())
		default:
		}
		if time.Now().After(deadline) {
			_ = g.cmd.Process.Kill()
			t.Fatalf("%s: gateway not ready after 60s:\n%s", name, g.log())
		}
		if crashGet(client, readyz) == http.StatusOK && crashGet(client, base+"/v1/whoami") == http.StatusOK {
			return g
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// log is the tail of the child's output.
func (g *gatewayChild) log() string {
	b, _ := os.ReadFile(g.logPath)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// stop ends the child with sig and waits for it; it reports whether the
// signal (not the child itself) ended it.
func (g *gatewayChild) stop(sig syscall.Signal) error {
	_ = g.cmd.Process.Signal(sig)
	err := <-g.exited
	_ = g.logFile.Close()
	return err
}

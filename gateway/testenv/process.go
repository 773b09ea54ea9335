package testenv

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Process is a private server started for one test. Cleanup stops it when the
// test ends.
type Process struct {
	// Addr is what a client is configured with: host:port for Redis, a URL
	// (http://127.0.0.1:port) for Vault.
	Addr string
	Port int
	// Password is the Redis password; empty for Vault.
	Password string
	// Token is Vault's root token; empty for Redis.
	Token string

	t       testing.TB
	name    string
	bin     string
	args    []string
	env     []string
	stdin   string
	dir     string
	logPath string
	ready   func(ctx context.Context) error
	setup   func(ctx context.Context) error

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

const startTimeout = 60 * time.Second

// StartRedis starts a private redis-server (REDIS_SERVER_BIN, else from PATH)
// on a free 127.0.0.1 port with a random password and no persistence, so a
// restart comes back empty.
func StartRedis(t testing.TB) *Process {
	t.Helper()
	bin := os.Getenv("REDIS_SERVER_BIN")
	if bin == "" {
		var err error
		if bin, err = exec.LookPath("redis-server"); err != nil {
			unavailable(t, "redis-server not found (set REDIS_SERVER_BIN or install redis-server)")
		}
	}
	dir := t.TempDir()
	port := FreePort(t)
	p := &Process{
		Addr:     net.JoinHostPort("127.0.0.1", strconv.Itoa(port)),
		Port:     port,
		Password: randomHex(t, 24),
		t:        t,
		name:     "redis",
		bin:      bin,
		// "-" reads the configuration from stdin, which keeps the password
		// out of the process list.
		args:    []string{"-"},
		env:     os.Environ(),
		dir:     dir,
		logPath: filepath.Join(dir, "redis.log"),
	}
	p.stdin = strings.Join([]string{
		"bind 127.0.0.1",
		"port " + strconv.Itoa(port),
		"requirepass " + p.Password,
		"protected-mode yes",
		"daemonize no",
		`save ""`,
		"appendonly no",
		"dir " + dir,
		"",
	}, "\n")
	p.ready = func(ctx context.Context) error { return redisPing(ctx, p.Addr, p.Password) }
	p.launch()
	return p
}

// StartVault starts a private dev-mode Vault (URA_VAULT_BIN, else the binary
// deploy/dev/build-vault.sh caches) on a free port with a random root token,
// Transit mounted and an Ed25519 key ura-signing.
func StartVault(t testing.TB) *Process {
	t.Helper()
	bin := os.Getenv("URA_VAULT_BIN")
	if bin == "" {
		bin = filepath.Join(cacheDir(), "vault-"+VaultVersion, "vault")
	}
	if fi, err := os.Stat(bin); err != nil || fi.IsDir() {
		unavailable(t, "no Vault binary at %s (bash deploy/dev/build-vault.sh builds it)", bin)
	}
	dir := t.TempDir()
	port := freePortPair(t)
	p := &Process{
		Addr:  fmt.Sprintf("http://127.0.0.1:%d", port),
		Port:  port,
		Token: randomHex(t, 24),
		t:     t,
		name:  "vault",
		bin:   bin,
		args: []string{"server", "-dev",
			"-dev-listen-address=127.0.0.1:" + strconv.Itoa(port),
			"-dev-no-store-token"},
		dir:     dir,
		logPath: filepath.Join(dir, "vault.log"),
	}
	// The caller's VAULT_* settings are for the shared server, not this one;
	// HOME points into the test's directory so nothing lands in the real one.
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "VAULT_") || strings.HasPrefix(kv, "HOME=") {
			continue
		}
		p.env = append(p.env, kv)
	}
	p.env = append(p.env, "HOME="+dir, "VAULT_DEV_ROOT_TOKEN_ID="+p.Token)
	p.ready = func(ctx context.Context) error {
		return vaultCall(ctx, p.Addr, "", http.MethodGet, "/v1/sys/health", nil, nil)
	}
	p.setup = func(ctx context.Context) error {
		if err := vaultCall(ctx, p.Addr, p.Token, http.MethodPost, "/v1/sys/mounts/transit",
			map[string]any{"type": "transit"}, nil); err != nil {
			return err
		}
		return vaultCall(ctx, p.Addr, p.Token, http.MethodPost, "/v1/transit/keys/ura-signing",
			map[string]any{"type": "ed25519"}, nil)
	}
	p.launch()
	return p
}

// Stop terminates the server and waits for it to exit. Stopping a stopped
// server does nothing.
func (p *Process) Stop() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopLocked()
}

// Restart stops the server and starts it again on the same port with the same
// password or token. A dev Vault keeps nothing across a restart: the Transit
// mount and a new ura-signing key are set up again, so signatures made before
// the restart no longer verify against it.
func (p *Process) Restart() {
	p.t.Helper()
	p.mu.Lock()
	defer p.mu.Unlock()
	p.stopLocked()
	if err := p.startLocked(); err != nil {
		p.t.Fatalf("testenv: restarting %s: %v", p.name, err)
	}
}

func (p *Process) launch() {
	p.t.Helper()
	p.mu.Lock()
	err := p.startLocked()
	p.mu.Unlock()
	if err != nil {
		p.t.Fatalf("testenv: starting %s: %v", p.name, err)
	}
	p.t.Cleanup(p.Stop)
}

func (p *Process) startLocked() error {
	logf, err := os.OpenFile(p.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer func() { _ = logf.Close() }()
	cmd := exec.Command(p.bin, p.args...)
	cmd.Dir = p.dir
	cmd.Env = p.env
	cmd.Stdout = logf
	cmd.Stderr = logf
	if p.stdin != "" {
		cmd.Stdin = strings.NewReader(p.stdin)
	}
	cmd.SysProcAttr = sysProcAttr()
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	p.cmd, p.done = cmd, done

	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	if err := p.waitReady(ctx); err != nil {
		p.stopLocked()
		return fmt.Errorf("%w\n--- %s log (%s) ---\n%s", err, p.name, p.logPath, tail(p.logPath, 4096))
	}
	if p.setup != nil {
		if err := p.setup(ctx); err != nil {
			p.stopLocked()
			return fmt.Errorf("setup: %w", err)
		}
	}
	return nil
}

func (p *Process) waitReady(ctx context.Context) error {
	var last error
	for {
		attempt, cancel := context.WithTimeout(ctx, 2*time.Second)
		last = p.ready(attempt)
		cancel()
		if last == nil {
			return nil
		}
		select {
		case <-p.done:
			return fmt.Errorf("exited before becoming ready: %v", p.cmd.ProcessState)
		case <-ctx.Done():
			return fmt.Errorf("not ready after %s: %w", startTimeout, last)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func (p *Process) stopLocked() {
	if p.cmd == nil {
		return
	}
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
	p.cmd, p.done = nil, nil
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("testenv: random: %v", err)
	}
	return hex.EncodeToString(b)
}

func tail(path string, n int64) string {
	f, err := os.Open(path)
	if err != nil {
		return err.Error()
	}
	defer func() { _ = f.Close() }()
	if fi, err := f.Stat(); err == nil && fi.Size() > n {
		_, _ = f.Seek(-n, io.SeekEnd)
	}
	b, _ := io.ReadAll(f)
	return string(b)
}

// redisPing authenticates and sends PING with plain RESP, so that this
// package needs no Redis client library.
func redisPing(ctx context.Context, addr, password string) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer func() { _ = conn.Close() }()
	if dl, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(dl)
	}
	r := bufio.NewReader(conn)
	if password != "" {
		if _, err := redisDo(conn, r, "AUTH", password); err != nil {
			return err
		}
	}
	reply, err := redisDo(conn, r, "PING")
	if err != nil {
		return err
	}
	if reply != "PONG" {
		return fmt.Errorf("redis: PING answered %q", reply)
	}
	return nil
}

// redisDo sends one command and reads a simple, integer or bulk reply.
func redisDo(w io.Writer, r *bufio.Reader, args ...string) (string, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(w, b.String()); err != nil {
		return "", err
	}
	line, err := r.ReadString('\n')
	if err != nil {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", errors.New("redis: empty reply")
	}
	switch line[0] {
	case '+', ':':
		return line[1:], nil
	case '-':
		return "", fmt.Errorf("redis: %s", line[1:])
	case '$':
		n, err := strconv.Atoi(line[1:])
		if err != nil {
			return "", fmt.Errorf("redis: bad bulk length %q", line)
		}
		if n < 0 {
			return "", nil
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", err
		}
		return string(buf[:n]), nil
	}
	return "", fmt.Errorf("redis: unexpected reply %q", line)
}

// vaultCall sends one request to Vault's HTTP API and decodes the JSON reply
// into out when out is non-nil. Any status other than 2xx is an error.
func vaultCall(ctx context.Context, addr, token, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(addr, "/")+path, rd)
	if err != nil {
		return err
	}
	if token != "" {
		req.Header.Set("X-Vault-Token", token)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("vault: %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(data))
	}
	if out != nil && len(data) > 0 {
		return json.Unmarshal(data, out)
	}
	return nil
}

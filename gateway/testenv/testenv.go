// Package testenv gives tests the real services the gateway depends on: the
// shared development stack (Redis, Vault, PostgreSQL) started by `make up`,
// and private Redis and Vault servers that a test may stop and restart to see
// how the gateway behaves when a dependency goes away.
//
// The shared services are found through the variables in var/dev/stack.env.
// When they are missing a test is skipped on a workstation, but fails when CI
// is set: in CI a missing stack is a broken pipeline, not a reason to pass.
//
// Only tests import this package.
package testenv

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// VaultVersion is the Vault server release that deploy/dev/build-vault.sh
// builds; it names the cache directory the binary is found in.
const VaultVersion = "1.21.1"

const stackHint = "run `make up` and source var/dev/stack.env"

// Redis returns the shared development Redis.
func Redis(t testing.TB) (addr, password string) {
	t.Helper()
	v := need(t, "URA_REDIS_ADDR", "URA_REDIS_PASSWORD")
	return v[0], v[1]
}

// Vault returns the shared development Vault's address (a URL) and root token.
// Its Transit engine holds keys ura-signing (Ed25519) and ura-signing-p256,
// KV v2 is mounted at kv/, and policy "ura" exists.
func Vault(t testing.TB) (addr, token string) {
	t.Helper()
	v := need(t, "URA_VAULT_ADDR", "URA_VAULT_TOKEN")
	return v[0], v[1]
}

// Postgres returns the DSN of the shared ura_test database. Its role may
// create databases, so a test that needs isolation can make its own.
func Postgres(t testing.TB) (dsn string) {
	t.Helper()
	return need(t, "URA_TEST_POSTGRES_DSN")[0]
}

func need(t testing.TB, names ...string) []string {
	t.Helper()
	vals := make([]string, len(names))
	var missing []string
	for i, n := range names {
		vals[i] = os.Getenv(n)
		if vals[i] == "" {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		unavailable(t, "%s not set", strings.Join(missing, ", "))
	}
	return vals
}

// unavailable skips the test on a workstation and fails it in CI.
func unavailable(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if inCI() {
		t.Fatalf("%s; CI is set, so the stack must be up: %s", msg, stackHint)
	}
	t.Skipf("%s: %s", msg, stackHint)
}

func inCI() bool {
	switch strings.ToLower(os.Getenv("CI")) {
	case "", "0", "false", "no":
		return false
	}
	return true
}

var (
	portsMu sync.Mutex
	// Ports already handed out in this test binary. The kernel may offer a
	// just-closed port again, and two parallel tests must not both get it.
	portsGiven = map[int]bool{}
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago and that
// no other caller in this test binary has been given.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatalf("testenv: finding a free port: %v", err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		_ = l.Close()
		portsMu.Lock()
		taken := portsGiven[port]
		portsGiven[port] = true
		portsMu.Unlock()
		if !taken {
			return port
		}
	}
	t.Fatal("testenv: no free port after 100 attempts")
	return 0
}

// freePortPair returns a free port p whose neighbour p+1 is free too: a dev
// Vault binds its cluster listener one above its API port.
func freePortPair(t testing.TB) int {
	t.Helper()
	for range 100 {
		p := FreePort(t)
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+1))
		if err != nil {
			continue
		}
		_ = l.Close()
		portsMu.Lock()
		taken := portsGiven[p+1]
		portsGiven[p+1] = true
		portsMu.Unlock()
		if !taken {
			return p
		}
	}
	t.Fatal("testenv: no free pair of adjacent ports after 100 attempts")
	return 0
}

// cacheDir mirrors URA_CACHE in deploy/dev/lib.sh.
func cacheDir() string {
	if d := os.Getenv("URA_CACHE"); d != "" {
		return d
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".cache", "ura")
}

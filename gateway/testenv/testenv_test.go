package testenv

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestSharedRedis(t *testing.T) {
	addr, password := Redis(t)
	if err := redisPing(ctx(t), addr, password); err != nil {
		t.Fatalf("PING %s: %v", addr, err)
	}
	if err := redisPing(ctx(t), addr, "wrong-"+password); err == nil {
		t.Fatal("Redis accepted a wrong password")
	}
}

func TestSharedVault(t *testing.T) {
	addr, token := Vault(t)
	var health struct {
		Initialized bool   `json:"initialized"`
		Sealed      bool   `json:"sealed"`
		Version     string `json:"version"`
	}
	if err := vaultCall(ctx(t), addr, "", http.MethodGet, "/v1/sys/health", nil, &health); err != nil {
		t.Fatal(err)
	}
	if !health.Initialized || health.Sealed {
		t.Fatalf("Vault at %s: initialized=%v sealed=%v", addr, health.Initialized, health.Sealed)
	}
	if health.Version != VaultVersion {
		t.Errorf("shared Vault runs %s, testenv expects %s", health.Version, VaultVersion)
	}

	// What deploy/dev/vault.sh sets up and the gateway relies on.
	for name, typ := range map[string]string{"ura-signing": "ed25519", "ura-signing-p256": "ecdsa-p256"} {
		var key struct {
			Data struct {
				Type string `json:"type"`
			} `json:"data"`
		}
		if err := vaultCall(ctx(t), addr, token, http.MethodGet, "/v1/transit/keys/"+name, nil, &key); err != nil {
			t.Errorf("transit key %s: %v", name, err)
		} else if key.Data.Type != typ {
			t.Errorf("transit key %s has type %q, want %q", name, key.Data.Type, typ)
		}
	}
	var mount struct {
		Type    string            `json:"type"`
		Options map[string]string `json:"options"`
	}
	if err := vaultCall(ctx(t), addr, token, http.MethodGet, "/v1/sys/mounts/kv", nil, &mount); err != nil {
		t.Errorf("kv mount: %v", err)
	} else if mount.Type != "kv" || mount.Options["version"] != "2" {
		t.Errorf("kv/ is %q version %q, want kv version 2", mount.Type, mount.Options["version"])
	}
	if err := vaultCall(ctx(t), addr, token, http.MethodGet, "/v1/sys/policies/acl/ura", nil, nil); err != nil {
		t.Errorf("policy ura: %v", err)
	}
}

// The policy must let a gateway token sign and read key metadata, and must not
// let it manage keys.
func TestSharedVaultPolicy(t *testing.T) {
	addr, root := Vault(t)
	var created struct {
		Auth struct {
			ClientToken string `json:"client_token"`
		} `json:"auth"`
	}
	err := vaultCall(ctx(t), addr, root, http.MethodPost, "/v1/auth/token/create",
		map[string]any{"policies": []string{"ura"}, "no_default_policy": true, "ttl": "5m"}, &created)
	if err != nil {
		t.Fatal(err)
	}
	tok := created.Auth.ClientToken
	input := base64.StdEncoding.EncodeToString([]byte("ura"))

	allowed := []struct{ method, path string }{
		{http.MethodPost, "/v1/transit/sign/ura-signing"},
		{http.MethodPost, "/v1/transit/sign/ura-signing-p256"},
		{http.MethodGet, "/v1/transit/keys/ura-signing"},
		{http.MethodGet, "/v1/auth/token/lookup-self"},
		{http.MethodPost, "/v1/auth/token/renew-self"},
	}
	for _, c := range allowed {
		var body any
		if strings.Contains(c.path, "/sign/") {
			body = map[string]any{"input": input}
		}
		if err := vaultCall(ctx(t), addr, tok, c.method, c.path, body, nil); err != nil {
			t.Errorf("%s %s with policy ura: %v", c.method, c.path, err)
		}
	}
	denied := []struct{ method, path string }{
		{http.MethodPost, "/v1/transit/keys/ura-signing/rotate"},
		{http.MethodPost, "/v1/transit/keys/other"},
		{http.MethodPost, "/v1/transit/sign/other"},
		{http.MethodPost, "/v1/kv/data/ura/x"},
		{http.MethodPost, "/v1/auth/token/create"},
	}
	for _, c := range denied {
		err := vaultCall(ctx(t), addr, tok, c.method, c.path, map[string]any{"input": input}, nil)
		if err == nil || !strings.Contains(err.Error(), "403") {
			t.Errorf("%s %s with policy ura: got %v, want 403", c.method, c.path, err)
		}
	}
}

func TestSharedPostgres(t *testing.T) {
	dsn := Postgres(t)
	conn, err := pgx.Connect(ctx(t), dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer func() { _ = conn.Close(context.Background()) }()
	var one int
	if err := conn.QueryRow(ctx(t), "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1: %d, %v", one, err)
	}
}

func TestStartRedisStopRestart(t *testing.T) {
	p := StartRedis(t)
	if err := redisPing(ctx(t), p.Addr, p.Password); err != nil {
		t.Fatalf("fresh server: %v", err)
	}
	set(t, p, "k", "v")

	addr, pw := p.Addr, p.Password
	p.Stop()
	if err := redisPing(ctx(t), addr, pw); err == nil {
		t.Fatal("server still answers after Stop")
	}
	p.Stop() // stopping twice is harmless

	p.Restart()
	if p.Addr != addr || p.Password != pw {
		t.Fatalf("Restart moved the server: %s/%s, was %s/%s", p.Addr, p.Password, addr, pw)
	}
	if err := redisPing(ctx(t), p.Addr, p.Password); err != nil {
		t.Fatalf("after Restart: %v", err)
	}
	if got := get(t, p, "k"); got != "" {
		t.Errorf("data survived a restart without persistence: %q", got)
	}
	p.Restart() // restart while running
	if err := redisPing(ctx(t), p.Addr, p.Password); err != nil {
		t.Fatalf("after second Restart: %v", err)
	}
}

func TestStartVaultRestart(t *testing.T) {
	p := StartVault(t)
	sign := func() error {
		return vaultCall(ctx(t), p.Addr, p.Token, http.MethodPost, "/v1/transit/sign/ura-signing",
			map[string]any{"input": base64.StdEncoding.EncodeToString([]byte("ura"))}, nil)
	}
	if err := sign(); err != nil {
		t.Fatalf("sign on a fresh server: %v", err)
	}
	p.Stop()
	if err := sign(); err == nil {
		t.Fatal("Vault still answers after Stop")
	}
	p.Restart()
	if err := sign(); err != nil {
		t.Fatalf("sign after Restart: %v", err)
	}
}

func TestFreePort(t *testing.T) {
	seen := map[int]bool{}
	for range 20 {
		p := FreePort(t)
		if seen[p] {
			t.Fatalf("port %d handed out twice", p)
		}
		seen[p] = true
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("port %d is not free: %v", p, err)
		}
		_ = l.Close()
	}
}

// The binary StartVault looks for is keyed by VaultVersion; it must follow
// the version build-vault.sh builds.
func TestVaultVersionMatchesPin(t *testing.T) {
	mod, err := os.ReadFile("../../deploy/vaultbuild/go.mod")
	if err != nil {
		t.Fatal(err)
	}
	want := "github.com/hashicorp/vault v" + VaultVersion
	for _, line := range strings.Split(string(mod), "\n") {
		if strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(line), "require")) == want {
			return
		}
	}
	t.Fatalf("deploy/vaultbuild/go.mod does not require %q; update VaultVersion", want)
}

func TestUnavailableSkipsOutsideCI(t *testing.T) {
	t.Setenv("CI", "")
	t.Setenv("URA_REDIS_ADDR", "")
	skipped := false
	t.Run("inner", func(t *testing.T) {
		defer func() { skipped = t.Skipped() }()
		Redis(t)
	})
	if !skipped {
		t.Fatal("Redis did not skip with URA_REDIS_ADDR unset and CI unset")
	}
}

func set(t *testing.T, p *Process, k, v string) {
	t.Helper()
	if _, err := redisSession(t, p, "SET", k, v); err != nil {
		t.Fatalf("SET: %v", err)
	}
}

func get(t *testing.T, p *Process, k string) string {
	t.Helper()
	v, err := redisSession(t, p, "GET", k)
	if err != nil {
		t.Fatalf("GET: %v", err)
	}
	return v
}

func redisSession(t *testing.T, p *Process, args ...string) (string, error) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", p.Addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer func() { _ = conn.Close() }()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(conn)
	if _, err := redisDo(conn, r, "AUTH", p.Password); err != nil {
		return "", err
	}
	return redisDo(conn, r, args...)
}

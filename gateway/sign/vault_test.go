package sign

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// Integration tests against a real Vault: the shared dev server
// (testenv.Vault) with a key per test, or a private one (testenv.StartVault)
// for tests that stop it.

func randomName(t testing.TB, prefix string) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return prefix + hex.EncodeToString(b)
}

func vaultConfig(addr, token string) config.Vault {
	v := config.Default().Vault
	v.Addr, v.Token, v.Timeout, v.MaxRetries = addr, token, 10*time.Second, 1
	return v
}

func rootClient(t testing.TB, addr, token string, opts ...ClientOption) *vault.Client {
	t.Helper()
	c, err := NewVaultClient(vaultConfig(addr, token), func(s string) string { return s }, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func vwrite(t testing.TB, c *vault.Client, path string, data map[string]any) *vault.Secret {
	t.Helper()
	s, err := c.Logical().Write(path, data)
	if err != nil {
		t.Fatalf("vault write %s: %v", path, err)
	}
	return s
}

// transitKeyForTest creates a Transit key that only this test uses. Its
// name matches the "ura" policy's ura-signing* paths.
func transitKeyForTest(t testing.TB, c *vault.Client, alg string) string {
	t.Helper()
	name := randomName(t, "ura-signing-it-")
	vwrite(t, c, "transit/keys/"+name, map[string]any{"type": alg})
	t.Cleanup(func() {
		_, _ = c.Logical().Write("transit/keys/"+name+"/config", map[string]any{"deletion_allowed": true})
		_, _ = c.Logical().Delete("transit/keys/" + name)
	})
	return name
}

// kvKeyForTest writes a private key to a KV v2 path only this test uses.
func kvKeyForTest(t testing.TB, c *vault.Client, alg string) string {
	t.Helper()
	path := randomName(t, "ura/it-")
	kvPut(t, c, path, pkcs8PEM(t, newKey(t, alg)))
	t.Cleanup(func() { _, _ = c.Logical().Delete("kv/metadata/" + path) })
	return path
}

func kvPut(t testing.TB, c *vault.Client, path, key string) {
	t.Helper()
	vwrite(t, c, "kv/data/"+path, map[string]any{"data": map[string]any{privateKeyField: key}})
}

func itSigner(t testing.TB, c *vault.Client, mode, alg, name string, opts Options) *VaultSigner {
	t.Helper()
	cfg := config.Default().Sign
	cfg.Mode, cfg.Algorithm, cfg.Key, cfg.BatchSize = mode, alg, name, 256
	if mode == config.SignModeKV {
		cfg.KVPath = name
		cfg.Key = "ura-kv"
	}
	s, err := New(c, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestVaultBothModesSignAndVerifyIndependently(t *testing.T) {
	addr, token := testenv.Vault(t)
	c := rootClient(t, addr, token)
	for _, mode := range []string{config.SignModeTransit, config.SignModeKV} {
		for _, alg := range []string{config.AlgEd25519, config.AlgECDSAP256} {
			t.Run(mode+"/"+alg, func(t *testing.T) {
				var name string
				if mode == config.SignModeTransit {
					name = transitKeyForTest(t, c, alg)
				} else {
					name = kvKeyForTest(t, c, alg)
				}
				s := itSigner(t, c, mode, alg, name, Options{})
				// 600 payloads: three Transit calls at batch 256.
				in := payloads(600)
				out, err := s.Sign(context.Background(), in)
				if err != nil {
					t.Fatal(err)
				}
				kids := verifyAll(t, s, in, out)
				if len(kids) != 1 {
					t.Errorf("kids %v", kids)
				}
				set, _ := s.Keys(context.Background())
				res := joseVerify(t, set, out)
				for i, r := range res {
					if !r.Valid || r.Payload != string(in[i]) || r.Kid != KeyID(out[i]) {
						t.Fatalf("jose rejects or misreads signature %d: %+v", i, r)
					}
				}
			})
		}
	}
}

func TestVaultTransitRotationKeepsOldSignaturesValid(t *testing.T) {
	addr, token := testenv.Vault(t)
	c := rootClient(t, addr, token)
	for _, alg := range []string{config.AlgEd25519, config.AlgECDSAP256} {
		t.Run(alg, func(t *testing.T) {
			name := transitKeyForTest(t, c, alg)
			s := itSigner(t, c, config.SignModeTransit, alg, name, Options{})
			ctx := context.Background()
			in := payloads(3)
			before, err := s.Sign(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			vwrite(t, c, "transit/keys/"+name+"/rotate", nil)
			if err := s.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			after, err := s.Sign(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if KeyID(before[0]) != name+":1" || KeyID(after[0]) != name+":2" {
				t.Fatalf("kids %s then %s", KeyID(before[0]), KeyID(after[0]))
			}
			all := append(append([]string{}, before...), after...)
			verifyAll(t, s, append(in, in...), all)
			set, _ := s.Keys(ctx)
			for i, r := range joseVerify(t, set, all) {
				if !r.Valid {
					t.Errorf("jose: signature %d after rotation: %+v", i, r)
				}
			}
			// Retiring version 1 in Vault takes it out of the JWKS.
			vwrite(t, c, "transit/keys/"+name+"/config", map[string]any{"min_decryption_version": 2})
			if err := s.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			set, _ = s.Keys(ctx)
			if _, _, err := NewVerifier(StaticKeys{Set: set}).Verify(before[0]); !errors.Is(err, ErrUnknownKey) {
				t.Errorf("a retired version still verifies: %v", err)
			}
		})
	}
}

func TestVaultKVNewVersionPickedUpWithoutRestart(t *testing.T) {
	addr, token := testenv.Vault(t)
	c := rootClient(t, addr, token)
	path := kvKeyForTest(t, c, config.AlgEd25519)
	cfg := config.Default().Sign
	cfg.Mode, cfg.Key, cfg.KVPath, cfg.JWKSCacheTTL = config.SignModeKV, "ura-kv", path, 50*time.Millisecond
	s, err := New(c, cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	before, err := s.Sign(ctx, payloads(2))
	if err != nil {
		t.Fatal(err)
	}
	kvPut(t, c, path, pkcs8PEM(t, newKey(t, config.AlgEd25519)))
	var after []string
	waitUntil(t, func() bool {
		after, err = s.Sign(ctx, payloads(2))
		return err == nil && KeyID(after[0]) == "ura-kv:2"
	})
	verifyAll(t, s, append(payloads(2), payloads(2)...), append(before, after...))
}

func TestVaultTransitKeyThroughJWX(t *testing.T) {
	addr, token := testenv.Vault(t)
	c := rootClient(t, addr, token)
	for _, alg := range []string{config.AlgEd25519, config.AlgECDSAP256} {
		t.Run(alg, func(t *testing.T) {
			s := itSigner(t, c, config.SignModeTransit, alg, transitKeyForTest(t, c, alg), Options{})
			out := signSingle(t, s, payloads(3))
			verifyAll(t, s, payloads(3), out)
			set, _ := s.Keys(context.Background())
			for i, r := range joseVerify(t, set, out) {
				if !r.Valid {
					t.Errorf("jose: %d: %+v", i, r)
				}
			}
		})
	}
}

// TestVaultForgeriesRejected runs the attacks against real signatures, with
// jwx (Verifier) and with jose.
func TestVaultForgeriesRejected(t *testing.T) {
	addr, token := testenv.Vault(t)
	c := rootClient(t, addr, token)
	name := transitKeyForTest(t, c, config.AlgEd25519)
	s := itSigner(t, c, config.SignModeTransit, config.AlgEd25519, name, Options{})
	// Another gateway: a different key under the same name and version.
	otherName := transitKeyForTest(t, c, config.AlgEd25519)
	other := itSigner(t, c, config.SignModeTransit, config.AlgEd25519, otherName, Options{})
	ctx := context.Background()
	good, err := s.Sign(ctx, payloads(1))
	if err != nil {
		t.Fatal(err)
	}
	foreign, err := other.Sign(ctx, payloads(1))
	if err != nil {
		t.Fatal(err)
	}
	set, _ := s.Keys(ctx)
	first, _ := set.Key(0)
	pubJWK, _ := json.Marshal(first)
	parts := strings.Split(good[0], ".")
	fp := strings.Split(foreign[0], ".")
	hdr := func(h string) string { return b64.EncodeToString([]byte(h)) }
	kid := name + ":1"
	forgeries := map[string]string{
		"tampered payload":          parts[0] + "." + b64.EncodeToString([]byte(`{"record":{"id":"AIM-LIC-2026-000000","version":9}}`)) + "." + parts[2],
		"wrong kid":                 hdr(`{"alg":"EdDSA","kid":"`+name+`:2","typ":"ura-delivery+jws"}`) + "." + parts[1] + "." + parts[2],
		"key of another gateway":    hdr(`{"alg":"EdDSA","kid":"`+kid+`","typ":"ura-delivery+jws"}`) + "." + fp[1] + "." + fp[2],
		"alg none":                  hdr(`{"alg":"none","kid":"`+kid+`"}`) + "." + parts[1] + ".",
		"HS256 with the public key": compact(map[string]any{"alg": "HS256", "kid": kid}, []byte(`{"x":1}`), hmacWith(pubJWK)),
	}
	v := NewVerifier(StaticKeys{Set: set})
	var list []string
	var names []string
	for n, f := range forgeries {
		if _, _, err := v.Verify(f); err == nil {
			t.Errorf("%s: accepted", n)
		}
		list = append(list, f)
		names = append(names, n)
	}
	for i, r := range joseVerify(t, set, list) {
		if r.Valid {
			t.Errorf("jose accepted %s", names[i])
		}
	}
}

// TestVaultStopMidStream stops a private Vault while a stream of batches is
// being signed: every Sign that starts after the stop fails with
// ErrUnavailable and returns nothing, readiness fails, and after a restart
// signing recovers with no new signer.
func TestVaultStopMidStream(t *testing.T) {
	v := testenv.StartVault(t)
	c := rootClient(t, v.Addr, v.Token)
	s := itSigner(t, c, config.SignModeTransit, config.AlgEd25519, "ura-signing", Options{})
	health := Health{Client: c, Signer: s}
	ctx := context.Background()
	if err := health.Check(ctx); err != nil {
		t.Fatalf("ready before the stop: %v", err)
	}

	var stopped atomic.Bool
	var afterStop, failures atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			startedAfterStop := stopped.Load()
			out, err := s.Sign(ctx, payloads(64))
			if startedAfterStop {
				afterStop.Add(int64(len(out)))
				if err != nil {
					if !errors.Is(err, ErrUnavailable) {
						t.Errorf("Sign after the stop: %v, want ErrUnavailable", err)
					}
					if failures.Add(1) == 3 {
						return
					}
				}
			}
		}
	}()
	waitUntil(t, func() bool { return counter(s.m.signatures, "transit") >= 64*5 })
	v.Stop()
	stopped.Store(true)
	<-done
	if n := afterStop.Load(); n != 0 {
		t.Fatalf("%d signatures produced after Vault stopped", n)
	}
	if err := health.Check(ctx); err == nil {
		t.Error("ready while Vault is down")
	}

	v.Restart()
	// A dev Vault comes back empty, with a new ura-signing key under the
	// same name and version: the signer notices and reads it again.
	var out []string
	waitUntil(t, func() bool {
		var err error
		out, err = s.Sign(ctx, payloads(4))
		return err == nil
	})
	verifyAll(t, s, payloads(4), out)
	if err := health.Check(ctx); err != nil {
		t.Errorf("not ready after the restart: %v", err)
	}
}

func TestVaultExpiredTokenIsUnavailable(t *testing.T) {
	addr, token := testenv.Vault(t)
	root := rootClient(t, addr, token)
	name := transitKeyForTest(t, root, config.AlgEd25519)
	sec := vwrite(t, root, "auth/token/create", map[string]any{"ttl": "3s", "renewable": false, "policies": []string{"ura"}, "no_parent": true})
	c := rootClient(t, addr, sec.Auth.ClientToken)
	denied := atomic.Int64{}
	s := itSigner(t, c, config.SignModeTransit, config.AlgEd25519, name, Options{OnDenied: func() { denied.Add(1) }})
	if _, err := s.Sign(context.Background(), payloads(1)); err != nil {
		t.Fatalf("with a live token: %v", err)
	}
	waitUntil(t, func() bool {
		out, err := s.Sign(context.Background(), payloads(1))
		if err != nil && out != nil {
			t.Fatal("signatures returned with an error")
		}
		return errors.Is(err, ErrUnavailable)
	})
	if denied.Load() == 0 {
		t.Error("an expired token did not ask for a new login")
	}
	if err := (Health{Client: c}).Check(context.Background()); err == nil {
		t.Error("ready with an expired token")
	}
}

// TestVaultAppRoleLoginRenewalAndRelogin logs in with AppRole under the
// shipped policy, watches the token renew and, at its max TTL, logs in again
// by itself; signing keeps working throughout and no secret reaches the log.
func TestVaultAppRoleLoginRenewalAndRelogin(t *testing.T) {
	addr, token := testenv.Vault(t)
	root := rootClient(t, addr, token)
	name := transitKeyForTest(t, root, config.AlgEd25519)

	mount := randomName(t, "approle-it-")
	vwrite(t, root, "sys/auth/"+mount, map[string]any{"type": "approle"})
	t.Cleanup(func() { _, _ = root.Logical().Delete("sys/auth/" + mount) })
	policy := randomName(t, "ura-it-")
	hcl, err := os.ReadFile(filepath.Join("..", "..", "deploy", "vault", "ura.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	if err := root.Sys().PutPolicy(policy, string(hcl)); err != nil {
		t.Fatalf("deploy/vault/ura.hcl is not a valid policy: %v", err)
	}
	t.Cleanup(func() { _ = root.Sys().DeletePolicy(policy) })
	vwrite(t, root, "auth/"+mount+"/role/ura", map[string]any{"token_policies": []string{policy}, "token_ttl": "4s", "token_max_ttl": "9s"})
	roleID, err := root.Logical().Read("auth/" + mount + "/role/ura/role-id")
	if err != nil {
		t.Fatal(err)
	}
	secretID := vwrite(t, root, "auth/"+mount+"/role/ura/secret-id", nil)
	dir := t.TempDir()
	roleFile, secretFile := filepath.Join(dir, "role-id"), filepath.Join(dir, "secret-id")
	rid, sid := roleID.Data["role_id"].(string), secretID.Data["secret_id"].(string)
	if err := os.WriteFile(roleFile, []byte(rid+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(secretFile, []byte(sid+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	cfg := vaultConfig(addr, "")
	cfg.Auth = config.VaultAuth{Method: config.VaultAuthAppRole, Mount: mount, RoleIDFile: roleFile, SecretIDFile: secretFile}
	c, err := NewVaultClient(cfg, func(s string) string { return s })
	if err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	m := NewMetrics()
	auth, err := NewAuth(c, cfg, func(s string) string { return s }, slogTo(&logs), m)
	if err != nil {
		t.Fatal(err)
	}
	auth.MinBackoff = 100 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan struct{})
	t.Cleanup(func() { cancel(); <-runDone })
	if err := auth.Login(ctx); err != nil {
		t.Fatal(err)
	}
	firstToken := c.Token()
	go func() { defer close(runDone); auth.Run(ctx) }()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("log:\n%s", logs.String())
		}
	})

	s := itSigner(t, c, config.SignModeTransit, config.AlgEd25519, name, Options{Metrics: m, OnDenied: auth.Invalidate, Logger: slogTo(&logs)})
	if _, err := s.Sign(ctx, payloads(2)); err != nil {
		t.Fatalf("sign under the ura policy: %v", err)
	}
	// The policy lets the gateway sign, not manage keys.
	if _, err := c.Logical().Write("transit/keys/"+name+"/rotate", nil); err == nil {
		t.Error("the gateway's token may rotate keys")
	}
	if _, err := c.Logical().Read("transit/export/signing-key/" + name); err == nil {
		t.Error("the gateway's token may export keys")
	}

	waitUntil(t, func() bool { return counter(m.renewals, "ok") >= 1 })
	waitUntil(t, func() bool { return counter(m.logins, config.VaultAuthAppRole, "ok") >= 2 && c.Token() != firstToken })
	// The first token is past its max TTL now; signing goes on.
	if _, err := s.Sign(ctx, payloads(2)); err != nil {
		t.Fatalf("sign after re-login: %v", err)
	}
	for _, secret := range []string{sid, firstToken, c.Token(), token} {
		if strings.Contains(logs.String(), secret) {
			t.Fatal("a token or secret_id was logged")
		}
	}

	// A wrong secret_id fails the login without naming it.
	if err := os.WriteFile(secretFile, []byte("00000000-0000-0000-0000-000000000000"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := auth.Login(ctx); err == nil || strings.Contains(err.Error(), "00000000-0000") {
		t.Errorf("login with a wrong secret_id: %v", err)
	}
}

func TestVaultCallsForTenThousandRecords(t *testing.T) {
	addr, token := testenv.Vault(t)
	var calls atomic.Int64
	c := rootClient(t, addr, token, WithTransport(countCalls(&calls)))
	s := itSigner(t, c, config.SignModeTransit, config.AlgEd25519, transitKeyForTest(t, rootClient(t, addr, token), config.AlgEd25519), Options{})
	in := payloads(10000)
	out, err := s.Sign(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	// Every 97th is enough to show the batch came back whole and in order.
	var sampleIn [][]byte
	var sampleOut []string
	for i := 0; i < len(in); i += 97 {
		sampleIn, sampleOut = append(sampleIn, in[i]), append(sampleOut, out[i])
	}
	verifyAll(t, s, sampleIn, sampleOut)
	n := calls.Load()
	t.Logf("10,000 records signed at batch 256: %d Vault HTTP calls (1 key read + %d sign calls)", n, n-1)
	// ceil(10000/256) = 40 sign calls and one read of the key.
	if n != 41 {
		t.Errorf("%d Vault calls, want 41", n)
	}
}

func countCalls(n *atomic.Int64) func(http.RoundTripper) http.RoundTripper {
	return func(rt http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			n.Add(1)
			return rt.RoundTrip(r)
		})
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// joseResult is one line of deploy/jose-verify/verify.mjs.
type joseResult struct {
	Line    int    `json:"line"`
	Valid   bool   `json:"valid"`
	Kid     string `json:"kid"`
	Alg     string `json:"alg"`
	Payload string `json:"payload"`
	Error   string `json:"error"`
}

// joseVerify checks signatures with the jose npm package: an implementation
// that shares nothing with the code that signed.
func joseVerify(t *testing.T, set any, list []string) []joseResult {
	t.Helper()
	jwks, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	jwksPath := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksPath, jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	_, stdout := testenv.JoseVerify(t, []byte(strings.Join(list, "\n")+"\n"), jwksPath)
	var res []joseResult
	sc := bufio.NewScanner(bytes.NewReader(stdout))
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var r joseResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("jose output %q: %v", sc.Text(), err)
		}
		res = append(res, r)
	}
	if len(res) != len(list) {
		t.Fatalf("jose answered %d lines for %d signatures", len(res), len(list))
	}
	return res
}

func waitUntil(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestVaultKubernetesLogin logs in with the Kubernetes method against the
// real Vault, whose auth plugin asks a stand-in Kubernetes API (TokenReview)
// about the service-account token; the token file is read at every login.
func TestVaultKubernetesLogin(t *testing.T) {
	addr, token := testenv.Vault(t)
	root := rootClient(t, addr, token)
	name := transitKeyForTest(t, root, config.AlgEd25519)

	const uid = "6f1c1f1e-2b1e-4b0e-9a5e-0c1d2e3f4a5b"
	var reviews atomic.Int64
	kube := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/apis/authentication.k8s.io/v1/tokenreviews" {
			http.NotFound(w, r)
			return
		}
		reviews.Add(1)
		var review struct {
			Spec struct {
				Token string `json:"token"`
			} `json:"spec"`
		}
		_ = json.NewDecoder(r.Body).Decode(&review)
		status := map[string]any{"authenticated": false}
		if review.Spec.Token == saToken(t, uid) {
			status = map[string]any{"authenticated": true, "user": map[string]any{"username": "system:serviceaccount:ura:ura", "uid": uid}}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenReview", "status": status})
	}))
	t.Cleanup(kube.Close)

	mount := randomName(t, "kubernetes-it-")
	vwrite(t, root, "sys/auth/"+mount, map[string]any{"type": "kubernetes"})
	t.Cleanup(func() { _, _ = root.Logical().Delete("sys/auth/" + mount) })
	vwrite(t, root, "auth/"+mount+"/config", map[string]any{"kubernetes_host": kube.URL, "disable_local_ca_jwt": true, "token_reviewer_jwt": "reviewer"})
	vwrite(t, root, "auth/"+mount+"/role/ura", map[string]any{"bound_service_account_names": "ura",
		"bound_service_account_namespaces": "ura", "token_policies": "ura", "token_ttl": "1h"})

	saFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(saFile, []byte(saToken(t, uid)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := vaultConfig(addr, "")
	cfg.Auth = config.VaultAuth{Method: config.VaultAuthKubernetes, Mount: mount, Role: "ura", ServiceAccountTokenFile: saFile}
	c, err := NewVaultClient(cfg, func(s string) string { return s })
	if err != nil {
		t.Fatal(err)
	}
	auth, err := NewAuth(c, cfg, func(s string) string { return s }, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := auth.Login(context.Background()); err != nil {
		t.Fatalf("%v (token reviews: %d)", err, reviews.Load())
	}
	s := itSigner(t, c, config.SignModeTransit, config.AlgEd25519, name, Options{})
	if _, err := s.Sign(context.Background(), payloads(1)); err != nil {
		t.Fatalf("sign after kubernetes login: %v", err)
	}
	// A service-account token that Kubernetes does not vouch for is refused.
	if err := os.WriteFile(saFile, []byte(saToken(t, "00000000-0000-0000-0000-000000000000")), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := auth.Login(context.Background()); err == nil {
		t.Error("login with a token Kubernetes rejects")
	}
	if reviews.Load() < 2 {
		t.Errorf("%d token reviews: the token file was not read again", reviews.Load())
	}
}

// saToken is a service-account JWT as Kubernetes would issue it. Vault
// trusts the TokenReview answer, not this signature, so any key will do.
func saToken(t *testing.T, uid string) string {
	t.Helper()
	saMu.Lock()
	defer saMu.Unlock()
	if saKey == nil {
		saKey, saTokens = newKey(t, config.AlgECDSAP256), map[string]string{}
	}
	if tok, ok := saTokens[uid]; ok {
		return tok
	}
	claims, _ := json.Marshal(map[string]any{
		"iss": "kubernetes/serviceaccount", "sub": "system:serviceaccount:ura:ura",
		"kubernetes.io/serviceaccount/namespace": "ura", "kubernetes.io/serviceaccount/service-account.name": "ura",
		"kubernetes.io/serviceaccount/service-account.uid": uid,
	})
	tok := compact(map[string]any{"alg": "ES256", "kid": "sa"}, claims, func(in []byte) []byte {
		sig, err := signLocal(saKey, in)
		if err != nil {
			t.Fatal(err)
		}
		return sig
	})
	// ECDSA signatures are randomised: keep one token per uid so the
	// stand-in API recognises the file's token.
	saTokens[uid] = tok
	return tok
}

var (
	saMu     sync.Mutex
	saKey    crypto.Signer
	saTokens map[string]string
)

package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/ura-gateway/ura/gateway/api/apitest"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// jwksGet is c's GET of the gateway's JWKS.
func jwksGet(c *memberClient) memberResponse {
	c.t.Helper()
	return c.get("/.well-known/jwks.json")
}

func TestJWKSServesOnlyPublicKeys(t *testing.T) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	// A signer that (wrongly) hands over a private key: the route must
	// still publish only its public half.
	k, _ := jwk.FromRaw(priv)
	_ = k.Set(jwk.KeyIDKey, "ura-signing:1")
	_ = k.Set(jwk.AlgorithmKey, "EdDSA")
	_ = k.Set(jwk.KeyUsageKey, "sig")
	set := jwk.NewSet()
	_ = set.AddKey(k)

	e := startGateway(t, withSigner(&apitest.Signer{KeySet: set}))
	r := jwksGet(e.as("IT/GOV/MOD"))
	body := r.body
	if r.status != 200 || r.header.Get("Content-Type") != "application/jwk-set+json" {
		t.Fatalf("%d %s: %s", r.status, r.header.Get("Content-Type"), body)
	}
	if !strings.Contains(r.header.Get("Cache-Control"), "max-age=30") {
		t.Errorf("Cache-Control %q", r.header.Get("Cache-Control"))
	}
	var got struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(body, &got); err != nil || len(got.Keys) != 1 {
		t.Fatalf("body %s: %v", body, err)
	}
	if _, leaked := got.Keys[0]["d"]; leaked {
		t.Fatal("the private key was published")
	}
	for name, want := range map[string]string{"kid": "ura-signing:1", "alg": "EdDSA", "use": "sig", "kty": "OKP", "crv": "Ed25519"} {
		if got.Keys[0][name] != want {
			t.Errorf("%s = %v, want %s", name, got.Keys[0][name], want)
		}
	}
}

func TestJWKSUnavailable(t *testing.T) {
	cases := []struct {
		name   string
		signer gatewayOption
	}{
		{"no signer configured", withoutParts()},
		{"vault down before any read", withSigner(&apitest.Signer{KeysErr: sign.ErrUnavailable})},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := jwksGet(startGateway(t, tc.signer).as("AL/GOV/AIM"))
			var pb map[string]any
			_ = json.Unmarshal(r.body, &pb)
			if r.status != http.StatusServiceUnavailable || r.header.Get("Content-Type") != problem.ContentType ||
				pb["type"] != problem.TypeUnavailable {
				t.Fatalf("%d %s %s", r.status, r.header.Get("Content-Type"), r.body)
			}
		})
	}
}

func TestJWKSNeedsARegisteredMember(t *testing.T) {
	e := startGateway(t, withSigner(&apitest.Signer{KeySet: jwk.NewSet()}))
	if _, err := e.p.client(nil, 0, false).Get("https://" + e.addr + "/.well-known/jwks.json"); err == nil {
		t.Error("JWKS served without a client certificate")
	}
	if r := jwksGet(e.as("AL/GOV/NOBODY")); r.status != http.StatusForbidden {
		t.Errorf("unregistered member got %d", r.status)
	}
}

// jwksVault is a signer over a real Vault with a Transit key of its own.
// An empty name makes a key for this test alone.
func jwksVault(t *testing.T, addr, token, name string, ttl time.Duration) (*sign.VaultSigner, *vault.Client, string) {
	t.Helper()
	vc := config.Default().Vault
	vc.Addr, vc.Token, vc.Timeout, vc.MaxRetries = addr, token, 5*time.Second, 0
	c, err := sign.NewVaultClient(vc, func(s string) string { return s })
	if err != nil {
		t.Fatal(err)
	}
	if name == "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		name = "ura-signing-it-" + hex.EncodeToString(b)
	}
	if _, err := c.Logical().Write("transit/keys/"+name, map[string]any{"type": "ed25519"}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = c.Logical().Write("transit/keys/"+name+"/config", map[string]any{"deletion_allowed": true})
		_, _ = c.Logical().Delete("transit/keys/" + name)
	})
	sc := config.Default().Sign
	sc.Key, sc.JWKSCacheTTL = name, ttl
	s, err := sign.New(c, sc, sign.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return s, c, name
}

// jwksVaultSigner runs the gateway on the Vault signer s, with Vault in
// its readiness checks.
func jwksVaultSigner(s *sign.VaultSigner, c *vault.Client) gatewayOption {
	return withDeps(func(_ *config.Config, d *Deps) {
		d.Signer = s
		d.Checks = []Checker{sign.Health{Client: c, Signer: s}}
	})
}

// jwksClientFiles writes a member's certificate and key for URLKeys.
func jwksClientFiles(t *testing.T, p *testPKI, member string) sign.TLSFiles {
	t.Helper()
	certFile, keyFile := p.memberFiles(p.it, member, "jwks-client")
	return sign.TLSFiles{CAFile: p.path("ca.crt"), CertFile: certFile, KeyFile: keyFile}
}

// TestJWKSFromVaultAcrossRotation is a partner's view: records signed by the
// gateway verify against the JWKS it fetches over mutual TLS, before and
// after a Vault rotation.
func TestJWKSFromVaultAcrossRotation(t *testing.T) {
	addr, token := testenv.Vault(t)
	s, c, name := jwksVault(t, addr, token, "", time.Minute)
	e := startGateway(t, jwksVaultSigner(s, c))
	partner := sign.NewVerifier(sign.NewURLKeys("https://"+e.addr+"/.well-known/jwks.json", jwksClientFiles(t, e.p, "IT/GOV/MOD"), time.Hour))

	ctx := context.Background()
	before, err := s.Sign(ctx, [][]byte{[]byte(`{"record":{"id":"AIM-LIC-2026-000123","version":3}}`)})
	if err != nil {
		t.Fatal(err)
	}
	if _, kid, err := partner.Verify(before[0]); err != nil || kid != name+":1" {
		t.Fatalf("before rotation: %s %v", kid, err)
	}
	if _, err := c.Logical().Write("transit/keys/"+name+"/rotate", nil); err != nil {
		t.Fatal(err)
	}
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	after, err := s.Sign(ctx, [][]byte{[]byte(`{"record":{"id":"AIM-LIC-2026-000123","version":4}}`)})
	if err != nil {
		t.Fatal(err)
	}
	// The partner's cached JWKS predates the rotation: the unknown kid makes
	// it fetch again, and both signatures verify.
	if _, kid, err := partner.Verify(after[0]); err != nil || kid != name+":2" {
		t.Fatalf("after rotation: %s %v", kid, err)
	}
	if _, _, err := partner.Verify(before[0]); err != nil {
		t.Fatalf("old signature after rotation: %v", err)
	}
	// A tampered copy fails.
	parts := strings.Split(after[0], ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(`{"record":{"id":"AIM-LIC-2026-000123","version":5}}`)) + "." + parts[2]
	if _, _, err := partner.Verify(tampered); !errors.Is(err, sign.ErrBadSignature) {
		t.Errorf("tampered copy: %v", err)
	}
}

// TestReadyzFollowsVault stops and restarts a private Vault under a running
// gateway: readiness fails while it is down and recovers by itself.
func TestReadyzFollowsVault(t *testing.T) {
	v := testenv.StartVault(t)
	// ura-signing is the key the private Vault is set up with, again after
	// every restart.
	s, c, _ := jwksVault(t, v.Addr, v.Token, "ura-signing", time.Second)
	aim := startGateway(t, jwksVaultSigner(s, c)).as("AL/GOV/AIM")
	ready := func() (int, string) {
		r := aim.get("/readyz")
		return r.status, string(r.body)
	}
	if code, body := ready(); code != http.StatusOK {
		t.Fatalf("readyz with Vault up: %d %s", code, body)
	}
	v.Stop()
	if code, body := ready(); code != http.StatusServiceUnavailable || !strings.Contains(body, `"vault":"unavailable"`) {
		t.Fatalf("readyz with Vault down: %d %s", code, body)
	}
	if _, err := s.Sign(context.Background(), [][]byte{[]byte("{}")}); !errors.Is(err, sign.ErrUnavailable) {
		t.Fatalf("Sign with Vault down: %v", err)
	}
	v.Restart()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if code, _ := ready(); code == http.StatusOK {
			break
		}
		if time.Now().After(deadline) {
			code, body := ready()
			t.Fatalf("readyz did not recover: %d %s", code, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

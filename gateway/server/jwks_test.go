package server

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/sign"
)

// jwksFakeSigner hands out a fixed set, or an error.
type jwksFakeSigner struct {
	set jwk.Set
	err error
}

func (f jwksFakeSigner) Sign(context.Context, [][]byte) ([]string, error) {
	return nil, errors.New("not used")
}

func (f jwksFakeSigner) Keys(context.Context) (jwk.Set, error) { return f.set, f.err }

// jwksStart is start with dependencies.
func jwksStart(t *testing.T, cfg *config.Config, deps Deps) string {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config invalid: %v", err)
	}
	srv, err := New(cfg, deps, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("server stopped with error: %v", err)
		}
	})
	return srv.Addr().String()
}

func jwksGet(t *testing.T, c *http.Client, addr string) (*http.Response, []byte) {
	t.Helper()
	resp, err := c.Get("https://" + addr + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
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

	p := newTestPKI(t)
	addr := jwksStart(t, p.config(), Deps{Signer: jwksFakeSigner{set: set}})
	resp, body := jwksGet(t, p.client(p.member(p.it, "IT/GOV/MOD"), 0, false), addr)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != jwksContentType {
		t.Fatalf("%d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if !strings.Contains(resp.Header.Get("Cache-Control"), "max-age=30") {
		t.Errorf("Cache-Control %q", resp.Header.Get("Cache-Control"))
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
		name string
		deps Deps
	}{
		{"no signer configured", Deps{}},
		{"vault down before any read", Deps{Signer: jwksFakeSigner{err: sign.ErrUnavailable}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newTestPKI(t)
			addr := jwksStart(t, p.config(), tc.deps)
			resp, body := jwksGet(t, p.client(p.member(p.inter, "AL/GOV/AIM"), 0, false), addr)
			var pb map[string]any
			_ = json.Unmarshal(body, &pb)
			if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Content-Type") != problem.ContentType ||
				pb["type"] != problem.TypeUnavailable {
				t.Fatalf("%d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
		})
	}
}

func TestJWKSNeedsARegisteredMember(t *testing.T) {
	p := newTestPKI(t)
	addr := jwksStart(t, p.config(), Deps{Signer: jwksFakeSigner{set: jwk.NewSet()}})
	if _, err := p.client(nil, 0, false).Get("https://" + addr + "/.well-known/jwks.json"); err == nil {
		t.Error("JWKS served without a client certificate")
	}
	resp, _ := jwksGet(t, p.client(p.member(p.inter, "AL/GOV/NOBODY"), 0, false), addr)
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("unregistered member got %d", resp.StatusCode)
	}
}

package sign

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/problem"
)

func payloads(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"record":{"kind":"licence","id":"AIM-LIC-2026-%06d","version":1},"recipient":"IT/GOV/MOD","iat":1767225600}`, i)
	}
	return out
}

// verifyAll checks every JWS with jwx against the signer's own JWKS, and
// returns the kids seen.
func verifyAll(t *testing.T, s Signer, in [][]byte, out []string) map[string]bool {
	t.Helper()
	set, err := s.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in) {
		t.Fatalf("%d signatures for %d payloads", len(out), len(in))
	}
	kids := map[string]bool{}
	v := NewVerifier(StaticKeys{Set: set})
	for i, c := range out {
		got, kid, err := v.VerifyContext(context.Background(), c)
		if err != nil {
			t.Fatalf("signature %d does not verify: %v", i, err)
		}
		if string(got) != string(in[i]) {
			t.Fatalf("payload %d changed: %s", i, got)
		}
		// And once more with jwx's key-set path, as a verifier that knows
		// nothing of this package would use it.
		if _, err := jws.Verify([]byte(c), jws.WithKeySet(set, jws.WithRequireKid(true))); err != nil {
			t.Fatalf("jwx key-set verification of %d: %v", i, err)
		}
		if KeyID(c) != kid {
			t.Errorf("KeyID = %q, verifier says %q", KeyID(c), kid)
		}
		kids[kid] = true
	}
	return kids
}

func header(t *testing.T, compact string) map[string]any {
	t.Helper()
	h, _, _ := strings.Cut(compact, ".")
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestFakeVaultBothModesSign(t *testing.T) {
	for _, mode := range []string{config.SignModeTransit, config.SignModeKV} {
		for _, alg := range []string{config.AlgEd25519, config.AlgECDSAP256} {
			t.Run(mode+"/"+alg, func(t *testing.T) {
				f := newFakeVault(t)
				if mode == config.SignModeTransit {
					f.rotateTransit(alg)
				} else {
					f.writeKV(pkcs8PEM(t, newKey(t, alg)))
				}
				s, err := New(f.client(t), fakeSignConfig(mode, alg), Options{})
				if err != nil {
					t.Fatal(err)
				}
				in := payloads(10)
				out, err := s.SignTyped(context.Background(), TypResult, in)
				if err != nil {
					t.Fatal(err)
				}
				kids := verifyAll(t, s, in, out)
				if !kids["k:1"] || len(kids) != 1 {
					t.Errorf("kids %v, want only k:1", kids)
				}
				h := header(t, out[0])
				wantAlg := map[string]string{config.AlgEd25519: "EdDSA", config.AlgECDSAP256: "ES256"}[alg]
				if h["alg"] != wantAlg || h["typ"] != TypResult || len(h) != 3 {
					t.Errorf("header %v", h)
				}
				if mode == config.SignModeTransit {
					// 10 payloads in batches of 4: three sign calls.
					if n := f.signs.Load(); n != 3 {
						t.Errorf("%d transit sign calls for 10 payloads at batch 4, want 3", n)
					}
				}
			})
		}
	}
}

func TestFakeRotationKeepsOldSignaturesValid(t *testing.T) {
	for _, mode := range []string{config.SignModeTransit, config.SignModeKV} {
		t.Run(mode, func(t *testing.T) {
			f := newFakeVault(t)
			rotate := func() {
				if mode == config.SignModeTransit {
					f.rotateTransit(config.AlgEd25519)
				} else {
					f.writeKV(pkcs8PEM(t, newKey(t, config.AlgEd25519)))
				}
			}
			rotate()
			s, err := New(f.client(t), fakeSignConfig(mode, config.AlgEd25519), Options{})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			in := payloads(3)
			before, err := s.Sign(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			rotate()
			// Within the cache TTL the old version still signs.
			if out, _ := s.Sign(ctx, in); KeyID(out[0]) != "k:1" {
				t.Errorf("kid %s before the cache expired", KeyID(out[0]))
			}
			if err := s.Refresh(ctx); err != nil {
				t.Fatal(err)
			}
			after, err := s.Sign(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if KeyID(after[0]) != "k:2" {
				t.Errorf("after rotation kid %s, want k:2", KeyID(after[0]))
			}
			kids := verifyAll(t, s, append(in, in...), append(before, after...))
			if !kids["k:1"] || !kids["k:2"] {
				t.Errorf("kids %v", kids)
			}
		})
	}
}

func TestFakeVaultFailuresAreUnavailable(t *testing.T) {
	cases := []struct {
		name   string
		break_ func(f *fakeVault)
		denied bool
	}{
		{name: "sealed (503)", break_: func(f *fakeVault) { f.status.Store(http.StatusServiceUnavailable) }},
		{name: "unreachable", break_: func(f *fakeVault) { f.srv.Close() }},
		{name: "token refused (403)", break_: func(f *fakeVault) { f.status.Store(http.StatusForbidden) }, denied: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeVault(t)
			f.rotateTransit(config.AlgEd25519)
			denied := 0
			s, err := New(f.client(t), fakeSignConfig(config.SignModeTransit, config.AlgEd25519), Options{OnDenied: func() { denied++ }})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := s.Sign(context.Background(), payloads(1)); err != nil {
				t.Fatal(err)
			}
			tc.break_(f)
			out, err := s.Sign(context.Background(), payloads(5))
			if err == nil || out != nil {
				t.Fatalf("Sign with a broken Vault = %d signatures, %v", len(out), err)
			}
			if !errors.Is(err, ErrUnavailable) {
				t.Errorf("error %v does not wrap ErrUnavailable", err)
			}
			// The error is for the log: the HTTP layer answers a fixed
			// 503 for ErrUnavailable (api/chain), never this text.
			var p *problem.Error
			if errors.As(err, &p) {
				t.Errorf("the signer built an HTTP problem itself: %v", p)
			}
			if tc.denied != (denied > 0) {
				t.Errorf("OnDenied called %d times", denied)
			}
			// The published keys outlive the outage.
			if set, err := s.Keys(context.Background()); err != nil || set.Len() != 1 {
				t.Errorf("Keys during the outage: %v, %v", set, err)
			}
		})
	}
}

func TestFakeVaultRecoversWithoutRestart(t *testing.T) {
	f := newFakeVault(t)
	f.rotateTransit(config.AlgEd25519)
	s, err := New(f.client(t), fakeSignConfig(config.SignModeTransit, config.AlgEd25519), Options{})
	if err != nil {
		t.Fatal(err)
	}
	f.status.Store(http.StatusServiceUnavailable)
	if _, err := s.Sign(context.Background(), payloads(1)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Sign while sealed: %v", err)
	}
	if _, err := s.Keys(context.Background()); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Keys before any read: %v", err)
	}
	f.status.Store(0)
	out, err := s.Sign(context.Background(), payloads(2))
	if err != nil {
		t.Fatalf("Sign after Vault came back: %v", err)
	}
	verifyAll(t, s, payloads(2), out)
}

func TestFakeKVDeletedCurrentVersionStopsSigning(t *testing.T) {
	f := newFakeVault(t)
	f.writeKV(pkcs8PEM(t, newKey(t, config.AlgEd25519)))
	f.writeKV(pkcs8PEM(t, newKey(t, config.AlgEd25519)))
	s, err := New(f.client(t), fakeSignConfig(config.SignModeKV, config.AlgEd25519), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if _, err := s.Sign(ctx, payloads(1)); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	f.deleted[2] = true
	f.mu.Unlock()
	if err := s.Refresh(ctx); err == nil {
		t.Fatal("a deleted current version was accepted")
	}
	s.cur.Store(nil)
	if _, err := s.Sign(ctx, payloads(1)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Sign with the current version deleted: %v", err)
	}
	// An older deleted version just leaves the JWKS.
	f.mu.Lock()
	f.deleted = map[int]bool{1: true}
	f.mu.Unlock()
	if err := s.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	set, _ := s.Keys(ctx)
	if _, ok := set.LookupKeyID("k:1"); ok || set.Len() != 1 {
		t.Errorf("deleted version 1 still published (%d keys)", set.Len())
	}
}

func TestFakeKVKeyFormats(t *testing.T) {
	ed := newKey(t, config.AlgEd25519)
	p256 := newKey(t, config.AlgECDSAP256)
	edJWK, err := jwk.FromRaw(ed)
	if err != nil {
		t.Fatal(err)
	}
	edJSON, _ := json.Marshal(edJWK)
	cases := []struct {
		name, secret, alg string
		ok                bool
	}{
		{"pkcs8 ed25519", pkcs8PEM(t, ed), config.AlgEd25519, true},
		{"jwk ed25519", string(edJSON), config.AlgEd25519, true},
		{"pkcs8 p256", pkcs8PEM(t, p256), config.AlgECDSAP256, true},
		{"p256 key, ed25519 configured", pkcs8PEM(t, p256), config.AlgEd25519, false},
		{"public key only", `{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}`, config.AlgEd25519, false},
		{"garbage", "not a key", config.AlgEd25519, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakeVault(t)
			f.writeKV(tc.secret)
			var logs syncBuffer
			s, err := New(f.client(t), fakeSignConfig(config.SignModeKV, tc.alg), Options{Logger: slogTo(&logs)})
			if err != nil {
				t.Fatal(err)
			}
			out, err := s.Sign(context.Background(), payloads(2))
			if tc.ok != (err == nil) {
				t.Fatalf("Sign: %v, want ok=%v", err, tc.ok)
			}
			// No line of the stored secret may reach an error or the log.
			for _, frag := range strings.Split(tc.secret, "\n") {
				if len(frag) < 12 || strings.HasPrefix(frag, "-----") {
					continue
				}
				if (err != nil && strings.Contains(err.Error(), frag)) || strings.Contains(logs.String(), frag) {
					t.Fatalf("key material %.16q... in an error or the log", frag)
				}
			}
			if err != nil {
				return
			}
			verifyAll(t, s, payloads(2), out)
		})
	}
}

func TestFakeAlgorithmMismatchRefused(t *testing.T) {
	f := newFakeVault(t)
	f.rotateTransit(config.AlgEd25519)
	s, err := New(f.client(t), fakeSignConfig(config.SignModeTransit, config.AlgECDSAP256), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Sign(context.Background(), payloads(1)); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("an ed25519 key signed for ES256: %v", err)
	}
	if err := s.Check(context.Background()); err == nil {
		t.Error("readiness passes with the wrong key type")
	}
}

func TestVerificationWindow(t *testing.T) {
	f := newFakeVault(t)
	for range 4 {
		f.rotateTransit(config.AlgEd25519)
	}
	now := time.Now()
	f.mu.Lock()
	// v2 replaced v1 three hours ago, v3 replaced v2 two hours ago, v4
	// replaced v3 ten minutes ago.
	f.created = []time.Time{now.Add(-5 * time.Hour), now.Add(-3 * time.Hour), now.Add(-2 * time.Hour), now.Add(-10 * time.Minute)}
	f.mu.Unlock()
	cases := []struct {
		name       string
		window     time.Duration
		minDecrypt int
		want       []string
	}{
		{"no window keeps all", 0, 0, []string{"k:1", "k:2", "k:3", "k:4"}},
		{"1h window", time.Hour, 0, []string{"k:3", "k:4"}},
		{"150m window", 150 * time.Minute, 0, []string{"k:2", "k:3", "k:4"}},
		{"min_decryption_version 3", 0, 3, []string{"k:3", "k:4"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f.mu.Lock()
			f.minDecrypt = tc.minDecrypt
			f.mu.Unlock()
			cfg := fakeSignConfig(config.SignModeTransit, config.AlgEd25519)
			cfg.VerificationWindow = tc.window
			s, err := New(f.client(t), cfg, Options{})
			if err != nil {
				t.Fatal(err)
			}
			set, err := s.Keys(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for i := 0; i < set.Len(); i++ {
				k, _ := set.Key(i)
				got = append(got, k.KeyID())
				if k.KeyUsage() != "sig" || k.Algorithm() != jwa.EdDSA {
					t.Errorf("key %s: use %q alg %q", k.KeyID(), k.KeyUsage(), k.Algorithm())
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("published %v, want %v", got, tc.want)
			}
		})
	}
}

func TestTransitKeyIsACryptoSigner(t *testing.T) {
	for _, alg := range []string{config.AlgEd25519, config.AlgECDSAP256} {
		t.Run(alg, func(t *testing.T) {
			f := newFakeVault(t)
			f.rotateTransit(alg)
			s, err := New(f.client(t), fakeSignConfig(config.SignModeTransit, alg), Options{})
			if err != nil {
				t.Fatal(err)
			}
			key, kid, err := s.TransitKey(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			hdr := jws.NewHeaders()
			_ = hdr.Set(jws.KeyIDKey, kid)
			jalg := map[string]jwa.SignatureAlgorithm{config.AlgEd25519: jwa.EdDSA, config.AlgECDSAP256: jwa.ES256}[alg]
			out, err := jws.Sign([]byte(`{"x":1}`), jws.WithKey(jalg, key, jws.WithProtectedHeaders(hdr)))
			if err != nil {
				t.Fatal(err)
			}
			verifyAll(t, s, [][]byte{[]byte(`{"x":1}`)}, []string{string(out)})
		})
	}
}

func TestKeyID(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"eyJhbGciOiJFZERTQSIsImtpZCI6InVyYS1zaWduaW5nOjMifQ.e30.c2ln", "ura-signing:3"},
		{"eyJhbGciOiJFZERTQSJ9.e30.c2ln", ""},
		{"not a jws", ""},
		{"", ""},
		{"%%%.e30.x", ""},
	} {
		if got := KeyID(tc.in); got != tc.want {
			t.Errorf("KeyID(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzKeyID(f *testing.F) {
	f.Add("eyJhbGciOiJFZERTQSIsImtpZCI6InVyYS1zaWduaW5nOjMifQ.e30.c2ln")
	f.Add("..")
	f.Fuzz(func(t *testing.T, s string) { _ = KeyID(s) })
}

// TestVaultClientTLS: Vault's certificate is checked against the configured
// CA, and Vault's own environment variables cannot switch that off or slip
// in a token.
func TestVaultClientTLS(t *testing.T) {
	f := newFakeVaultTLS(t)
	f.rotateTransit(config.AlgEd25519)
	caFile := filepath.Join(t.TempDir(), "vault-ca.pem")
	if err := os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: f.srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("VAULT_SKIP_VERIFY", "true")
	t.Setenv("VAULT_CACERT", caFile)
	t.Setenv("VAULT_TOKEN", "fake-token")
	t.Setenv("VAULT_ADDR", "http://127.0.0.1:1")
	cases := []struct {
		name   string
		ca     string
		method string
		ok     bool
	}{
		{"configured CA", caFile, config.VaultAuthToken, true},
		{"no CA: VAULT_SKIP_VERIFY and VAULT_CACERT ignored", "", config.VaultAuthToken, false},
		{"approle before login: VAULT_TOKEN ignored", caFile, config.VaultAuthAppRole, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			vc := config.Vault{Addr: f.srv.URL, CAFile: tc.ca, Timeout: 2 * time.Second, Auth: config.VaultAuth{Method: tc.method}}
			if tc.method == config.VaultAuthToken {
				vc.Token = "fake-token"
			}
			c, err := NewVaultClient(vc, func(s string) string { return s })
			if err != nil {
				t.Fatal(err)
			}
			if c.Address() != f.srv.URL {
				t.Fatalf("address %s: VAULT_ADDR was honoured", c.Address())
			}
			s, err := New(c, fakeSignConfig(config.SignModeTransit, config.AlgEd25519), Options{})
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Sign(context.Background(), payloads(1))
			if tc.ok != (err == nil) {
				t.Fatalf("Sign: %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

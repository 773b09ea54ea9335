package sign

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/ura-gateway/ura/gateway/config"
)

var b64 = base64.RawURLEncoding

// testKeys is a gateway's key pair set: Ed25519 as "gw:1", P-256 as "gw:2".
type testKeys struct {
	ed   ed25519.PrivateKey
	p256 *ecdsa.PrivateKey
	set  jwk.Set
}

func newTestKeys(t testing.TB) *testKeys {
	t.Helper()
	k := &testKeys{ed: newKey(t, config.AlgEd25519).(ed25519.PrivateKey), p256: newKey(t, config.AlgECDSAP256).(*ecdsa.PrivateKey)}
	k.set = jwk.NewSet()
	for kid, pub := range map[string]crypto.PublicKey{"gw:1": k.ed.Public(), "gw:2": &k.p256.PublicKey} {
		alg := jwa.EdDSA
		if kid == "gw:2" {
			alg = jwa.ES256
		}
		j, err := publicJWK(pub, alg, kid)
		if err != nil {
			t.Fatal(err)
		}
		_ = k.set.AddKey(j)
	}
	return k
}

// compact builds a JWS by hand, so that tests can forge any header.
func compact(hdr map[string]any, payload []byte, sign func(input []byte) []byte) string {
	h, _ := json.Marshal(hdr)
	input := b64.EncodeToString(h) + "." + b64.EncodeToString(payload)
	return input + "." + b64.EncodeToString(sign([]byte(input)))
}

func (k *testKeys) edSign(in []byte) []byte { return ed25519.Sign(k.ed, in) }

func (k *testKeys) esSign(in []byte) []byte {
	sig, err := signLocal(k.p256, in)
	if err != nil {
		panic(err)
	}
	return sig
}

func TestVerifierAttacks(t *testing.T) {
	k := newTestKeys(t)
	other := newTestKeys(t) // another gateway, or another Vault, with the same kids
	payload := []byte(`{"record":{"id":"AIM-LIC-2026-000123","version":3},"recipient":"IT/GOV/MOD"}`)
	good := compact(map[string]any{"alg": "EdDSA", "kid": "gw:1", "typ": TypDelivery}, payload, k.edSign)
	parts := strings.Split(good, ".")

	// The public key as an HMAC secret: the classic alg-confusion forgery.
	edPub, _ := json.Marshal(must(jwk.FromRaw(k.ed.Public())))
	hs256 := compact(map[string]any{"alg": "HS256", "kid": "gw:1"}, payload, func(in []byte) []byte {
		m := hmac.New(sha256.New, []byte(k.ed.Public().(ed25519.PublicKey)))
		m.Write(in)
		return m.Sum(nil)
	})
	hs256JWK := compact(map[string]any{"alg": "HS256", "kid": "gw:1"}, payload, func(in []byte) []byte {
		m := hmac.New(sha256.New, edPub)
		m.Write(in)
		return m.Sum(nil)
	})
	otherJWK, _ := json.Marshal(must(jwk.FromRaw(other.ed.Public())))

	cases := []struct {
		name string
		jws  string
		want error // nil = valid
	}{
		{"valid EdDSA", good, nil},
		{"valid ES256", compact(map[string]any{"alg": "ES256", "kid": "gw:2"}, payload, k.esSign), nil},
		{"tampered payload", parts[0] + "." + b64.EncodeToString([]byte(strings.Replace(string(payload), "IT/GOV/MOD", "AL/GOV/MOD", 1))) + "." + parts[2], ErrBadSignature},
		{"tampered header (typ)", compact(map[string]any{"alg": "EdDSA", "kid": "gw:1", "typ": TypResult}, payload, k.edSign)[:0] +
			b64.EncodeToString([]byte(`{"alg":"EdDSA","kid":"gw:1","typ":"ura-result+jws"}`)) + "." + parts[1] + "." + parts[2], ErrBadSignature},
		{"truncated signature", parts[0] + "." + parts[1] + "." + parts[2][:20], ErrBadSignature},
		{"key from another gateway, same kid", compact(map[string]any{"alg": "EdDSA", "kid": "gw:1"}, payload, other.edSign), ErrBadSignature},
		{"wrong kid (the ES256 key) for an EdDSA signature", compact(map[string]any{"alg": "EdDSA", "kid": "gw:2"}, payload, k.edSign), ErrAlgNotAllowed},
		{"unknown kid", compact(map[string]any{"alg": "EdDSA", "kid": "gw:9"}, payload, k.edSign), ErrUnknownKey},
		{"no kid", compact(map[string]any{"alg": "EdDSA"}, payload, k.edSign), ErrUnknownKey},
		{"alg none, empty signature", b64.EncodeToString([]byte(`{"alg":"none","kid":"gw:1"}`)) + "." + parts[1] + ".", ErrAlgNotAllowed},
		{"alg none with a signature", compact(map[string]any{"alg": "none", "kid": "gw:1"}, payload, k.edSign), ErrAlgNotAllowed},
		{"alg None (case)", compact(map[string]any{"alg": "None", "kid": "gw:1"}, payload, k.edSign), ErrAlgNotAllowed},
		{"HS256 keyed with the raw public key", hs256, ErrAlgNotAllowed},
		{"HS256 keyed with the public JWK", hs256JWK, ErrAlgNotAllowed},
		{"RS256", compact(map[string]any{"alg": "RS256", "kid": "gw:1"}, payload, k.edSign), ErrAlgNotAllowed},
		{"ES256 header on the EdDSA key", compact(map[string]any{"alg": "ES256", "kid": "gw:1"}, payload, k.esSign), ErrAlgNotAllowed},
		{"embedded jwk of the attacker", compact(map[string]any{"alg": "EdDSA", "kid": "gw:1", "jwk": json.RawMessage(otherJWK)}, payload, other.edSign), ErrHeaderNotAllowed},
		{"jku pointing elsewhere", compact(map[string]any{"alg": "EdDSA", "kid": "gw:1", "jku": "https://evil.example/jwks.json"}, payload, other.edSign), ErrHeaderNotAllowed},
		{"x5u", compact(map[string]any{"alg": "EdDSA", "kid": "gw:1", "x5u": "https://evil.example/cert.pem"}, payload, k.edSign), ErrHeaderNotAllowed},
		{"x5c", compact(map[string]any{"alg": "EdDSA", "kid": "gw:1", "x5c": []string{"MIIB"}}, payload, k.edSign), ErrHeaderNotAllowed},
		{"crit extension", compact(map[string]any{"alg": "EdDSA", "kid": "gw:1", "crit": []string{"exp"}, "exp": 1}, payload, k.edSign), ErrHeaderNotAllowed},
		{"b64 false", compact(map[string]any{"alg": "EdDSA", "kid": "gw:1", "b64": false}, payload, k.edSign), ErrHeaderNotAllowed},
		{"two parts", parts[0] + "." + parts[1], ErrMalformed},
		{"four parts", good + ".x", ErrMalformed},
		{"JSON serialization", `{"payload":"` + parts[1] + `","signatures":[{"protected":"` + parts[0] + `","signature":"` + parts[2] + `"}]}`, ErrMalformed},
		{"header not base64url", "!!!." + parts[1] + "." + parts[2], ErrMalformed},
		{"header not an object", b64.EncodeToString([]byte(`["EdDSA"]`)) + "." + parts[1] + "." + parts[2], ErrMalformed},
		{"padded base64", parts[0] + "=." + parts[1] + "." + parts[2], ErrMalformed},
		{"empty", "", ErrMalformed},
	}
	v := NewVerifier(StaticKeys{Set: k.set})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, kid, err := v.VerifyContext(context.Background(), tc.jws)
			switch {
			case tc.want == nil && err != nil:
				t.Fatalf("valid JWS refused: %v", err)
			case tc.want == nil:
				if string(got) != string(payload) || kid == "" {
					t.Errorf("payload %q kid %q", got, kid)
				}
			case !errors.Is(err, tc.want):
				t.Fatalf("error %v, want %v", err, tc.want)
			case got != nil:
				t.Errorf("a refused JWS returned a payload")
			}
		})
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func TestVerifierRefetchesOnUnknownKid(t *testing.T) {
	k := newTestKeys(t)
	src := &countingSource{sets: []jwk.Set{jwk.NewSet(), k.set}}
	v := NewVerifier(src)
	jws := compact(map[string]any{"alg": "EdDSA", "kid": "gw:1"}, []byte("{}"), k.edSign)
	if _, _, err := v.Verify(jws); err != nil {
		t.Fatalf("a rotation the cached set predates: %v", err)
	}
	if src.refreshes != 1 {
		t.Errorf("%d forced refreshes, want 1", src.refreshes)
	}
}

type countingSource struct {
	sets      []jwk.Set
	refreshes int
}

func (c *countingSource) KeySet(_ context.Context, refresh bool) (jwk.Set, error) {
	if refresh {
		c.refreshes++
	}
	return c.sets[min(c.refreshes, len(c.sets)-1)], nil
}

func TestParseJWKS(t *testing.T) {
	k := newTestKeys(t)
	pubJSON, _ := json.Marshal(k.set)
	priv := must(jwk.FromRaw(k.ed))
	_ = priv.Set(jwk.KeyIDKey, "gw:1")
	privSet := jwk.NewSet()
	_ = privSet.AddKey(priv)
	privJSON, _ := json.Marshal(privSet)
	cases := []struct {
		name, json string
		keys       int
		ok         bool
	}{
		{"public keys", string(pubJSON), 2, true},
		{"private key is a leak", string(privJSON), 0, false},
		{"no kid", `{"keys":[{"kty":"OKP","crv":"Ed25519","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`, 0, false},
		{"duplicate kid", `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"},{"kty":"OKP","crv":"Ed25519","kid":"a","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`, 0, false},
		{"symmetric key dropped", `{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}`, 0, true},
		{"encryption key dropped", `{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"e","use":"enc","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`, 0, true},
		{"not JSON", `keys`, 0, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			set, err := ParseJWKS([]byte(tc.json))
			if tc.ok != (err == nil) {
				t.Fatalf("err %v, want ok=%v", err, tc.ok)
			}
			if err == nil && set.Len() != tc.keys {
				t.Errorf("%d keys, want %d", set.Len(), tc.keys)
			}
		})
	}
}

func TestFileKeysReloadAndKeepLastGood(t *testing.T) {
	k1, k2 := newTestKeys(t), newTestKeys(t)
	path := filepath.Join(t.TempDir(), "jwks.json")
	write := func(data []byte) {
		t.Helper()
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write(must(json.Marshal(k1.set)))
	f, err := NewFileKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	v := NewVerifier(f)
	j2 := compact(map[string]any{"alg": "EdDSA", "kid": "gw:1"}, []byte("{}"), k2.edSign)
	if _, _, err := v.Verify(j2); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("k2's JWS against k1's file: %v", err)
	}
	// Pad so the size changes even if the modification time does not.
	write(append(must(json.Marshal(k2.set)), ' ', '\n'))
	if _, _, err := v.Verify(j2); err != nil {
		t.Fatalf("after the file changed: %v", err)
	}
	write([]byte("broken"))
	if _, _, err := v.Verify(j2); err != nil {
		t.Fatalf("a broken file must keep the last good set: %v", err)
	}
}

func TestPeers(t *testing.T) {
	k := newTestKeys(t)
	dir := t.TempDir()
	path := filepath.Join(dir, "it.json")
	if err := os.WriteFile(path, must(json.Marshal(k.set)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := config.Default().Sign
	cfg.Peers = map[string]config.SignPeer{"IT/GOV/MOD": {JWKSFile: "it.json"}}
	m := NewMetrics()
	p, err := NewPeers(cfg, func(s string) string { return filepath.Join(dir, s) }, nil, m)
	if err != nil {
		t.Fatal(err)
	}
	j := compact(map[string]any{"alg": "EdDSA", "kid": "gw:1"}, []byte(`{"id":"x"}`), k.edSign)
	if !p.IsPeer("IT/GOV/MOD") || p.IsPeer("AL/GOV/MOD") {
		t.Error("IsPeer")
	}
	if got, kid, err := p.VerifyPeer(context.Background(), "IT/GOV/MOD", j); err != nil || kid != "gw:1" || string(got) != `{"id":"x"}` {
		t.Fatalf("peer's valid record: %q %q %v", got, kid, err)
	}
	// The same valid signature claimed by a member that is not this peer.
	if _, _, err := p.VerifyPeer(context.Background(), "AL/GOV/MOD", j); !errors.Is(err, ErrUnknownPeer) {
		t.Errorf("unconfigured member: %v", err)
	}
	if _, _, err := p.VerifyPeer(context.Background(), "IT/GOV/MOD", j[:len(j)-4]+"AAAA"); Reason(err) != "bad_signature" {
		t.Errorf("forged record: %v (%s)", err, Reason(err))
	}
}

// FuzzVerify feeds arbitrary strings to the verifier: it must never panic
// and never accept anything it was not given a valid signature for.
func FuzzVerify(f *testing.F) {
	k := newTestKeys(f)
	good := compact(map[string]any{"alg": "EdDSA", "kid": "gw:1"}, []byte(`{"a":1}`), k.edSign)
	f.Add(good)
	f.Add(compact(map[string]any{"alg": "ES256", "kid": "gw:2"}, []byte(`{}`), k.esSign))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("..")
	v := NewVerifier(StaticKeys{Set: k.set})
	f.Fuzz(func(t *testing.T, s string) {
		payload, _, err := v.VerifyContext(context.Background(), s)
		if err == nil {
			// Anything accepted must verify with jwx on its own terms too.
			if _, jerr := jws.Verify([]byte(s), jws.WithKeySet(k.set, jws.WithRequireKid(true))); jerr != nil {
				t.Fatalf("accepted %q, which jwx rejects: %v", s, jerr)
			}
			if payload == nil {
				t.Fatal("accepted with a nil payload")
			}
		}
	})
}

func FuzzParseJWKS(f *testing.F) {
	k := newTestKeys(f)
	f.Add(must(json.Marshal(k.set)))
	f.Add([]byte(`{"keys":[{"kty":"oct","kid":"h","k":"c2VjcmV0"}]}`))
	f.Fuzz(func(t *testing.T, data []byte) { _, _ = ParseJWKS(data) })
}

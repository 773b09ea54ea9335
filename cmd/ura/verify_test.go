package main

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/ura-gateway/ura/certs"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/sign"
)

var update = flag.Bool("update", false, "rewrite golden files")

// verifyFixture is a gateway's keys and a directory of saved responses.
type verifyFixture struct {
	t     *testing.T
	dir   string
	ed    ed25519.PrivateKey
	p256  *ecdsa.PrivateKey
	jwks  []byte
	other ed25519.PrivateKey // a key the JWKS does not hold
}

func newVerifyFixture(t *testing.T) *verifyFixture {
	t.Helper()
	f := &verifyFixture{t: t, dir: t.TempDir()}
	var err error
	if _, f.ed, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	if _, f.other, err = ed25519.GenerateKey(rand.Reader); err != nil {
		t.Fatal(err)
	}
	if f.p256, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
		t.Fatal(err)
	}
	set := jwk.NewSet()
	for kid, pub := range map[string]crypto.PublicKey{"ura-signing:1": f.ed.Public(), "ura-signing-p256:4": &f.p256.PublicKey} {
		k, err := jwk.FromRaw(pub)
		if err != nil {
			t.Fatal(err)
		}
		_ = k.Set(jwk.KeyIDKey, kid)
		_ = k.Set(jwk.KeyUsageKey, "sig")
		_ = set.AddKey(k)
	}
	f.jwks, _ = json.Marshal(set)
	f.write("jwks.json", f.jwks)
	return f
}

func (f *verifyFixture) write(name string, data []byte) string {
	f.t.Helper()
	p := filepath.Join(f.dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		f.t.Fatal(err)
	}
	return p
}

func delivery(id string, version int) []byte {
	return fmt.Appendf(nil, `{"record":{"kind":"licence","id":%q,"version":%d},"decision_id":"d-1","policy_revision":"r1","redactions":[],"recipient":"IT/GOV/MOD","iss":"ura","iat":1767225600}`, id, version)
}

// sign makes a JWS with jwx, as the gateway's output would be.
func (f *verifyFixture) sign(payload []byte, alg jwa.SignatureAlgorithm, key any, kid string) string {
	f.t.Helper()
	h := jws.NewHeaders()
	_ = h.Set(jws.KeyIDKey, kid)
	_ = h.Set(jws.TypeKey, "ura-delivery+jws")
	out, err := jws.Sign(payload, jws.WithKey(alg, key, jws.WithProtectedHeaders(h)))
	if err != nil {
		f.t.Fatal(err)
	}
	return string(out)
}

func (f *verifyFixture) ed25519(id string, v int) string {
	return f.sign(delivery(id, v), jwa.EdDSA, f.ed, "ura-signing:1")
}

func line(id string, v int, jws string) string {
	b, _ := json.Marshal(map[string]any{"id": id, "version": v, "jws": jws})
	return string(b)
}

func forged(hdr string, payload []byte, sig string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(hdr)) + "." + base64.RawURLEncoding.EncodeToString(payload) + "." + sig
}

func verifyRun(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := run(context.Background(), append([]string{"verify"}, args...), &out, &errOut)
	return out.String(), errOut.String(), err
}

func TestVerifyFormatsGolden(t *testing.T) {
	f := newVerifyFixture(t)
	a := f.ed25519("AIM-LIC-2026-000123", 3)
	b := f.sign(delivery("AIM-EVT-2026-9000001", 1), jwa.ES256, f.p256, "ura-signing-p256:4")
	aParts := strings.Split(a, ".")
	tamperedPayload := aParts[0] + "." + base64.RawURLEncoding.EncodeToString(delivery("AIM-LIC-2026-000123", 4)) + "." + aParts[2]

	files := map[string]string{
		"pull.ndjson": ndjson(line("AIM-LIC-2026-000123", 3, a), line("AIM-EVT-2026-9000001", 1, b),
			f.streamTrailer([]string{line("AIM-LIC-2026-000123", 3, a), line("AIM-EVT-2026-9000001", 1, b)}, true, nil, nil, nil)),
		"page.json": fmt.Sprintf(`{"records":[{"id":"AIM-LIC-2026-000123","version":3,"jws":%q}],"next_cursor":""}`, a),
		"push.json": fmt.Sprintf(`{"results":[{"index":0,"id":"AIM-EVT-2026-9000001","version":1,"status":"accepted","jws":%q}]}`,
			f.signTyped(pushResult(0, "AIM-EVT-2026-9000001", "IT/GOV/MOD"), sign.TypResult)),
		"bare.jws": a + "\n",
		"tampered.ndjson": strings.Join([]string{
			line("AIM-LIC-2026-000123", 3, a),
			line("AIM-LIC-2026-000123", 4, tamperedPayload),
			line("AIM-LIC-2026-000999", 3, a), // a valid JWS relabelled as another record
			line("AIM-LIC-2026-000124", 1, f.sign(delivery("AIM-LIC-2026-000124", 1), jwa.EdDSA, f.other, "ura-signing:1")),
			line("AIM-LIC-2026-000125", 1, f.sign(delivery("AIM-LIC-2026-000125", 1), jwa.EdDSA, f.ed, "ura-signing:7")),
			line("AIM-LIC-2026-000126", 1, forged(`{"alg":"none","kid":"ura-signing:1"}`, delivery("AIM-LIC-2026-000126", 1), "")),
			line("AIM-LIC-2026-000127", 1, forged(`{"alg":"HS256","kid":"ura-signing:1"}`, delivery("AIM-LIC-2026-000127", 1), "c2ln")),
			line("AIM-LIC-2026-000128", 1, forged(`{"alg":"EdDSA","kid":"ura-signing:1","jku":"https://evil.example/jwks"}`, delivery("AIM-LIC-2026-000128", 1), "c2ln")),
			`{"id":"AIM-LIC-2026-000129","version":1}`,
			line("AIM-LIC-2026-000130", 1, "not.a-jws"),
		}, "\n") + "\n",
	}
	jwksPath := filepath.Join(f.dir, "jwks.json")
	for _, name := range []string{"pull.ndjson", "page.json", "push.json", "bare.jws", "tampered.ndjson"} {
		t.Run(name, func(t *testing.T) {
			path := f.write(name, []byte(files[name]))
			out, _, err := verifyRun(t, "--jwks", jwksPath, path)
			wantInvalid := strings.HasPrefix(name, "tampered")
			if wantInvalid != errors.Is(err, errInvalid) || (!wantInvalid && err != nil) {
				t.Fatalf("err = %v, want invalid=%v", err, wantInvalid)
			}
			golden(t, filepath.Join("testdata", "verify", name+".golden"), out)
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (run with -update to accept):\n got:\n%s\nwant:\n%s", path, got, want)
	}
}

func TestVerifyUsage(t *testing.T) {
	f := newVerifyFixture(t)
	jwksPath := filepath.Join(f.dir, "jwks.json")
	data := f.write("x.jws", []byte(f.ed25519("A-1", 1)))
	cases := []struct {
		name string
		args []string
		want error
	}{
		{"no jwks", []string{data}, errUsage},
		{"no file", []string{"--jwks", jwksPath}, errUsage},
		{"cert without key", []string{"--jwks", "https://127.0.0.1:1/jwks.json", "--cert", "c.pem", data}, errUsage},
		{"plain http JWKS", []string{"--jwks", "http://127.0.0.1:1/jwks.json", data}, errUsage},
		{"tls flags with a file", []string{"--jwks", jwksPath, "--ca", "ca.pem", data}, errUsage},
		{"help", []string{"--help"}, errHelp},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, _, err := verifyRun(t, tc.args...); !errors.Is(err, tc.want) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
	if _, _, err := verifyRun(t, "--jwks", f.write("bad.json", []byte(`{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}`)), data); err == nil {
		t.Error("a JWKS with a key without kid was accepted")
	}
}

// TestVerifyJWKSOverMutualTLS fetches the JWKS from a server that demands a
// client certificate, as a gateway does.
func TestVerifyJWKSOverMutualTLS(t *testing.T) {
	f := newVerifyFixture(t)
	root, err := certs.NewRootCA("verify test root", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	server, err := root.Issue(certs.LeafOptions{CommonName: "localhost", IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	client, err := root.Issue(certs.LeafOptions{CommonName: "IT/GOV/MOD", URIs: []string{identity.MemberURI("IT/GOV/MOD")}, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root.Cert)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		_, _ = w.Write(f.jwks)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{server.TLSCertificate()}, ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool, MinVersion: tls.VersionTLS13}
	srv.StartTLS()
	t.Cleanup(srv.Close)

	caPath := filepath.Join(f.dir, "ca.crt")
	certPath, keyPath := filepath.Join(f.dir, "me.crt"), filepath.Join(f.dir, "me.key")
	if err := certs.WriteCertsPEM(caPath, root.Cert); err != nil {
		t.Fatal(err)
	}
	if err := certs.WriteCertsPEM(certPath, client.Chain...); err != nil {
		t.Fatal(err)
	}
	if err := certs.WriteKeyPEM(keyPath, client.Key); err != nil {
		t.Fatal(err)
	}
	rec := line("A-1", 1, f.ed25519("A-1", 1))
	data := f.write("pull.ndjson", []byte(ndjson(rec, f.streamTrailer([]string{rec}, true, nil, nil, nil))))
	url := srv.URL + "/.well-known/jwks.json"

	out, _, err := verifyRun(t, "--jwks", url, "--ca", caPath, "--cert", certPath, "--key", keyPath, data)
	if err != nil || !strings.Contains(out, "A-1 v1: valid (kid ura-signing:1)") || !strings.Contains(out, "trailer: valid") {
		t.Fatalf("over mTLS: %v\n%s", err, out)
	}
	// Without a client certificate the server refuses the handshake.
	if _, _, err := verifyRun(t, "--jwks", url, "--ca", caPath, data); err == nil {
		t.Error("JWKS fetched without a client certificate")
	}
	// Without the CA the server is not trusted.
	if _, _, err := verifyRun(t, "--jwks", url, "--cert", certPath, "--key", keyPath, data); err == nil {
		t.Error("JWKS fetched from an unverified server")
	}
}

func FuzzParseSigned(f *testing.F) {
	f.Add([]byte(`{"id":"a","version":1,"jws":"x.y.z"}` + "\n" + `{"next_cursor":""}`))
	f.Add([]byte(`{"id":"a","version":1,"jws":"x.y.z"}` + "\n" + `{"next_cursor":"","complete":true,"records":1,"digest":"sha256:00","jws":"x.y.z"}` + "\n"))
	f.Add([]byte(`{"next_cursor":"","jws":1}` + "\n" + `{"id":"a"`))
	f.Add([]byte(`{"records":[{"id":"a","jws":"x.y.z"}]}`))
	f.Add([]byte(`{"results":[{"jws":"x.y.z"}, 3]}`))
	f.Add([]byte("a.b.c\n\nd.e.f\n"))
	f.Add([]byte(`[{"jws":1}]`))
	f.Fuzz(func(t *testing.T, data []byte) { _, _ = parseSigned(data) })
}

package sign

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/ura-gateway/ura/gateway/config"
)

// fakeVault answers the few Vault endpoints the signer uses, for unit tests
// of failure handling. Integration tests use a real Vault.
type fakeVault struct {
	t   *testing.T
	srv *httptest.Server

	mu sync.Mutex
	// transit key versions, 1-based
	transit    []crypto.Signer
	transitAlg string
	minDecrypt int
	// kv versions, 1-based; deleted marks soft-deleted versions
	kv      []string
	deleted map[int]bool
	created []time.Time

	status atomic.Int32 // non-zero: every request answers this status
	calls  atomic.Int64
	signs  atomic.Int64
}

func newFakeVault(t *testing.T) *fakeVault {
	f := &fakeVault{t: t, deleted: map[int]bool{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// newFakeVaultTLS serves over HTTPS with a certificate from httptest's own
// CA, which no system trust store holds.
func newFakeVaultTLS(t *testing.T) *fakeVault {
	f := &fakeVault{t: t, deleted: map[int]bool{}}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(f.serve))
	// Refused handshakes are what the test provokes; no need to print them.
	f.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeVault) client(t *testing.T) *vault.Client {
	t.Helper()
	c, err := NewVaultClient(config.Vault{Addr: f.srv.URL, Timeout: 2 * time.Second, MaxRetries: 0, Token: "fake-token",
		Auth: config.VaultAuth{Method: config.VaultAuthToken}}, func(s string) string { return s })
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func (f *fakeVault) rotateTransit(alg string) crypto.Signer {
	f.mu.Lock()
	defer f.mu.Unlock()
	k := newKey(f.t, alg)
	f.transit = append(f.transit, k)
	f.transitAlg = alg
	f.created = append(f.created, time.Now())
	return k
}

func (f *fakeVault) writeKV(secret string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.kv = append(f.kv, secret)
	f.created = append(f.created, time.Now())
	return len(f.kv)
}

func newKey(t testing.TB, alg string) crypto.Signer {
	t.Helper()
	switch alg {
	case config.AlgEd25519:
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	case config.AlgECDSAP256:
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	t.Fatalf("no such algorithm %q", alg)
	return nil
}

func pkcs8PEM(t testing.TB, k crypto.Signer) string {
	t.Helper()
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
}

func (f *fakeVault) reply(w http.ResponseWriter, status int, data any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if status >= 400 {
		_ = json.NewEncoder(w).Encode(map[string]any{"errors": []string{fmt.Sprint(data)}})
		return
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"data": data})
}

func (f *fakeVault) serve(w http.ResponseWriter, r *http.Request) {
	f.calls.Add(1)
	if st := f.status.Load(); st != 0 {
		f.reply(w, int(st), "unavailable")
		return
	}
	if r.Header.Get("X-Vault-Token") != "fake-token" {
		f.reply(w, http.StatusForbidden, "permission denied")
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	path := strings.TrimPrefix(r.URL.Path, "/v1/")
	switch {
	case r.Method == http.MethodGet && path == "transit/keys/k":
		keys := map[string]any{}
		for i, k := range f.transit {
			var pub string
			switch p := k.Public().(type) {
			case ed25519.PublicKey:
				pub = base64.StdEncoding.EncodeToString(p)
			default:
				der, _ := x509.MarshalPKIXPublicKey(p)
				pub = string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
			}
			keys[strconv.Itoa(i+1)] = map[string]any{"public_key": pub, "creation_time": f.created[i]}
		}
		f.reply(w, 200, map[string]any{"type": f.transitAlg, "latest_version": len(f.transit), "supports_signing": true,
			"min_decryption_version": max(1, f.minDecrypt), "keys": keys})
	case r.Method == http.MethodPut && path == "transit/sign/k":
		f.signs.Add(1)
		var req transitSignRequest
		if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
			f.reply(w, 400, err)
			return
		}
		key := f.transit[req.KeyVersion-1]
		var results []transitSignResult
		single := req.Input != ""
		if single {
			req.BatchInput = []transitInput{{Input: req.Input}}
		}
		for _, in := range req.BatchInput {
			msg, _ := base64.StdEncoding.DecodeString(in.Input)
			var sig string
			switch k := key.(type) {
			case ed25519.PrivateKey:
				if req.Prehashed {
					f.reply(w, 400, "ed25519 must not be prehashed here")
					return
				}
				sig = base64.StdEncoding.EncodeToString(ed25519.Sign(k, msg))
			case *ecdsa.PrivateKey:
				if !req.Prehashed || len(msg) != sha256.Size || req.HashAlgorithm != "sha2-256" {
					f.reply(w, 400, "ecdsa wants a prehashed sha2-256 digest")
					return
				}
				switch req.MarshalingAlgorithm {
				case "jws":
					rr, ss, _ := ecdsa.Sign(rand.Reader, k, msg)
					raw := make([]byte, 64)
					rr.FillBytes(raw[:32])
					ss.FillBytes(raw[32:])
					sig = base64.RawURLEncoding.EncodeToString(raw)
				case "asn1":
					der, _ := ecdsa.SignASN1(rand.Reader, k, msg)
					sig = base64.StdEncoding.EncodeToString(der)
				default:
					f.reply(w, 400, "unknown marshaling_algorithm")
					return
				}
			}
			results = append(results, transitSignResult{Signature: fmt.Sprintf("vault:v%d:%s", req.KeyVersion, sig), KeyVersion: req.KeyVersion})
		}
		if single {
			f.reply(w, 200, results[0])
			return
		}
		f.reply(w, 200, map[string]any{"batch_results": results})
	case r.Method == http.MethodGet && path == "kv/metadata/ura/signing":
		versions := map[string]any{}
		for i := range f.kv {
			m := map[string]any{"created_time": f.created[i], "deletion_time": "", "destroyed": false}
			if f.deleted[i+1] {
				m["deletion_time"] = time.Now().Add(-time.Minute).Format(time.RFC3339Nano)
			}
			versions[strconv.Itoa(i+1)] = m
		}
		f.reply(w, 200, map[string]any{"current_version": len(f.kv), "versions": versions})
	case r.Method == http.MethodGet && path == "kv/data/ura/signing":
		v, _ := strconv.Atoi(r.URL.Query().Get("version"))
		if v < 1 || v > len(f.kv) || f.deleted[v] {
			f.reply(w, 404, "no such version")
			return
		}
		f.reply(w, 200, map[string]any{"data": map[string]any{"private_key": f.kv[v-1]},
			"metadata": map[string]any{"version": v, "created_time": f.created[v-1]}})
	default:
		f.reply(w, 404, "no handler for "+r.Method+" "+path)
	}
}

func fakeSignConfig(mode, alg string) config.Sign {
	c := config.Default().Sign
	c.Mode, c.Key, c.Algorithm, c.BatchSize = mode, "k", alg, 4
	return c
}

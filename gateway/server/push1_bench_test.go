package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ura-gateway/ura/adapters/store/bolt"
	"github.com/ura-gateway/ura/adapters/upstream"
	"github.com/ura-gateway/ura/certs"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/ratelimit"
	"github.com/ura-gateway/ura/gateway/sign"
)

// BenchmarkServerPush1 is deploy/bench's push1 in one process: AIM pushes
// one new licence per POST /v1/records over a kept-alive mutual TLS
// connection, to a gateway on every real part (the embedded store with the
// outbox in its file, the embedded policy, the audit chain on a file store,
// the GCRA limiter on the dev stack's Redis, Vault Transit key
// ura-signing), whose outbox delivers every licence to an HTTPS back office
// in this process. It reports the process's CPU per push (cpu-ns/req: the
// client's TLS, the back office and the outbox's deliveries included,
// measured until the last push is delivered), with 1 and 4 pushes in
// flight. Skipped without the dev stack's environment.
//
//	source /work/main/var/dev/stack.env
//	go test -run '^$' -bench BenchmarkServerPush1 -benchtime 2000x -cpu 1 ./gateway/server/
func BenchmarkServerPush1(b *testing.B) {
	for _, n := range []int{1, 4} {
		b.Run(fmt.Sprintf("inflight_%d", n), func(b *testing.B) { benchServerPush1(b, n) })
	}
}

func benchServerPush1(b *testing.B, inFlight int) {
	vaultAddr, vaultToken, redisAddr := os.Getenv("URA_VAULT_ADDR"), os.Getenv("URA_VAULT_TOKEN"), os.Getenv("URA_REDIS_ADDR")
	if vaultAddr == "" || vaultToken == "" || redisAddr == "" {
		b.Skip("needs the dev stack: source var/dev/stack.env")
	}
	ctx := context.Background()
	dir := b.TempDir()
	must := func(err error) {
		b.Helper()
		if err != nil {
			b.Fatal(err)
		}
	}
	path := func(n string) string { return filepath.Join(dir, n) }

	root, err := certs.NewRootCA("bench root", 24*time.Hour)
	must(err)
	inter, err := root.NewIntermediate("bench issuing CA", 24*time.Hour)
	must(err)
	srvLeaf, err := inter.Issue(certs.LeafOptions{CommonName: "localhost", DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	must(err)
	aim, err := inter.Issue(certs.LeafOptions{CommonName: "AL/GOV/AIM", URIs: []string{identity.MemberURI("AL/GOV/AIM")}, Client: true})
	must(err)
	must(certs.WriteCertsPEM(path("ca.crt"), root.Cert))
	must(certs.WriteCertsPEM(path("server.crt"), srvLeaf.Chain...))
	must(certs.WriteKeyPEM(path("server.key"), srvLeaf.Key))
	must(certs.WriteCertsPEM(path("aim.crt"), aim.Chain...))
	must(certs.WriteKeyPEM(path("aim.key"), aim.Key))
	der, err := inter.CRL(1, nil, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	must(err)
	must(certs.WriteCRLPEM(path("crl.pem"), der))

	// The back office: HTTPS, answering 201 to every record.
	var delivered atomic.Int64
	office := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		delivered.Add(1)
		w.WriteHeader(http.StatusCreated)
	}))
	office.TLS = &tls.Config{Certificates: []tls.Certificate{srvLeaf.TLSCertificate()}}
	office.StartTLS()
	b.Cleanup(office.Close)

	cfg := config.Default()
	cfg.Listen = "127.0.0.1:0"
	cfg.TLS.CertFile, cfg.TLS.KeyFile = path("server.crt"), path("server.key")
	cfg.TLS.CRLStateFile = path("crl-numbers.json")
	cfg.TLS.ClientCAs = []config.ClientCA{{Name: "al", CertFile: path("ca.crt"), Prefixes: []string{"AL/"},
		CRLs: []config.CRLSource{{File: path("crl.pem")}}}}
	cfg.Members = []config.Member{
		{ID: "AL/GOV/AIM", Name: "AIM", Nation: "ALB", Kind: "agency", Clearance: "SECRET", Roles: []string{"licensing"}},
	}
	cfg.Shutdown.Timeout = 5 * time.Second
	cfg.Redis.Addrs, cfg.Redis.Password = []string{redisAddr}, os.Getenv("URA_REDIS_PASSWORD")
	cfg.RateLimit.Members = map[string]config.MemberRateLimit{"AL/GOV/AIM": {RateClasses: config.RateClasses{
		Push: &config.Rate{Rate: 100000000, Burst: 1000000, Period: time.Second}}}}
	cfg.Development = true // the dev stack's Vault is plain http
	cfg.Vault.Addr, cfg.Vault.Token = vaultAddr, vaultToken
	cfg.Sign.Mode, cfg.Sign.Key, cfg.Sign.Algorithm, cfg.Sign.Issuer = config.SignModeTransit, "ura-signing", config.AlgEd25519, "ura.bench"
	cfg.Policy.Timeout = 10 * time.Second
	cfg.Upstream = config.Upstream{
		Destinations: []config.Destination{{Name: "bench-backoffice", Kind: "http", URL: office.URL + "/records",
			Member: "AL/GOV/AIM", Kinds: []string{"licence"}, CAFile: path("ca.crt"),
			ClientCertFile: path("aim.crt"), ClientKeyFile: path("aim.key")}},
		Outbox: config.Outbox{Path: path("outbox.db")},
	}
	must(cfg.Validate())

	st, err := bolt.Open(path("ura.db"), bolt.Options{})
	must(err)
	b.Cleanup(func() { _ = st.Close() })
	fs, err := audit.OpenFileStore(path("audit"), audit.FileOptions{})
	must(err)
	chain, err := audit.Open(ctx, audit.Options{Store: fs, CheckpointEvery: 1 << 40, CheckpointInterval: time.Hour})
	must(err)
	b.Cleanup(func() { _ = chain.Close() })
	engine, err := policy.New(ctx, policy.Options{Timeout: 10 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	must(err)
	b.Cleanup(engine.Close)
	vc, err := sign.NewVaultClient(cfg.Vault, cfg.Path)
	must(err)
	signer, err := sign.New(vc, cfg.Sign, sign.Options{})
	must(err)
	rdb, err := ratelimit.NewClient(cfg.Redis, cfg.Path)
	must(err)
	b.Cleanup(func() { _ = rdb.Close() })
	d := Deps{Store: st, Policy: engine, Signer: signer, Audit: chain,
		Limiter: ratelimit.NewGCRA(rdb, cfg.RateLimit, slog.New(slog.DiscardHandler))}
	ob, err := upstream.Open(cfg.Upstream, cfg.Path, upstream.Options{Registry: cfg.Registry(), Store: st,
		Policy: engine, Audit: chain, Signer: signer, Issuer: cfg.Sign.Issuer, DB: st.DB()})
	must(err)
	d.Forwarder = ob

	srv, err := New(cfg, d, slog.New(slog.DiscardHandler))
	must(err)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Run(runCtx) }()
	b.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("server stopped with error: %v", err)
		}
		_ = ob.Close()
	})
	url := "https://" + srv.Addr().String() + "/v1/records"

	pool := x509.NewCertPool()
	pool.AddCert(root.Cert)
	client := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: inFlight,
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "localhost", Certificates: []tls.Certificate{aim.TLSCertificate()}}}}
	b.Cleanup(client.CloseIdleConnections)

	var next atomic.Int64
	push := func() error {
		id := fmt.Sprintf("AIM-LIC-2026-%07d", next.Add(1))
		resp, err := client.Post(url, "application/json", bytes.NewReader(benchLicenceArray(id)))
		if err != nil {
			return err
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"status":"accepted"`)) {
			return fmt.Errorf("push %s: %d %s", id, resp.StatusCode, body)
		}
		return nil
	}
	// Warm up: connections, the policy's caches, Vault's key.
	for range 20 * inFlight {
		must(push())
	}
	for delivered.Load() < next.Load() {
		time.Sleep(time.Millisecond)
	}
	base := next.Load()
	prof := os.Getenv("URA_BENCH_PUSH1_CPUPROFILE")
	if prof != "" {
		f, err := os.Create(prof)
		must(err)
		must(pprof.StartCPUProfile(f))
		defer func() { pprof.StopCPUProfile(); _ = f.Close() }()
	}
	b.ResetTimer()
	cpu0 := processCPU(b)
	var (
		wg     sync.WaitGroup
		failed atomic.Pointer[error]
		left   atomic.Int64
	)
	left.Store(int64(b.N))
	for range inFlight {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for left.Add(-1) >= 0 {
				if err := push(); err != nil {
					failed.CompareAndSwap(nil, &err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err := failed.Load(); err != nil {
		b.Fatal(*err)
	}
	for delivered.Load() < base+int64(b.N) {
		time.Sleep(200 * time.Microsecond)
	}
	cpu := processCPU(b) - cpu0
	b.StopTimer()
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/req")
}

// processCPU is the user and system CPU time this process has used.
func processCPU(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchLicenceArray is the licence deploy/bench's push1 sends
// (deploy/bench/internal/synth.Licence), with id, as a JSON array of one.
func benchLicenceArray(id string) []byte {
	return []byte(`[{"kind":"licence","id":"` + id + `","version":1,"label":{"classification":"RESTRICTED","releasable_to":["ALB","NATO"],"originator":"AL/GOV/AIM","created":"2026-05-01T10:00:00Z"},` +
		`"licence":{"type":"export","status":"issued",` +
		`"holder":{"entity_id":"L61234567A","name":"KAYO sh.a."},` +
		`"valid_from":"2026-05-01","valid_until":"2027-04-30",` +
		`"items":[{"ml_category":"ML3","description":"7.62x39mm cartridges","quantity":200000,"unit":"rounds"}],` +
		`"end_user":{"name":"Ministry of Defence","country":"CZE","contact":{"name":"Jana Novakova","email":"jana.novakova@example.cz"}},` +
		`"destination":"CZE","transit":["HRV"],"conditions":["no re-export without consent"],` +
		`"contract_value":{"amount":1840000,"currency":"EUR"}}}]`)
}

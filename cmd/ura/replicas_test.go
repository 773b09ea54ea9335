package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"

	"github.com/ura-gateway/ura/certs/devpki"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// Replicas: several `ura serve` processes (the test binary re-executed as
// TestGatewayCrashChild) of one configuration file, differing only by
// URA_LISTEN, URA_OPS_LISTEN and URA_DATA_DIR, on one PostgreSQL store and
// audit log (a schema of their own in the shared test database), the
// shared Redis (a database of its own) and Vault (gateway/ARCHITECTURE.md,
// Replicas).
//
//	source var/dev/stack.env
//	go test -count=1 -run 'TestReplicas' -v ./cmd/ura/

// replicaConfig is the one file every replica runs. The DPD's pull limit is
// the one the shared-limit test counts: 100 per hour, so nothing refills
// while it runs.
const replicaConfig = `development: true
listen: 127.0.0.1:1
ops_listen: 127.0.0.1:2
tls:
  cert_file: pki/server.crt
  key_file: pki/server.key
  client_cas:
    - name: al-dev-root
      cert_file: pki/ca.crt
      prefixes: ["AL/"]
  crl_state_file: data/crl-numbers.json
members:
  - {id: AL/GOV/AIM, name: AIM, nation: ALB, kind: agency, clearance: SECRET, roles: [licensing, registers, marking]}
  - {id: AL/GOV/DPD, name: Customs, nation: ALB, kind: customs, clearance: RESTRICTED, roles: [declarations]}
  - {id: AL/GOV/AUDIT, name: Security officer, nation: ALB, kind: auditor, clearance: SECRET, roles: [audit]}
redis:
  addrs: ["%[1]s"]
  password_file: redis.password
  db: %[2]d
ratelimit:
  fail: closed
  members:
    AL/GOV/AIM:
      push: {rate: 1000000, burst: 100000, period: 1s}
      pull: {rate: 1000000, burst: 100000, period: 1s}
    AL/GOV/DPD:
      push: {rate: 1000000, burst: 100000, period: 1s}
      pull: {rate: %[3]d, burst: %[3]d, period: 1h}
vault:
  addr: %[4]s
  token_file: vault.token
sign:
  mode: transit
  key: ura-signing
  algorithm: ed25519
  issuer: ura.replicas.test
  proof: jws
policy:
  timeout: 5s
store:
  driver: postgres
  dsn: %[5]s
  schema: %[6]s
audit:
  driver: postgres
  dsn: %[5]s
  schema: %[6]s_audit
  checkpoint:
    every: 50
    interval: 200ms
    vault_kv:
      mount: kv
      path: ura-audit/checkpoints/%[6]s
cursors:
  key_file: cursor.key
shutdown:
  timeout: 20s
  drain_delay: %[7]s
log:
  level: warn
  format: text
`

// replicaPullAllowance is the DPD's pull burst (and hourly rate).
const replicaPullAllowance = 100

// replicaDrainDelay is long enough for the load balancer's health check
// (every 100ms, one failure marks a server down) to see a replica drain.
const replicaDrainDelay = time.Second

// replicaStack is a set of replicas on one configuration.
type replicaStack struct {
	dir, pki, cfgPath string
	dsn, schema       string
	vaultAddr, token  string
	reps              []*replica
	aim, dpd, audit   *http.Client
}

// replica is one process of the stack: its addresses, data directory and
// the running child.
type replica struct {
	name  string
	fx    *gatewayFixture
	child *gatewayChild
	runs  int
}

func (r *replica) base() string { return fmt.Sprintf("https://127.0.0.1:%d", r.fx.port) }

func (r *replica) readyz() string { return fmt.Sprintf("http://127.0.0.1:%d/readyz", r.fx.opsPort) }

// newReplicaStack writes the configuration and starts n replicas.
func newReplicaStack(t *testing.T, n int) *replicaStack {
	t.Helper()
	if testing.Short() {
		t.Skip("starts several gateways")
	}
	if os.Getenv("URA_TEST_POSTGRES_DSN") == "" || os.Getenv("URA_REDIS_ADDR") == "" || os.Getenv("URA_VAULT_ADDR") == "" {
		t.Skip("replicas need the development stack's PostgreSQL, Redis and Vault: source var/dev/stack.env (deploy/dev/up.sh writes it)")
	}
	s := &replicaStack{dir: t.TempDir(), dsn: testenv.Postgres(t)}
	s.vaultAddr, s.token = testenv.Vault(t)
	redisAddr, redisPassword := testenv.Redis(t)
	s.pki = filepath.Join(s.dir, "pki")
	s.cfgPath = filepath.Join(s.dir, "ura.yaml")
	if err := devpki.Init(devpki.InitOptions{Dir: s.pki}); err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	s.schema = "replicas_" + hex.EncodeToString(b)
	t.Cleanup(func() { s.dropSchemas(t) })
	// A Redis database no other test uses, emptied of this test's keys only.
	const redisDB = 13
	rdb := redis.NewClient(&redis.Options{Addr: redisAddr, Password: redisPassword, DB: redisDB})
	if err := rdb.Del(context.Background(), "ura:rl:AL/GOV/DPD:pull").Err(); err != nil {
		t.Fatalf("redis: %v", err)
	}
	_ = rdb.Close()
	cursorKey := make([]byte, 32)
	_, _ = rand.Read(cursorKey)
	files := map[string]string{
		"vault.token":    s.token + "\n",
		"redis.password": redisPassword + "\n",
		"cursor.key":     hex.EncodeToString(cursorKey) + "\n",
		"ura.yaml": fmt.Sprintf(replicaConfig, redisAddr, redisDB, replicaPullAllowance, s.vaultAddr, s.dsn, s.schema,
			replicaDrainDelay),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(s.dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	s.aim = tgClient(t, s.pki, "AL_GOV_AIM", "ca.crt")
	s.dpd = tgClient(t, s.pki, "AL_GOV_DPD", "ca.crt")
	s.audit = tgClient(t, s.pki, "AL_GOV_AUDIT", "ca.crt")
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "URA_") {
			env = append(env, kv)
		}
	}
	for i := range n {
		r := &replica{name: fmt.Sprintf("r%d", i+1)}
		r.fx = &gatewayFixture{dir: filepath.Join(s.dir, r.name), pki: s.pki, cfgPath: s.cfgPath,
			port: testenv.FreePort(t), opsPort: testenv.FreePort(t)}
		r.fx.env = append(slicesClone(env), crashChildEnv+"=1", crashConfigEnv+"="+s.cfgPath,
			fmt.Sprintf("URA_LISTEN=127.0.0.1:%d", r.fx.port), fmt.Sprintf("URA_OPS_LISTEN=127.0.0.1:%d", r.fx.opsPort),
			"URA_DATA_DIR="+filepath.Join(s.dir, r.name, "data"))
		if err := os.MkdirAll(r.fx.dir, 0o700); err != nil {
			t.Fatal(err)
		}
		s.reps = append(s.reps, r)
	}
	// Started one after another: each opens the schemas the first creates.
	for _, r := range s.reps {
		s.start(t, r)
	}
	// The signing key's JWKS, for `ura audit verify` once the replicas stop.
	resp, err := s.aim.Get(s.reps[0].base() + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	jwks, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err := os.WriteFile(filepath.Join(s.dir, "jwks.json"), jwks, 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			for _, r := range s.reps {
				if r.child != nil {
					t.Logf("replica %s:\n%s", r.name, r.child.log())
				}
			}
		}
	})
	return s
}

func slicesClone(s []string) []string { return append([]string(nil), s...) }

// start runs r (again) and waits until it is ready.
func (s *replicaStack) start(t *testing.T, r *replica) {
	t.Helper()
	r.runs++
	r.child = r.fx.start(t, fmt.Sprintf("%s-%d", r.name, r.runs), s.aim)
}

// dropSchemas removes the replicas' schemas and the witness's entry.
func (s *replicaStack) dropSchemas(t *testing.T) {
	ctx := context.Background()
	if conn, err := pgx.Connect(ctx, s.dsn); err == nil {
		for _, sc := range []string{s.schema, s.schema + "_audit"} {
			_, _ = conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{sc}.Sanitize()+` CASCADE`)
		}
		_ = conn.Close(ctx)
	}
	if vc, err := vault.NewClient(&vault.Config{Address: s.vaultAddr}); err == nil {
		vc.SetToken(s.token)
		_ = vc.KVv2("kv").DeleteMetadata(ctx, "ura-audit/checkpoints/"+s.schema)
	}
}

// stopAll ends every replica with SIGTERM.
func (s *replicaStack) stopAll(t *testing.T) {
	t.Helper()
	for _, r := range s.reps {
		if r.child != nil && r.child.cmd.ProcessState == nil {
			if err := r.child.stop(syscall.SIGTERM); err != nil {
				t.Errorf("%s: stopped with %v:\n%s", r.name, err, r.child.log())
			}
		}
	}
}

// auditVerify runs `ura audit verify` on the shared log, with the gateway's
// JWKS and its off-host checkpoint (audit.checkpoint.vault_kv), and returns
// its report.
func (s *replicaStack) auditVerify(t *testing.T) string {
	t.Helper()
	jwksPath := filepath.Join(s.dir, "jwks.json")
	// The test's own URA_* variables would override the file's addresses.
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "URA_") {
			t.Setenv(k, "")
		}
	}
	var out, errOut bytes.Buffer
	err := run(context.Background(), []string{"audit", "verify", "--config", s.cfgPath, "--jwks", jwksPath}, &out, &errOut)
	if err != nil {
		t.Fatalf("ura audit verify: %v\n%s%s", err, out.String(), errOut.String())
	}
	return out.String()
}

// replicaPush pushes records as one NDJSON body and returns the results.
type replicaResult struct {
	ID       string `json:"id"`
	Version  int    `json:"version"`
	Status   string `json:"status"`
	AuditSeq int64  `json:"audit_seq"`
	JWS      string `json:"jws"`
	Reasons  []struct {
		Code string `json:"code"`
	} `json:"reasons"`
}

func replicaPush(c *http.Client, base string, recs ...map[string]any) (int, []replicaResult, error) {
	var body bytes.Buffer
	for _, rec := range recs {
		line, _ := json.Marshal(rec)
		body.Write(append(line, '\n'))
	}
	req, err := http.NewRequest(http.MethodPost, base+"/v1/records", bytes.NewReader(body.Bytes()))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/x-ndjson")
	// A push is idempotent (the same records again answer unchanged), and
	// saying so lets the HTTP transport do what HTTP allows for such a
	// request: send it again when the connection it picked from its pool
	// was closed by the server before the request was read (a replica
	// closing its idle connections as it drains). Nothing else is retried.
	sum := sha256.Sum256(body.Bytes())
	req.Header.Set("Idempotency-Key", hex.EncodeToString(sum[:16]))
	resp, err := c.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return resp.StatusCode, nil, fmt.Errorf("push: %d %s", resp.StatusCode, raw)
	}
	var out struct {
		Results []replicaResult `json:"results"`
	}
	if err := json.Unmarshal(raw, &out); err != nil || len(out.Results) != len(recs) {
		return resp.StatusCode, nil, fmt.Errorf("push: %d %s", resp.StatusCode, raw)
	}
	return resp.StatusCode, out.Results, nil
}

// replicaLicence is an issued export licence of AIM to the Czech Republic
// for quantity ML3 items (ammunition: no licence condition of small arms
// calls for authorisations of their own here).
func replicaLicence(id string, quantity int) map[string]any {
	rec := tgLicence(id, "AL/GOV/AIM", "RESTRICTED", []string{"ALB", "CZE"})
	lic := rec["licence"].(map[string]any)
	lic["destination"] = "CZE"
	lic["end_user"].(map[string]any)["country"] = "CZE"
	lic["end_user"].(map[string]any)["address"].(map[string]any)["country"] = "CZE"
	lic["items"] = []any{map[string]any{"ml_category": "ML3", "description": "9x19mm cartridges", "quantity": quantity, "unit": "rounds"}}
	return rec
}

// replicaAuditCount counts events in the shared audit log.
func (s *replicaStack) replicaAuditCount(t *testing.T, where string, args ...any) int {
	t.Helper()
	conn, err := pgx.Connect(context.Background(), s.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	q := `SELECT count(*) FROM ` + pgx.Identifier{s.schema + "_audit", "ura_audit_events"}.Sanitize() + ` WHERE ` + where
	if err := conn.QueryRow(context.Background(), q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReplicasShareStoreAuditAndLimits: three replicas on one store and
// audit log. A record pushed through one is read through the others; every
// replica's events are in one chain that `ura audit verify` accepts; and a
// limit shared through Redis holds across the three: of 3×allowance
// requests spread over them, the allowance passes (±5%).
func TestReplicasShareStoreAuditAndLimits(t *testing.T) {
	s := newReplicaStack(t, 3)

	t.Run("store", func(t *testing.T) {
		rec := replicaLicence("AIM-LIC-2026-RS0001", 10)
		if _, res, err := replicaPush(s.aim, s.reps[0].base(), rec); err != nil || res[0].Status != "accepted" {
			t.Fatalf("push through %s: %+v %v", s.reps[0].name, res, err)
		}
		for _, r := range s.reps[1:] {
			if st, body := tgGet(t, s.aim, r.base(), "AIM-LIC-2026-RS0001"); st != http.StatusOK {
				t.Errorf("get through %s: %d %s", r.name, st, body)
			}
		}
	})

	t.Run("audit", func(t *testing.T) {
		// Every replica appends: a get through each, concurrently.
		var wg sync.WaitGroup
		for _, r := range s.reps {
			for range 10 {
				wg.Go(func() { tgGet(t, s.aim, r.base(), "AIM-LIC-2026-RS0001") })
			}
		}
		wg.Wait()
		if n := s.replicaAuditCount(t, `action <> 'push' AND record_id = $1`, "AIM-LIC-2026-RS0001"); n < 30 {
			t.Errorf("%d get decisions in the shared log, want at least 30", n)
		}
		out := s.auditVerify(t)
		if !strings.Contains(out, "OK") && !strings.Contains(strings.ToLower(out), "verified") {
			t.Logf("ura audit verify: %s", out)
		}
	})

	t.Run("shared rate limit", func(t *testing.T) {
		// One request first, to learn what a get costs the DPD.
		resp, err := s.dpd.Get(s.reps[0].base() + "/v1/records/DPD-EVT-2026-NONE")
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		remaining := rateRemaining(resp.Header.Get("RateLimit"))
		if resp.StatusCode == http.StatusTooManyRequests || remaining < 0 {
			t.Fatalf("first get: %d RateLimit %q", resp.StatusCode, resp.Header.Get("RateLimit"))
		}
		cost := replicaPullAllowance - remaining
		if cost < 1 {
			t.Fatalf("a get costs %d (RateLimit %q)", cost, resp.Header.Get("RateLimit"))
		}
		want := replicaPullAllowance/cost - 1 // the one above is spent
		var ok, limited, other atomic.Int64
		var wg sync.WaitGroup
		// Below http.max_connections_per_member at every replica.
		sem := make(chan struct{}, 24)
		for i := range 3 * replicaPullAllowance {
			r := s.reps[i%len(s.reps)]
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				resp, err := s.dpd.Get(r.base() + "/v1/records/DPD-EVT-2026-NONE")
				if err != nil {
					other.Add(1)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch resp.StatusCode {
				case http.StatusTooManyRequests:
					limited.Add(1)
				case http.StatusNotFound, http.StatusOK:
					ok.Add(1)
				default:
					other.Add(1)
				}
			})
		}
		wg.Wait()
		t.Logf("allowance %d at cost %d: %d passed, %d refused 429, %d other", want, cost, ok.Load(), limited.Load(), other.Load())
		if other.Load() != 0 {
			t.Errorf("%d requests failed otherwise", other.Load())
		}
		if d := float64(ok.Load()-int64(want)) / float64(want); d > 0.05 || d < -0.05 {
			t.Errorf("%d passed across three replicas; the allowance is %d (±5%%)", ok.Load(), want)
		}
	})
	s.stopAll(t)
}

// rateRemaining reads r= of a RateLimit header ("class";r=N;t=S).
func rateRemaining(h string) int {
	for _, part := range strings.Split(h, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "r="); ok {
			var n int
			if _, err := fmt.Sscan(v, &n); err == nil {
				return n
			}
		}
	}
	return -1
}

// replicaAck is one push acknowledged with a signed accepted result.
type replicaAck struct {
	id  string
	seq int64
}

// TestReplicasKill9UnderLoad: pushes run continuously against three
// replicas while each in turn is killed with SIGKILL and restarted. Every
// push acknowledged (a signed accepted result) is in the store and in the
// audit log at the seq its result names, and `ura audit verify` accepts
// the log the replicas wrote together.
func TestReplicasKill9UnderLoad(t *testing.T) {
	s := newReplicaStack(t, 3)
	var (
		mu     sync.Mutex
		acks   []replicaAck
		failed atomic.Int64
		next   atomic.Int64
		stop   = make(chan struct{})
		wg     sync.WaitGroup
	)
	for w := range 6 {
		wg.Go(func() {
			for i := w; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := s.reps[i%len(s.reps)]
				id := fmt.Sprintf("AIM-LIC-2026-K%06d", next.Add(1))
				_, res, err := replicaPush(s.aim, r.base(), replicaLicence(id, 5))
				if err != nil || res[0].Status != "accepted" || res[0].JWS == "" || res[0].AuditSeq == 0 {
					// Refused or cut by a kill: not acknowledged, so nothing
					// is owed for it.
					failed.Add(1)
					time.Sleep(20 * time.Millisecond)
					continue
				}
				mu.Lock()
				acks = append(acks, replicaAck{id: id, seq: res[0].AuditSeq})
				mu.Unlock()
			}
		})
	}
	for _, r := range s.reps {
		time.Sleep(700 * time.Millisecond)
		if err := r.child.cmd.Process.Kill(); err != nil {
			t.Fatal(err)
		}
		// Killed: the exit status says only that; the next start needs
		// the channel to hold one result again.
		if err := <-r.child.exited; err == nil {
			t.Errorf("%s exited by itself before the kill", r.name)
		}
		r.child.exited <- errors.New("killed")
		_ = r.child.logFile.Close()
		s.start(t, r)
	}
	time.Sleep(700 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("%d pushes acknowledged, %d not (refused or cut by a kill)", len(acks), failed.Load())
	if len(acks) < 30 {
		t.Fatalf("only %d pushes acknowledged", len(acks))
	}
	// Every acknowledged record through some replica, and its decision in
	// the shared log at the seq its signed result names.
	inLog := map[replicaAck]bool{}
	conn, err := pgx.Connect(context.Background(), s.dsn)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := conn.Query(context.Background(), `SELECT record_id, seq FROM `+pgx.Identifier{s.schema + "_audit", "ura_audit_events"}.Sanitize()+
		` WHERE action = 'push' AND decision = 'allow'`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var a replicaAck
		if err := rows.Scan(&a.id, &a.seq); err != nil {
			t.Fatal(err)
		}
		inLog[a] = true
	}
	rows.Close()
	_ = conn.Close(context.Background())
	var cwg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, a := range acks {
		if !inLog[a] {
			t.Errorf("acknowledged %s: no allow decision at audit seq %d", a.id, a.seq)
		}
		r := s.reps[i%len(s.reps)]
		sem <- struct{}{}
		cwg.Go(func() {
			defer func() { <-sem }()
			if st, body := tgGet(t, s.aim, r.base(), a.id); st != http.StatusOK {
				t.Errorf("acknowledged %s: %s answers %d %s", a.id, r.name, st, body)
			}
		})
	}
	cwg.Wait()
	s.stopAll(t)
	t.Log(s.auditVerify(t))
}

// haproxy runs a TCP load balancer in front of the replicas, checking
// each one's ops /readyz every 100ms; it is killed by PID when the test
// ends.
func (s *replicaStack) haproxy(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Skip("haproxy is not installed (apt-get install haproxy; .ci/run installs it)")
	}
	port := testenv.FreePort(t)
	tmpl, err := os.ReadFile(filepath.Join("..", "..", "deploy", "dev", "haproxy-replicas.cfg"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(strings.NewReplacer("@BIND@", fmt.Sprintf("127.0.0.1:%d", port), "@CLIENT_TIMEOUT@", "60s").Replace(string(tmpl)))
	for _, r := range s.reps {
		fmt.Fprintf(&b, "  server %s 127.0.0.1:%d check port %d\n", r.name, r.fx.port, r.fx.opsPort)
	}
	cfg := filepath.Join(s.dir, "haproxy.cfg")
	if err := os.WriteFile(cfg, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(s.dir, "haproxy.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-db", "-f", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = logf.Close()
	})
	base := fmt.Sprintf("https://127.0.0.1:%d", port)
	deadline := time.Now().Add(20 * time.Second)
	for crashGet(s.aim, base+"/v1/whoami") != http.StatusOK {
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(s.dir, "haproxy.log"))
			t.Fatalf("haproxy not answering:\n%s", log)
		}
		time.Sleep(50 * time.Millisecond)
	}
	return base
}

// TestReplicasRollingRestart: clients push and read through HAProxy while
// every replica in turn is stopped with SIGTERM and started again. The
// drain (readyz false at once, listeners open for shutdown.drain_delay,
// no keep-alive) lets the balancer move every client elsewhere before the
// listener closes: no request fails, and the client retries nothing but
// what its HTTP transport resends on a pooled connection the server closed
// unread (a push carries an Idempotency-Key, as a GET needs none).
// A stream in progress when its replica stops ends with its signed
// trailer, and the process exits.
func TestReplicasRollingRestart(t *testing.T) {
	s := newReplicaStack(t, 3)
	lb := s.haproxy(t)
	seed := replicaLicence("AIM-LIC-2026-RR0001", 10)
	if _, res, err := replicaPush(s.aim, lb, seed); err != nil || res[0].Status != "accepted" {
		t.Fatalf("seed: %+v %v", res, err)
	}
	var (
		okN, failN atomic.Int64
		fails      sync.Map
		next       atomic.Int64
		stop       = make(chan struct{})
		wg         sync.WaitGroup
	)
	fail := func(msg string) {
		failN.Add(1)
		fails.Store(msg, true)
	}
	for w := range 6 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if w%2 == 0 {
					id := fmt.Sprintf("AIM-LIC-2026-R%06d", next.Add(1))
					_, res, err := replicaPush(s.aim, lb, replicaLicence(id, 5))
					if err != nil || res[0].Status != "accepted" {
						fail(fmt.Sprintf("push %s: %v %+v", id, err, res))
						continue
					}
				} else if st, body := tgGet(t, s.aim, lb, "AIM-LIC-2026-RR0001"); st != http.StatusOK {
					fail(fmt.Sprintf("get: %d %s", st, body))
					continue
				}
				okN.Add(1)
			}
		})
	}
	for _, r := range s.reps {
		time.Sleep(500 * time.Millisecond)
		if err := r.child.stop(syscall.SIGTERM); err != nil {
			t.Errorf("%s: SIGTERM ended it with %v", r.name, err)
		}
		s.start(t, r)
		// Until the balancer has seen it ready again (rise 2).
		time.Sleep(400 * time.Millisecond)
	}
	time.Sleep(500 * time.Millisecond)
	close(stop)
	wg.Wait()
	t.Logf("rolling restart of %d replicas: %d requests succeeded, %d failed", len(s.reps), okN.Load(), failN.Load())
	fails.Range(func(k, _ any) bool {
		t.Errorf("failed: %s", k)
		return true
	})
	if okN.Load() < 50 {
		t.Errorf("only %d requests during the restarts", okN.Load())
	}

	t.Run("stream ends with its trailer", func(t *testing.T) { replicaStreamOnStop(t, s) })
	s.stopAll(t)
}

// replicaStreamOnStop opens a long NDJSON stream on one replica through a
// client that reads slowly, stops that replica with SIGTERM, and reads on:
// the stream ends with a signed trailer (cut short at a chunk, with where
// to resume), and the process exits.
func replicaStreamOnStop(t *testing.T, s *replicaStack) {
	r := s.reps[0]
	const n = 2000
	for i := 0; i < n; i += 500 {
		recs := make([]map[string]any, 0, 500)
		for j := i; j < i+500; j++ {
			recs = append(recs, replicaLicence(fmt.Sprintf("AIM-LIC-2026-S%06d", j), 5))
		}
		if _, _, err := replicaPush(s.aim, r.base(), recs...); err != nil {
			t.Fatal(err)
		}
	}
	// A small receive buffer, so that the gateway's writes wait for the
	// reader and the stream is still in progress when the stop comes.
	tr := s.aim.Transport.(*http.Transport).Clone()
	tr.DialContext = (&net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		return c.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096) })
	}}).DialContext
	slow := &http.Client{Transport: tr}
	req, _ := http.NewRequest(http.MethodGet, r.base()+"/v1/records?kind=licence&limit=5000", nil)
	req.Header.Set("Accept", "application/x-ndjson")
	resp, err := slow.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReaderSize(resp.Body, 1024)
	if _, err := br.ReadBytes('\n'); err != nil {
		t.Fatalf("first line: %v", err)
	}
	if err := r.child.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Not ready at once, then the drain delay; the stream waits meanwhile.
	deadline := time.Now().Add(10 * time.Second)
	for crashGet(s.aim, r.readyz()) == http.StatusOK {
		if time.Now().After(deadline) {
			t.Fatal("readyz still 200 after SIGTERM")
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(replicaDrainDelay + 500*time.Millisecond)
	lines := 1
	var last []byte
	for {
		line, err := br.ReadBytes('\n')
		if len(bytes.TrimSpace(line)) > 0 {
			last = line
			lines++
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("after %d lines: %v", lines, err)
		}
	}
	var trailer struct {
		NextCursor *string         `json:"next_cursor"`
		Complete   bool            `json:"complete"`
		Records    int             `json:"records"`
		Error      json.RawMessage `json:"error"`
		JWS        string          `json:"jws"`
	}
	if err := json.Unmarshal(last, &trailer); err != nil || trailer.NextCursor == nil {
		t.Fatalf("the stream ended without a trailer after %d lines; last: %.200s", lines, last)
	}
	if trailer.JWS == "" || trailer.Records != lines-1 {
		t.Errorf("trailer %+v after %d record lines", trailer, lines-1)
	}
	if trailer.Complete {
		t.Logf("the stream completed (%d records) before the listener closed", trailer.Records)
	} else if !bytes.Contains(trailer.Error, []byte("stopping")) {
		t.Errorf("trailer of a stream cut by the stop: %s", trailer.Error)
	}
	t.Logf("stream: %d records, complete %v, trailer signed", trailer.Records, trailer.Complete)
	select {
	case err := <-r.child.exited:
		r.child.exited <- err
		if err != nil {
			t.Errorf("%s exited with %v", r.name, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s has not exited 30s after SIGTERM", r.name)
	}
	_ = r.child.logFile.Close()
	s.start(t, r)
}

// TestReplicasLicenceQuantity: a licence's quantity holds across replicas.
// Declarations against one licence, concurrently through all three, never
// export more than it allows, and use all of it, in each of 20 rounds; the
// policy's registers must be the store's, not each process's own.
func TestReplicasLicenceQuantity(t *testing.T) {
	s := newReplicaStack(t, 3)
	const rounds, quantity, perReplica = 20, 4, 3
	for round := range rounds {
		licID := fmt.Sprintf("AIM-LIC-2026-Q%04d", round)
		if _, res, err := replicaPush(s.aim, s.reps[round%3].base(), replicaLicence(licID, quantity)); err != nil || res[0].Status != "accepted" {
			t.Fatalf("licence %s: %+v %v", licID, res, err)
		}
		var accepted atomic.Int64
		var refusals sync.Map
		var wg sync.WaitGroup
		for ri, r := range s.reps {
			for k := range perReplica {
				wg.Go(func() {
					id := fmt.Sprintf("DPD-EVT-2026-Q%04d%d%d", round, ri, k)
					_, res, err := replicaPush(s.dpd, r.base(), replicaExport(id, licID, fmt.Sprintf("K26-Q%04d%d%d", round, ri, k)))
					if err != nil {
						t.Errorf("declaration %s: %v", id, err)
						return
					}
					if res[0].Status == "accepted" {
						accepted.Add(1)
					}
					for _, r := range res[0].Reasons {
						refusals.Store(r.Code, true)
					}
				})
			}
		}
		wg.Wait()
		var codes []string
		refusals.Range(func(k, _ any) bool { codes = append(codes, k.(string)); return true })
		switch n := accepted.Load(); {
		case n > quantity:
			t.Errorf("round %d: %d declarations of one item accepted against a licence for %d (refusals %v)", round, n, quantity, codes)
		case n < quantity:
			// 9 declarations for 4 items: all 4 must go, wherever pushed.
			t.Errorf("round %d: only %d of the licence's %d items declared by 9 declarations over three replicas (refusals %v)", round, n, quantity, codes)
		}
	}
	s.stopAll(t)
}

// TestReplicasLicenceSuspension: a suspension pushed through one replica
// is enforced by another at its next request.
func TestReplicasLicenceSuspension(t *testing.T) {
	s := newReplicaStack(t, 3)
	a, b := s.reps[0], s.reps[1]
	lic := replicaLicence("AIM-LIC-2026-SUSP01", 100)
	if _, res, err := replicaPush(s.aim, a.base(), lic); err != nil || res[0].Status != "accepted" {
		t.Fatalf("licence: %+v %v", res, err)
	}
	// B has seen the licence in force.
	if _, res, err := replicaPush(s.dpd, b.base(), replicaExport("DPD-EVT-2026-SUSP01", "AIM-LIC-2026-SUSP01", "K26-SUSP01")); err != nil || res[0].Status != "accepted" {
		t.Fatalf("declaration before the suspension: %+v %v", res, err)
	}
	lic["version"] = 2
	lic["licence"].(map[string]any)["status"] = "suspended"
	if _, res, err := replicaPush(s.aim, a.base(), lic); err != nil || res[0].Status != "accepted" {
		t.Fatalf("suspension: %+v %v", res, err)
	}
	_, res, err := replicaPush(s.dpd, b.base(), replicaExport("DPD-EVT-2026-SUSP02", "AIM-LIC-2026-SUSP01", "K26-SUSP02"))
	if err != nil {
		t.Fatal(err)
	}
	if res[0].Status != "denied" || !slicesContains(res[0].Reasons, "licence_suspended") {
		t.Errorf("a declaration through %s after the suspension through %s: %+v", b.name, a.name, res[0])
	}
	s.stopAll(t)
}

func slicesContains(reasons []struct {
	Code string `json:"code"`
}, code string) bool {
	for _, r := range reasons {
		if r.Code == code {
			return true
		}
	}
	return false
}

// replicaExport is the DPD's declaration of one ML3 item exported to the
// Czech Republic under licence licID.
func replicaExport(id, licID, serial string) map[string]any {
	return map[string]any{
		"kind": "tracking_event", "id": id, "version": 1,
		"label": map[string]any{"classification": "UNCLASSIFIED", "releasable_to": []string{"ALB", "CZE"},
			"originator": "AL/GOV/DPD", "created": "2026-06-04T09:00:00Z"},
		"event": map[string]any{"type": "EXPORT_DECLARED", "at": time.Now().UTC().Format(time.RFC3339),
			"item": map[string]any{"marking": map[string]any{"manufacturer": "KAYO", "country": "ALB", "serial": serial, "year": 2026},
				"ml_category": "ML3", "att_category": "ammunition"},
			"quantity": 1, "licence_id": licID, "from": "ALB", "to": "CZE",
			"location": "Durrës port", "customs_declaration": "EX-" + id},
	}
}

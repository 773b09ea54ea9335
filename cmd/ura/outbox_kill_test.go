package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"go.etcd.io/bbolt"

	"github.com/ura-gateway/ura/adapters/upstream"
	"github.com/ura-gateway/ura/certs/devpki"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// The outbox of a replica killed with SIGKILL (gateway/ARCHITECTURE.md,
// Outbound: "Replicas and the outbox"). The sender is a real `ura serve`
// process (the test binary re-executed as TestGatewayCrashChild) on the
// shared PostgreSQL store and audit log, with its outbox under its own
// URA_DATA_DIR; it is killed by PID and started again on the same data
// directory, and what each destination received is recorded. The back
// office is an HTTPS server with mutual TLS, answering 503 while entries
// queue, that keeps each idempotency key once (409 for a repeat, as a back
// office that deduplicates does). The peer gateway is Italy's `ura serve`,
// not running while entries queue, behind a proxy that kills the sender
// after the peer answered a record and before the answer (the signed
// receipt) reaches it.
//
//	source var/dev/stack.env
//	go test -count=1 -run TestOutboxSurvivesKill9 -v ./cmd/ura/
func TestOutboxSurvivesKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gateways and kills them")
	}
	if os.Getenv("URA_TEST_POSTGRES_DSN") == "" || os.Getenv("URA_VAULT_ADDR") == "" {
		t.Skip("needs the development stack's PostgreSQL and Vault: source var/dev/stack.env (deploy/dev/up.sh writes it)")
	}
	pki := filepath.Join(t.TempDir(), "pki")
	if err := devpki.Init(devpki.InitOptions{Dir: pki}); err != nil {
		t.Fatal(err)
	}
	t.Run("back office", func(t *testing.T) { outboxKillBackOffice(t, pki, false) })
	t.Run("back office, embedded store", func(t *testing.T) { outboxKillBackOffice(t, pki, true) })
	t.Run("peer gateway", func(t *testing.T) { outboxKillPeer(t, pki) })
}

// outboxRecords is how many licences each case queues: fewer than the
// worker's batch (64), so the entries delivered before the second kill
// (after the first, tried alone since its last attempt failed) are all
// still in the file, waiting to be settled together.
const outboxRecords = 8

// outboxKillAt is the delivery after which the destination kills the
// sender before it hears the answer.
const outboxKillAt = 3

// outboxSenderConfig is Albania's gateway on the shared PostgreSQL store
// and audit log, with its outbox at data/outbox.db (moved under
// URA_DATA_DIR) and the destinations given.
const outboxSenderConfig = `development: true
listen: 127.0.0.1:%[1]d
ops_listen: 127.0.0.1:%[2]d
ops_metrics: true
tls:
  cert_file: %[3]s/server.crt
  key_file: %[3]s/server.key
  client_cas:
    - {name: al-dev-root, cert_file: %[3]s/ca.crt, prefixes: ["AL/"]}
    - {name: it-ca, cert_file: %[3]s/it-ca.crt, prefixes: ["IT/"]}
members:
  - {id: AL/GOV/AIM, name: Defence Industry Agency, nation: ALB, kind: agency, clearance: SECRET, roles: [licensing, registers, marking]}
%[9]svault:
  addr: %[4]s
  token_file: vault.token
sign:
  mode: transit
  key: ura-signing
  algorithm: ed25519
  issuer: ura.al.outbox-kill.test
  proof: jws
  member: AL/GOV/URA
%[5]spolicy:
  timeout: 5s
%[10]saudit:
  driver: postgres
  dsn: %[6]s
  schema: %[7]s_audit
  checkpoint:
    every: 50
    interval: 200ms
upstream:
  outbox: {path: data/outbox.db}
  destinations:
%[8]slog:
  level: info
  format: text
`

// outboxSender is the sending gateway: its fixture, the data directory
// every run of it shares, and its current run.
type outboxSender struct {
	fx      *gatewayFixture
	dataDir string
	schema  string
	dsn     string
	aim     *http.Client
	runs    int
	// embedded: the records, and so the outbox's queues, are in the
	// embedded store's file (data/ura.db), not PostgreSQL.
	embedded bool

	mu    sync.Mutex
	child *gatewayChild
}

// outboxPeer is what the sender's configuration adds for a peer gateway:
// Italy's as a member, and where its JWKS is (sign.peers).
type outboxPeer struct{ member, peers string }

// newOutboxSender writes the sender's configuration; dests is the list
// under upstream.destinations.
func newOutboxSender(t *testing.T, pki string, peer outboxPeer, dests string) *outboxSender {
	t.Helper()
	return newOutboxSenderOn(t, pki, peer, dests, false)
}

// newOutboxSenderOn is newOutboxSender with the records in the embedded
// store (embedded): the outbox then keeps its queues in the store's file,
// where a push's records and their entries are one commit.
func newOutboxSenderOn(t *testing.T, pki string, peer outboxPeer, dests string, embedded bool) *outboxSender {
	t.Helper()
	vaultAddr, vaultToken := testenv.Vault(t)
	dsn := testenv.Postgres(t)
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	s := &outboxSender{dsn: dsn, schema: "outbox_" + hex.EncodeToString(b), aim: tgClient(t, pki, "AL_GOV_AIM", "ca.crt")}
	t.Cleanup(func() { s.dropSchemas() })
	port, opsPort := testenv.FreePort(t), testenv.FreePort(t)
	storeSection := fmt.Sprintf("store:\n  driver: postgres\n  dsn: %s\n  schema: %s\n", dsn, s.schema)
	if embedded {
		storeSection = "store:\n  driver: embedded\n  path: data/ura.db\n"
	}
	s.embedded = embedded
	s.fx = tgFixture(t, pki, vaultToken, port, opsPort, fmt.Sprintf(outboxSenderConfig,
		port, opsPort, pki, vaultAddr, peer.peers, dsn, s.schema, dests, peer.member, storeSection))
	s.dataDir = filepath.Join(s.fx.dir, "replica-data")
	s.fx.env = append(s.fx.env, "URA_DATA_DIR="+s.dataDir)
	t.Cleanup(func() {
		if t.Failed() {
			if g := s.current(); g != nil {
				t.Logf("the sender's last run:\n%s", g.log())
			}
		}
	})
	return s
}

func (s *outboxSender) base() string { return fmt.Sprintf("https://127.0.0.1:%d", s.fx.port) }

func (s *outboxSender) current() *gatewayChild {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.child
}

// start runs the sender (again, on the same data directory) until ready.
func (s *outboxSender) start(t *testing.T) {
	t.Helper()
	s.runs++
	g := s.fx.start(t, fmt.Sprintf("sender-%d", s.runs), s.aim)
	s.mu.Lock()
	s.child = g
	s.mu.Unlock()
}

// kill9 sends SIGKILL to the sender's PID and returns once it is gone: a
// caller that then answers the sender knows nobody hears the answer.
func (s *outboxSender) kill9() error {
	g := s.current()
	if err := syscall.Kill(g.cmd.Process.Pid, syscall.SIGKILL); err != nil {
		return err
	}
	waitExited(g)
	_ = g.logFile.Close()
	return nil
}

// waitExited waits until g's process has been reaped, leaving its exit
// status for any other waiter.
func waitExited(g *gatewayChild) { _ = waitExitedErr(g) }

// waitExitedErr is waitExited that also returns the exit status.
func waitExitedErr(g *gatewayChild) error {
	err := <-g.exited
	g.exited <- err
	return err
}

// hasExited reports whether g's process has been reaped.
func hasExited(g *gatewayChild) bool {
	select {
	case err := <-g.exited:
		g.exited <- err
		return true
	default:
		return false
	}
}

// push pushes AIM's licences, one request each: every one is accepted,
// so its outbox entry is durable.
func (s *outboxSender) push(t *testing.T, ids []string) {
	t.Helper()
	for _, id := range ids {
		tgPushOK(t, s.aim, s.base(), tgLicence(id, "AL/GOV/AIM", "RESTRICTED", []string{"ALB", "ITA"}))
	}
}

// pending reads ura_outbox_pending{destination} from the ops listener's
// /metrics; -1 when it cannot be read.
func (s *outboxSender) pending(dest string) int {
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", s.fx.opsPort))
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	prefix := fmt.Sprintf("ura_outbox_pending{destination=%q} ", dest)
	for line := range strings.Lines(string(body)) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), prefix); ok {
			var n float64
			if _, err := fmt.Sscan(v, &n); err == nil {
				return int(n)
			}
		}
	}
	return -1
}

// stop ends the sender with SIGTERM once its outbox for dest is empty
// (every removal committed), and reads the outbox file it leaves.
func (s *outboxSender) stop(t *testing.T, dest string) (queued, parked, sent []upstream.Entry) {
	t.Helper()
	outboxAwait(t, "the sender's outbox to empty", func() bool { return s.pending(dest) == 0 })
	if err := s.current().stop(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM ended the sender with %v", err)
	}
	// The file as the next run would find it, where URA_DATA_DIR put it;
	// no destination is configured, so nothing is sent from it. With the
	// embedded store the queues are in the store's file.
	path := filepath.Join(s.dataDir, "outbox.db")
	opts := upstream.Options{Logger: slog.New(slog.DiscardHandler)}
	if s.embedded {
		db, err := bbolt.Open(filepath.Join(s.fx.dir, "data", "ura.db"), 0o600, &bbolt.Options{Timeout: 10 * time.Second})
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = db.Close() }()
		opts.DB = db
	} else if _, err := os.Stat(path); err != nil {
		t.Fatalf("the sender's outbox is not under URA_DATA_DIR: %v", err)
	}
	ob, err := upstream.Open(config.Upstream{Outbox: config.Outbox{Path: path}}, nil, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = ob.Close() }()
	if queued, err = ob.QueuedEntries(dest); err == nil {
		if parked, err = ob.ParkedEntries(dest); err == nil {
			sent, err = ob.SentEntries(dest)
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	return queued, parked, sent
}

// forwards counts the sender's forward decisions per record in the shared
// audit log.
func (s *outboxSender) forwards(t *testing.T) map[string]int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, s.dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, `SELECT record_id FROM `+pgx.Identifier{s.schema + "_audit", "ura_audit_events"}.Sanitize()+
		` WHERE action = 'forward'`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string]int{}
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			t.Fatal(err)
		}
		out[id]++
	}
	return out
}

func (s *outboxSender) dropSchemas() {
	ctx := context.Background()
	if conn, err := pgx.Connect(ctx, s.dsn); err == nil {
		for _, sc := range []string{s.schema, s.schema + "_audit"} {
			_, _ = conn.Exec(ctx, `DROP SCHEMA IF EXISTS `+pgx.Identifier{sc}.Sanitize()+` CASCADE`)
		}
		_ = conn.Close(ctx)
	}
}

// outboxAwait polls until cond holds.
func outboxAwait(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(tgDeadline)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s", tgDeadline, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func outboxIDs(prefix string) []string {
	ids := make([]string, outboxRecords)
	for i := range ids {
		ids[i] = fmt.Sprintf("%s%04d", prefix, i+1)
	}
	return ids
}

// received is one request a destination received: during which run of
// the sender, its idempotency key, the record it carried (id@version and
// bytes) and what the destination made of it.
type received struct {
	run     int
	key     string
	record  string
	content []byte
	outcome string
}

// checkKeys checks every request against the rule: its idempotency key is
// the id@version of the record it carries, and every request of one key
// carries the same record bytes. It returns the requests per key.
func checkKeys(t *testing.T, ds []received) map[string][]received {
	t.Helper()
	byKey := map[string][]received{}
	for _, d := range ds {
		if d.key != d.record {
			t.Errorf("run %d: a request for %s carried Idempotency-Key %q", d.run, d.record, d.key)
		}
		if prev := byKey[d.record]; len(prev) > 0 && !bytes.Equal(prev[0].content, d.content) {
			t.Errorf("%s was sent with other bytes in run %d than in run %d", d.record, d.run, prev[0].run)
		}
		byKey[d.record] = append(byKey[d.record], d)
	}
	return byKey
}

// backOffice is an institution's back office as a destination of kind
// http: mutual TLS, and each idempotency key stored once.
type backOffice struct {
	url string

	mu        sync.Mutex
	available bool
	run       int
	// killAfter: the killAfter-th record stored kills the sender before
	// it is answered (0: never).
	killAfter int
	kill      func() error
	// gate, while set, holds every request until it is closed.
	gate   chan struct{}
	stored map[string][]byte
	log    []received
}

func newBackOffice(t *testing.T, pki string) *backOffice {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(pki, "server.crt"), filepath.Join(pki, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	bo := &backOffice{stored: map[string][]byte{}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bo.url = fmt.Sprintf("https://127.0.0.1:%d/records", ln.Addr().(*net.TCPAddr).Port)
	srv := &http.Server{Handler: bo, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert,
			ClientCAs: tgPool(t, filepath.Join(pki, "ca.crt")), MinVersion: tls.VersionTLS12}}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return bo
}

func (bo *backOffice) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	bo.mu.Lock()
	gate := bo.gate
	bo.mu.Unlock()
	if gate != nil {
		<-gate
	}
	body, _ := io.ReadAll(r.Body)
	var rec struct {
		ID      string `json:"id"`
		Version int    `json:"version"`
	}
	_ = json.Unmarshal(body, &rec)
	d := received{key: r.Header.Get("Idempotency-Key"), record: fmt.Sprintf("%s@%d", rec.ID, rec.Version), content: body}
	bo.mu.Lock()
	d.run = bo.run
	status := http.StatusServiceUnavailable
	kill := false
	switch _, seen := bo.stored[d.key]; {
	case !bo.available:
		d.outcome = "unavailable"
	case seen:
		d.outcome, status = "duplicate", http.StatusConflict
	default:
		bo.stored[d.key] = body
		d.outcome, status = "stored", http.StatusCreated
		kill = len(bo.stored) == bo.killAfter
	}
	bo.log = append(bo.log, d)
	bo.mu.Unlock()
	if kill {
		// Stored, and the sender dies before it hears so.
		_ = bo.kill()
	}
	w.WriteHeader(status)
}

func (bo *backOffice) deliveries() []received {
	bo.mu.Lock()
	defer bo.mu.Unlock()
	return append([]received(nil), bo.log...)
}

func (bo *backOffice) set(f func(bo *backOffice)) {
	bo.mu.Lock()
	defer bo.mu.Unlock()
	f(bo)
}

// outboxKillBackOffice: entries queue while the back office answers 503;
// the sender is killed; the back office comes back; the sender, started
// on the same data directory, delivers them, and is killed again after
// the back office stored the third and before it heard so; started once
// more, it delivers the rest. The back office stores every record once,
// each request under the record's own key with the same bytes as before,
// and the one whose answer was lost comes again, under the same key.
//
// With embedded, the records and the queues share the embedded store's
// file and its transactions, and the same must hold.
func outboxKillBackOffice(t *testing.T, pki string, embedded bool) {
	bo := newBackOffice(t, pki)
	s := newOutboxSenderOn(t, pki, outboxPeer{}, fmt.Sprintf(`    - name: backoffice
      kind: http
      url: %s
      member: AL/GOV/AIM
      kinds: [licence]
      ca_file: %[2]s/ca.crt
      client_cert_file: %[2]s/clients/AL_GOV_URA.crt
      client_key_file: %[2]s/clients/AL_GOV_URA.key
      timeout: 30s
      backoff_initial: 100ms
      backoff_max: 500ms
`, bo.url, pki), embedded)
	bo.kill = s.kill9
	ids := outboxIDs("AIM-LIC-2026-OB")

	// Run 1: the back office is down; the records queue.
	bo.set(func(bo *backOffice) { bo.run = 1 })
	s.start(t)
	s.push(t, ids)
	outboxAwait(t, "two refused attempts", func() bool { return len(bo.deliveries()) >= 2 })
	if err := s.kill9(); err != nil {
		t.Fatal(err)
	}

	// Run 2: the back office is back; it kills the sender once it has
	// stored the third record. Requests wait until the sender is ready,
	// so that the kill comes after its start, not during it.
	gate := make(chan struct{})
	bo.set(func(bo *backOffice) { bo.run, bo.available, bo.killAfter, bo.gate = 2, true, outboxKillAt, gate })
	s.start(t)
	bo.set(func(bo *backOffice) { bo.gate = nil })
	close(gate)
	outboxAwait(t, "the kill after the third record", func() bool { return hasExited(s.current()) })

	// Run 3: the rest.
	bo.set(func(bo *backOffice) { bo.run, bo.killAfter = 3, 0 })
	s.start(t)
	queued, parked, _ := s.stop(t, "backoffice")
	if len(queued) != 0 || len(parked) != 0 {
		t.Errorf("the outbox holds %d queued and %d parked entries: %+v %+v", len(queued), len(parked), queued, parked)
	}
	if embedded {
		// The entries queued in run 1 were delivered after a kill -9, so
		// they were durable; and nowhere but in the store's file.
		if _, err := os.Stat(filepath.Join(s.dataDir, "outbox.db")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("an outbox file of its own beside the embedded store: %v", err)
		}
	}

	ds := bo.deliveries()
	byKey := checkKeys(t, ds)
	runs := map[int]int{}
	for _, d := range ds {
		runs[d.run]++
		if d.run == 1 && d.outcome != "unavailable" {
			t.Errorf("run 1: %+v", d)
		}
	}
	lost := ids[outboxKillAt-1] + "@1"
	for _, id := range ids {
		key := id + "@1"
		var stored, again int
		for _, d := range byKey[key] {
			switch d.outcome {
			case "stored":
				stored++
			case "duplicate":
				again++
				if d.run != 3 {
					t.Errorf("%s repeated in run %d", key, d.run)
				}
			}
		}
		if stored != 1 {
			t.Errorf("%s stored %d times (%d requests)", key, stored, len(byKey[key]))
		}
		if key == lost && again == 0 {
			t.Errorf("%s, stored as the sender died, was not sent again after the restart", key)
		}
	}
	// Every attempt that reached the back office was decided and audited
	// first (503s included): at least one forward event per request.
	fw := s.forwards(t)
	for _, id := range ids {
		if n := len(byKey[id+"@1"]); fw[id] < n {
			t.Errorf("%s: %d forward events for %d requests", id, fw[id], n)
		}
	}
	t.Logf("back office: %d requests (run 1: %d refused; run 2: %d; run 3: %d)", len(ds), runs[1], runs[2], runs[3])
}

// peerProxy stands between the sender's outbox and Italy's gateway:
// it serves with Italy's certificate, forwards with the sender's member
// certificate, and records every federation line with its idempotency key
// and the peer's answer. After the killAfter-th record Italy's gateway
// accepted, it kills the sender before passing the answer on.
type peerProxy struct {
	port int

	mu        sync.Mutex
	run       int
	killAfter int
	accepted  int
	kill      func() error
	gate      chan struct{}
	log       []received
}

// lineKey carries, in a proxied request's context, the delivery it holds.
type lineKey struct{}

func newPeerProxy(t *testing.T, pki string, itPort int) *peerProxy {
	t.Helper()
	serverCert, clientCert := italyEnds(t, pki)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &peerProxy{port: ln.Addr().(*net.TCPAddr).Port}
	proxy := httputil.NewSingleHostReverseProxy(&url.URL{Scheme: "https", Host: fmt.Sprintf("127.0.0.1:%d", itPort)})
	proxy.Transport = &http.Transport{TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{clientCert},
		RootCAs: tgPool(t, filepath.Join(pki, "it-ca.crt")), ServerName: "localhost", MinVersion: tls.VersionTLS13}}
	proxy.ModifyResponse = p.answered
	proxy.ErrorHandler = func(w http.ResponseWriter, r *http.Request, err error) {
		if !errors.Is(err, errKilled) {
			p.note(r, "unavailable")
		}
		w.WriteHeader(http.StatusBadGateway)
	}
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		gate := p.gate
		p.mu.Unlock()
		if gate != nil {
			<-gate
		}
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(body))
		proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), lineKey{}, fedDelivery(r, body))))
	})
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS13}}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return p
}

// errKilled is the proxy's answer once it has killed the sender: nobody
// is left to read it.
var errKilled = errors.New("the sender was killed before the answer")

// answered records the peer's answer to one federation line; on the
// killAfter-th acceptance it kills the sender first.
func (p *peerProxy) answered(resp *http.Response) error {
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	resp.Body = io.NopCloser(bytes.NewReader(body))
	if err != nil {
		return err
	}
	var answer struct {
		Results []struct {
			Status string `json:"status"`
		} `json:"results"`
	}
	outcome := fmt.Sprintf("http %d", resp.StatusCode)
	if json.Unmarshal(body, &answer) == nil && len(answer.Results) == 1 {
		outcome = answer.Results[0].Status
	}
	p.note(resp.Request, outcome)
	p.mu.Lock()
	if outcome == "accepted" {
		p.accepted++
	}
	kill := outcome == "accepted" && p.accepted == p.killAfter
	p.mu.Unlock()
	if kill {
		if err := p.kill(); err != nil {
			return err
		}
		return errKilled
	}
	return nil
}

// fedDelivery reads the federation line of a request: its idempotency key
// and the record bytes of the signed delivery (unverified: Italy's gateway
// verifies what it takes).
func fedDelivery(r *http.Request, body []byte) received {
	d := received{key: r.Header.Get("Idempotency-Key")}
	var line struct {
		JWS string `json:"jws"`
	}
	if json.Unmarshal(bytes.TrimSpace(body), &line) == nil {
		if parts := strings.Split(line.JWS, "."); len(parts) == 3 {
			if raw, err := base64.RawURLEncoding.DecodeString(parts[1]); err == nil {
				var p sign.Delivery
				if json.Unmarshal(raw, &p) == nil {
					d.content = p.Record
				}
			}
		}
	}
	var rec struct {
		ID      string `json:"id"`
		Version int    `json:"version"`
	}
	_ = json.Unmarshal(d.content, &rec)
	d.record = fmt.Sprintf("%s@%d", rec.ID, rec.Version)
	return d
}

// note records the line a request carried and what became of it.
func (p *peerProxy) note(r *http.Request, outcome string) {
	d, _ := r.Context().Value(lineKey{}).(received)
	d.outcome = outcome
	p.mu.Lock()
	d.run = p.run
	p.log = append(p.log, d)
	p.mu.Unlock()
}

func (p *peerProxy) deliveries() []received {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]received(nil), p.log...)
}

func (p *peerProxy) set(f func(p *peerProxy)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	f(p)
}

// outboxKillPeer: entries queue while Italy's gateway is not running; the
// sender is killed; Italy's gateway starts; the sender, started on the same
// data directory, delivers them, and is killed after Italy's gateway
// accepted the third and before its signed receipt reached the sender;
// started once more, it sends that record again under the same key, and
// Italy's gateway answers it unchanged: stored once, accepted once in its
// audit log, and the sender keeps the receipt that says unchanged.
func outboxKillPeer(t *testing.T, pki string) {
	vaultAddr, vaultToken := testenv.Vault(t)
	vc := tgVault(t, vaultAddr, vaultToken)
	if _, err := vc.Logical().Write("transit/keys/"+tgITKey, map[string]any{"type": "ed25519"}); err != nil {
		t.Fatalf("create transit key %s: %v", tgITKey, err)
	}
	itPort, itOps := testenv.FreePort(t), testenv.FreePort(t)
	proxy := newPeerProxy(t, pki, itPort)
	s := newOutboxSender(t, pki, outboxPeer{
		member: "  - {id: IT/GOV/URA, name: Italy's ura gateway, nation: ITA, kind: gateway, clearance: RESTRICTED}\n",
		peers: fmt.Sprintf(`  peers:
    IT/GOV/URA:
      jwks_url: https://127.0.0.1:%d/.well-known/jwks.json
      ca_file: %[2]s/it-ca.crt
      cert_file: %[2]s/clients/AL_GOV_URA.crt
      key_file: %[2]s/clients/AL_GOV_URA.key
`, itPort, pki)}, fmt.Sprintf(`    - name: it-gateway
      kind: peer
      url: https://127.0.0.1:%d
      member: IT/GOV/URA
      kinds: [licence]
      ca_file: %[2]s/it-ca.crt
      client_cert_file: %[2]s/clients/AL_GOV_URA.crt
      client_key_file: %[2]s/clients/AL_GOV_URA.key
      timeout: 30s
      backoff_initial: 100ms
      backoff_max: 500ms
`, proxy.port, pki))
	proxy.kill = s.kill9
	itPolicy := filepath.Join(t.TempDir(), "it-policy")
	tgWritePolicy(t, itPolicy, "IT", "ITA")
	// Italy's own destination is the sender, which is sent nothing back:
	// AIM's records are of the sender's instance, and never queued for it.
	it := tgFixture(t, pki, vaultToken, itPort, itOps, fmt.Sprintf(tgITConfig,
		itPort, itOps, pki, itPolicy, vaultAddr, tgITKey, s.fx.port, s.fx.port))
	itMOD := tgClient(t, pki, "IT_GOV_MOD", "it-ca.crt")
	ids := outboxIDs("AIM-LIC-2026-OP")

	// Run 1: Italy's gateway is not running; the records queue.
	proxy.set(func(p *peerProxy) { p.run = 1 })
	s.start(t)
	s.push(t, ids)
	outboxAwait(t, "two refused attempts", func() bool { return len(proxy.deliveries()) >= 2 })
	if err := s.kill9(); err != nil {
		t.Fatal(err)
	}

	// Run 2: Italy's gateway is up; the proxy kills the sender once Italy
	// accepted the third record.
	itChild := it.start(t, "it", itMOD)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("Italy's gateway:\n%s", itChild.log())
		}
	})
	gate := make(chan struct{})
	proxy.set(func(p *peerProxy) { p.run, p.killAfter, p.gate = 2, outboxKillAt, gate })
	s.start(t)
	proxy.set(func(p *peerProxy) { p.gate = nil })
	close(gate)
	outboxAwait(t, "the kill after the third record", func() bool { return hasExited(s.current()) })

	// Run 3: the rest.
	proxy.set(func(p *peerProxy) { p.run, p.killAfter = 3, 0 })
	s.start(t)
	queued, parked, sent := s.stop(t, "it-gateway")
	// Italy's store: each record at version 1.
	for _, id := range ids {
		st, rec := tgGet(t, itMOD, fmt.Sprintf("https://127.0.0.1:%d", itPort), id)
		var v struct {
			Version int `json:"version"`
		}
		if st != http.StatusOK || json.Unmarshal(rec, &v) != nil || v.Version != 1 {
			t.Errorf("Italy's gateway holds %s as %d %s", id, st, rec)
		}
	}
	if err := itChild.stop(syscall.SIGTERM); err != nil {
		t.Errorf("SIGTERM ended Italy's gateway with %v", err)
	}
	if len(queued) != 0 || len(parked) != 0 {
		t.Errorf("the outbox holds %d queued and %d parked entries: %+v %+v", len(queued), len(parked), queued, parked)
	}

	ds := proxy.deliveries()
	byKey := checkKeys(t, ds)
	lost := ids[outboxKillAt-1] + "@1"
	for _, d := range ds {
		if d.run == 1 && d.outcome != "unavailable" {
			t.Errorf("run 1: %+v", d)
		}
	}
	for _, id := range ids {
		key := id + "@1"
		var accepted, unchanged int
		for _, d := range byKey[key] {
			switch d.outcome {
			case "accepted":
				accepted++
			case "unchanged":
				unchanged++
			case "unavailable":
			default:
				t.Errorf("%s: Italy's gateway answered %s in run %d", key, d.outcome, d.run)
			}
		}
		if accepted != 1 {
			t.Errorf("Italy's gateway accepted %s %d times (%d requests)", key, accepted, len(byKey[key]))
		}
		if key == lost && unchanged == 0 {
			t.Errorf("%s, accepted as the sender died, was not sent again after the restart", key)
		}
	}

	events := tgEvents(it.auditDir, func(e audit.Event) bool {
		return e.Action == "push" && e.Member == tgAL && e.RecordID != ""
	})
	type pushReq struct {
		allow, unchanged bool
		version          int
	}
	reqs := map[string]map[string]*pushReq{} // record id → request id → what it did
	for _, e := range events {
		if reqs[e.RecordID] == nil {
			reqs[e.RecordID] = map[string]*pushReq{}
		}
		pr := reqs[e.RecordID][e.RequestID]
		if pr == nil {
			pr = &pushReq{version: e.RecordVersion}
			reqs[e.RecordID][e.RequestID] = pr
		}
		pr.allow = pr.allow || e.Decision == "allow"
		pr.unchanged = pr.unchanged || tgHasCode(e, "unchanged")
	}
	for _, id := range ids {
		var stored, unchanged int
		for _, pr := range reqs[id] {
			switch {
			case pr.unchanged:
				unchanged++
			case pr.allow:
				stored++
			}
		}
		if stored != 1 {
			t.Errorf("Italy's audit log: %s stored by %d pushes (%d unchanged)", id, stored, unchanged)
		}
		if id+"@1" == lost && unchanged == 0 {
			t.Errorf("Italy's audit log: no unchanged push of %s", id)
		}
	}

	// The sender keeps, for every record, the receipt Italy signed; for the
	// one whose first receipt was lost, the one that says unchanged.
	got := map[string]string{}
	for _, e := range sent {
		if e.Receipt == nil {
			t.Errorf("%s@%d delivered without a receipt", e.ID, e.Version)
			continue
		}
		got[fmt.Sprintf("%s@%d", e.ID, e.Version)] = e.Receipt.Status
	}
	for _, id := range ids {
		st := got[id+"@1"]
		if st != "accepted" && st != "unchanged" {
			t.Errorf("%s: kept receipt %q", id, st)
		}
	}
	if got[lost] != "unchanged" {
		t.Errorf("%s: kept receipt %q, want unchanged", lost, got[lost])
	}
	t.Logf("peer: %d requests, receipts %v", len(ds), got)
}

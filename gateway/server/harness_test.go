package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/store/bolt"
	"github.com/ura-gateway/ura/adapters/upstream"
	"github.com/ura-gateway/ura/gateway/api/apitest"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/audit/audittest"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/ratelimit"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/sign"
)

// The one way the tests of this package start a gateway: startGateway
// runs New and Run over the test PKI with real mutual TLS until the test
// ends. Without options the gateway runs on the fakes of gateway/api/apitest
// (store, policy, signer, audit log, limiter); options change its config,
// give it other parts, or run the real embedded policy and the real audit
// chain.

// gatewayEnv is one running gateway and the parts it runs on.
type gatewayEnv struct {
	t    *testing.T
	p    *testPKI
	cfg  *config.Config
	srv  *Server
	addr string

	// records is the record store the gateway runs on, fake or real.
	records store.Store
	// The fakes the gateway runs on; each is nil when an option gave the
	// gateway another part in its place.
	store   *apitest.Store
	policy  *apitest.Policy
	signer  *apitest.Signer
	audit   *apitest.Audit
	limiter *apitest.Limiter

	// revision is the policy revision the gateway's decisions carry.
	revision string
	// engine is the embedded policy (withEmbeddedPolicy), or nil.
	engine *policy.OPA
	// bare: the embedded policy's store starts empty (withBareRegisters).
	bare bool

	// The real audit log (withAuditChain), or nil: the chain, the file
	// store under it (whose writes fail on demand), the signer of its
	// checkpoints, the directory of its segment files and the chain's own
	// log.
	chain       *audit.Chain
	auditStore  *apitest.AuditStore
	auditSigner *audittest.Signer
	auditDir    string
	auditLogs   *apitest.LogBuffer

	// logs is everything the gateway logged, from debug level up.
	logs    *apitest.LogBuffer
	clients map[string]*memberClient
	// stop stops the gateway and waits until it has (every request's
	// handler returned); the test's cleanup calls it too.
	stop func()
}

// gatewayOption changes how startGateway builds a gateway.
type gatewayOption func(*gatewaySetup)

type gatewaySetup struct {
	p         *testPKI
	cfg       *config.Config
	noFakes   bool
	configure []func(*config.Config)
	parts     []func(*gatewayEnv, *Deps)
	beforeRun []func(*Server)
}

// withPKI runs the gateway over p instead of a PKI of its own, for tests
// that prepare certificates or CRLs before it starts.
func withPKI(p *testPKI) gatewayOption {
	return func(s *gatewaySetup) { s.p = p }
}

// withConfig changes the config (testPKI.config) before the gateway is
// built; config options apply in order, all before any part is made.
// useConfig runs the gateway on cfg as it is (made with p.config() of the
// gateway's PKI), for tests that start several gateways on one config.
func useConfig(cfg *config.Config) gatewayOption {
	return func(s *gatewaySetup) { s.cfg = cfg }
}

func withConfig(f func(*config.Config)) gatewayOption {
	return func(s *gatewaySetup) { s.configure = append(s.configure, f) }
}

// withDeps changes the gateway's parts once the config is final; part
// options apply in the order given.
func withDeps(f func(*config.Config, *Deps)) gatewayOption {
	return func(s *gatewaySetup) {
		s.parts = append(s.parts, func(e *gatewayEnv, d *Deps) { f(e.cfg, d) })
	}
}

// withStore runs the gateway on st in place of the fake record store.
func withStore(st store.Store) gatewayOption {
	return withDeps(func(_ *config.Config, d *Deps) { d.Store = st })
}

// withSigner runs the gateway on s in place of the fake signer.
func withSigner(s sign.Signer) gatewayOption {
	return withDeps(func(_ *config.Config, d *Deps) { d.Signer = s })
}

// withLimiter runs the gateway on l in place of the fake limiter.
func withLimiter(l ratelimit.Limiter) gatewayOption {
	return withDeps(func(_ *config.Config, d *Deps) { d.Limiter = l })
}

// withAuditLog runs the gateway on l in place of the fake audit log.
func withAuditLog(l audit.Log) gatewayOption {
	return withDeps(func(_ *config.Config, d *Deps) { d.Audit = l })
}

// withForwarder gives the gateway an outbox (none by default).
func withForwarder(f upstream.Forwarder) gatewayOption {
	return withDeps(func(_ *config.Config, d *Deps) { d.Forwarder = f })
}

// withRealLimiter runs the gateway on the real GCRA limiter under the
// config's final rate limits: over the Redis at addr, or in the process
// when addr is empty.
func withRealLimiter(addr, password string) gatewayOption {
	return func(s *gatewaySetup) {
		if addr != "" {
			s.configure = append(s.configure, func(cfg *config.Config) {
				cfg.Redis.Addrs, cfg.Redis.Password = []string{addr}, password
			})
		}
		s.parts = append(s.parts, func(e *gatewayEnv, d *Deps) {
			var rdb redis.UniversalClient
			if addr != "" {
				c, err := ratelimit.NewClient(e.cfg.Redis, e.cfg.Path)
				if err != nil {
					e.t.Fatal(err)
				}
				e.t.Cleanup(func() { _ = c.Close() })
				rdb = c
			}
			d.Limiter = ratelimit.NewGCRA(rdb, e.cfg.RateLimit, slog.New(slog.DiscardHandler))
		})
	}
}

// withoutParts starts the gateway with none of the chain's parts but
// those other options give it, as a gateway whose chain is not configured.
func withoutParts() gatewayOption {
	return func(s *gatewaySetup) { s.noFakes = true }
}

// beforeRun calls f with the built server before it runs, for tests that
// mount routes of their own on its engine.
func beforeRun(f func(*Server)) gatewayOption {
	return func(s *gatewaySetup) { s.beforeRun = append(s.beforeRun, f) }
}

// withEmbeddedPolicy runs the gateway on the embedded policy over a real
// embedded store, whose registers each push reads: what every test that
// claims a mission behaviour runs on.
func withEmbeddedPolicy() gatewayOption {
	return func(s *gatewaySetup) {
		s.parts = append(s.parts, func(e *gatewayEnv, d *Deps) { e.embedPolicy(d, nil) })
	}
}

// withBareRegisters is withEmbeddedPolicy on a store that holds nothing,
// not even the authorisations the test licences name (storeConditions):
// for the tests of the licence conditions themselves.
func withBareRegisters() gatewayOption {
	return func(s *gatewaySetup) {
		s.parts = append(s.parts, func(e *gatewayEnv, d *Deps) {
			e.bare = true
			e.embedPolicy(d, nil)
		})
	}
}

// withShadowPolicy is withEmbeddedPolicy with the Rego module candidate
// evaluated beside it as the shadow policy.
func withShadowPolicy(candidate string) gatewayOption {
	return func(s *gatewaySetup) {
		s.parts = append(s.parts, func(e *gatewayEnv, d *Deps) {
			dir := e.t.TempDir()
			writeFile(e.t, filepath.Join(dir, "candidate.rego"), []byte(candidate))
			shadow := policy.DirSource(dir)
			e.embedPolicy(d, &shadow)
		})
	}
}

// withEmbeddedPolicyOn is withEmbeddedPolicy over st (several gateways on
// one PostgreSQL database: replicas).
func withEmbeddedPolicyOn(st store.Store) gatewayOption {
	return func(s *gatewaySetup) {
		s.parts = append(s.parts, func(e *gatewayEnv, d *Deps) { e.embedPolicyOn(d, nil, st) })
	}
}

func (e *gatewayEnv) embedPolicy(d *Deps, shadow *policy.Source) {
	t := e.t
	t.Helper()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "ura.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e.embedPolicyOn(d, shadow, st)
}

func (e *gatewayEnv) embedPolicyOn(d *Deps, shadow *policy.Source, st store.Store) {
	t := e.t
	t.Helper()
	ctx := context.Background()
	engine, err := policy.New(ctx, policy.Options{Timeout: 10 * time.Second, Shadow: shadow,
		Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(engine.Close)
	d.Store, d.Policy = st, engine
	e.engine = engine
	if !e.bare {
		e.storeConditions(st)
	}
}

// conditionIDs are the records storeConditions stores.
var conditionIDs = []string{"AIM-IA-2026-0001", "AIM-EUC-2026-0001", "AIM-EUC-2026-0002"}

// storeConditions stores the importing state's import authorisation and
// the end users' certificates that the test licences (the records package's sample, the policy package's licence)
// name, so that they are issued as the licence conditions require
// (gateway/ARCHITECTURE.md, "Licence conditions"): the registry every test
// on the embedded policy starts from. Stored again (a replica on a shared
// store), each is unchanged.
func (e *gatewayEnv) storeConditions(st store.Store) {
	t := e.t
	t.Helper()
	euc := polRecord(t, "end_user_certificate")
	docs := []map[string]any{polRecord(t, "import_authorisation"), euc,
		exWith(euc, "id", "AIM-EUC-2026-0002", "end_user_certificate.end_user.name", "Ministry of Defence")}
	body, err := json.Marshal(docs)
	if err != nil {
		t.Fatal(err)
	}
	recs, err := records.DecodeBatch(body, records.FormatJSON, records.Limits{MaxRecords: 10, MaxDepth: 16, MaxStringLength: 8192})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs {
		if r.Record == nil {
			t.Fatalf("condition record %d: %v", r.Index, r.Errors)
		}
		if _, err := st.Put(context.Background(), r.Record, nil); err != nil {
			t.Fatalf("store %s: %v", r.Record.ID, err)
		}
	}
}

// withAuditChain runs the gateway on the real audit chain over a file
// store whose writes can be made to fail (e.auditStore.Fail). An audittest
// signer signs the chain's checkpoints, one every checkpointEvery events
// (0: only when the test asks), and is the gateway's signer too, so that
// the console verifies proofs against the keys the gateway publishes.
func withAuditChain(checkpointEvery int64) gatewayOption {
	if checkpointEvery == 0 {
		checkpointEvery = 1 << 40
	}
	return func(s *gatewaySetup) {
		s.parts = append(s.parts, func(e *gatewayEnv, d *Deps) {
			t := e.t
			e.auditDir = t.TempDir()
			fs, err := audit.OpenFileStore(e.auditDir, audit.FileOptions{})
			if err != nil {
				t.Fatal(err)
			}
			e.auditStore = &apitest.AuditStore{Store: fs}
			e.auditSigner = audittest.NewSigner(t, "audit-test-1")
			e.auditLogs = &apitest.LogBuffer{}
			e.chain, err = audit.Open(context.Background(), audit.Options{Store: e.auditStore, Signer: e.auditSigner,
				CheckpointEvery: checkpointEvery, CheckpointInterval: time.Hour,
				Logger: slog.New(slog.NewTextHandler(e.auditLogs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = e.chain.Close() })
			d.Audit, d.Signer = e.chain, e.auditSigner
		})
	}
}

// startGateway runs a gateway until the test ends. It makes the test PKI
// (unless withPKI gives one), the config (testPKI.config, then every
// withConfig in order), the fakes of gateway/api/apitest for every part
// (unless withoutParts), then applies the part options in order, builds the
// server with New, calls the beforeRun hooks and runs it; the test's
// cleanup stops it and fails the test if it stopped with an error.
func startGateway(t *testing.T, opts ...gatewayOption) *gatewayEnv {
	t.Helper()
	var s gatewaySetup
	for _, o := range opts {
		o(&s)
	}
	e := &gatewayEnv{t: t, p: s.p, logs: &apitest.LogBuffer{}, clients: map[string]*memberClient{}}
	if e.p == nil {
		e.p = newTestPKI(t)
	}
	e.cfg = e.p.config()
	if s.cfg != nil {
		e.cfg = s.cfg
	}
	for _, f := range s.configure {
		f(e.cfg)
	}
	var d Deps
	if !s.noFakes {
		e.store, e.policy, e.signer, e.audit, e.limiter = apitest.NewStore(), &apitest.Policy{}, &apitest.Signer{}, &apitest.Audit{}, apitest.NewLimiter(nil)
		d = Deps{Store: e.store, Policy: e.policy, Signer: e.signer, Audit: e.audit, Limiter: e.limiter}
	}
	for _, f := range s.parts {
		f(e, &d)
	}
	e.forgetReplacedFakes(d)
	if err := e.cfg.Validate(); err != nil {
		t.Fatalf("test config invalid: %v", err)
	}
	srv, err := New(e.cfg, d, slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range s.beforeRun {
		f(srv)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	var stopped sync.Once
	e.stop = func() {
		stopped.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("server stopped with error: %v", err)
			}
		})
	}
	t.Cleanup(e.stop)
	e.srv, e.addr = srv, srv.Addr().String()
	return e
}

// forgetReplacedFakes drops the fakes the gateway does not run on, so that
// a test cannot read one by mistake, and notes the policy's revision.
func (e *gatewayEnv) forgetReplacedFakes(d Deps) {
	e.records = d.Store
	if e.store != nil && d.Store != e.store {
		e.store = nil
	}
	if e.policy != nil && d.Policy != e.policy {
		e.policy = nil
	}
	if e.signer != nil && d.Signer != e.signer {
		e.signer = nil
	}
	if e.audit != nil && d.Audit != e.audit {
		e.audit = nil
	}
	if e.limiter != nil && d.Limiter != e.limiter {
		e.limiter = nil
	}
	switch {
	case e.policy != nil:
		e.revision = apitest.PolicyRevision
	case e.engine != nil && d.Policy == e.engine:
		e.revision = e.engine.Revision()
	}
}

// memberClient is one member's HTTPS client to the test gateway.
type memberClient struct {
	t    *testing.T
	http *http.Client
	base string
}

// as is member's client, with a certificate of its own issued by the
// intermediate (by the Italian CA for IT/ members), kept alive between
// requests; the same client every time it is asked for.
func (e *gatewayEnv) as(member string) *memberClient {
	if c, ok := e.clients[member]; ok {
		return c
	}
	c := e.newClient(member)
	e.clients[member] = c
	return c
}

// newClient is a client of member with a certificate of its own, never
// shared with as.
func (e *gatewayEnv) newClient(member string) *memberClient {
	ca := e.p.inter
	if strings.HasPrefix(member, "IT/") {
		ca = e.p.it // partners' certificates come from their own CA
	}
	return &memberClient{t: e.t, http: e.p.client(e.p.member(ca, member), 0, true), base: "https://" + e.addr}
}

type memberResponse struct {
	status int
	header http.Header
	body   []byte
}

func (r memberResponse) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("response %d is not JSON: %.200q", r.status, r.body)
	}
	return m
}

// problem checks that r is problem+json with status and type.
func (r memberResponse) problem(t *testing.T, status int, typ string) map[string]any {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != problem.ContentType {
		t.Fatalf("Content-Type %q, want %s", ct, problem.ContentType)
	}
	m := r.json(t)
	if m["type"] != typ {
		t.Fatalf("problem type %v, want %s (%s)", m["type"], typ, r.body)
	}
	return m
}

func (c *memberClient) do(method, path, contentType, accept string, body []byte) memberResponse {
	c.t.Helper()
	req, _ := http.NewRequest(method, c.base+path, bytes.NewReader(body))
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	return c.send(req)
}

// send sends req as it is and reads the whole answer.
func (c *memberClient) send(req *http.Request) memberResponse {
	c.t.Helper()
	resp, err := c.http.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return memberResponse{status: resp.StatusCode, header: resp.Header, body: b}
}

func (c *memberClient) push(docs ...map[string]any) memberResponse {
	c.t.Helper()
	body, _ := json.Marshal(docs)
	return c.do(http.MethodPost, "/v1/records", "application/json", "", body)
}

func (c *memberClient) get(path string) memberResponse {
	c.t.Helper()
	return c.do(http.MethodGet, path, "", "", nil)
}

// stored is the id and version of every record in the gateway's store,
// but for those storeConditions put there.
func (e *gatewayEnv) stored(t *testing.T) []string {
	t.Helper()
	var out []string
	err := e.records.Query(context.Background(), store.Query{}, func(r *records.Record, _ string) error {
		if slices.Contains(conditionIDs, r.ID) {
			return nil
		}
		out = append(out, fmt.Sprintf("%s v%d", r.ID, r.Version))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// chainEvents reads the whole audit chain (withAuditChain) back.
func (e *gatewayEnv) chainEvents(t *testing.T) []audit.Event {
	t.Helper()
	var out []audit.Event
	var buf bytes.Buffer
	if err := e.chain.Export(context.Background(), &buf, 1); err != nil {
		t.Fatal(err)
	}
	err := audit.ReadExport(&buf, func(line []byte) error {
		ent, err := audit.ParseLine(line)
		out = append(out, ent.Event)
		return err
	}, func(audit.SignedCheckpoint) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// fakeForwarder stays here, not in api/apitest: the outbox's own tests use
// apitest, and the outbox package is what it fakes.
// fakeForwarder is an outbox that keeps the ids of the records queued, in
// order; Fail makes it refuse, as a full outbox disk would.
type fakeForwarder struct {
	mu   sync.Mutex
	ids  []string
	Fail atomic.Bool
}

var _ upstream.Forwarder = (*fakeForwarder)(nil)

func (f *fakeForwarder) EnqueueDecided(_ context.Context, recs []upstream.Decided) error {
	if f.Fail.Load() {
		return errors.New("outbox disk full")
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, d := range recs {
		f.ids = append(f.ids, d.Record.ID)
	}
	return nil
}

// IDs are the ids of the records queued so far.
func (f *fakeForwarder) IDs() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ids)
}

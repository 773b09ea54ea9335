package server

import (
	"bytes"
	"context"
	"log/slog"
	"sync"
	"testing"

	"github.com/ura-gateway/ura/gateway/api/apitest"
	"github.com/ura-gateway/ura/gateway/config"
)

// exEnv is a gateway with fake parts, over real mutual TLS.
type exEnv struct {
	p       *testPKI
	srv     *Server
	addr    string
	store   *apitest.Store
	policy  *apitest.Policy
	signer  *apitest.Signer
	audit   *apitest.Audit
	limiter *apitest.Limiter
	clients map[string]*exClient
	logs    *exLogBuffer
}

// exLogBuffer holds everything the gateway logged, for tests that check
// what must never be in a log.
type exLogBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *exLogBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *exLogBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func exConfig(p *testPKI) *config.Config {
	cfg := p.config()
	cfg.Members = append(cfg.Members,
		config.Member{ID: "AL/GOV/DPD", Name: "Customs", Nation: "ALB", Kind: "customs", Clearance: "RESTRICTED"},
		config.Member{ID: "NATO/ORG/LIAISON", Name: "NATO liaison", Nation: "NATO", Kind: "liaison", Clearance: "SECRET"})
	return cfg
}

// exStart starts a gateway over deps (fakes are filled in where nil).
func exStart(t *testing.T, mutate func(*config.Config, *Deps)) *exEnv {
	t.Helper()
	p := newTestPKI(t)
	cfg := exConfig(p)
	e := &exEnv{p: p, store: apitest.NewStore(), policy: &apitest.Policy{}, signer: &apitest.Signer{}, audit: &apitest.Audit{},
		limiter: apitest.NewLimiter(nil), clients: map[string]*exClient{}, logs: &exLogBuffer{}}
	deps := Deps{Store: e.store, Policy: e.policy, Registers: e.policy, Signer: e.signer, Audit: e.audit, Limiter: e.limiter}
	if mutate != nil {
		mutate(cfg, &deps)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("test config invalid: %v", err)
	}
	srv, err := New(cfg, deps, slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
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
	e.srv, e.addr = srv, srv.Addr().String()
	return e
}

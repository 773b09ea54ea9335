package server

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/api/apitest"
	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/ratelimit"
	"github.com/ura-gateway/ura/gateway/records"
)

// Refusals by a limit are in the audit log, collapsed: the first of a
// window at once, the rest counted into one summary written when the
// window closes or, as here, when the gateway stops.

// refusalEvents splits the log's refusal events into first events and
// summaries.
func refusalEvents(log *apitest.Audit) (firsts, summaries []audit.Event) {
	for _, ev := range log.All() {
		switch ev.Action {
		case chain.ActionRateLimited:
			firsts = append(firsts, ev)
		case chain.ActionRateLimitedSummary:
			summaries = append(summaries, ev)
		}
	}
	return firsts, summaries
}

// refusalWait polls until the log holds n first refusal events.
func refusalWait(t *testing.T, log *apitest.Audit, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		firsts, _ := refusalEvents(log)
		if len(firsts) >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d first refusal events after 30s, want %d", len(firsts), n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// refusalMetric reads one counter of the gateway's registry.
func refusalMetric(t *testing.T, g prometheus.Gatherer, name, reason string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "reason" && lp.GetValue() == reason {
					return m.GetCounter().GetValue()
				}
			}
		}
	}
	return 0
}

// TestRefusalAuditRateLimitFlood: a member flooding traces over a limit of
// two gets exactly the 429s beyond it; the log holds one event for the
// first refusal while the gateway runs, and after a clean stop one summary
// counting every other refusal.
func TestRefusalAuditRateLimitFlood(t *testing.T) {
	const (
		budget = 2
		flood  = 12
	)
	var (
		log     *apitest.Audit
		refused []string // request IDs of the 429s, in order
	)
	t.Run("serve", func(t *testing.T) {
		e := startGateway(t, withDeps(func(cfg *config.Config, d *Deps) {
			cfg.Audit.RefusalWindow = time.Minute // the whole flood in one window
			d.Limiter = apitest.NewLimiter(map[ratelimit.Class]int{ratelimit.ClassTrace: budget})
		}))
		log = e.audit
		for range flood {
			r := e.as("IT/GOV/MOD").get("/v1/items/ALB/KAYO/K26-000123/trace")
			if r.status == http.StatusTooManyRequests {
				r.problem(t, http.StatusTooManyRequests, "urn:ura:problem:rate-limited")
				refused = append(refused, r.header.Get("X-Request-Id"))
			} else if r.status != http.StatusOK {
				t.Fatalf("trace answered %d: %s", r.status, r.body)
			}
		}
		if len(refused) != flood-budget {
			t.Fatalf("%d refusals of %d traces over a limit of %d, want %d", len(refused), flood, budget, flood-budget)
		}
		// The first refusal is written at once; the rest wait for the window.
		refusalWait(t, log, 1)
		firsts, summaries := refusalEvents(log)
		if len(firsts) != 1 || len(summaries) != 0 {
			t.Fatalf("while serving: %d first events and %d summaries, want 1 and 0", len(firsts), len(summaries))
		}
		ev := firsts[0]
		if ev.RequestID != refused[0] || ev.Member != "IT/GOV/MOD" || ev.Decision != audit.DecisionDeny ||
			ev.Status != http.StatusTooManyRequests || ev.Route != "/v1/items/:country/:manufacturer/:serial/trace" ||
			len(ev.Reasons) != 1 || ev.Reasons[0].Code != chain.ReasonRateLimited || ev.Collapsed != 0 {
			t.Fatalf("first refusal event %+v", ev)
		}
		reg := e.srv.metrics.registry
		if got := refusalMetric(t, reg, "ura_audit_refusals_total", chain.ReasonRateLimited); got != flood-budget {
			t.Errorf("ura_audit_refusals_total %v, want %d", got, flood-budget)
		}
		if got := refusalMetric(t, reg, "ura_audit_refusals_collapsed_total", chain.ReasonRateLimited); got != flood-budget-1 {
			t.Errorf("ura_audit_refusals_collapsed_total %v, want %d", got, flood-budget-1)
		}
	}) // the subtest's cleanup stops the gateway: Run returns after the flush
	if t.Failed() {
		return
	}
	firsts, summaries := refusalEvents(log)
	if len(firsts) != 1 || len(summaries) != 1 {
		t.Fatalf("after the stop: %d first events and %d summaries, want 1 and 1", len(firsts), len(summaries))
	}
	sum := summaries[0]
	if sum.Collapsed != flood-budget-1 || sum.RequestID != refused[0] || sum.Member != "IT/GOV/MOD" ||
		sum.Decision != audit.DecisionDeny || sum.Status != http.StatusTooManyRequests ||
		sum.Route != firsts[0].Route || sum.Reasons[0].Code != chain.ReasonRateLimited {
		t.Fatalf("summary %+v, want %d collapsed", sum, flood-budget-1)
	}
}

// gateStore holds every scan until released.
type gateStore struct {
	*apitest.Store
	entered chan struct{}
	release chan struct{}
}

func (g *gateStore) Query(ctx context.Context, q store.Query, fn func(*records.Record, string) error) error {
	g.entered <- struct{}{}
	<-g.release
	return g.Store.Query(ctx, q, fn)
}

// TestRefusalAuditInFlight: the refusals of the in-flight cap are audited
// the same way, under their own reason.
func TestRefusalAuditInFlight(t *testing.T) {
	const refusals = 5
	var log *apitest.Audit
	t.Run("serve", func(t *testing.T) {
		gate := &gateStore{Store: apitest.NewStore(), entered: make(chan struct{}, 1), release: make(chan struct{})}
		e := startGateway(t, withDeps(func(cfg *config.Config, d *Deps) {
			cfg.HTTP.MaxInFlightPerMember = 1
			cfg.Audit.RefusalWindow = time.Minute
			d.Store = gate
		}))
		log = e.audit
		aim := e.as("AL/GOV/AIM")
		held := make(chan int, 1)
		go func() {
			resp, err := aim.http.Get(aim.base + "/v1/items/ALB/KAYO/K26-000123/trace")
			if err != nil {
				held <- 0
				return
			}
			resp.Body.Close()
			held <- resp.StatusCode
		}()
		<-gate.entered // AIM's one request in progress
		for range refusals {
			r := aim.get("/v1/whoami")
			r.problem(t, http.StatusTooManyRequests, "urn:ura:problem:rate-limited")
		}
		close(gate.release)
		if code := <-held; code != http.StatusOK {
			t.Fatalf("the held trace answered %d", code)
		}
		refusalWait(t, log, 1)
	})
	if t.Failed() {
		return
	}
	firsts, summaries := refusalEvents(log)
	if len(firsts) != 1 || len(summaries) != 1 {
		t.Fatalf("%d first events and %d summaries, want 1 and 1", len(firsts), len(summaries))
	}
	if ev := firsts[0]; ev.Member != "AL/GOV/AIM" || ev.Route != "/v1/whoami" || ev.Reasons[0].Code != chain.ReasonTooManyInFlight {
		t.Fatalf("first in-flight refusal %+v", ev)
	}
	if sum := summaries[0]; sum.Collapsed != refusals-1 || sum.Reasons[0].Code != chain.ReasonTooManyInFlight || sum.Route != "/v1/whoami" {
		t.Fatalf("in-flight summary %+v, want %d collapsed", sum, refusals-1)
	}
}

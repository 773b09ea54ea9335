package server

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/problem"
)

// Every request pays before it costs. Each test floods the gateway, as the
// Italian partner, with requests that once cost it work and the partner
// nothing, and requires a 429 within the partner's limit.

// floodLimits gives the partner limits per hour, small enough that a
// flood meets them within a few dozen requests.
func floodLimits(cfg *config.Config) {
	hour := func(n int) *config.Rate { return &config.Rate{Rate: n, Burst: n, Period: time.Hour} }
	if cfg.RateLimit.Members == nil {
		cfg.RateLimit.Members = map[string]config.MemberRateLimit{}
	}
	cfg.RateLimit.Members["IT/GOV/HIDDEN"] = config.MemberRateLimit{RateClasses: config.RateClasses{
		Push: hour(200), Pull: hour(1000), Trace: hour(30), Audit: hour(20)}}
}

// flood sends up to n requests and returns how many were answered before
// the first 429, failing if none came.
func flood(t *testing.T, n int, send func() memberResponse) int {
	t.Helper()
	for i := range n {
		r := send()
		if r.status == http.StatusTooManyRequests {
			r.problem(t, http.StatusTooManyRequests, problem.TypeRateLimited)
			// Retry-After is absent only when waiting cannot help (a
			// request larger than the whole limit).
			if r.header.Get("RateLimit") == "" {
				t.Errorf("429 without RateLimit: %v", r.header)
			}
			return i
		}
	}
	t.Fatalf("%d requests and no 429", n)
	return n
}

// TestFloodHiddenPulls: pulls that match only records the partner may not
// see cost their limit all the same, page by page.
func TestFloodHiddenPulls(t *testing.T) {
	e, _ := oracleEnv(t, withConfig(floodLimits))
	n := flood(t, 300, func() memberResponse {
		return e.as("IT/GOV/HIDDEN").get("/v1/records?kind=licence&originator=AL/GOV/AIM&limit=100")
	})
	if n > 10 {
		t.Errorf("%d pages of hidden records before a 429; the limit allows 9", n)
	}
}

// TestFloodLargeBodies: bodies over the size limit were refused 413 after
// nothing was charged; their declared size is now paid before they are read.
func TestFloodLargeBodies(t *testing.T) {
	e, _ := oracleEnv(t, withConfig(floodLimits))
	body := bytes.Repeat([]byte(" "), 7<<20)
	n := flood(t, 60, func() memberResponse {
		return e.as("IT/GOV/HIDDEN").do(http.MethodPost, "/v1/records", "application/json", "", body)
	})
	if n > 0 {
		t.Errorf("%d bodies of 7 MB before a 429; one costs more than the whole push limit", n)
	}
}

// TestFloodRefusedAuditRequests: a partner asking the audit API is refused
// 403, and each refusal is an audit event; now each also pays the audit
// class, so the flood of refusals (and of events) stops at the limit.
func TestFloodRefusedAuditRequests(t *testing.T) {
	e, _ := oracleEnv(t, withConfig(floodLimits))
	before := len(e.audit.All())
	n := flood(t, 500, func() memberResponse { return e.as("IT/GOV/HIDDEN").get("/v1/audit/summary") })
	if n > 20 {
		t.Errorf("%d refused audit requests before a 429; the limit allows 20", n)
	}
	// The 429 that ended the flood is audited too, as a refusal by the
	// limit (chain.Refusals: one event, later ones of its window counted).
	written, refusals := 0, 0
	for _, ev := range e.audit.All()[before:] {
		if ev.Action == chain.ActionRateLimited || ev.Action == chain.ActionRateLimitedSummary {
			refusals++
			continue
		}
		written++
	}
	if written > 20 {
		t.Errorf("%d audit events for the flood; at most one per request within the limit", written)
	}
	if refusals > 1 {
		t.Errorf("%d audit events for the one 429; at most one", refusals)
	}
}

// TestFloodTraces: a trace costs one of its class, whatever it finds.
func TestFloodTraces(t *testing.T) {
	e, _ := oracleEnv(t, withConfig(floodLimits))
	n := flood(t, 100, func() memberResponse { return e.as("IT/GOV/HIDDEN").get("/v1/items/ALB/KAYO/K26-000123/trace") })
	if n > 30 {
		t.Errorf("%d traces before a 429; the limit allows 30", n)
	}
	if strings.Contains(e.logs.String(), "panic") {
		t.Error("a panic was logged")
	}
}

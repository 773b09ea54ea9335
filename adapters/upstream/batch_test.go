package upstream

import (
	"bytes"
	"context"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ura-gateway/ura/gateway/api/apitest"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// countingAudit counts the Append calls per route of their events.
type countingAudit struct {
	*apitest.Audit
	mu    sync.Mutex
	calls map[string]int
}

func (a *countingAudit) Append(ctx context.Context, events ...audit.Event) error {
	_, err := a.AppendSeq(ctx, events...)
	return err
}

func (a *countingAudit) AppendSeq(ctx context.Context, events ...audit.Event) (int64, error) {
	if len(events) > 0 {
		a.mu.Lock()
		a.calls[events[0].Route]++
		a.mu.Unlock()
	}
	return a.Audit.AppendSeq(ctx, events...)
}

func (a *countingAudit) appends(route string) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.calls[route]
}

// erringEngine is the real embedded policy, except that the question about
// one record fails as an engine's does (policy_error, not allowed).
type erringEngine struct {
	policy.Engine
	id string
}

func (e *erringEngine) Decide(ctx context.Context, in policy.Input) policy.Decision {
	if in.Record != nil && in.Record.ID == e.id {
		return policy.Decision{ID: "failed", Revision: "rev-failed",
			Reasons: []verdict.Reason{{Code: policy.ReasonError, Message: "the policy failed while deciding"}}}
	}
	return e.Engine.Decide(ctx, in)
}

func (e *erringEngine) DecideChunk(ctx context.Context, in []policy.Input) []policy.Decision {
	out := e.Engine.DecideChunk(ctx, in)
	for i := range in {
		if in[i].Record != nil && in[i].Record.ID == e.id {
			out[i] = e.Decide(ctx, in[i])
		}
	}
	return out
}

// batched is a peer gateway and a partner's back office (both IT/GOV/URA)
// fed by one outbox whose audit log counts its appends.
type batched struct {
	d        *deps
	o        *Outbox
	audit    *countingAudit
	peer     *peerGateway
	office   *backOffice
	officeUp *upstreamServer
	// unaudited lists the requests that reached a destination before
	// their forward event was in the log.
	mu        sync.Mutex
	unaudited []string
}

func newBatched(t *testing.T, engine func(policy.Engine) policy.Engine) *batched {
	t.Helper()
	p := newPKI(t)
	b := &batched{d: newDeps(), office: newBackOffice()}
	b.peer = newPeerGateway(t, b.d, itID)
	b.audit = &countingAudit{Audit: b.d.audit, calls: map[string]int{}}
	peerUp := newUpstream(t, p.serverTLS(p.inter, p.root), b.peer)
	b.officeUp = newUpstream(t, p.serverTLS(p.inter, p.root), b.office)
	peerUp.start()
	b.officeUp.start()
	audited := func(route string) func(*http.Request, delivery) {
		return func(_ *http.Request, dl delivery) {
			for _, ev := range b.d.forwards() {
				if ev.Route == route && keyOf(ev.RecordID, ev.RecordVersion) == dl.key {
					return
				}
			}
			b.mu.Lock()
			b.unaudited = append(b.unaudited, route+" "+dl.key)
			b.mu.Unlock()
		}
	}
	b.office.hold = audited("outbox:it-office")
	b.peer.hold = audited("outbox:it-gateway")
	office := p.destination("it-office", "http", b.officeUp.url(), records.KindLicence)
	office.Member = itID
	opts := b.d.options(t)
	opts.Audit = b.audit
	if engine != nil {
		opts.Policy = engine(opts.Policy)
	}
	o, err := open(config.Upstream{Destinations: []config.Destination{
		p.destination("it-gateway", "peer", peerUp.url(), records.KindLicence), office},
		Outbox: config.Outbox{Path: filepath.Join(t.TempDir(), "outbox.db")}}, nil, opts, deliverBatch)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = o.Close() })
	b.o = o
	return b
}

// enqueueAtOnce stores recs and queues them with one commit, so that a
// worker finds them all in its first batch.
func (b *batched) enqueueAtOnce(t *testing.T, recs ...*records.Record) {
	t.Helper()
	b.d.put(t, recs...)
	if err := b.o.EnqueueBatch(ctx, recs); err != nil {
		t.Fatal(err)
	}
}

func (b *batched) settled(t *testing.T) {
	t.Helper()
	waitFor(t, "both queues to drain", func() bool {
		return drained(t, b.o, "it-gateway") && drained(t, b.o, "it-office")
	})
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.unaudited) > 0 {
		t.Errorf("sent before its forward event was in the audit log: %v", b.unaudited)
	}
}

// forwardsOn are the forward events of a destination, in log order.
func (b *batched) forwardsOn(dest string) []audit.Event {
	var out []audit.Event
	for _, ev := range b.d.forwards() {
		if ev.Route == "outbox:"+dest {
			out = append(out, ev)
		}
	}
	return out
}

// TestOutboxBatch: entries queued together are decided by the real
// embedded policy and audited as one batch per destination (one Append),
// and each failure in the batch stays its own: a record the policy
// withholds (not releasable, above the member's clearance, the policy
// failing on it) is audited as withheld and never sent, a record the back
// office refuses (422) is parked, and every other record arrives, in
// order, signed for the peer, each request after its forward event.
func TestOutboxBatch(t *testing.T) {
	b := newBatched(t, func(e policy.Engine) policy.Engine { return &erringEngine{Engine: e, id: "AIM-LIC-2026-000204"} })
	b.office.respond = func(dl delivery, _ int) (int, http.Header, string) {
		if dl.key == keyOf("AIM-LIC-2026-000203", 1) {
			return http.StatusUnprocessableEntity, nil, ""
		}
		return http.StatusCreated, nil, ""
	}
	recs := []*records.Record{
		licence(t, "AIM-LIC-2026-000201", 1, "RESTRICTED", "ALB", "ITA"),
		licence(t, "AIM-LIC-2026-000202", 1, "RESTRICTED", "ALB"), // not releasable to ITA
		licence(t, "AIM-LIC-2026-000203", 1, "RESTRICTED", "ALB", "ITA"),
		licence(t, "AIM-LIC-2026-000204", 1, "RESTRICTED", "ALB", "ITA"), // the policy fails on it
		licence(t, "AIM-LIC-2026-000205", 1, "CONFIDENTIAL", "ALB", "ITA"),
		licence(t, "AIM-LIC-2026-000206", 1, "SECRET", "ALB", "ITA"), // above CONFIDENTIAL
	}
	b.enqueueAtOnce(t, recs...)
	b.settled(t)

	sentIDs := func(reqs []delivery) []string {
		var ids []string
		for _, r := range reqs {
			ids = append(ids, r.key)
		}
		return ids
	}
	officeReqs, _, _ := b.office.snapshot()
	if got, want := sentIDs(officeReqs), []string{"AIM-LIC-2026-000201@1", "AIM-LIC-2026-000203@1", "AIM-LIC-2026-000205@1"}; !slices.Equal(got, want) {
		t.Errorf("the back office got %v, want %v", got, want)
	}
	peerReqs, _, _ := b.peer.snapshot()
	if got, want := sentIDs(peerReqs), []string{"AIM-LIC-2026-000201@1", "AIM-LIC-2026-000203@1", "AIM-LIC-2026-000205@1"}; !slices.Equal(got, want) {
		t.Errorf("the peer got %v, want %v", got, want)
	}
	_, dels, _ := b.peer.received(t) // every line verifies against the sender's key
	if len(dels) != 3 {
		t.Errorf("%d signed deliveries", len(dels))
	}
	wire := append(wire(peerReqs), wire(officeReqs)...)
	for _, id := range []string{"AIM-LIC-2026-000202", "AIM-LIC-2026-000204", "AIM-LIC-2026-000206"} {
		if bytes.Contains(wire, []byte(id)) {
			t.Errorf("%s, withheld, reached a destination", id)
		}
	}
	parked, err := b.o.ParkedEntries("it-office")
	if err != nil || len(parked) != 1 || parked[0].ID != "AIM-LIC-2026-000203" || parked[0].Status != http.StatusUnprocessableEntity {
		t.Errorf("parked at the back office: %+v (%v)", parked, err)
	}

	withheld := map[string]string{"AIM-LIC-2026-000202": "not_releasable", "AIM-LIC-2026-000204": policy.ReasonError,
		"AIM-LIC-2026-000206": "clearance_insufficient"}
	for _, dest := range []string{"it-gateway", "it-office"} {
		evs := b.forwardsOn(dest)
		var order []string
		for _, ev := range evs {
			order = append(order, ev.RecordID)
			code, isWithheld := withheld[ev.RecordID]
			switch {
			case isWithheld && (ev.Decision != audit.DecisionWithhold || !slices.Contains(reasonCodesOf(ev), code)):
				t.Errorf("%s: %s audited %s %v, want withheld for %s", dest, ev.RecordID, ev.Decision, reasonCodesOf(ev), code)
			case !isWithheld && ev.Decision == audit.DecisionWithhold:
				t.Errorf("%s: %s audited withheld %v", dest, ev.RecordID, reasonCodesOf(ev))
			case ev.Member != itID || ev.Seq == 0:
				t.Errorf("%s: event %+v", dest, ev)
			}
		}
		var want []string
		for _, r := range recs {
			want = append(want, r.ID)
		}
		if !slices.Equal(order, want) {
			t.Errorf("%s: forward events for %v, want one each, in order: %v", dest, order, want)
		}
		if n := b.audit.appends("outbox:" + dest); n != 1 {
			t.Errorf("%s: %d audit appends for one batch, want 1", dest, n)
		}
		if got := testutil.ToFloat64(b.o.m.withheld.WithLabelValues(dest)); got != 3 {
			t.Errorf("%s: ura_outbox_withheld_total = %v", dest, got)
		}
	}
	if got := testutil.ToFloat64(b.o.m.delivered.WithLabelValues("it-office")); got != 2 {
		t.Errorf("back office delivered %v, want 2", got)
	}
}

// TestOutboxBatchRetry: a record the back office answers 503 holds up the
// records behind it in its batch (nothing is sent out of order) and is
// retried alone, with backoff, until the back office takes it; only then
// do the others go, each stored once, in order. The records behind it are
// not decided again at each of its retries.
func TestOutboxBatchRetry(t *testing.T) {
	b := newBatched(t, nil)
	failing := keyOf("AIM-LIC-2026-000302", 1)
	b.office.respond = func(dl delivery, n int) (int, http.Header, string) {
		reqs, _, _ := b.office.snapshot()
		tries := 0
		for _, r := range reqs {
			if r.key == failing {
				tries++
			}
		}
		if dl.key == failing && tries <= 3 {
			return http.StatusServiceUnavailable, nil, ""
		}
		return http.StatusCreated, nil, ""
	}
	var recs []*records.Record
	for _, id := range []string{"AIM-LIC-2026-000301", "AIM-LIC-2026-000302", "AIM-LIC-2026-000303", "AIM-LIC-2026-000304"} {
		recs = append(recs, licence(t, id, 1, "RESTRICTED", "ALB", "ITA"))
	}
	b.enqueueAtOnce(t, recs...)
	b.settled(t)

	reqs, _, _ := b.office.snapshot()
	var order []string
	for _, r := range reqs {
		order = append(order, r.key)
	}
	want := []string{"AIM-LIC-2026-000301@1", failing, failing, failing, failing, "AIM-LIC-2026-000303@1", "AIM-LIC-2026-000304@1"}
	if !slices.Equal(order, want) {
		t.Errorf("the back office got %v, want %v", order, want)
	}
	if got := testutil.ToFloat64(b.o.m.failed.WithLabelValues("it-office", "http_5xx")); got != 3 {
		t.Errorf("failed attempts %v, want 3", got)
	}
	count := map[string]int{}
	for _, ev := range b.forwardsOn("it-office") {
		count[ev.RecordID]++
	}
	// 302: one event per attempt (4). 303 and 304: decided in the first
	// batch, behind 302, and again after it: twice, not once per retry.
	if count["AIM-LIC-2026-000301"] != 1 || count["AIM-LIC-2026-000302"] != 4 ||
		count["AIM-LIC-2026-000303"] != 2 || count["AIM-LIC-2026-000304"] != 2 {
		t.Errorf("forward events per record %v", count)
	}
	// The peer, which never failed, had every record in one batch.
	peerReqs, _, _ := b.peer.snapshot()
	if len(peerReqs) != 4 || b.audit.appends("outbox:it-gateway") != 1 {
		t.Errorf("peer: %d requests, %d appends", len(peerReqs), b.audit.appends("outbox:it-gateway"))
	}
}

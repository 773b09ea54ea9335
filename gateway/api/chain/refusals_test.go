package chain

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ura-gateway/ura/gateway/api/apitest"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/ratelimit"
)

// clock is a test clock that moves only when told.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func newTestRefusals(t *testing.T, log audit.Log, window time.Duration) (*Refusals, *clock) {
	t.Helper()
	clk := &clock{t: time.Date(2026, 3, 1, 9, 30, 0, 0, time.UTC)}
	r, err := NewRefusals(log, RefusalOptions{Window: window, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Registerer: prometheus.NewRegistry(), Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	return r, clk
}

func pullRefusal(member, rid string) Refusal {
	return Refusal{Member: member, Scope: string(ratelimit.ClassPull), Reason: ReasonRateLimited, Route: "/v1/records",
		RequestID: rid, Detail: "the pull limit of 10 records per minute is exhausted; retry after 7 s"}
}

func flushNow(t *testing.T, r *Refusals) {
	t.Helper()
	if err := r.flush(context.Background(), false); err != nil {
		t.Fatal(err)
	}
}

// TestRefusalsWindow: the first refusal of a key is an event at once, the
// rest of its window only a count, written in one summary when the window
// closes; the next refusal opens a new window with an event of its own.
func TestRefusalsWindow(t *testing.T) {
	log := &apitest.Audit{}
	r, clk := newTestRefusals(t, log, 10*time.Second)
	r.Refused(pullRefusal("IT/GOV/MOD", "r0"))
	flushNow(t, r)
	evs := log.All()
	if len(evs) != 1 {
		t.Fatalf("%d events after the first refusal, want 1", len(evs))
	}
	first := evs[0]
	if first.Action != ActionRateLimited || first.Decision != audit.DecisionDeny || first.Status != http.StatusTooManyRequests ||
		first.Member != "IT/GOV/MOD" || first.Route != "/v1/records" || first.RequestID != "r0" || first.Collapsed != 0 ||
		len(first.Reasons) != 1 || first.Reasons[0].Code != ReasonRateLimited || first.Reasons[0].Message == "" {
		t.Fatalf("first event %+v", first)
	}
	for i := 1; i <= 5; i++ {
		clk.add(time.Second)
		r.Refused(pullRefusal("IT/GOV/MOD", fmt.Sprintf("r%d", i)))
	}
	clk.add(4 * time.Second) // 9 s: the window is still open
	flushNow(t, r)
	if n := len(log.All()); n != 1 {
		t.Fatalf("%d events inside the window, want still 1", n)
	}
	clk.add(time.Second) // 10 s: it closes
	flushNow(t, r)
	evs = log.All()
	if len(evs) != 2 {
		t.Fatalf("%d events after the window, want 2", len(evs))
	}
	sum := evs[1]
	if sum.Action != ActionRateLimitedSummary || sum.Collapsed != 5 || sum.Status != http.StatusTooManyRequests ||
		sum.Decision != audit.DecisionDeny || sum.RequestID != "r0" || sum.Route != "/v1/records" || sum.Member != "IT/GOV/MOD" ||
		len(sum.Reasons) != 1 || sum.Reasons[0].Code != ReasonRateLimited {
		t.Fatalf("summary %+v", sum)
	}
	if got := testutil.ToFloat64(r.collapsed.WithLabelValues(ReasonRateLimited)); got != 5 {
		t.Errorf("collapsed metric %v, want 5", got)
	}
	if got := testutil.ToFloat64(r.seen.WithLabelValues(ReasonRateLimited)); got != 6 {
		t.Errorf("refusals metric %v, want 6", got)
	}

	// A new window: its first refusal is an event again, and a window with
	// nothing more closes without a summary.
	clk.add(time.Second)
	r.Refused(pullRefusal("IT/GOV/MOD", "r6"))
	flushNow(t, r)
	clk.add(10 * time.Second)
	flushNow(t, r)
	evs = log.All()
	if len(evs) != 3 || evs[2].Action != ActionRateLimited || evs[2].RequestID != "r6" {
		t.Fatalf("after a second window: %d events, last %+v", len(evs), evs[len(evs)-1])
	}
	if len(r.open) != 0 {
		t.Fatalf("%d windows still open", len(r.open))
	}
}

// TestRefusalsKeys: member, scope and reason each make a key of their own;
// routes of one scope share its key, and a summary over several routes
// names none.
func TestRefusalsKeys(t *testing.T) {
	log := &apitest.Audit{}
	r, _ := newTestRefusals(t, log, 10*time.Second)
	inFlight := Refusal{Member: "IT/GOV/MOD", Scope: ScopeInFlight, Reason: ReasonTooManyInFlight, Route: "/v1/whoami", RequestID: "f0",
		Detail: "at most 3 requests of one member may be in progress at once"}
	get := pullRefusal("IT/GOV/MOD", "g1")
	get.Route = "/v1/records/:id"
	trace := pullRefusal("IT/GOV/MOD", "t0")
	trace.Scope, trace.Route = string(ratelimit.ClassTrace), "/v1/items/:country/:manufacturer/:serial/trace"
	for _, x := range []Refusal{pullRefusal("IT/GOV/MOD", "p0"), pullRefusal("AL/GOV/DPD", "d0"), inFlight, trace, get, inFlight, trace} {
		r.Refused(x)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	firsts, summaries := map[string]audit.Event{}, map[string]audit.Event{}
	for _, ev := range log.All() {
		switch ev.Action {
		case ActionRateLimited:
			firsts[ev.RequestID] = ev
		case ActionRateLimitedSummary:
			summaries[ev.RequestID] = ev
		}
	}
	if len(firsts) != 4 || len(summaries) != 3 {
		t.Fatalf("%d first events (want 4 keys) and %d summaries (want 3): %+v", len(firsts), len(summaries), log.All())
	}
	for _, rid := range []string{"p0", "d0", "f0", "t0"} {
		if _, ok := firsts[rid]; !ok {
			t.Errorf("no first event for %s", rid)
		}
	}
	if s := summaries["p0"]; s.Collapsed != 1 || s.Route != "" {
		t.Errorf("pull summary over two routes: %+v", s)
	}
	if s := summaries["f0"]; s.Collapsed != 1 || s.Route != "/v1/whoami" || s.Reasons[0].Code != ReasonTooManyInFlight {
		t.Errorf("in-flight summary: %+v", s)
	}
	if s := summaries["t0"]; s.Collapsed != 1 || s.Route != trace.Route {
		t.Errorf("trace summary: %+v", s)
	}
}

// TestRefusalsBound: however many refusals, the open windows are at most
// one per member and limit, each key writes two events per window, and
// closing them frees everything.
func TestRefusalsBound(t *testing.T) {
	const (
		members = 40
		each    = 500
	)
	log := &apitest.Audit{}
	r, _ := newTestRefusals(t, log, 10*time.Second)
	scopes := []Refusal{
		{Scope: "push", Reason: ReasonRateLimited}, {Scope: "pull", Reason: ReasonRateLimited},
		{Scope: "trace", Reason: ReasonRateLimited}, {Scope: "audit", Reason: ReasonRateLimited},
		{Scope: ScopeInFlight, Reason: ReasonTooManyInFlight},
	}
	for i := range each {
		for m := range members {
			for _, x := range scopes {
				x.Member, x.RequestID, x.Route = fmt.Sprintf("IT/GOV/M%02d", m), fmt.Sprint(i), "/v1/records"
				r.Refused(x)
			}
		}
		if i == each/2 {
			flushNow(t, r) // the first events, while the flood goes on
		}
	}
	keys := members * len(scopes)
	if n := len(r.open); n != keys {
		t.Fatalf("%d open windows, want %d (members × limits)", n, keys)
	}
	if got := testutil.ToFloat64(r.keys); got != float64(keys) {
		t.Errorf("open windows gauge %v, want %d", got, keys)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	evs := log.All()
	if len(evs) != 2*keys {
		t.Fatalf("%d events for %d refusals, want %d (two per key)", len(evs), keys*each, 2*keys)
	}
	collapsed := 0
	for _, ev := range evs {
		collapsed += ev.Collapsed
	}
	if collapsed != keys*(each-1) {
		t.Errorf("summaries count %d refusals, want %d", collapsed, keys*(each-1))
	}
	if len(r.open) != 0 || testutil.ToFloat64(r.keys) != 0 {
		t.Errorf("%d windows left after close", len(r.open))
	}
}

// blockingLog holds every append until released.
type blockingLog struct {
	entered chan struct{}
	release chan struct{}
	apitest.Audit
}

func (b *blockingLog) Append(ctx context.Context, events ...audit.Event) error {
	select {
	case b.entered <- struct{}{}:
	default: // nobody is watching any more
	}
	<-b.release
	return b.Audit.Append(ctx, events...)
}

// TestRefusalsNeverWait: refusals are counted and answered while the log
// is stuck in an append, and an append that fails is counted, not passed on.
func TestRefusalsNeverWait(t *testing.T) {
	bl := &blockingLog{entered: make(chan struct{}, 1), release: make(chan struct{})}
	r, _ := newTestRefusals(t, bl, 10*time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	k := &Kit{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Refusals: r}
	refused := &ratelimit.RefusedError{Class: ratelimit.ClassPull, Cost: 1,
		Result: ratelimit.Result{Limit: 10, Burst: 10, Window: time.Minute, RetryAfter: 7 * time.Second}}
	fail := func(rid string) int {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		c.Request = httptest.NewRequest(http.MethodGet, "/v1/records", nil)
		c.Request = c.Request.WithContext(identity.NewContext(c.Request.Context(), identity.Member{ID: "IT/GOV/MOD", Kind: identity.KindPartner}))
		SetRequestID(c, rid)
		k.Fail(c, refused)
		return w.Code
	}
	if code := fail("r0"); code != http.StatusTooManyRequests {
		t.Fatalf("status %d", code)
	}
	<-bl.entered // Run is now stuck appending the first event
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 100 {
			if code := fail(fmt.Sprintf("r%d", i+1)); code != http.StatusTooManyRequests {
				t.Errorf("status %d while the log is stuck", code)
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("refusals waited for the log")
	}
	close(bl.release)
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	evs := bl.All()
	if len(evs) != 2 || evs[0].RequestID != "r0" || evs[1].Collapsed != 100 {
		t.Fatalf("events %+v", evs)
	}

	// A log that fails: counted and logged, the refusal answered all the same.
	failing := &apitest.Audit{}
	failing.Fail.Store(true)
	r2, _ := newTestRefusals(t, failing, 10*time.Second)
	k.Refusals = r2
	for i := range 3 {
		if code := fail(fmt.Sprint(i)); code != http.StatusTooManyRequests {
			t.Fatalf("status %d with a failing log", code)
		}
	}
	if err := r2.Close(context.Background()); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("close: %v", err)
	}
	if got := testutil.ToFloat64(r2.failures); got != 2 {
		t.Errorf("append failures %v, want 2 (the first event and the summary)", got)
	}
	// After Close nothing more is kept: counted as a failure.
	fail("late")
	if got := testutil.ToFloat64(r2.failures); got != 3 || len(r2.open) != 0 {
		t.Errorf("a refusal after close: failures %v, %d windows", got, len(r2.open))
	}
}

// TestRefusalsOnlyLimits: Fail counts refused charges and nothing else.
func TestRefusalsOnlyLimits(t *testing.T) {
	log := &apitest.Audit{}
	r, _ := newTestRefusals(t, log, 10*time.Second)
	k := &Kit{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Refusals: r}
	for _, err := range []error{
		ratelimit.ErrUnavailable,
		errors.New("boom"),
		fmt.Errorf("store: %w", &ratelimit.RefusedError{Class: ratelimit.ClassTrace, Cost: 1, Result: ratelimit.Result{Limit: 1, Burst: 1, Window: time.Minute}}),
	} {
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		c.Request = httptest.NewRequest(http.MethodGet, "/v1/items/ALB/KAYO/1/trace", nil)
		c.Request = c.Request.WithContext(identity.NewContext(c.Request.Context(), identity.Member{ID: "IT/GOV/MOD"}))
		k.Fail(c, err)
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	evs := log.All()
	if len(evs) != 1 || evs[0].Member != "IT/GOV/MOD" || evs[0].Reasons[0].Code != ReasonRateLimited {
		t.Fatalf("events %+v, want the one wrapped refusal", evs)
	}
}

// TestRefusalsRun: Run appends a first refusal without waiting for the
// window, and a summary once the window has closed.
func TestRefusalsRun(t *testing.T) {
	log := &apitest.Audit{}
	r, err := NewRefusals(log, RefusalOptions{Window: 200 * time.Millisecond, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go r.Run(ctx)
	r.Refused(pullRefusal("IT/GOV/MOD", "r0"))
	r.Refused(pullRefusal("IT/GOV/MOD", "r1"))
	waitEvents(t, log, 1)
	waitEvents(t, log, 2)
	if evs := log.All(); evs[0].RequestID != "r0" || evs[1].Collapsed != 1 {
		t.Fatalf("events %+v", evs)
	}
}

func waitEvents(t *testing.T, log *apitest.Audit, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(log.All()) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d events, want %d", len(log.All()), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

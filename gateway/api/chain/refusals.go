package chain

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// What the audit events of refusals by a limit say (ARCHITECTURE.md, Audit).
const (
	// ActionRateLimited is the event of the first refusal of a window.
	ActionRateLimited = "rate_limited"
	// ActionRateLimitedSummary is the event that closes a window in which
	// more refusals came: Collapsed says how many.
	ActionRateLimitedSummary = "rate_limited.summary"
	// ReasonRateLimited: a rate-limit class refused the request's charge.
	ReasonRateLimited = "rate_limited"
	// ReasonTooManyInFlight: the member already had
	// http.max_in_flight_per_member requests in progress.
	ReasonTooManyInFlight = "too_many_in_flight"
	// ScopeInFlight is the limit of ReasonTooManyInFlight, where a
	// rate-limit refusal names its class.
	ScopeInFlight = "in_flight"
)

// refusalAppendTimeout bounds one append of refusal events; the chain's
// own commit timeout (audit.group_commit.timeout) is usually the shorter.
const refusalAppendTimeout = 30 * time.Second

// Refusal is one request answered 429 by a limit.
type Refusal struct {
	Member string
	// Scope is the limit: a rate-limit class (push, pull, trace, audit),
	// or ScopeInFlight.
	Scope string
	// Reason is ReasonRateLimited or ReasonTooManyInFlight.
	Reason    string
	Route     string
	RequestID string
	// Detail is what the caller was told: the problem's public detail.
	Detail string
}

// Refusals audits the refusals of the rate limiter and of the in-flight
// cap without letting a flood grow the log or slow its refusals down.
// Refusals are counted per key (member, scope, reason). The first refusal
// of a key opens a window of its own (audit.refusal_window): it is handed
// to the log at once, as one event; the key's further refusals inside the
// window are only counted, and when the window closes (checked every
// tenth of the window, so it closes at most that late) one summary event
// carries how many (audit.Event.Collapsed). A window without further
// refusals closes without a summary. So each key writes at most two events
// per window, however fast it is refused.
//
// Memory: one small entry per key with an open window, removed when the
// window closes. Members are the registry's (refusals come after
// identification), scopes are the four rate-limit classes and in_flight,
// and each scope has one reason: at most members × 5 entries.
//
// Refused never waits for the log: one goroutine (Run) appends, and an
// append that fails is logged and counted, never reported to the request,
// whose answer is the 429 whatever the log does. Close appends whatever is
// counted, closing every window; the server calls it when it stops.
type Refusals struct {
	log    audit.Log
	logger *slog.Logger
	window time.Duration
	now    func() time.Time
	// wake tells Run that a first refusal waits to be appended.
	wake chan struct{}

	// mu guards open and closed; it is held for map operations only, never
	// across an append.
	mu     sync.Mutex
	open   map[refusalKey]*refusalWindow
	closed bool
	// writeMu makes taking events and appending them one step, so that a
	// window's first event is always before its summary in the log.
	writeMu sync.Mutex

	seen      *prometheus.CounterVec
	collapsed *prometheus.CounterVec
	failures  prometheus.Counter
	keys      prometheus.Gauge
}

type refusalKey struct{ member, scope, reason string }

// refusalWindow is one key's open window.
type refusalWindow struct {
	start time.Time
	// first is the window's first refusal, until it is handed to the log.
	first     *audit.Event
	requestID string
	route     string
	// mixed: the window's refusals came from more than one route.
	mixed     bool
	collapsed int
	// from and to span the collapsed refusals.
	from, to time.Time
}

// RefusalOptions configure Refusals.
type RefusalOptions struct {
	// Window is audit.refusal_window.
	Window time.Duration
	Logger *slog.Logger
	// Registerer takes the metrics; nil: not registered.
	Registerer prometheus.Registerer
	// Now is the clock; nil: time.Now.
	Now func() time.Time
}

// NewRefusals collapses refusals into events of log.
func NewRefusals(log audit.Log, opts RefusalOptions) (*Refusals, error) {
	if opts.Window <= 0 {
		return nil, fmt.Errorf("refusals: window %s must be positive", opts.Window)
	}
	r := &Refusals{
		log: log, logger: cmp.Or(opts.Logger, slog.Default()), window: opts.Window, now: opts.Now,
		wake: make(chan struct{}, 1), open: map[refusalKey]*refusalWindow{},
		seen: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_audit_refusals_total",
			Help: "Requests refused 429 by a limit, by reason (rate_limited, too_many_in_flight): each is in the audit log, in an event of its own or counted in a summary.",
		}, []string{"reason"}),
		collapsed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_audit_refusals_collapsed_total",
			Help: "Refusals counted in a summary event (audit.refusal_window) instead of an event of their own, by reason.",
		}, []string{"reason"}),
		failures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "ura_audit_refusal_append_failures_total",
			Help: "Refusal events (first or summary) that could not be appended to the audit log; each failure is logged with the refusals it stood for.",
		}),
		keys: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "ura_audit_refusal_windows_open",
			Help: "Member and limit pairs with an open refusal window (at most members × 5).",
		}),
	}
	if r.now == nil {
		r.now = time.Now
	}
	if opts.Registerer != nil {
		for _, c := range []prometheus.Collector{r.seen, r.collapsed, r.failures, r.keys} {
			if err := opts.Registerer.Register(c); err != nil {
				return nil, fmt.Errorf("refusal metrics: %w", err)
			}
		}
	}
	return r, nil
}

// Refused counts one refusal. It never waits for the log.
func (r *Refusals) Refused(x Refusal) {
	now := r.now()
	r.seen.WithLabelValues(x.Reason).Inc()
	k := refusalKey{member: x.Member, scope: x.Scope, reason: x.Reason}
	r.mu.Lock()
	if r.closed {
		r.mu.Unlock()
		// Only when the server's drain timed out and a request outlived
		// the final flush.
		r.failures.Inc()
		r.logger.Error("refusal after the audit of refusals was closed; not audited", "component", "audit",
			"member", x.Member, "scope", x.Scope, "reason", x.Reason, "request_id", x.RequestID)
		return
	}
	w, ok := r.open[k]
	if !ok {
		ev := audit.Event{Time: now.UTC(), RequestID: x.RequestID, Member: x.Member, Action: ActionRateLimited,
			Route: x.Route, Decision: audit.DecisionDeny, Status: http.StatusTooManyRequests,
			Reasons: []verdict.Reason{{Code: x.Reason, Message: x.Detail}}}
		r.open[k] = &refusalWindow{start: now, first: &ev, requestID: x.RequestID, route: x.Route}
		r.keys.Set(float64(len(r.open)))
		r.mu.Unlock()
		select {
		case r.wake <- struct{}{}:
		default: // Run is already woken
		}
		return
	}
	if w.collapsed == 0 {
		w.from = now
	}
	w.to = now
	if w.collapsed < audit.MaxInt {
		w.collapsed++
	}
	w.mixed = w.mixed || w.route != x.Route
	r.mu.Unlock()
	r.collapsed.WithLabelValues(x.Reason).Inc()
}

// Run appends first refusals as they come and summaries as their windows
// close, until ctx ends. It does not flush: Close does.
func (r *Refusals) Run(ctx context.Context) {
	t := time.NewTicker(r.window / 10)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-r.wake:
		case <-t.C:
		}
		// Not ctx: an append under way is finished, not cut off, when
		// the server stops.
		_ = r.flush(context.Background(), false) // logged and counted there
	}
}

// Close closes every window now, appends what is counted, and records
// nothing after: a refusal that comes later is logged and counted as a
// failure. The error is the append's, already logged and counted.
func (r *Refusals) Close(ctx context.Context) error {
	r.mu.Lock()
	r.closed = true
	r.mu.Unlock()
	return r.flush(ctx, true)
}

// flush appends the first events not yet appended and the summaries of
// the windows that have closed (all of them when all is set).
func (r *Refusals) flush(ctx context.Context, all bool) error {
	r.writeMu.Lock()
	defer r.writeMu.Unlock()
	now := r.now()
	var firsts, summaries []audit.Event
	refusals := 0 // how many refusals the events stand for, for the log
	r.mu.Lock()
	for k, w := range r.open {
		if w.first != nil {
			firsts = append(firsts, *w.first)
			w.first = nil
			refusals++
		}
		if all || now.Sub(w.start) >= r.window {
			if w.collapsed > 0 {
				summaries = append(summaries, r.summary(k, w, now))
				refusals += w.collapsed
			}
			delete(r.open, k)
		}
	}
	r.keys.Set(float64(len(r.open)))
	r.mu.Unlock()
	if len(firsts)+len(summaries) == 0 {
		return nil
	}
	byTime := func(a, b audit.Event) int { return a.Time.Compare(b.Time) }
	slices.SortFunc(firsts, byTime)
	slices.SortFunc(summaries, byTime)
	events := append(firsts, summaries...)
	ctx, cancel := context.WithTimeout(ctx, refusalAppendTimeout)
	defer cancel()
	if err := r.log.Append(ctx, events...); err != nil {
		r.failures.Add(float64(len(events)))
		r.logger.Error("refusals could not be audited", "component", "audit", "events", len(events),
			"refusals", refusals, "error", err)
		return err
	}
	return nil
}

// summary is the event that closes w: how many refusals came after its
// first, between when, and the first's request ID, which links the two.
func (r *Refusals) summary(k refusalKey, w *refusalWindow, now time.Time) audit.Event {
	route := w.route
	if w.mixed {
		route = ""
	}
	return audit.Event{Time: now.UTC(), RequestID: w.requestID, Member: k.member, Action: ActionRateLimitedSummary,
		Route: route, Decision: audit.DecisionDeny, Status: http.StatusTooManyRequests, Collapsed: w.collapsed,
		Reasons: []verdict.Reason{{Code: k.reason, Message: fmt.Sprintf("%d more refusals by the %s limit from %s to %s, after the one of request %s",
			w.collapsed, k.scope, w.from.UTC().Format(time.RFC3339Nano), w.to.UTC().Format(time.RFC3339Nano), w.requestID)}}}
}

// Limited counts a request refused 429 by a limit (scope: a rate-limit
// class, or ScopeInFlight) for the audit log; detail is what the caller is
// told. Without Refusals it does nothing.
func (k *Kit) Limited(c *gin.Context, scope, reason, detail string) {
	if k.Refusals == nil {
		return
	}
	k.Refusals.Refused(Refusal{Member: Caller(c).ID, Scope: scope, Reason: reason, Route: c.FullPath(),
		RequestID: RequestID(c), Detail: detail})
}

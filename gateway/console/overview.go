package console

import (
	"context"
	"errors"
	"net/url"
	"time"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/problem"
)

// span is one choice of the overview's time range.
type span struct {
	Key    string
	Label  string
	Width  time.Duration
	Bucket time.Duration
}

// spans keep every chart between 12 and 30 bars: enough to see a trend,
// few enough to read each bar.
var spans = []span{
	{"1h", "Last hour", time.Hour, 5 * time.Minute},
	{"24h", "Last 24 hours", 24 * time.Hour, time.Hour},
	{"7d", "Last 7 days", 7 * 24 * time.Hour, 6 * time.Hour},
	{"30d", "Last 30 days", 30 * 24 * time.Hour, 24 * time.Hour},
}

const defaultSpan = "24h"

func spanOf(key string) span {
	for _, s := range spans {
		if s.Key == key {
			return s
		}
	}
	for _, s := range spans {
		if s.Key == defaultSpan {
			return s
		}
	}
	return spans[0]
}

type spanLink struct {
	Label  string
	Href   string
	Active bool
}

type card struct {
	Label string
	Value int64
	Class string
	Href  string
}

type overviewData struct {
	Spans       []spanLink
	Span        span
	From, To    time.Time
	Total       int64
	Cards       []card
	Chart       chart
	Reasons     []rankRow
	Members     []rankRow
	Head        audit.Head
	Latest      *audit.SignedCheckpoint
	Checkpoints int
}

// Overview is the first page: decisions over time, and who was denied why.
func (c *Console) Overview(ctx context.Context, v *Viewer, q url.Values) (*Page, error) {
	r, err := c.reader()
	if err != nil {
		return nil, err
	}
	sp := spanOf(q.Get("range"))
	to := c.opts.Now().UTC().Truncate(sp.Bucket).Add(sp.Bucket)
	from := to.Add(-sp.Width)
	sum, err := r.Summary(ctx, audit.SummaryQuery{From: from, To: to, Bucket: sp.Bucket, Top: 10})
	if err != nil {
		if errors.Is(err, audit.ErrTooManyBuckets) {
			return nil, problem.Internal(err)
		}
		return nil, problem.Unavailable("the audit log cannot be read now", err)
	}
	cps, err := r.Checkpoints(ctx)
	if err != nil {
		return nil, problem.Unavailable("the audit log cannot be read now", err)
	}
	d := overviewData{Span: sp, From: from, To: to, Total: sum.Events, Head: r.Head(), Checkpoints: len(cps)}
	if n := len(cps); n > 0 {
		d.Latest = &cps[n-1]
	}
	for _, s := range spans {
		d.Spans = append(d.Spans, spanLink{Label: s.Label, Href: c.opts.Base + "?range=" + s.Key, Active: s.Key == sp.Key})
	}
	search := func(decision string) string {
		return c.searchHref(url.Values{"decision": {decision}, "from": {from.Format(formTime)}, "to": {to.Format(formTime)}})
	}
	d.Cards = []card{
		{Label: "Events", Value: sum.Events, Class: "total", Href: c.searchHref(url.Values{"from": {from.Format(formTime)}, "to": {to.Format(formTime)}})},
		{Label: "Allowed", Value: sum.ByDecision[audit.DecisionAllow], Class: "allow", Href: search(audit.DecisionAllow)},
		{Label: "Redacted", Value: sum.ByDecision[audit.DecisionRedact], Class: "redact", Href: search(audit.DecisionRedact)},
		{Label: "Withheld", Value: sum.ByDecision[audit.DecisionWithhold], Class: "withhold", Href: search(audit.DecisionWithhold)},
		{Label: "Denied", Value: sum.ByDecision[audit.DecisionDeny], Class: "deny", Href: search(audit.DecisionDeny)},
	}
	if n := sum.ByDecision[audit.DecisionError]; n > 0 {
		d.Cards = append(d.Cards, card{Label: "Errors", Value: n, Class: "error", Href: search(audit.DecisionError)})
	}
	d.Chart = decisionChart(sum, from, to, sp)
	d.Reasons = ranked(sum.DenialsByReason, func(key string) string {
		return c.searchHref(url.Values{"reason": {key}, "from": {from.Format(formTime)}, "to": {to.Format(formTime)}})
	})
	d.Members = ranked(sum.DenialsByMember, func(key string) string {
		return c.searchHref(url.Values{"member": {key}, "decision": {audit.DecisionDeny}, "from": {from.Format(formTime)}, "to": {to.Format(formTime)}})
	})
	return c.render("overview", "Overview", v, 200, d)
}

func (c *Console) searchHref(q url.Values) string {
	if len(q) == 0 {
		return c.opts.Base + "search"
	}
	return c.opts.Base + "search?" + q.Encode()
}

package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/tracing"
)

// withTracer runs the gateway with tracing on, over tr.
func withTracer(tr *tracing.Tracer) gatewayOption {
	return withDeps(func(_ *config.Config, d *Deps) { d.Tracer = tr })
}

// recorded is a tracer whose spans are kept in memory, every one sampled.
func recorded(t *testing.T, opts ...sdktrace.TracerProviderOption) (*tracing.Tracer, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(append([]sdktrace.TracerProviderOption{sdktrace.WithSpanProcessor(rec)}, opts...)...)
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tracing.New(tp), rec
}

// requestTrace waits for the span of the request named name (it ends
// just after the answer is written) and returns it with every span of its
// trace.
func requestTrace(t *testing.T, rec *tracetest.SpanRecorder, name string, n int) (sdktrace.ReadOnlySpan, []sdktrace.ReadOnlySpan) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		var roots []sdktrace.ReadOnlySpan
		for _, s := range rec.Ended() {
			if s.Name() == name {
				roots = append(roots, s)
			}
		}
		if len(roots) >= n {
			root := roots[n-1]
			var all []sdktrace.ReadOnlySpan
			for _, s := range rec.Ended() {
				if s.SpanContext().TraceID() == root.SpanContext().TraceID() {
					all = append(all, s)
				}
			}
			return root, all
		}
		if time.Now().After(deadline) {
			t.Fatalf("no span %q (#%d) was ended", name, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func attrs(s sdktrace.ReadOnlySpan) map[string]attribute.Value {
	m := map[string]attribute.Value{}
	for _, kv := range s.Attributes() {
		m[string(kv.Key)] = kv.Value
	}
	return m
}

// children are the names of the spans whose parent is root, in the order
// they started.
func children(root sdktrace.ReadOnlySpan, all []sdktrace.ReadOnlySpan) ([]string, map[string][]sdktrace.ReadOnlySpan) {
	var kids []sdktrace.ReadOnlySpan
	for _, s := range all {
		if s.Parent().SpanID() == root.SpanContext().SpanID() {
			kids = append(kids, s)
		}
	}
	slices.SortStableFunc(kids, func(a, b sdktrace.ReadOnlySpan) int { return a.StartTime().Compare(b.StartTime()) })
	names, by := []string{}, map[string][]sdktrace.ReadOnlySpan{}
	for _, s := range kids {
		names = append(names, s.Name())
		by[s.Name()] = append(by[s.Name()], s)
	}
	return names, by
}

// TestTracingPushAndPull follows a push and pulls through the real
// gateway on the embedded policy: one server span per request, the root of
// a trace of its own, with a child per stage of the chain; counts and
// outcomes on them, and no record content, record id or personal field
// anywhere in any span.
func TestTracingPushAndPull(t *testing.T) {
	tr, rec := recorded(t)
	// On an empty store, a licence for cartridges only: no licence
	// condition calls for a record of its own.
	e := startGateway(t, withBareRegisters(), withTracer(tr))
	lic := exSample(t, records.KindLicence)
	lic = exWith(lic, "licence.items", lic["licence"].(map[string]any)["items"].([]any)[:1])
	docs := []map[string]any{lic, exSample(t, records.KindEntity)}
	res := exResults(t, e.as("AL/GOV/AIM").push(docs...))
	for _, r := range res {
		if r.Status != "accepted" {
			t.Fatalf("push: %+v", r)
		}
	}

	root, all := requestTrace(t, rec, "POST /v1/records", 1)
	if root.Parent().IsValid() || root.SpanKind() != trace.SpanKindServer {
		t.Fatalf("the request's span has a parent %v or kind %v", root.Parent(), root.SpanKind())
	}
	a := attrs(root)
	if a["ura.member"].AsString() != "AL/GOV/AIM" || a["http.route"].AsString() != "/v1/records" ||
		a["http.response.status_code"].AsInt64() != 200 || a["ura.records"].AsInt64() != 2 || a["ura.request_id"].AsString() == "" {
		t.Errorf("push request span attributes: %v", a)
	}
	names, by := children(root, all)
	// identity, the two charges (minimum and per record), decode, policy,
	// the decisions' audit, store, outbox, sign, the outcome's audit.
	want := []string{"identity", "ratelimit", "decode", "ratelimit", "policy", "audit", "store", "outbox.enqueue", "sign", "audit"}
	if !slices.Equal(names, want) {
		t.Fatalf("push stages:\n got %v\nwant %v", names, want)
	}
	if p := attrs(by["policy"][0]); p["ura.records"].AsInt64() != 2 || p["ura.records.accepted"].AsInt64() != 2 {
		t.Errorf("policy span: %v", p)
	}
	if s := attrs(by["store"][0]); s["ura.records.accepted"].AsInt64() != 2 {
		t.Errorf("store span: %v", s)
	}
	if s := attrs(by["sign"][0]); s["ura.signatures"].AsInt64() != 2 || s["ura.sign.typ"].AsString() != "ura-result+jws" {
		t.Errorf("sign span: %v", s)
	}
	if r := attrs(by["ratelimit"][1]); r["ura.ratelimit.class"].AsString() != "push" || r["ura.outcome"].AsString() != "allowed" {
		t.Errorf("rate limit span: %v", r)
	}
	if id := attrs(by["identity"][0]); id["ura.member"].AsString() != "AL/GOV/AIM" || id["ura.outcome"].AsString() != "member" {
		t.Errorf("identity span: %v", id)
	}

	// A page as customs, whose kind of caller gets redactions, and as a
	// partner, refused at least one record: a count on the policy span,
	// nothing more.
	for n, member := range []string{"AL/GOV/DPD", "IT/GOV/MOD"} {
		page := exPage(t, e.as(member).get("/v1/records"))
		root, all := requestTrace(t, rec, "GET /v1/records", n+1)
		names, by := children(root, all)
		want := []string{"identity", "ratelimit", "ratelimit", "store.query", "policy", "sign", "audit"}
		if len(page.Records) == 0 {
			want = slices.DeleteFunc(want, func(s string) bool { return s == "sign" })
		}
		if !slices.Equal(names, want) {
			t.Fatalf("%s pull stages:\n got %v\nwant %v", member, names, want)
		}
		p := attrs(by["policy"][0])
		released := p["ura.records.allowed"].AsInt64() + p["ura.records.redacted"].AsInt64()
		if p["ura.records"].AsInt64() != 2 || released != int64(len(page.Records)) || released+p["ura.records.withheld"].AsInt64() != 2 {
			t.Errorf("%s policy span: %v for %d records sent", member, p, len(page.Records))
		}
		if member == "AL/GOV/DPD" && p["ura.records.redacted"].AsInt64() == 0 || member == "IT/GOV/MOD" && p["ura.records.withheld"].AsInt64() == 0 {
			t.Errorf("%s policy span: %v", member, p)
		}
		if q := attrs(by["store.query"][0]); q["ura.records.scanned"].AsInt64() != 2 {
			t.Errorf("%s query span: %v", member, q)
		}
		if m := attrs(root)["ura.member"].AsString(); m != member {
			t.Errorf("pull span member %q", m)
		}
	}

	// A withheld record and a missing one leave the same trace.
	e.as("IT/GOV/MOD").get("/v1/records/AIM-ENT-L61234567A").problem(t, http.StatusNotFound, problem.TypeNotFound)
	e.as("IT/GOV/MOD").get("/v1/records/AIM-LIC-2026-999999").problem(t, http.StatusNotFound, problem.TypeNotFound)
	var shapes []string
	for n := 1; n <= 2; n++ {
		root, all := requestTrace(t, rec, "GET /v1/records/:id", n)
		names, by := children(root, all)
		shape := fmt.Sprint(names, attrs(root)["http.response.status_code"].AsInt64(), attrs(root)["ura.problem.type"].AsString(),
			attrs(by["policy"][0])["ura.records.withheld"].AsInt64(), len(attrs(by["store.get"][0])))
		shapes = append(shapes, shape)
	}
	if shapes[0] != shapes[1] {
		t.Errorf("a withheld record's trace differs from a missing one's:\n%s\n%s", shapes[0], shapes[1])
	}

	assertNoContent(t, rec.Ended(), append(docs, map[string]any{"ids": []any{"AIM-LIC-2026-999999"}}))
}

// TestTracingReportAndReviews: the ATT report's and the review listing's
// reads of the store are store.query spans, as a pull's are, each counting
// what it scanned: an operator sees where a register-wide read spends its
// time.
func TestTracingReportAndReviews(t *testing.T) {
	tr, rec := recorded(t)
	e := startGateway(t, withBareRegisters(), withTracer(tr))
	lic := exSample(t, records.KindLicence)
	lic = exWith(lic, "licence.items", lic["licence"].(map[string]any)["items"].([]any)[:1])
	if res := exResults(t, e.as("AL/GOV/AIM").push(lic)); res[0].Status != "accepted" {
		t.Fatalf("push: %+v", res[0])
	}
	scanned := func(spans []sdktrace.ReadOnlySpan) int64 {
		n := int64(0)
		for _, s := range spans {
			n += attrs(s)["ura.records.scanned"].AsInt64()
		}
		return n
	}

	if r := e.as("AL/GOV/AIM").get("/v1/reports/att?year=2026"); r.status != http.StatusOK {
		t.Fatalf("report: %d %s", r.status, r.body)
	}
	root, all := requestTrace(t, rec, "GET /v1/reports/att", 1)
	_, by := children(root, all)
	if len(by["report"]) != 1 {
		t.Fatalf("report: no report span among %v", by)
	}
	names, under := children(by["report"][0], all)
	if len(names) == 0 || len(slices.DeleteFunc(names, func(n string) bool { return n == "store.query" })) != 0 {
		t.Fatalf("the report's reads: %v", names)
	}
	if n := scanned(under["store.query"]); n < 1 {
		t.Errorf("the report's reads scanned %d records", n)
	}

	if r := e.as("AL/GOV/AIM").get("/v1/reviews"); r.status != http.StatusOK {
		t.Fatalf("reviews: %d %s", r.status, r.body)
	}
	root, all = requestTrace(t, rec, "GET /v1/reviews", 1)
	if _, by := children(root, all); len(by["store.query"]) != 1 || scanned(by["store.query"]) != 1 {
		t.Errorf("the review listing's read: %v", by["store.query"])
	}
}

// assertNoContent fails if any value a span carries (name, attributes,
// events, links, resource) holds a string or number of the records, their
// ids among them. Member IDs, which label a record's originator and name
// the caller on every span, and the kinds are not content.
func assertNoContent(t *testing.T, spans []sdktrace.ReadOnlySpan, docs []map[string]any) {
	t.Helper()
	var hay []string
	for _, s := range spans {
		hay = append(hay, s.Name())
		for _, kv := range s.Attributes() {
			hay = append(hay, kv.Value.String())
		}
		for _, ev := range s.Events() {
			hay = append(hay, ev.Name)
			for _, kv := range ev.Attributes {
				hay = append(hay, kv.Value.String())
			}
		}
		for _, l := range s.Links() {
			for _, kv := range l.Attributes {
				hay = append(hay, kv.Value.String())
			}
			hay = append(hay, l.SpanContext.TraceState().String())
		}
		for _, kv := range s.Resource().Attributes() {
			hay = append(hay, kv.Value.String())
		}
	}
	checkNoContent(t, hay, docs)
}

// checkNoContent fails if any of hay holds a string or number of docs.
func checkNoContent(t *testing.T, hay []string, docs []map[string]any) {
	t.Helper()
	var needles []string
	var walk func(v any)
	walk = func(v any) {
		switch v := v.(type) {
		case map[string]any:
			for _, x := range v {
				walk(x)
			}
		case []any:
			for _, x := range v {
				walk(x)
			}
		case string:
			needles = append(needles, v)
		case json.Number:
			needles = append(needles, v.String())
		}
	}
	for _, d := range docs {
		walk(d)
	}
	all := strings.Join(hay, "\n")
	checked := 0
	for _, n := range needles {
		if len(n) < 5 || strings.Count(n, "/") == 2 && strings.ToUpper(n) == n || slices.Contains(records.Kinds, n) {
			continue
		}
		checked++
		if strings.Contains(all, n) {
			t.Errorf("a span holds record content %q", n)
		}
	}
	if checked < 5 {
		t.Fatalf("only %d values checked", checked)
	}
}

// TestTracingCallerTraceparent: a caller's traceparent is only a link. The
// request's trace is the gateway's own (its ID, its sampling), and the
// caller's tracestate is dropped.
func TestTracingCallerTraceparent(t *testing.T) {
	const (
		callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
		callerSpan  = "00f067aa0ba902b7"
	)
	send := func(e *gatewayEnv) {
		req, _ := http.NewRequest(http.MethodGet, "https://"+e.addr+"/v1/whoami", nil)
		req.Header.Set("Traceparent", "00-"+callerTrace+"-"+callerSpan+"-01")
		req.Header.Set("Tracestate", "vendor=AIM-LIC-2026-000123")
		if r := e.as("AL/GOV/AIM").send(req); r.status != http.StatusOK {
			t.Fatalf("whoami: %d", r.status)
		}
	}
	tr, rec := recorded(t)
	e := startGateway(t, withTracer(tr))
	send(e)
	root, _ := requestTrace(t, rec, "GET /v1/whoami", 1)
	if root.Parent().IsValid() || root.SpanContext().TraceID().String() == callerTrace {
		t.Fatalf("the caller's span became the parent: trace %s, parent %v", root.SpanContext().TraceID(), root.Parent())
	}
	links := root.Links()
	if len(links) != 1 || links[0].SpanContext.TraceID().String() != callerTrace || links[0].SpanContext.SpanID().String() != callerSpan ||
		links[0].SpanContext.TraceState().Len() != 0 {
		t.Fatalf("links: %+v", links)
	}
	// A malformed traceparent is no link at all.
	req, _ := http.NewRequest(http.MethodGet, "https://"+e.addr+"/v1/whoami", nil)
	req.Header.Set("Traceparent", "00-"+callerTrace+"-0000000000000000-01")
	e.as("AL/GOV/AIM").send(req)
	if root, _ := requestTrace(t, rec, "GET /v1/whoami", 2); len(root.Links()) != 0 {
		t.Errorf("a malformed traceparent was linked: %+v", root.Links())
	}

	// A sampled traceparent does not make the gateway sample: at ratio 0
	// nothing is recorded, whatever the caller says.
	tr0, rec0 := recorded(t, sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0))))
	e0 := startGateway(t, withTracer(tr0))
	send(e0)
	exResults(t, e0.as("AL/GOV/AIM").push(exSample(t, records.KindLicence)))
	if n := len(rec0.Ended()); n != 0 {
		t.Fatalf("%d spans recorded at sample ratio 0", n)
	}
}

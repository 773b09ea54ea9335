// Package tracing gives the request chain OpenTelemetry spans, exported
// with OTLP when tracing.enabled is set (gateway/ARCHITECTURE.md, Tracing).
//
// A nil *Tracer is tracing off: Start returns the context it was given and a
// Span whose methods do nothing, so the chain pays a nil check per stage and
// allocates nothing. Spans carry counts, outcomes, member IDs and routes,
// never record content, personal fields, tokens or the ids of records a
// caller was refused: a trace backend is outside the policy's reach.
package tracing

import (
	"context"
	"errors"
	"net/http"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/ura-gateway/ura/gateway/problem"
)

// Scope is the instrumentation scope of the gateway's own spans.
const Scope = "github.com/ura-gateway/ura"

// Attribute keys of the gateway's own spans.
const (
	KeyMember    = "ura.member"
	KeyRequestID = "ura.request_id"
	KeyOutcome   = "ura.outcome"
	KeyRecords   = "ura.records"
	KeyClass     = "ura.ratelimit.class"
	KeyCost      = "ura.ratelimit.cost"
	KeyProblem   = "ura.problem.type"
)

// Tracer starts the gateway's spans from one TracerProvider. nil is off.
type Tracer struct {
	provider trace.TracerProvider
	tracer   trace.Tracer
	// prop reads and writes W3C traceparent only: no tracestate is taken
	// from a caller, and no baggage is read or sent.
	prop propagation.TextMapPropagator
}

// New is a Tracer over tp (the SDK's, or a test's in-memory one).
func New(tp trace.TracerProvider) *Tracer {
	return &Tracer{provider: tp, tracer: tp.Tracer(Scope), prop: propagation.TraceContext{}}
}

// Provider is the TracerProvider the client instrumentations use, which
// starts a span only under a recording parent: a Vault login loop, a Redis
// health check or a pool's background dial never becomes a trace of its
// own. Nil when off.
func (t *Tracer) Provider() trace.TracerProvider {
	if t == nil {
		return nil
	}
	return childOnly{tp: t.provider}
}

// Start starts a child span of ctx's span (a root when ctx has none).
func (t *Tracer) Start(ctx context.Context, name string) (context.Context, Span) {
	if t == nil {
		return ctx, Span{}
	}
	ctx, s := t.tracer.Start(ctx, name)
	return ctx, Span{s}
}

// StartRoot starts a span that begins a trace of its own, such as an
// outbox delivery attempt, which no request waits for.
func (t *Tracer) StartRoot(ctx context.Context, name string) (context.Context, Span) {
	if t == nil {
		return ctx, Span{}
	}
	ctx, s := t.tracer.Start(ctx, name, trace.WithNewRoot())
	return ctx, Span{s}
}

// StartRequest starts the span of one incoming request, always as the root
// of a trace of this gateway's own. A W3C traceparent the caller sent (a
// peer gateway's outbox sends one) becomes a link to the caller's span,
// never the parent: the caller chooses neither this trace's ID nor whether
// it is sampled, and its tracestate is dropped. The link is the only thing
// the header is used for.
func (t *Tracer) StartRequest(ctx context.Context, h http.Header, name string) (context.Context, Span) {
	if t == nil {
		return ctx, Span{}
	}
	opts := []trace.SpanStartOption{trace.WithNewRoot(), trace.WithSpanKind(trace.SpanKindServer)}
	if l, ok := t.callerLink(h); ok {
		opts = append(opts, trace.WithLinks(l))
	}
	ctx, s := t.tracer.Start(ctx, name, opts...)
	return ctx, Span{s}
}

func (t *Tracer) callerLink(h http.Header) (trace.Link, bool) {
	if h.Get("Traceparent") == "" {
		return trace.Link{}, false
	}
	rc := trace.SpanContextFromContext(t.prop.Extract(context.Background(), propagation.HeaderCarrier(h)))
	if !rc.IsValid() {
		return trace.Link{}, false
	}
	sc := trace.NewSpanContext(trace.SpanContextConfig{TraceID: rc.TraceID(), SpanID: rc.SpanID(),
		TraceFlags: rc.TraceFlags(), Remote: true})
	return trace.Link{SpanContext: sc, Attributes: []attribute.KeyValue{attribute.String("ura.link", "caller")}}, true
}

// Span is one stage's span; the zero Span (tracing off, or not sampled)
// does nothing.
type Span struct{ s trace.Span }

// Recording reports whether attributes set on s are kept.
func (s Span) Recording() bool { return s.s != nil && s.s.IsRecording() }

// Int sets an integer attribute.
func (s Span) Int(key string, v int) {
	if s.s != nil {
		s.s.SetAttributes(attribute.Int(key, v))
	}
}

// Str sets a string attribute. Only for values that are no record's
// content: member IDs, routes, classes, outcomes, key IDs.
func (s Span) Str(key, v string) {
	if s.s != nil {
		s.s.SetAttributes(attribute.String(key, v))
	}
}

// Outcome sets ura.outcome, what the stage came to (allowed, refused, …).
func (s Span) Outcome(v string) { s.Str(KeyOutcome, v) }

// End ends the span; a non-nil err marks it failed. An error's text is
// never recorded (a cause can quote a record, a query's values or a
// path): only a problem's stable type, and its status.
func (s Span) End(err error) {
	if s.s == nil {
		return
	}
	if err != nil {
		var p *problem.Error
		if errors.As(err, &p) {
			s.s.SetAttributes(attribute.String(KeyProblem, p.Type))
		}
		s.s.SetStatus(codes.Error, "")
	}
	s.s.End()
}

// Fail marks the span failed without ending it, for a request whose
// answer is an error status.
func (s Span) Fail() {
	if s.s != nil {
		s.s.SetStatus(codes.Error, "")
	}
}

// TraceID is the span's trace ID in hex, "" when it records nothing, for
// log lines that should lead to their trace.
func (s Span) TraceID() string {
	if s.s == nil || !s.s.SpanContext().IsSampled() {
		return ""
	}
	return s.s.SpanContext().TraceID().String()
}

// Current is the span ctx carries (the request's, in a handler), for a
// stage that adds to it rather than starting its own.
func (t *Tracer) Current(ctx context.Context) Span {
	if t == nil {
		return Span{}
	}
	return Span{trace.SpanFromContext(ctx)}
}

package tracing

import (
	"context"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// childOnly is a TracerProvider whose tracers start a span only under a
// recording parent; without one they hand back the context's own
// non-recording span, so the instrumented client does its work untraced.
type childOnly struct {
	embedded.TracerProvider
	tp trace.TracerProvider
}

var _ trace.TracerProvider = childOnly{}

func (p childOnly) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return childOnlyTracer{t: p.tp.Tracer(name, opts...)}
}

type childOnlyTracer struct {
	embedded.Tracer
	t trace.Tracer
}

func (t childOnlyTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	parent := trace.SpanFromContext(ctx)
	if !parent.IsRecording() {
		return ctx, parent
	}
	return t.t.Start(ctx, name, opts...)
}

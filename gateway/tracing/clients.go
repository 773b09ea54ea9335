package tracing

import (
	"net/http"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
)

// Transport wraps base (http.DefaultTransport when nil) so that a request
// made under a recording span gets a client span and carries the W3C
// traceparent of it, and nothing else (no baggage, no tracestate of a
// caller's). Vault and the outbox's destinations, peer gateways among
// them, see it. Off: base as it is.
func (t *Tracer) Transport(base http.RoundTripper) http.RoundTripper {
	if base == nil {
		base = http.DefaultTransport
	}
	if t == nil {
		return base
	}
	return otelhttp.NewTransport(base, otelhttp.WithTracerProvider(t.Provider()), otelhttp.WithPropagators(t.prop),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return "HTTP " + r.Method }))
}

// QueryTracer is PostgreSQL's: one span per query or batch under a
// recording span, with the statement text (parameterised: values are never
// in it) and never its arguments. Nil when off.
func (t *Tracer) QueryTracer() pgx.QueryTracer {
	if t == nil {
		return nil
	}
	return otelpgx.NewTracer(otelpgx.WithTracerProvider(t.Provider()),
		otelpgx.WithDisableConnectionDetailsInAttributes())
}

// InstrumentRedis adds one span per Redis command under a recording span,
// without the command's arguments (keys name members; an AUTH would carry
// a password). Off: nothing.
func (t *Tracer) InstrumentRedis(rdb redis.UniversalClient) error {
	if t == nil {
		return nil
	}
	return redisotel.InstrumentTracing(rdb, redisotel.WithTracerProvider(t.Provider()), redisotel.WithDBStatement(false),
		redisotel.WithCallerEnabled(false))
}

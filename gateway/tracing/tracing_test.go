package tracing_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/v9"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/testenv"
	"github.com/ura-gateway/ura/gateway/tracing"
)

func recorded(t *testing.T) (*tracing.Tracer, *tracetest.SpanRecorder) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tracing.New(tp), rec
}

// TestOffIsNothing: tracing off builds no exporter and no Tracer, and the
// nil Tracer's every use does nothing and allocates nothing.
func TestOffIsNothing(t *testing.T) {
	tc := config.Default().Tracing
	tc.Endpoint = "127.0.0.1:1" // would refuse, were anything built
	tr, shutdown, err := tracing.Setup(t.Context(), tc, nil, "test", slog.New(slog.DiscardHandler))
	if err != nil || tr != nil {
		t.Fatalf("off: tracer %v, error %v", tr, err)
	}
	if err := shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	allocs := testing.AllocsPerRun(100, func() {
		c, sp := tr.Start(ctx, "stage")
		sp.Int(tracing.KeyRecords, 3)
		sp.Str(tracing.KeyMember, "AL/GOV/AIM")
		sp.Outcome("allowed")
		sp.End(nil)
		tr.Current(c).Int(tracing.KeyRecords, 1)
		if c != ctx {
			t.Fatal("off: the context changed")
		}
	})
	if allocs != 0 {
		t.Errorf("off: %v allocations per stage", allocs)
	}
	if tr.Transport(http.DefaultTransport) != http.DefaultTransport || tr.QueryTracer() != nil || tr.InstrumentRedis(nil) != nil || tr.Provider() != nil {
		t.Error("off: a client was instrumented")
	}
}

// TestErrorsNeverRecorded: a failed stage records a problem's stable type,
// never an error's text, which can quote a record or a query's values.
func TestErrorsNeverRecorded(t *testing.T) {
	tr, rec := recorded(t)
	_, sp := tr.Start(t.Context(), "store")
	sp.End(problem.Unavailable("the record store is unavailable", errSecret{}))
	_, sp = tr.Start(t.Context(), "decode")
	sp.End(errSecret{})
	for _, s := range rec.Ended() {
		if s.Status().Description != "" || len(s.Events()) != 0 {
			t.Errorf("%s: status %q, events %v", s.Name(), s.Status().Description, s.Events())
		}
		for _, kv := range s.Attributes() {
			if strings.Contains(kv.Value.String(), "Novák") {
				t.Errorf("%s: %s = %s", s.Name(), kv.Key, kv.Value.String())
			}
		}
	}
	if a := rec.Ended()[0].Attributes(); len(a) != 1 || a[0].Value.AsString() != problem.TypeUnavailable {
		t.Errorf("store span attributes %v", a)
	}
}

type errSecret struct{}

func (errSecret) Error() string { return `duplicate key (holder)=(Jan Novák)` }

// TestTransportPropagates: a request made under a recording span gets a
// client span and carries its traceparent, and nothing else; one made
// outside any span (a login loop) is neither traced nor labelled.
func TestTransportPropagates(t *testing.T) {
	tr, rec := recorded(t)
	got := make(chan http.Header, 2)
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) { got <- r.Header.Clone() }))
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: tr.Transport(nil)}
	do := func(ctx context.Context) http.Header {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL+"/v1/records", nil)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return <-got
	}
	ctx, attempt := tr.StartRoot(t.Context(), "outbox.attempt")
	h := do(ctx)
	attempt.End(nil)
	ended := rec.Ended()
	if len(ended) != 2 || ended[0].Name() != "HTTP POST" || ended[0].Parent().SpanID() != ended[1].SpanContext().SpanID() {
		t.Fatalf("spans: %v", ended)
	}
	want := "00-" + ended[0].SpanContext().TraceID().String() + "-" + ended[0].SpanContext().SpanID().String() + "-01"
	if h.Get("Traceparent") != want || h.Get("Tracestate") != "" || h.Get("Baggage") != "" {
		t.Errorf("headers sent: traceparent %q (want %q), tracestate %q, baggage %q", h.Get("Traceparent"), want, h.Get("Tracestate"), h.Get("Baggage"))
	}
	if h := do(context.Background()); h.Get("Traceparent") != "" || len(rec.Ended()) != 2 {
		t.Errorf("untraced request: traceparent %q, %d spans", h.Get("Traceparent"), len(rec.Ended()))
	}
}

// TestPostgresQueries: a query under a span gets a child span with the
// statement and never its arguments; the pool's own work outside any
// request is not traced.
func TestPostgresQueries(t *testing.T) {
	dsn := testenv.Postgres(t)
	tr, rec := recorded(t)
	cfg, err := pgx.ParseConfig(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Tracer = tr.QueryTracer()
	conn, err := pgx.ConnectConfig(t.Context(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close(context.Background()) })
	var n int
	if err := conn.QueryRow(t.Context(), "SELECT length($1::text)", "KAYO sh.a.").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if len(rec.Ended()) != 0 {
		t.Fatalf("a query outside any span was traced: %v", rec.Ended())
	}
	ctx, sp := tr.Start(t.Context(), "store")
	if err := conn.QueryRow(ctx, "SELECT length($1::text)", "KAYO sh.a.").Scan(&n); err != nil {
		t.Fatal(err)
	}
	sp.End(nil)
	ended := rec.Ended()
	if len(ended) < 2 {
		t.Fatalf("spans: %v", ended)
	}
	q := ended[len(ended)-2]
	var stmt bool
	for _, kv := range q.Attributes() {
		if strings.Contains(kv.Value.String(), "KAYO") {
			t.Errorf("query span holds an argument: %s", kv.Key)
		}
		stmt = stmt || strings.Contains(kv.Value.String(), "SELECT length($1::text)")
	}
	if !stmt || q.Parent().SpanID() != ended[len(ended)-1].SpanContext().SpanID() {
		t.Errorf("query span %s: %v", q.Name(), q.Attributes())
	}
}

// TestRedisCommands: a command under a span gets a child span without its
// arguments (keys name members); a health ping outside any request is not
// traced.
func TestRedisCommands(t *testing.T) {
	addr, password := testenv.Redis(t)
	tr, rec := recorded(t)
	rdb := redis.NewClient(&redis.Options{Addr: addr, Password: password})
	t.Cleanup(func() { _ = rdb.Close() })
	if err := tr.InstrumentRedis(rdb); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Ping(t.Context()).Err(); err != nil {
		t.Fatal(err)
	}
	if len(rec.Ended()) != 0 {
		t.Fatalf("a command outside any span was traced: %v", rec.Ended())
	}
	ctx, sp := tr.Start(t.Context(), "ratelimit")
	_ = rdb.Get(ctx, "ura:test:AL/GOV/AIM:secret-key").Err()
	sp.End(nil)
	ended := rec.Ended()
	if len(ended) != 2 || ended[0].Parent().SpanID() != ended[1].SpanContext().SpanID() {
		t.Fatalf("spans: %v", ended)
	}
	for _, kv := range ended[0].Attributes() {
		if strings.Contains(kv.Value.String(), "secret-key") || kv.Key == "db.statement" {
			t.Errorf("redis span holds the command: %s = %s", kv.Key, kv.Value.String())
		}
	}
}

// BenchmarkStage is what one stage's span costs: off (a nil Tracer) and
// on (sampled, into a batch exporter that drops).
func BenchmarkStage(b *testing.B) {
	on := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	b.Cleanup(func() { _ = on.Shutdown(context.Background()) })
	for _, tc := range []struct {
		name string
		tr   *tracing.Tracer
	}{{"off", nil}, {"on", tracing.New(on)}} {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				_, sp := tc.tr.Start(ctx, "policy")
				sp.Int(tracing.KeyRecords, 256)
				sp.Outcome("allowed")
				sp.End(nil)
			}
		})
	}
}

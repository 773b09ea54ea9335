package exchange

import (
	"context"
	"io"
	"log/slog"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/tracing"
)

// BenchmarkPushTraced is BenchmarkPush with every push sampled, its spans
// handed to an in-memory exporter in batches: the cost of tracing on.
func BenchmarkPushTraced(b *testing.B) {
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(tracetest.NewNoopExporter()))
	b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	benchPush(b, &chain.Kit{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Tracer: tracing.New(tp)})
}

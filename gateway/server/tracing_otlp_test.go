package server

import (
	"context"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/tracing"
)

// collector is an in-process OTLP receiver on 127.0.0.1, over gRPC or
// HTTP, keeping every span it is sent with its resource's attributes.
type collector struct {
	coltracepb.UnimplementedTraceServiceServer
	mu    sync.Mutex
	spans []receivedSpan
	addr  string
}

type receivedSpan struct {
	span     *tracepb.Span
	resource map[string]string
}

func (c *collector) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range req.GetResourceSpans() {
		res := strAttrs(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				c.spans = append(c.spans, receivedSpan{span: s, resource: res})
			}
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func (c *collector) received() []receivedSpan {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.spans)
}

func strAttrs(kvs []*commonpb.KeyValue) map[string]string {
	m := map[string]string{}
	for _, kv := range kvs {
		m[kv.GetKey()] = kv.GetValue().GetStringValue()
	}
	return m
}

func startCollector(t *testing.T, protocol string) *collector {
	t.Helper()
	c := &collector{}
	switch protocol {
	case config.TracingGRPC:
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer()
		coltracepb.RegisterTraceServiceServer(srv, c)
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(srv.Stop)
		c.addr = ln.Addr().String()
	case config.TracingHTTP:
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			body, err := io.ReadAll(r.Body)
			req := new(coltracepb.ExportTraceServiceRequest)
			if err != nil || r.URL.Path != "/v1/traces" || proto.Unmarshal(body, req) != nil {
				http.Error(w, "bad export", http.StatusBadRequest)
				return
			}
			resp, _ := c.Export(r.Context(), req)
			out, _ := proto.Marshal(resp)
			w.Header().Set("Content-Type", "application/x-protobuf")
			_, _ = w.Write(out)
		}))
		t.Cleanup(srv.Close)
		c.addr = srv.Listener.Addr().String()
	}
	return c
}

// TestTracingOTLPExport sends a push's spans through the real OTLP
// exporter, over each protocol, to an in-process collector: the request's
// span and its stages arrive with their parent links, under a resource
// that names the service and the replica.
func TestTracingOTLPExport(t *testing.T) {
	for _, protocol := range []string{config.TracingGRPC, config.TracingHTTP} {
		t.Run(protocol, func(t *testing.T) {
			col := startCollector(t, protocol)
			tc := config.Default().Tracing
			tc.Enabled, tc.Endpoint, tc.Protocol, tc.Insecure, tc.Instance = true, col.addr, protocol, true, "replica-a"
			tr, shutdown, err := tracing.Setup(t.Context(), tc, nil, "test", slog.New(slog.DiscardHandler))
			if err != nil || tr == nil {
				t.Fatalf("setup: %v", err)
			}
			e := startGateway(t, withTracer(tr))
			docs := []map[string]any{exSample(t, records.KindLicence)}
			exResults(t, e.as("AL/GOV/AIM").push(docs...))
			exPage(t, e.as("AL/GOV/MOD").get("/v1/records"))
			// The server spans end just after their answers: stop the
			// gateway first, then flush.
			e.stop()
			if err := shutdown(context.Background()); err != nil {
				t.Fatalf("flush: %v", err)
			}
			got := col.received()
			byID := map[string]*tracepb.Span{}
			var push, pull *tracepb.Span
			for _, rs := range got {
				if rs.resource["service.name"] != "ura" || rs.resource["service.instance.id"] != "replica-a" || rs.resource["host.name"] == "" {
					t.Fatalf("resource %v", rs.resource)
				}
				byID[hex.EncodeToString(rs.span.GetSpanId())] = rs.span
				switch rs.span.GetName() {
				case "POST /v1/records":
					push = rs.span
				case "GET /v1/records":
					pull = rs.span
				}
			}
			if push == nil || pull == nil {
				t.Fatalf("request spans missing among %d", len(got))
			}
			for _, root := range []*tracepb.Span{push, pull} {
				if len(root.GetParentSpanId()) != 0 || root.GetKind() != tracepb.Span_SPAN_KIND_SERVER {
					t.Errorf("%s: parent %x, kind %v", root.GetName(), root.GetParentSpanId(), root.GetKind())
				}
				var stages []string
				for _, rs := range got {
					if hex.EncodeToString(rs.span.GetParentSpanId()) == hex.EncodeToString(root.GetSpanId()) {
						if string(rs.span.GetTraceId()) != string(root.GetTraceId()) {
							t.Errorf("%s: child %s in another trace", root.GetName(), rs.span.GetName())
						}
						stages = append(stages, rs.span.GetName())
					}
				}
				for _, want := range []string{"identity", "ratelimit", "policy", "sign", "audit"} {
					if !slices.Contains(stages, want) {
						t.Errorf("%s: no %s stage among %v", root.GetName(), want, stages)
					}
				}
			}
			assertNoContentOTLP(t, got, docs)
		})
	}
}

// assertNoContentOTLP is assertNoContent over what the collector received.
func assertNoContentOTLP(t *testing.T, got []receivedSpan, docs []map[string]any) {
	t.Helper()
	var hay []string
	for _, rs := range got {
		hay = append(hay, rs.span.GetName())
		for _, kv := range rs.span.GetAttributes() {
			hay = append(hay, kv.GetValue().String())
		}
		for _, v := range rs.resource {
			hay = append(hay, v)
		}
	}
	checkNoContent(t, hay, docs)
}

// TestTracingOffSendsNothing: with tracing.enabled false, a collector
// configured and listening gets nothing, since no exporter exists.
func TestTracingOffSendsNothing(t *testing.T) {
	col := startCollector(t, config.TracingHTTP)
	tc := config.Default().Tracing
	tc.Endpoint, tc.Protocol, tc.Insecure = col.addr, config.TracingHTTP, true
	tr, shutdown, err := tracing.Setup(t.Context(), tc, nil, "test", slog.New(slog.DiscardHandler))
	if err != nil || tr != nil {
		t.Fatalf("off: tracer %v, error %v", tr, err)
	}
	e := startGateway(t, withTracer(tr))
	exResults(t, e.as("AL/GOV/AIM").push(exSample(t, records.KindLicence)))
	e.stop()
	_ = shutdown(context.Background())
	if n := len(col.received()); n != 0 {
		t.Fatalf("tracing off, the collector got %d spans", n)
	}
}

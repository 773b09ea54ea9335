package tracing

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"google.golang.org/grpc/credentials"

	"github.com/ura-gateway/ura/gateway/config"
)

// Setup builds the Tracer that tracing.* configures, exporting with OTLP
// over grpc or http to tracing.endpoint; shutdown flushes the spans still
// queued. With tracing off it builds nothing: the Tracer is nil and no
// exporter exists. Spans are exported in batches from a bounded queue: a
// collector that is slow or gone costs dropped spans, never a request's
// time.
func Setup(ctx context.Context, tc config.Tracing, resolve func(string) string, version string, logger *slog.Logger) (*Tracer, func(context.Context) error, error) {
	if !tc.Enabled {
		return nil, func(context.Context) error { return nil }, nil
	}
	exp, err := exporter(ctx, tc, resolve)
	if err != nil {
		return nil, nil, err
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exp, sdktrace.WithExportTimeout(tc.Timeout)),
		sdktrace.WithResource(Resource(tc, version)),
		sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.TraceIDRatioBased(tc.SampleRatio))),
	)
	logger.Info("tracing on", "component", "tracing", "endpoint", tc.Endpoint, "protocol", tc.Protocol,
		"sample_ratio", tc.SampleRatio, "instance", tc.InstanceID())
	return New(tp), tp.Shutdown, nil
}

// Resource names the process that sends spans: service.name, the replica
// (service.instance.id, host.name) and the build. It is set from the
// configuration alone: OTEL_RESOURCE_ATTRIBUTES is not read.
func Resource(tc config.Tracing, version string) *resource.Resource {
	host, _ := os.Hostname()
	return resource.NewSchemaless(
		attribute.String("service.name", tc.ServiceName),
		attribute.String("service.namespace", "ura"),
		attribute.String("service.instance.id", tc.InstanceID()),
		attribute.String("service.version", version),
		attribute.String("host.name", host),
	)
}

func exporter(ctx context.Context, tc config.Tracing, resolve func(string) string) (*otlptrace.Exporter, error) {
	var tlsConf *tls.Config
	if !tc.Insecure {
		var err error
		if tlsConf, err = clientTLS(tc, resolve); err != nil {
			return nil, err
		}
	}
	var (
		exp *otlptrace.Exporter
		err error
	)
	// The endpoint, TLS and timeout given here win over the exporters'
	// OTEL_EXPORTER_OTLP_* variables.
	switch tc.Protocol {
	case config.TracingHTTP:
		opts := []otlptracehttp.Option{otlptracehttp.WithEndpoint(tc.Endpoint), otlptracehttp.WithTimeout(tc.Timeout)}
		if tlsConf == nil {
			opts = append(opts, otlptracehttp.WithInsecure())
		} else {
			opts = append(opts, otlptracehttp.WithTLSClientConfig(tlsConf))
		}
		exp, err = otlptracehttp.New(ctx, opts...)
	case config.TracingGRPC:
		opts := []otlptracegrpc.Option{otlptracegrpc.WithEndpoint(tc.Endpoint), otlptracegrpc.WithTimeout(tc.Timeout)}
		if tlsConf == nil {
			opts = append(opts, otlptracegrpc.WithInsecure())
		} else {
			opts = append(opts, otlptracegrpc.WithTLSCredentials(credentials.NewTLS(tlsConf)))
		}
		exp, err = otlptracegrpc.New(ctx, opts...)
	default:
		return nil, fmt.Errorf("tracing.protocol: must be grpc or http; got %q", tc.Protocol)
	}
	if err != nil {
		return nil, fmt.Errorf("tracing: otlp %s exporter: %w", tc.Protocol, err)
	}
	return exp, nil
}

func clientTLS(tc config.Tracing, resolve func(string) string) (*tls.Config, error) {
	c := &tls.Config{MinVersion: tls.VersionTLS12}
	if tc.CAFile != "" {
		pem, err := os.ReadFile(resolve(tc.CAFile))
		if err != nil {
			return nil, fmt.Errorf("tracing.ca_file: %w", err)
		}
		c.RootCAs = x509.NewCertPool()
		if !c.RootCAs.AppendCertsFromPEM(pem) {
			return nil, errors.New("tracing.ca_file: no PEM certificate in it")
		}
	}
	if tc.CertFile != "" {
		kp, err := tls.LoadX509KeyPair(resolve(tc.CertFile), resolve(tc.KeyFile))
		if err != nil {
			return nil, fmt.Errorf("tracing.cert_file: %w", err)
		}
		c.Certificates = []tls.Certificate{kp}
	}
	return c, nil
}

// shutdownTimeout bounds the flush at stop.
const shutdownTimeout = 5 * time.Second

// Shutdown runs shutdown with a bound of its own, logging what it could
// not flush.
func Shutdown(shutdown func(context.Context) error, logger *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := shutdown(ctx); err != nil {
		logger.Warn("tracing: spans not flushed at stop", "component", "tracing", "error", err)
	}
}

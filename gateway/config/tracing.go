package config

import (
	"os"
	"time"
)

// Tracing configures OpenTelemetry traces of the request chain, sent with
// OTLP to a collector. Off by default: with enabled false no exporter is
// built and the chain records nothing (gateway/ARCHITECTURE.md, Tracing).
type Tracing struct {
	Enabled bool `yaml:"enabled"`
	// Endpoint is the collector's host:port (4317 for grpc, 4318 for http
	// by OTLP's convention). URA_TRACING_ENDPOINT overrides it.
	Endpoint string `yaml:"endpoint"`
	// Protocol is grpc (OTLP/gRPC) or http (OTLP/HTTP with protobuf,
	// path /v1/traces).
	Protocol string `yaml:"protocol"`
	// Insecure sends spans without TLS; only with development: true, since
	// span names and attributes describe who exchanged what, and when.
	Insecure bool `yaml:"insecure"`
	// CAFile verifies the collector's certificate (system roots when empty);
	// CertFile and KeyFile are the gateway's client certificate, for a
	// collector that asks for one.
	CAFile   string `yaml:"ca_file"`
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// SampleRatio is the share of requests traced, above 0 and at most 1.
	// A caller's traceparent never decides it: each request's trace is
	// this gateway's own (see ARCHITECTURE.md).
	SampleRatio float64 `yaml:"sample_ratio"`
	// ServiceName is the resource's service.name.
	ServiceName string `yaml:"service_name"`
	// Instance is service.instance.id, which replica sent a span; empty:
	// the host name.
	Instance string `yaml:"instance"`
	// Timeout bounds one export to the collector.
	Timeout time.Duration `yaml:"timeout"`
}

// Tracing protocols.
const (
	TracingGRPC = "grpc"
	TracingHTTP = "http"
)

func defaultTracing() Tracing {
	return Tracing{Protocol: TracingGRPC, SampleRatio: 1, ServiceName: "ura", Timeout: 10 * time.Second}
}

// InstanceID is Instance, or the host name when it is empty.
func (t *Tracing) InstanceID() string {
	if t.Instance != "" {
		return t.Instance
	}
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "unknown"
	}
	return h
}

func (t *Tracing) validate(v *validator, c *Config) {
	if t.Protocol != TracingGRPC && t.Protocol != TracingHTTP {
		v.add("protocol", "must be grpc or http; got %q", t.Protocol)
	}
	if !(t.SampleRatio > 0 && t.SampleRatio <= 1) {
		v.add("sample_ratio", "must be above 0 and at most 1; got %v", t.SampleRatio)
	}
	if t.ServiceName == "" {
		v.add("service_name", "must not be empty")
	}
	v.positive("timeout", t.Timeout)
	if (t.CertFile == "") != (t.KeyFile == "") {
		v.add("key_file", "cert_file and key_file go together")
	}
	if t.Insecure {
		switch {
		case !c.Development:
			v.add("insecure", "only with development: true; give ca_file to trust a private collector CA")
		case t.CAFile != "" || t.CertFile != "":
			v.add("insecure", "sends without TLS: ca_file, cert_file and key_file do not apply")
		}
	}
	if !t.Enabled {
		return
	}
	if t.Endpoint == "" {
		v.add("endpoint", "must be set when tracing is enabled")
	} else {
		v.hostPort("endpoint", t.Endpoint)
	}
	v.file("ca_file", c.Path(t.CAFile), false)
	v.file("cert_file", c.Path(t.CertFile), false)
	v.file("key_file", c.Path(t.KeyFile), false)
}

package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTracingDefaultsOff(t *testing.T) {
	cfg, err := Parse(nil, "")
	if err != nil {
		t.Fatal(err)
	}
	tr := cfg.Tracing
	if tr.Enabled || tr.Protocol != TracingGRPC || tr.SampleRatio != 1 || tr.ServiceName != "ura" || tr.Timeout <= 0 {
		t.Fatalf("defaults: %+v", tr)
	}
	if tr.InstanceID() == "" {
		t.Fatal("no instance id from the host name")
	}
}

func TestTracingValidate(t *testing.T) {
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	writeTestFile(t, ca)
	tests := []struct {
		name string
		yaml string
		want []string // each a whole error line; none: valid
	}{
		{name: "enabled grpc", yaml: "tracing: {enabled: true, endpoint: collector:4317}"},
		{name: "enabled http with ca", yaml: "tracing: {enabled: true, endpoint: collector:4318, protocol: http, ca_file: ca.pem, sample_ratio: 0.25}"},
		{name: "insecure in development", yaml: "development: true\ntracing: {enabled: true, endpoint: 127.0.0.1:4317, insecure: true}"},
		{name: "disabled needs no endpoint", yaml: "tracing: {enabled: false}"},
		{name: "no endpoint", yaml: "tracing: {enabled: true}",
			want: []string{"tracing.endpoint: must be set when tracing is enabled"}},
		{name: "bad endpoint", yaml: "tracing: {enabled: true, endpoint: collector}",
			want: []string{`tracing.endpoint: must be host:port; got "collector"`}},
		{name: "bad protocol and ratio", yaml: "tracing: {protocol: zipkin, sample_ratio: 0}",
			want: []string{`tracing.protocol: must be grpc or http; got "zipkin"`, "tracing.sample_ratio: must be above 0 and at most 1; got 0"}},
		{name: "ratio above one", yaml: "tracing: {sample_ratio: 1.5}",
			want: []string{"tracing.sample_ratio: must be above 0 and at most 1; got 1.5"}},
		{name: "insecure outside development", yaml: "tracing: {enabled: true, endpoint: c:4317, insecure: true}",
			want: []string{"tracing.insecure: only with development: true; give ca_file to trust a private collector CA"}},
		{name: "insecure with ca", yaml: "development: true\ntracing: {enabled: true, endpoint: c:4317, insecure: true, ca_file: ca.pem}",
			want: []string{"tracing.insecure: sends without TLS: ca_file, cert_file and key_file do not apply"}},
		{name: "half a key pair", yaml: "tracing: {cert_file: ca.pem}",
			want: []string{"tracing.key_file: cert_file and key_file go together"}},
		{name: "missing ca", yaml: "tracing: {enabled: true, endpoint: c:4317, ca_file: nope.pem}",
			want: []string{"tracing.ca_file: cannot read " + filepath.Join(dir, "nope.pem") + ": no such file or directory"}},
		{name: "empty service name and timeout", yaml: "tracing: {service_name: '', timeout: 0s}",
			want: []string{"tracing.service_name: must not be empty", "tracing.timeout: must be a positive duration such as 30s or 5m"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.yaml), dir)
			if err != nil {
				t.Fatal(err)
			}
			v := &validator{}
			cfg.Tracing.validate(v.at("tracing"), cfg)
			var got []string
			if err := v.err(); err != nil {
				got = strings.Split(err.Error(), "\n")
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Fatalf("errors:\n got %q\nwant %q", got, tc.want)
			}
		})
	}
}

func TestTracingUnknownKey(t *testing.T) {
	_, err := Parse([]byte("tracing:\n  enabled: true\n  endpont: c:4317\n"), "")
	if err == nil || !strings.Contains(err.Error(), `line 3: unknown key "endpont"`) {
		t.Fatalf("unknown tracing key: %v", err)
	}
}

func TestTracingEndpointFromEnv(t *testing.T) {
	t.Setenv("URA_TRACING_ENDPOINT", "otel.internal:4317")
	cfg, err := Parse([]byte("tracing: {enabled: true, endpoint: c:4317}"), "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Tracing.Endpoint != "otel.internal:4317" {
		t.Fatalf("endpoint %q", cfg.Tracing.Endpoint)
	}
}

func writeTestFile(t *testing.T, path string) {
	t.Helper()
	if err := os.WriteFile(path, []byte("placeholder\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

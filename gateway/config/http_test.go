package config

import (
	"strings"
	"testing"
	"time"
)

// fieldPaths are the paths of err's field errors, in order.
func fieldPaths(err error) []string {
	if err == nil {
		return nil
	}
	var got []string
	for _, line := range strings.Split(err.Error(), "\n") {
		got = append(got, strings.SplitN(line, ":", 2)[0])
	}
	return got
}

func TestHTTPValidation(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(h *HTTP)
		want   []string
	}{
		{"defaults", func(*HTTP) {}, nil},
		{"no header timeout", func(h *HTTP) { h.ReadHeaderTimeout = 0 }, []string{"http.read_header_timeout"}},
		{"no body timeout", func(h *HTTP) { h.BodyTimeout = 0 }, []string{"http.body_timeout"}},
		{"negative write timeout", func(h *HTTP) { h.WriteTimeout = -time.Second }, []string{"http.write_timeout"}},
		{"stream timeout of a day", func(h *HTTP) { h.StreamWriteTimeout = 24 * time.Hour }, []string{"http.stream_write_timeout"}},
		{"no idle timeout", func(h *HTTP) { h.IdleTimeout = 0 }, []string{"http.idle_timeout"}},
		{"no in-flight cap", func(h *HTTP) { h.MaxInFlightPerMember = 0 }, []string{"http.max_in_flight_per_member"}},
		{"no connection cap", func(h *HTTP) { h.MaxConnectionsPerMember = 0 }, []string{"http.max_connections_per_member"}},
		{"negative connection cap", func(h *HTTP) { h.MaxConnectionsPerMember = -1 }, []string{"http.max_connections_per_member"}},
		{"connection cap too large", func(h *HTTP) { h.MaxConnectionsPerMember = 100001 }, []string{"http.max_connections_per_member"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := defaultHTTP()
			tc.mutate(&h)
			v := &validator{}
			h.validate(v.at("http"))
			if got := fieldPaths(v.err()); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("errors at %v, want %v (%v)", got, tc.want, v.err())
			}
		})
	}
}

func TestHTTPFromYAML(t *testing.T) {
	cfg, err := Parse([]byte("http:\n  body_timeout: 5s\n  max_in_flight_per_member: 3\n  max_connections_per_member: 7\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	want := defaultHTTP()
	want.BodyTimeout, want.MaxInFlightPerMember, want.MaxConnectionsPerMember = 5*time.Second, 3, 7
	if cfg.HTTP != want {
		t.Fatalf("http = %+v, want %+v", cfg.HTTP, want)
	}
	if _, err := Parse([]byte("http:\n  read_timeout: 5s\n"), ""); err == nil {
		t.Fatal("a misspelt http key was accepted")
	}
}

// Plain http to Vault or to the OPA server is refused unless the file says
// it is a development stack; https is always fine.
func TestPlainHTTPOnlyInDevelopment(t *testing.T) {
	const opa = "://127.0.0.1:8181/v1/data/ura/decision"
	cases := []struct {
		name string
		yaml string
		want []string
	}{
		{"https vault", "vault:\n  addr: https://vault.example:8200\n", nil},
		{"http vault", "vault:\n  addr: http://127.0.0.1:8210\n", []string{"vault.addr"}},
		{"HTTP vault, upper case", "vault:\n  addr: HTTP://127.0.0.1:8210\n", []string{"vault.addr"}},
		{"http vault in development", "development: true\nvault:\n  addr: http://127.0.0.1:8210\n", nil},
		{"https opa", "policy:\n  mode: http\n  http_url: https" + opa + "\n", nil},
		{"http opa", "policy:\n  mode: http\n  http_url: http" + opa + "\n", []string{"policy.http_url"}},
		{"http opa in development", "development: true\npolicy:\n  mode: http\n  http_url: http" + opa + "\n", nil},
		{"both", "vault:\n  addr: http://v:8200\npolicy:\n  mode: http\n  http_url: http" + opa + "\n", []string{"vault.addr", "policy.http_url"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.yaml), "")
			if err != nil {
				t.Fatal(err)
			}
			v := &validator{}
			cfg.validateTransport(v)
			if got := fieldPaths(v.err()); strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("errors at %v, want %v (%v)", got, tc.want, v.err())
			}
		})
	}
}

// URA_VAULT_ADDR is checked like the file's own address.
func TestPlainHTTPFromEnvironmentRefused(t *testing.T) {
	cfg := Default()
	cfg.applyEnv(func(name string) (string, bool) {
		return "http://127.0.0.1:8210", name == "URA_VAULT_ADDR"
	})
	err := cfg.Validate()
	if err == nil || !strings.Contains(err.Error(), "vault.addr: plain http is refused outside development") {
		t.Fatalf("Validate() = %v, want a vault.addr error", err)
	}
}

func TestOpsMetricsNeedsOpsListen(t *testing.T) {
	cfg := Default()
	cfg.OpsMetrics = true
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), "ops_metrics: needs ops_listen") {
		t.Fatalf("Validate() = %v, want ops_metrics: needs ops_listen", err)
	}
	cfg.OpsListen = "127.0.0.1:9443"
	if err := cfg.Validate(); err != nil && strings.Contains(err.Error(), "ops_metrics") {
		t.Fatalf("Validate() = %v", err)
	}
}

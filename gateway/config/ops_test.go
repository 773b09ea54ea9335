package config

import (
	"strings"
	"testing"
)

// Profiling opens CPU and heap profiles to whoever reaches the ops
// listener, which identifies nobody: it is refused anywhere but loopback.
func TestOpsProfilingNeedsLoopbackOpsListen(t *testing.T) {
	for _, tc := range []struct {
		name, listen string
		on           bool
		want         string // "" = accepted
	}{
		{"off, any listener", "0.0.0.0:9443", false, ""},
		{"loopback v4", "127.0.0.1:9443", true, ""},
		{"loopback v6", "[::1]:9443", true, ""},
		{"no ops listener", "", true, "ops_profiling: needs ops_listen"},
		{"every interface", "0.0.0.0:9443", true, "ops_profiling: needs ops_listen on a loopback address"},
		{"empty host is every interface", ":9443", true, "ops_profiling: needs ops_listen on a loopback address"},
		{"private address", "10.0.0.5:9443", true, "ops_profiling: needs ops_listen on a loopback address"},
		{"a name that may resolve anywhere", "localhost:9443", true, "ops_profiling: needs ops_listen on a loopback address"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Default()
			cfg.OpsListen, cfg.OpsProfiling = tc.listen, tc.on
			err := cfg.Validate()
			got := ""
			if err != nil && strings.Contains(err.Error(), "ops_profiling") {
				got = err.Error()
			}
			switch {
			case tc.want == "" && got != "":
				t.Fatalf("Validate() = %v, want ops_profiling accepted", err)
			case tc.want != "" && !strings.Contains(got, tc.want):
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

package config

import (
	"strings"
	"testing"
)

func TestRuntimeDefaultsAndValidate(t *testing.T) {
	cfg, err := Parse([]byte("runtime: {}\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Runtime != (Runtime{GCPercent: 400, MemoryLimitMiB: 2048}) {
		t.Errorf("defaults %+v", cfg.Runtime)
	}
	for _, tc := range []struct {
		r    Runtime
		want string
	}{
		{Runtime{GCPercent: 100}, ""},
		{Runtime{GCPercent: -1, MemoryLimitMiB: 512}, ""},
		{Runtime{GCPercent: -1}, "runtime.gc_percent: -1 (collections off) needs memory_limit_mib"},
		{Runtime{GCPercent: 10}, "runtime.gc_percent: must be between 25 and 10000"},
		{Runtime{GCPercent: 100, MemoryLimitMiB: 8}, "runtime.memory_limit_mib: must be 0 (none) or at least 64"},
		{Runtime{GCPercent: 100, MemoryLimitMiB: -1}, "runtime.memory_limit_mib: must be 0 (none) or at least 64"},
	} {
		v := &validator{}
		tc.r.validate(v.at("runtime"))
		err := v.err()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%+v refused: %v", tc.r, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%+v: %v, want %q", tc.r, err, tc.want)
		}
	}
}

// The operator's GOGC and GOMEMLIMIT win over the file.
func TestRuntimeSettingsYieldToEnvironment(t *testing.T) {
	r := Runtime{GCPercent: 400, MemoryLimitMiB: 2048}
	env := map[string]string{}
	getenv := func(k string) string { return env[k] }
	if gc, gcOK, limit, limitOK := r.Settings(getenv); gc != 400 || !gcOK || limit != 2048<<20 || !limitOK {
		t.Errorf("no environment: %d %v %d %v", gc, gcOK, limit, limitOK)
	}
	env["GOGC"], env["GOMEMLIMIT"] = "100", "1GiB"
	if _, gcOK, _, limitOK := r.Settings(getenv); gcOK || limitOK {
		t.Errorf("the environment's GOGC and GOMEMLIMIT were overridden")
	}
	if _, _, _, limitOK := (Runtime{GCPercent: 100}).Settings(func(string) string { return "" }); limitOK {
		t.Errorf("memory_limit_mib 0 set a limit")
	}
}

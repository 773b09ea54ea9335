package config

// Runtime sets how Go's garbage collector runs in the gateway process
// (gateway/ARCHITECTURE.md, "Runtime"). The environment's GOGC and
// GOMEMLIMIT, when set, win over these keys.
type Runtime struct {
	// GCPercent is GOGC: how far the heap may grow past what the last
	// collection left live before the next collection starts; -1 turns
	// collections off until MemoryLimitMiB is near. 0 takes the default.
	GCPercent int `yaml:"gc_percent"`
	// MemoryLimitMiB is GOMEMLIMIT in MiB: a soft limit on the process's
	// memory, near which collections come sooner whatever GCPercent says.
	// 0 sets none.
	MemoryLimitMiB int `yaml:"memory_limit_mib"`
}

// The defaults trade memory for CPU: the gateway's live heap is small (a
// pull holds one chunk at a time), while each record it moves allocates
// what is garbage by the end of its chunk, so collections at Go's default
// of 100 took a fifth of a pull's CPU. The soft limit keeps the larger
// headroom from growing without bound.
const (
	defaultGCPercent      = 400
	defaultMemoryLimitMiB = 2048
)

func defaultRuntime() Runtime {
	return Runtime{GCPercent: defaultGCPercent, MemoryLimitMiB: defaultMemoryLimitMiB}
}

func (r Runtime) validate(v *validator) {
	switch {
	case r.GCPercent == -1:
		if r.MemoryLimitMiB == 0 {
			v.add("gc_percent", "-1 (collections off) needs memory_limit_mib, or the heap grows without bound")
		}
	case r.GCPercent < 25 || r.GCPercent > 10000:
		v.add("gc_percent", "must be between 25 and 10000, or -1 with memory_limit_mib; got %d", r.GCPercent)
	}
	if r.MemoryLimitMiB < 0 || (r.MemoryLimitMiB > 0 && r.MemoryLimitMiB < 64) {
		v.add("memory_limit_mib", "must be 0 (none) or at least 64; got %d", r.MemoryLimitMiB)
	}
}

// Settings are the GOGC and the memory limit in bytes to set, each only
// where getenv finds no GOGC or GOMEMLIMIT of the operator's (ok false:
// leave it as the runtime has it).
func (r Runtime) Settings(getenv func(string) string) (gcPercent int, gcOK bool, limit int64, limitOK bool) {
	if getenv("GOGC") == "" {
		gcPercent, gcOK = r.GCPercent, true
	}
	if getenv("GOMEMLIMIT") == "" && r.MemoryLimitMiB > 0 {
		limit, limitOK = int64(r.MemoryLimitMiB)<<20, true
	}
	return gcPercent, gcOK, limit, limitOK
}

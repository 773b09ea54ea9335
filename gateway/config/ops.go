package config

import (
	"net"
	"net/netip"
)

// validateOpsProfiling admits ops_profiling only on a loopback ops
// listener: a CPU profile costs the process seconds of sampling, a heap
// profile shows what the gateway holds, and the ops listener asks nobody
// who they are, so only someone already on the host may ask for either.
func validateOpsProfiling(v *validator, on bool, opsListen string) {
	if !on {
		return
	}
	if opsListen == "" {
		v.add("ops_profiling", "needs ops_listen")
		return
	}
	host, _, err := net.SplitHostPort(opsListen)
	if err != nil {
		return // ops_listen reports its own error
	}
	if ip, err := netip.ParseAddr(host); err != nil || !ip.IsLoopback() {
		v.add("ops_profiling", "needs ops_listen on a loopback address (127.0.0.1 or ::1); got %q", opsListen)
	}
}

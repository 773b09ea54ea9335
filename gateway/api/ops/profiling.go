package ops

import (
	"net/http"
	"net/http/pprof"
)

// Profiling serves Go's runtime profiles under /debug/pprof/ (CPU, heap,
// goroutines, execution trace), as net/http/pprof does. It is mounted only
// on the ops listener and only when ops_profiling is set, which the
// configuration admits on a loopback address alone (ARCHITECTURE.md,
// "Profiling"). A CPU profile asked for longer than the ops listener's
// write timeout (30 s) is refused by pprof itself.
func Profiling() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

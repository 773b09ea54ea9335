package server

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ura-gateway/ura/gateway/api/auditapi"
	"github.com/ura-gateway/ura/gateway/api/consoleapi"
	"github.com/ura-gateway/ura/gateway/api/exchange"
	"github.com/ura-gateway/ura/gateway/api/ops"
	"github.com/ura-gateway/ura/gateway/api/releaseapi"
	"github.com/ura-gateway/ura/gateway/ratelimit"
)

// apis are the handler packages the routes mount, one per API.
type apis struct {
	exchange *exchange.Handlers
	audit    *auditapi.Handlers
	console  *consoleapi.Handlers // nil: console.enabled is false
	releases *releaseapi.Handlers
	ops      *ops.Handlers
}

// routes is the whole request path on one screen:
//
//	TLS 1.3 handshake (chain, CA prefix, CRL)   — tls.go, before any route
//	→ refuse Content-Length with Transfer-Encoding (listener.go)
//	→ strip identity headers → observe (metrics, request log, recover)
//	→ the request's span (trace.go; tracing off: nothing)
//	→ Cache-Control: no-store unless the route says otherwise
//	→ read and write deadlines (writeBudget below)
//	→ member identity (registry) → member's in-flight cap
//	→ the route's own chain: charge its class (chain.Kit.Charge), the
//	  auditor check where it applies, then its handler, which returns its
//	  error to chain.Kit.Fail, the one place an error is answered.
func (s *Server) routes(a apis) *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	k, w := s.kit, s.kit.Wrap
	r := gin.New()
	r.ForwardedByClientIP = false
	_ = r.SetTrustedProxies(nil)
	r.HandleMethodNotAllowed = true
	r.NoRoute(k.NotFound)
	r.NoMethod(k.MethodNotAllowed)
	r.Use(w(s.refuseAmbiguousFraming), stripIdentityHeaders, s.observe, s.trace, noStore, s.deadlines)

	r.GET("/healthz", a.ops.Healthz)
	r.GET("/readyz", a.ops.Readyz)

	member := r.Group("/", w(s.identify), w(s.limitInFlight))
	member.GET("/metrics", w(a.ops.RequireMetricsReader), gin.WrapH(s.metricsHandler()))
	member.GET("/v1/whoami", a.ops.Whoami)
	// Records (gateway/api/exchange): each data route pays its class's
	// minimum before anything else. The work lists (open traces, reviews,
	// unconfirmed deliveries) and the report read the register, and pay
	// for it in class pull.
	ex := a.exchange
	member.POST("/v1/records", k.Charge(ratelimit.ClassPush), w(ex.Push))
	member.GET("/v1/records", k.Charge(ratelimit.ClassPull), w(ex.Pull))
	member.GET("/v1/records/:id", k.Charge(ratelimit.ClassPull), w(ex.Get))
	member.GET("/v1/items/:country/:manufacturer/:serial/trace", k.Charge(ratelimit.ClassTrace), w(ex.Trace))
	member.GET("/v1/traces/open", k.Charge(ratelimit.ClassPull), w(ex.OpenTraces))
	member.GET("/v1/reviews", k.Charge(ratelimit.ClassPull), w(ex.Reviews))
	member.GET("/v1/reports/att", k.Charge(ratelimit.ClassPull), w(ex.ATTReport))
	member.GET("/v1/deliveries/unconfirmed", k.Charge(ratelimit.ClassPull), w(ex.UnconfirmedDeliveries))
	member.POST("/v1/licences/usage", k.Charge(ratelimit.ClassPush), w(ex.Usage))
	member.GET("/v1/licences/:id/usage", k.Charge(ratelimit.ClassPull), w(ex.LicenceUsage))
	// What the gateway publishes about itself (gateway/api/ops).
	member.GET("/v1/schemas/:kind", w(a.ops.Schema))
	member.GET("/v1/openapi.json", a.ops.OpenAPI)
	member.GET("/v1/policy", w(a.ops.Policy))
	member.GET("/.well-known/jwks.json", w(a.ops.JWKS))
	// The audit log, for security officers (gateway/api/auditapi).
	au := member.Group("/v1/audit", k.Charge(ratelimit.ClassAudit), w(a.audit.RequireAuditor()))
	au.GET("/events", w(a.audit.Search))
	au.GET("/events/:seq", w(a.audit.Event))
	au.GET("/export", w(a.audit.Export))
	au.GET("/checkpoints", w(a.audit.Checkpoints))
	au.GET("/summary", w(a.audit.Summary))
	// Two-person release authority (gateway/api/releaseapi), charged as
	// the officers' routes: requested by a record's originator or an
	// officer, decided by officers holding the release role only.
	rel := a.releases
	member.POST("/v1/releases", k.Charge(ratelimit.ClassAudit), w(rel.Create))
	officers := member.Group("/v1/releases", k.Charge(ratelimit.ClassAudit), w(rel.RequireOfficer))
	officers.GET("", w(rel.List))
	officers.POST("/:id/approve", w(rel.Approve))
	officers.POST("/:id/revoke", w(rel.Revoke))
	// The console (gateway/api/consoleapi): one catch-all, so that every
	// path under /console/, known or not, passes the same auditor check
	// and gets the same headers.
	if con := a.console; con != nil {
		gate := []gin.HandlerFunc{con.Headers, k.Charge(ratelimit.ClassAudit), w(con.RequireAuditor())}
		member.GET(consoleapi.Base+"*page", append(gate, w(con.Get))...)
		member.POST(consoleapi.Base+"*page", append(gate, w(con.Post))...)
	}
	return r
}

// writeBudget is how long a route's response may take to leave, from the
// end of the request's body; stream routes write for as long as they have
// records, and are bounded per write instead (http.stream_write_timeout).
func (s *Server) writeBudget(method, route string) (d time.Duration, stream bool) {
	switch {
	case method == http.MethodGet && (route == "/v1/records" || route == "/v1/audit/export"):
		return 0, true
	case method == http.MethodPost && strings.HasPrefix(route, consoleapi.Base):
		// "verify chain" answers once it has read the whole log.
		return s.cfg.Console.VerifyTimeout + s.cfg.HTTP.WriteTimeout, false
	}
	return s.cfg.HTTP.WriteTimeout, false
}

// opsRoutes serve probes on the optional plain-HTTP ops listener, which
// identifies nobody: /metrics (whose series name members) only when
// ops_metrics opens it, Go's profiles (/debug/pprof/) only when
// ops_profiling does.
func (s *Server) opsRoutes(o *ops.Handlers) *gin.Engine {
	r := gin.New()
	r.Use(gin.Recovery(), noStore)
	r.GET("/healthz", o.Healthz)
	r.GET("/readyz", o.Readyz)
	if s.cfg.OpsMetrics {
		r.GET("/metrics", gin.WrapH(s.metricsHandler()))
	}
	if s.cfg.OpsProfiling {
		r.Any("/debug/pprof/*profile", gin.WrapH(ops.Profiling()))
	}
	return r
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{})
}

package server

import (
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ura-gateway/ura/gateway/ratelimit"
)

// routes is the whole request path on one screen:
//
//	TLS 1.3 handshake (chain, CA prefix, CRL)   — tls.go, before any route
//	→ refuse Content-Length with Transfer-Encoding (listener.go)
//	→ strip identity headers → observe (metrics, request log, recover)
//	→ read and write deadlines (writeBudget below)
//	→ member identity (registry) → member's in-flight cap
//	→ the route's own chain
func (s *Server) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.ForwardedByClientIP = false
	_ = r.SetTrustedProxies(nil)
	r.HandleMethodNotAllowed = true
	r.NoRoute(s.notFound)
	r.NoMethod(s.methodNotAllowed)
	r.Use(s.refuseAmbiguousFraming, stripIdentityHeaders, s.observe, s.deadlines)

	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)

	member := r.Group("/", s.identify, s.limitInFlight)
	member.GET("/metrics", s.requireMetricsReader, gin.WrapH(s.metricsHandler()))
	member.GET("/v1/whoami", s.whoami)
	// [routes: records]  push, pull, get, trace, schemas, openapi
	ex := s.exchange() // the chain of each is in exchange.go
	// Each data route pays its class's minimum before anything else
	// (ratelimit.go, charge).
	member.POST("/v1/records", s.charge(ratelimit.ClassPush), ex.push)
	member.GET("/v1/records", s.charge(ratelimit.ClassPull), ex.pull)
	member.GET("/v1/records/:id", s.charge(ratelimit.ClassPull), ex.get)
	member.GET("/v1/items/:country/:manufacturer/:serial/trace", s.charge(ratelimit.ClassTrace), ex.trace)
	member.GET("/v1/schemas/:kind", ex.schema)
	member.GET("/v1/openapi.json", ex.openapi)
	// [routes: policy]   /v1/policy
	member.GET("/v1/policy", s.polStatus)
	// [routes: sign]     /.well-known/jwks.json
	member.GET("/.well-known/jwks.json", s.jwks)
	// [routes: audit]    /v1/audit..., /console/
	s.auditRoutes(member)
	s.conRoutes(member) // /console/*: auditors only, strict headers; console_routes.go
	return r
}

// writeBudget is how long a route's response may take to leave, from the
// end of the request's body; stream routes write for as long as they have
// records, and are bounded per write instead (http.stream_write_timeout).
func (s *Server) writeBudget(method, route string) (d time.Duration, stream bool) {
	switch {
	case method == http.MethodGet && (route == "/v1/records" || route == "/v1/audit/export"):
		return 0, true
	case method == http.MethodPost && strings.HasPrefix(route, "/console/"):
		// "verify chain" answers once it has read the whole log.
		return s.cfg.Console.VerifyTimeout + s.cfg.HTTP.WriteTimeout, false
	}
	return s.cfg.HTTP.WriteTimeout, false
}

// opsRoutes serve probes on the optional plain-HTTP ops listener, which
// identifies nobody: /metrics (whose series name members) only when
// ops_metrics opens it.
func (s *Server) opsRoutes() *gin.Engine {
	r := gin.New()
	r.Use(gin.Recovery())
	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	if s.cfg.OpsMetrics {
		r.GET("/metrics", gin.WrapH(s.metricsHandler()))
	}
	return r
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{})
}

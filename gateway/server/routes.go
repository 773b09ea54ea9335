package server

import (
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/ura-gateway/ura/gateway/ratelimit"
)

// routes is the whole request path on one screen:
//
//	TLS 1.3 handshake (chain, CA prefix, CRL)   — tls.go, before any route
//	→ strip identity headers → observe (metrics, request log, recover)
//	→ member identity (registry) → the route's own chain
func (s *Server) routes() *gin.Engine {
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.ForwardedByClientIP = false
	_ = r.SetTrustedProxies(nil)
	r.HandleMethodNotAllowed = true
	r.NoRoute(s.notFound)
	r.NoMethod(s.methodNotAllowed)
	r.Use(stripIdentityHeaders, s.observe)

	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)

	member := r.Group("/", s.identify)
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

// opsRoutes serve probes and scrapers on the optional plain-HTTP ops
// listener, which carries no member data.
func (s *Server) opsRoutes() *gin.Engine {
	r := gin.New()
	r.Use(gin.Recovery())
	r.GET("/healthz", s.healthz)
	r.GET("/readyz", s.readyz)
	r.GET("/metrics", gin.WrapH(s.metricsHandler()))
	return r
}

func (s *Server) metricsHandler() http.Handler {
	return promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{})
}

package server

import (
	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/tracing"
)

// trace starts the span of the request, the parent of every stage's span
// (gateway/ARCHITECTURE.md, Tracing). It names the route's template, never
// the path: a path holds record ids and item markings. A traceparent the
// caller sent is only linked (tracing.StartRequest). Tracing off: nothing.
func (s *Server) trace(c *gin.Context) {
	t := s.kit.Tracer
	if t == nil {
		c.Next()
		return
	}
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	method := methodLabel(c.Request.Method)
	ctx, sp := t.StartRequest(c.Request.Context(), c.Request.Header, method+" "+route)
	sp.Str("http.request.method", method)
	sp.Str("http.route", route)
	sp.Str(tracing.KeyRequestID, chain.RequestID(c))
	c.Request = c.Request.WithContext(ctx)
	defer func() {
		status := c.Writer.Status()
		sp.Int("http.response.status_code", status)
		if status >= 500 {
			sp.Fail()
		}
		sp.End(nil)
	}()
	c.Next()
}

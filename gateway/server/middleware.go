package server

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/problem"
)

// identityHeaderPrefixes are headers that some proxies use to pass a client
// identity. The gateway takes identity only from its own TLS handshake, so a
// client sending them is either confused or attacking: they are removed
// before any handler or upstream can see them.
var identityHeaderPrefixes = []string{
	"X-Forwarded-Client-Cert", "X-Ura-", "X-Ssl-", "X-Client-Cert", "X-Client-Dn",
	"X-Client-Verify", "Ssl-Client", "X-Forwarded-User", "X-Remote-User", "X-Authenticated-",
}

func stripIdentityHeaders(c *gin.Context) {
	for name := range c.Request.Header {
		for _, p := range identityHeaderPrefixes {
			if strings.HasPrefix(name, p) {
				c.Request.Header.Del(name)
				break
			}
		}
	}
	c.Next()
}

// observe assigns a request ID, recovers panics, and records the request's
// metrics and one log line.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	var b [8]byte
	_, _ = rand.Read(b[:])
	rid := hex.EncodeToString(b[:])
	c.Set(ginRequestID, rid)
	c.Header("X-Request-Id", rid)
	defer func() {
		if rec := recover(); rec != nil {
			s.log.Error("panic in handler", "request_id", rid, "panic", rec, "stack", string(debug.Stack()))
			s.fail(c, problem.Internal(nil))
		}
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		status := c.Writer.Status()
		elapsed := time.Since(start)
		s.metrics.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
		s.metrics.duration.WithLabelValues(route).Observe(elapsed.Seconds())
		attrs := []any{"request_id", rid, "method", c.Request.Method, "route", route, "status", status,
			"duration_ms", float64(elapsed.Microseconds()) / 1000, "remote", c.Request.RemoteAddr}
		if m, ok := identity.FromContext(c.Request.Context()); ok {
			attrs = append(attrs, "member", m.ID)
		}
		s.log.LogAttrs(c.Request.Context(), levelFor(status), "request", toAttrs(attrs)...)
	}()
	c.Next()
}

const ginRequestID = "ura.request_id"

func levelFor(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelInfo
}

func toAttrs(kv []any) []slog.Attr {
	out := make([]slog.Attr, 0, len(kv)/2)
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, slog.Any(kv[i].(string), kv[i+1]))
	}
	return out
}

// identify turns the verified TLS state into a registered member. The
// peer's chain is verified again on every request, against the current
// anchors and CRLs, so an expiry, a revocation or a removed anchor also ends
// connections opened before it.
func (s *Server) identify(c *gin.Context) {
	st := c.Request.TLS
	if st == nil || len(st.PeerCertificates) == 0 {
		s.fail(c, problem.New(http.StatusUnauthorized, problem.TypeUnauthenticated, "a verified client certificate is required"))
		return
	}
	id, err := s.tls.current.Load().trust.Verify(st.PeerCertificates, s.tls.now())
	if err != nil {
		c.Header("Connection", "close")
		s.fail(c, problem.New(http.StatusUnauthorized, problem.TypeUnauthenticated, "the client certificate is not accepted").Wrap(err))
		return
	}
	m, ok := s.registry.Lookup(id)
	if !ok {
		s.fail(c, problem.New(http.StatusForbidden, problem.TypeUnknownMember, "member "+id+" is not registered at this gateway"))
		return
	}
	c.Request = c.Request.WithContext(identity.NewContext(c.Request.Context(), m))
	c.Next()
}

func (s *Server) requireMetricsReader(c *gin.Context) {
	m, _ := identity.FromContext(c.Request.Context())
	if m.Kind != identity.KindAuditor && !m.HasRole("metrics") {
		s.fail(c, problem.New(http.StatusForbidden, problem.TypeForbidden, "metrics are for security officers and members with the metrics role"))
		return
	}
	c.Next()
}

// fail renders err as problem+json: the one place errors reach a caller.
// Internal causes are logged here and never written to the response.
func (s *Server) fail(c *gin.Context, err error) {
	p := problem.From(err)
	rid := c.GetString(ginRequestID)
	if p.Cause != nil || p.Status >= 500 {
		attrs := []any{"request_id", rid, "status", p.Status, "type", p.Type}
		if p.Cause != nil {
			attrs = append(attrs, "error", p.Cause.Error())
		}
		if m, ok := identity.FromContext(c.Request.Context()); ok {
			attrs = append(attrs, "member", m.ID)
		}
		s.log.Warn("request failed", attrs...)
	}
	c.Header("Content-Type", problem.ContentType)
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(p.Status, p.Body("urn:ura:request:"+rid))
}

func (s *Server) notFound(c *gin.Context) {
	s.fail(c, problem.New(http.StatusNotFound, problem.TypeNotFound, "no such resource"))
}

func (s *Server) methodNotAllowed(c *gin.Context) {
	s.fail(c, problem.New(http.StatusMethodNotAllowed, problem.TypeMethodNotAllowed, "method not allowed on this resource"))
}

package server

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/tracing"
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

// noStore makes no-store the default of every answer, before any route: a
// response names a member, its records, the policy or the audit log, and no
// cache on the way or at the client may keep it. A route whose answer is
// the same public bytes for everyone says otherwise itself: the JWKS
// (public, max-age), the OpenAPI document and the schemas (no-cache, with an
// ETag).
func noStore(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.Next()
}

// observe assigns a request ID, recovers panics, and records the request's
// metrics (ura_http_requests_total{route,method,code},
// ura_http_request_duration_seconds{route,method}) and one log line.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	var b [8]byte
	_, _ = rand.Read(b[:])
	rid := hex.EncodeToString(b[:])
	chain.SetRequestID(c, rid)
	c.Header("X-Request-Id", rid)
	defer func() {
		if rec := recover(); rec != nil {
			s.log.Error("panic in handler", "request_id", rid, "panic", rec, "stack", string(debug.Stack()))
			s.kit.Fail(c, problem.Internal(nil))
		}
		route := c.FullPath()
		if route == "" {
			route = "unmatched"
		}
		status := c.Writer.Status()
		elapsed := time.Since(start)
		method := methodLabel(c.Request.Method)
		series := s.metrics.series.get(s.metrics, route, method, status)
		series.requests.Inc()
		series.duration.Observe(elapsed.Seconds())
		attrs := make([]slog.Attr, 0, 8)
		attrs = append(attrs, slog.String("request_id", rid), slog.String("method", c.Request.Method),
			slog.String("route", route), slog.Int("status", status),
			slog.Float64("duration_ms", float64(elapsed.Microseconds())/1000), slog.String("remote", c.Request.RemoteAddr))
		if m, ok := identity.FromContext(c.Request.Context()); ok {
			attrs = append(attrs, slog.String("member", m.ID))
		}
		if id := s.kit.Tracer.Current(c.Request.Context()).TraceID(); id != "" {
			attrs = append(attrs, slog.String("trace_id", id))
		}
		s.log.LogAttrs(c.Request.Context(), levelFor(status), "request", attrs...)
	}()
	c.Next()
}

func levelFor(status int) slog.Level {
	if status >= 500 {
		return slog.LevelError
	}
	return slog.LevelInfo
}

// identify turns the verified TLS state into a registered member. The
// peer's chain is verified again on every request, against the current
// anchors and CRLs, so an expiry, a revocation or a removed anchor also ends
// connections opened before it.
func (s *Server) identify(c *gin.Context) (err error) {
	_, sp := s.kit.Tracer.Start(c.Request.Context(), "identity")
	defer func() { sp.End(err) }()
	st := c.Request.TLS
	if st == nil || len(st.PeerCertificates) == 0 {
		return problem.New(http.StatusUnauthorized, problem.TypeUnauthenticated, "a verified client certificate is required")
	}
	id, err := s.tls.current.Load().trust.Verify(st.PeerCertificates, s.tls.now())
	if err != nil {
		c.Header("Connection", "close")
		return problem.New(http.StatusUnauthorized, problem.TypeUnauthenticated, "the client certificate is not accepted").Wrap(err)
	}
	m, ok := s.registry.Lookup(id)
	sp.Str(tracing.KeyMember, id)
	if !ok {
		sp.Outcome("unregistered")
		return problem.New(http.StatusForbidden, problem.TypeUnknownMember, "member "+id+" is not registered at this gateway")
	}
	sp.Outcome("member")
	s.kit.Tracer.Current(c.Request.Context()).Str(tracing.KeyMember, m.ID)
	c.Request = c.Request.WithContext(identity.NewContext(c.Request.Context(), m))
	return nil
}

// refuseAmbiguousFraming answers a request whose headers carried both
// Content-Length and Transfer-Encoding with 400, and closes its connection:
// a front end that framed it by Content-Length would read the rest of the
// stream differently, so nothing more is read from it (RFC 9112 6.1).
func (s *Server) refuseAmbiguousFraming(c *gin.Context) error {
	if fc, ok := framingConnFrom(c.Request.Context()); ok && fc.ambiguous() {
		c.Header("Connection", "close")
		return problem.New(http.StatusBadRequest, problem.TypeBadRequest,
			"a request must not carry both Content-Length and Transfer-Encoding")
	}
	return nil
}

// deadlines bounds how long a request's body may take to arrive
// (http.body_timeout, from here) and how long its response may take to
// leave (http.write_timeout, from the end of the body). A stream instead
// gets http.stream_write_timeout between completed writes, so that a long
// pull is not cut off but a reader that stopped reading is.
func (s *Server) deadlines(c *gin.Context) {
	hc := s.cfg.HTTP
	rc := http.NewResponseController(c.Writer)
	write, stream := s.writeBudget(c.Request.Method, c.FullPath())
	body := c.Request.Body != nil && c.Request.Body != http.NoBody && c.Request.ContentLength != 0
	switch {
	case stream:
		w := &streamWriter{ResponseWriter: c.Writer, rc: rc, timeout: hc.StreamWriteTimeout}
		w.arm()
		c.Writer = w
	case body:
		_ = rc.SetWriteDeadline(time.Now().Add(hc.BodyTimeout + write))
	default:
		_ = rc.SetWriteDeadline(time.Now().Add(write))
	}
	if body {
		_ = rc.SetReadDeadline(time.Now().Add(hc.BodyTimeout))
		c.Request.Body = &deadlineBody{ReadCloser: c.Request.Body, end: func() {
			// The body is in: the connection's next read is the next
			// request, bounded by net/http's idle and header timeouts.
			_ = rc.SetReadDeadline(time.Time{})
			if !stream {
				_ = rc.SetWriteDeadline(time.Now().Add(write))
			}
		}}
	}
	c.Next()
}

// deadlineBody calls end once, when the body has been read to its end (or
// failed).
type deadlineBody struct {
	io.ReadCloser
	end  func()
	done bool
}

func (b *deadlineBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && !b.done {
		b.done = true
		if err == io.EOF {
			b.end()
		}
	}
	return n, err
}

// streamWriter moves a stream's write deadline forward after each write
// that completes. Moving it costs a timer reset (a message to the
// connection's goroutine in HTTP/2), so it is moved at most every eighth of
// the timeout: a stream is cut off between 7/8 and all of
// stream_write_timeout after its last completed write.
type streamWriter struct {
	gin.ResponseWriter
	rc      *http.ResponseController
	timeout time.Duration
	armed   time.Time
}

func (w *streamWriter) arm() {
	w.armed = time.Now()
	_ = w.rc.SetWriteDeadline(w.armed.Add(w.timeout))
}

func (w *streamWriter) wrote(err error) {
	if err == nil && time.Since(w.armed) >= w.timeout/8 {
		w.arm()
	}
}

func (w *streamWriter) Write(p []byte) (int, error) {
	n, err := w.ResponseWriter.Write(p)
	w.wrote(err)
	return n, err
}

func (w *streamWriter) WriteString(p string) (int, error) {
	n, err := w.ResponseWriter.WriteString(p)
	w.wrote(err)
	return n, err
}

func (w *streamWriter) Flush() {
	w.ResponseWriter.Flush()
	w.arm()
}

// inFlight counts each member's requests in progress.
type inFlight struct {
	*memberSlots
	refused *prometheus.CounterVec
}

func newInFlight(max int, reg prometheus.Registerer) (*inFlight, error) {
	f := &inFlight{memberSlots: newMemberSlots(max), refused: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ura_http_in_flight_refused_total",
		Help: "Requests refused because their member already had http.max_in_flight_per_member in progress, by member.",
	}, []string{"member"})}
	if err := reg.Register(f.refused); err != nil {
		return nil, fmt.Errorf("in-flight metrics: %w", err)
	}
	return f, nil
}

// limitInFlight admits a member's request while it has fewer than
// http.max_in_flight_per_member in progress on this process, and answers
// 429 otherwise: slow requests of one member cannot take every worker, and
// other members are not affected. A refusal is counted for the audit log
// (chain.Kit.Limited: collapsed per member, never waited for).
func (s *Server) limitInFlight(c *gin.Context) error {
	m := chain.Caller(c)
	if !s.inFlight.acquire(m.ID) {
		s.inFlight.refused.WithLabelValues(m.ID).Inc()
		s.log.Warn("request refused: too many in progress", "component", "http", "member", m.ID,
			"request_id", chain.RequestID(c), "max_in_flight", s.inFlight.max)
		p := problem.New(http.StatusTooManyRequests, problem.TypeRateLimited,
			fmt.Sprintf("at most %d requests of one member may be in progress at once", s.inFlight.max))
		c.Header("Retry-After", "1")
		s.kit.Limited(c, chain.ScopeInFlight, chain.ReasonTooManyInFlight, p.Detail)
		return p
	}
	defer s.inFlight.release(m.ID)
	c.Next()
	return nil
}

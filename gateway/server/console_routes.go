package server

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/console"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/ratelimit"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// conBase is where the console is served.
const conBase = "/console/"

// conHandlers serve the security officers' web console. The console
// package renders; here is who may look, what each look leaves in the
// audit log, and the headers every answer carries.
type conHandlers struct {
	s   *Server
	con *console.Console
	// broken is why the console could not be built, answered as a 503 on
	// every page instead of stopping the gateway.
	broken error
}

// conRoutes mounts the console on the member group: one catch-all, so that
// every path under /console/, known or not, passes the same auditor check
// and gets the same headers.
func (s *Server) conRoutes(g *gin.RouterGroup) {
	if !s.cfg.Console.Enabled {
		return
	}
	h := &conHandlers{s: s}
	opts := console.Options{
		Policy:        s.deps.Policy,
		Base:          conBase,
		VerifyTimeout: s.cfg.Console.VerifyTimeout,
		CSRFKey:       s.csrfKey,
		Logger:        s.log,
		Registerer:    s.metrics.registry,
	}
	if r, ok := s.deps.Audit.(audit.Reader); ok {
		opts.Audit = r
	}
	if s.deps.Signer != nil {
		opts.Keys = s.deps.Signer.Keys
	}
	h.con, h.broken = console.New(opts)
	if h.broken != nil {
		s.log.Error("console unavailable", "component", "console", "error", h.broken)
	}
	g.GET("/console/*page", h.headers, s.charge(ratelimit.ClassAudit), h.requireAuditor, h.get)
	g.POST("/console/*page", h.headers, s.charge(ratelimit.ClassAudit), h.requireAuditor, h.post)
}

func (h *conHandlers) headers(c *gin.Context) {
	console.SetHeaders(c.Writer.Header())
	c.Next()
}

// Stable reason codes of refused console requests, in the audit log.
const (
	conReasonNotAuditor = "not_auditor"
	conReasonCSRF       = "csrf_token_invalid"
	conReasonOrigin     = "cross_origin_post"
)

func (h *conHandlers) requireAuditor(c *gin.Context) {
	m, _ := identity.FromContext(c.Request.Context())
	if m.Kind == identity.KindAuditor {
		if h.broken != nil {
			h.fail(c, nil, problem.Unavailable("the console is unavailable on this gateway", h.broken))
			return
		}
		c.Next()
		return
	}
	if h.con != nil {
		h.con.Refused(console.RefusedNotAuditor)
	}
	if !h.refuse(c, conReasonNotAuditor, "member kind "+m.Kind+" may not use the console") {
		return
	}
	h.fail(c, nil, problem.New(http.StatusForbidden, problem.TypeForbidden, "the console is for security officers"))
}

// refuse records a refused request before it is answered; false means the
// log could not take it and a 503 has been sent instead.
func (h *conHandlers) refuse(c *gin.Context, code, message string) bool {
	if h.s.deps.Audit == nil {
		return true
	}
	ev := h.accessEvent(c, "refused", audit.DecisionDeny, http.StatusForbidden)
	ev.Reasons = []verdict.Reason{{Code: code, Message: message}}
	if err := h.s.deps.Audit.Append(c.Request.Context(), ev); err != nil {
		h.fail(c, nil, problem.Unavailable("the audit log is unavailable", err))
		return false
	}
	return true
}

// conPageRoute names the page a path asks for, for the audit log: a fixed
// set, so that nothing a caller puts in the path is written there.
func conPageRoute(page string) string {
	switch {
	case page == "/", page == "/search", page == "/verify", page == "/shadow":
		return conBase + strings.TrimPrefix(page, "/")
	case strings.HasPrefix(page, "/events/"):
		return conBase + "events/:seq"
	case strings.HasPrefix(page, "/static/"):
		return conBase + "static/:name"
	}
	return conBase + "*"
}

func (h *conHandlers) accessEvent(c *gin.Context, action, decision string, status int) audit.Event {
	m, _ := identity.FromContext(c.Request.Context())
	sum := sha256.Sum256([]byte(c.Request.Method + " " + c.Request.URL.RequestURI()))
	return audit.Event{
		Time:          time.Now().UTC(),
		RequestID:     c.GetString(ginRequestID),
		Member:        m.ID,
		Action:        "console." + action,
		Route:         conPageRoute(c.Param("page")),
		Decision:      decision,
		RequestDigest: "sha256:" + hex.EncodeToString(sum[:]),
		Status:        status,
	}
}

func conViewer(c *gin.Context) *console.Viewer {
	m, _ := identity.FromContext(c.Request.Context())
	return &console.Viewer{ID: m.ID, Name: m.Name}
}

// conWantsHTML tells a browser from an API client, which gets problem+json
// like everywhere else on the gateway.
func conWantsHTML(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "text/html")
}

// fail answers an error as an HTML page to a browser and as problem+json to
// anyone else; internal causes are logged, never shown.
func (h *conHandlers) fail(c *gin.Context, v *console.Viewer, err error) {
	if h.con == nil || !conWantsHTML(c.Request) {
		h.s.fail(c, err)
		return
	}
	p := problem.From(err)
	rid := c.GetString(ginRequestID)
	if p.Cause != nil || p.Status >= 500 {
		attrs := []any{"component", "console", "request_id", rid, "status", p.Status, "type", p.Type}
		if p.Cause != nil {
			attrs = append(attrs, "error", p.Cause.Error())
		}
		if m, ok := identity.FromContext(c.Request.Context()); ok {
			attrs = append(attrs, "member", m.ID)
		}
		h.s.log.Warn("request failed", attrs...)
	}
	c.Data(p.Status, "text/html; charset=utf-8", h.con.Error(v, p, rid))
	c.Abort()
}

// send records the officer's view and only then sends the page: reading the
// audit log leaves a trace in it, like every other read of the gateway.
func (h *conHandlers) send(c *gin.Context, v *console.Viewer, pg *console.Page, err error) {
	if err != nil {
		h.fail(c, v, err)
		return
	}
	if h.s.deps.Audit == nil {
		h.fail(c, v, problem.Unavailable("the audit log is not available on this gateway", errors.New("console: no audit log")))
		return
	}
	ev := h.accessEvent(c, pg.Access.Action, audit.DecisionAllow, pg.Status)
	ev.RecordID, ev.Records = pg.Access.RecordID, pg.Access.Events
	if err := h.s.deps.Audit.Append(c.Request.Context(), ev); err != nil {
		h.fail(c, v, problem.Unavailable("the audit log is unavailable", err))
		return
	}
	c.Data(pg.Status, "text/html; charset=utf-8", pg.Body)
}

func (h *conHandlers) get(c *gin.Context) {
	v := conViewer(c)
	ctx := c.Request.Context()
	page := c.Param("page")
	switch {
	case page == "/":
		pg, err := h.con.Overview(ctx, v, c.Request.URL.Query())
		h.send(c, v, pg, err)
	case page == "/search":
		pg, err := h.con.Search(ctx, v, c.Request.URL.Query())
		h.send(c, v, pg, err)
	case strings.HasPrefix(page, "/events/") && !strings.Contains(page[len("/events/"):], "/"):
		pg, err := h.con.Event(ctx, v, page[len("/events/"):])
		h.send(c, v, pg, err)
	case page == "/verify":
		pg, err := h.con.VerifyForm(v, h.con.CSRF().Token(conBinding(c)))
		h.send(c, v, pg, err)
	case page == "/shadow":
		pg, err := h.con.Shadow(ctx, v)
		h.send(c, v, pg, err)
	case strings.HasPrefix(page, "/static/"):
		body, ct, ok := console.Static(page[len("/static/"):])
		if !ok {
			h.fail(c, v, problem.New(http.StatusNotFound, problem.TypeNotFound, "no such page in the console"))
			return
		}
		c.Data(http.StatusOK, ct, body)
	default:
		h.fail(c, v, problem.New(http.StatusNotFound, problem.TypeNotFound, "no such page in the console"))
	}
}

// conMaxFormBytes bounds a posted console form; the verify form is a token.
const conMaxFormBytes = 4 << 10

func (h *conHandlers) post(c *gin.Context) {
	v := conViewer(c)
	if c.Param("page") != "/verify" {
		c.Header("Allow", "GET")
		h.fail(c, v, problem.New(http.StatusMethodNotAllowed, problem.TypeMethodNotAllowed, "method not allowed on this resource"))
		return
	}
	if !conSameOrigin(c.Request) {
		h.con.Refused(console.RefusedOrigin)
		if h.refuse(c, conReasonOrigin, "verify posted from another origin") {
			h.fail(c, v, problem.New(http.StatusForbidden, problem.TypeForbidden, "the form was posted from another site"))
		}
		return
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, conMaxFormBytes)
	token := c.PostForm("csrf")
	if err := h.con.CSRF().Check(conBinding(c), token); err != nil {
		h.con.Refused(console.RefusedCSRF)
		if h.refuse(c, conReasonCSRF, "verify posted without a valid form token: "+err.Error()) {
			h.fail(c, v, problem.New(http.StatusForbidden, problem.TypeForbidden, "the form has expired or did not come from this console; reload the page and try again"))
		}
		return
	}
	pg, err := h.con.Verify(c.Request.Context(), v, h.con.CSRF().Token(conBinding(c)))
	h.send(c, v, pg, err)
}

// conBinding ties a form token to the member and the very certificate it
// was shown to: the console has no session to tie it to, and a token
// lifted from one officer's page is useless with any other certificate.
func conBinding(c *gin.Context) string {
	m, _ := identity.FromContext(c.Request.Context())
	var fp string
	if st := c.Request.TLS; st != nil && len(st.PeerCertificates) > 0 {
		sum := sha256.Sum256(st.PeerCertificates[0].Raw)
		fp = hex.EncodeToString(sum[:])
	}
	return m.ID + "|" + fp
}

// conSameOrigin refuses a post that the browser says came from elsewhere.
// Browsers send Sec-Fetch-Site on every request and vouch for the origin
// with it. Origin alone cannot: with Referrer-Policy no-referrer a browser
// posts even a same-origin form with "Origin: null". A client that sends
// neither header is not a browser being abused, and still needs the token.
func conSameOrigin(r *http.Request) bool {
	switch r.Header.Get("Sec-Fetch-Site") {
	case "same-origin", "none":
		return true
	case "":
	default:
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil || u.Host == "" {
		return false
	}
	return strings.EqualFold(u.Host, r.Host)
}

// Package consoleapi serves the security officers' web console under
// /console/. The console package renders; here is who may look, what each
// look leaves in the audit log, and the headers every answer carries.
package consoleapi

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/url"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/api/releaseapi"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/authority"
	"github.com/ura-gateway/ura/gateway/console"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// Base is where the console is served.
const Base = "/console/"

// Stable reason codes of refused console requests, in the audit log.
const (
	ReasonCSRF   = "csrf_token_invalid"
	ReasonOrigin = "cross_origin_post"
)

// Handlers serve the console.
type Handlers struct {
	kit *chain.Kit
	con *console.Console
	// rel runs the release queue's steps, the same as /v1/releases.
	rel *releaseapi.Handlers
	// broken is why the console could not be built, answered as a 503 on
	// every page instead of stopping the gateway.
	broken error
}

// New builds the console; a console that cannot be built answers 503. rel
// serves the release queue.
func New(kit *chain.Kit, opts console.Options, rel *releaseapi.Handlers) *Handlers {
	h := &Handlers{kit: kit, rel: rel}
	opts.Base = Base
	h.con, h.broken = console.New(opts)
	if h.broken != nil {
		kit.Log.Error("console unavailable", "component", "console", "error", h.broken)
	}
	return h
}

// Headers puts the console's strict headers on every answer.
func (h *Handlers) Headers(c *gin.Context) {
	console.SetHeaders(c.Writer.Header())
}

// useHTML makes the errors of a console request an HTML page for a browser
// (problem+json for anyone else). It is set after the charge: a refusal by
// the rate limiter is problem+json like everywhere else on the gateway.
func (h *Handlers) useHTML(c *gin.Context) {
	if h.con != nil && strings.Contains(c.Request.Header.Get("Accept"), "text/html") {
		chain.UseHTML(c, func(p *problem.Error, rid string) []byte {
			// Only an officer's error page shows who is signed in and the
			// console's sections; anyone else sees the refusal alone.
			var v *console.Viewer
			if chain.Caller(c).Kind == identity.KindAuditor {
				v = viewer(c)
			}
			return h.con.Error(v, p, rid)
		})
	}
}

// RequireAuditor admits security officers only; every refusal is audited
// and counted.
func (h *Handlers) RequireAuditor() chain.Handler {
	check := h.kit.RequireAuditor("the console", "use", func(c *gin.Context) *chain.Request { return access(c, "refused") })
	return func(c *gin.Context) error {
		h.useHTML(c)
		if chain.Caller(c).Kind != identity.KindAuditor && h.con != nil {
			h.con.Refused(console.RefusedNotAuditor)
		}
		if err := check(c); err != nil {
			return err
		}
		if h.broken != nil {
			return problem.Unavailable("the console is unavailable on this gateway", h.broken)
		}
		return nil
	}
}

// access starts the audit event of one console request.
func access(c *gin.Context, action string) *chain.Request {
	return chain.NewRequest(c, "console."+action, pageRoute(c.Param("page"))).DigestURI(c.Request)
}

// pageRoute names the page a path asks for, for the audit log: a fixed set,
// so that nothing a caller puts in the path is written there.
func pageRoute(page string) string {
	switch {
	case page == "/", page == "/search", page == "/verify", page == "/shadow", page == "/releases", page == "/reviews", page == "/deliveries":
		return Base + strings.TrimPrefix(page, "/")
	case strings.HasPrefix(page, "/releases/") && strings.HasSuffix(page, "/approve"):
		return Base + "releases/:id/approve"
	case strings.HasPrefix(page, "/releases/") && strings.HasSuffix(page, "/revoke"):
		return Base + "releases/:id/revoke"
	case strings.HasPrefix(page, "/events/"):
		return Base + "events/:seq"
	case strings.HasPrefix(page, "/static/"):
		return Base + "static/:name"
	}
	return Base + "*"
}

func viewer(c *gin.Context) *console.Viewer {
	m := chain.Caller(c)
	return &console.Viewer{ID: m.ID, Name: m.Name}
}

// send records the officer's view and only then sends the page: reading the
// audit log leaves a trace in it, like every other read of the gateway.
func (h *Handlers) send(c *gin.Context, pg *console.Page, err error) error {
	if err != nil {
		return err
	}
	ev := access(c, pg.Access.Action).Event(audit.DecisionAllow, pg.Status)
	ev.RecordID, ev.Records = pg.Access.RecordID, pg.Access.Events
	if err := h.kit.Record(c, ev); err != nil {
		return err
	}
	c.Data(pg.Status, "text/html; charset=utf-8", pg.Body)
	return nil
}

var errNoPage = problem.New(http.StatusNotFound, problem.TypeNotFound, "no such page in the console")

// Get serves every page of the console.
func (h *Handlers) Get(c *gin.Context) error {
	v := viewer(c)
	ctx := c.Request.Context()
	page := c.Param("page")
	switch {
	case page == "/":
		pg, err := h.con.Overview(ctx, v, c.Request.URL.Query())
		return h.send(c, pg, err)
	case page == "/search":
		pg, err := h.con.Search(ctx, v, c.Request.URL.Query())
		return h.send(c, pg, err)
	case strings.HasPrefix(page, "/events/") && !strings.Contains(page[len("/events/"):], "/"):
		pg, err := h.con.Event(ctx, v, page[len("/events/"):])
		return h.send(c, pg, err)
	case page == "/verify":
		pg, err := h.con.VerifyForm(v, h.con.CSRF().Token(binding(c)))
		return h.send(c, pg, err)
	case page == "/shadow":
		pg, err := h.con.Shadow(ctx, v)
		return h.send(c, pg, err)
	case page == "/deliveries":
		pg, err := h.con.Deliveries(ctx, v)
		return h.send(c, pg, err)
	case page == "/reviews":
		pg, err := h.con.Reviews(ctx, v, c.Request.URL.Query())
		return h.send(c, pg, err)
	case page == "/releases":
		views, err := h.rel.Views(ctx)
		if err != nil {
			return err
		}
		reqs := make([]authority.Request, len(views))
		for i, x := range views {
			reqs[i] = x.Request
		}
		pg, err := h.con.Releases(v, reqs, authority.MayDecide(chain.Caller(c)), h.con.CSRF().Token(binding(c)))
		return h.send(c, pg, err)
	case strings.HasPrefix(page, "/static/"):
		body, ct, ok := console.Static(page[len("/static/"):])
		if !ok {
			return errNoPage
		}
		c.Data(http.StatusOK, ct, body)
		return nil
	}
	return errNoPage
}

// maxFormBytes bounds a posted console form; the verify form is a token.
const maxFormBytes = 4 << 10

// Post serves the console's forms: verify the chain, and approve or revoke
// a release. Each must come from this console's own page (same origin,
// and a form token bound to the officer's certificate).
func (h *Handlers) Post(c *gin.Context) error {
	page := c.Param("page")
	id, action, isRelease := releaseForm(page)
	if page != "/verify" && !isRelease {
		c.Header("Allow", "GET")
		return problem.New(http.StatusMethodNotAllowed, problem.TypeMethodNotAllowed, "method not allowed on this resource")
	}
	form := "verify"
	if isRelease {
		form = action
	}
	if !sameOrigin(c.Request) {
		h.con.Refused(console.RefusedOrigin)
		return h.kit.Refuse(c, access(c, "refused"),
			problem.New(http.StatusForbidden, problem.TypeForbidden, "the form was posted from another site"),
			verdict.Reason{Code: ReasonOrigin, Message: form + " posted from another origin"})
	}
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, maxFormBytes)
	if err := h.con.CSRF().Check(binding(c), c.PostForm("csrf")); err != nil {
		h.con.Refused(console.RefusedCSRF)
		return h.kit.Refuse(c, access(c, "refused"),
			problem.New(http.StatusForbidden, problem.TypeForbidden, "the form has expired or did not come from this console; reload the page and try again"),
			verdict.Reason{Code: ReasonCSRF, Message: form + " posted without a valid form token: " + err.Error()})
	}
	if isRelease {
		// The step audits itself (action release.approve or
		// release.revoke, route the console's); then back to the queue.
		if _, err := h.rel.Decide(c, id, action, pageRoute(page)); err != nil {
			return err
		}
		c.Redirect(http.StatusSeeOther, Base+"releases")
		return nil
	}
	pg, err := h.con.Verify(c.Request.Context(), viewer(c), h.con.CSRF().Token(binding(c)))
	return h.send(c, pg, err)
}

// releaseForm reads /releases/{id}/approve or /releases/{id}/revoke.
func releaseForm(page string) (id, action string, ok bool) {
	rest, found := strings.CutPrefix(page, "/releases/")
	if !found {
		return "", "", false
	}
	id, verb, found := strings.Cut(rest, "/")
	if !found || id == "" || strings.Contains(verb, "/") {
		return "", "", false
	}
	switch verb {
	case "approve":
		return id, releaseapi.ActionApprove, true
	case "revoke":
		return id, releaseapi.ActionRevoke, true
	}
	return "", "", false
}

// binding ties a form token to the member and the very certificate it was
// shown to: the console has no session to tie it to, and a token lifted
// from one officer's page is useless with any other certificate.
func binding(c *gin.Context) string {
	var fp string
	if st := c.Request.TLS; st != nil && len(st.PeerCertificates) > 0 {
		sum := sha256.Sum256(st.PeerCertificates[0].Raw)
		fp = hex.EncodeToString(sum[:])
	}
	return chain.Caller(c).ID + "|" + fp
}

// sameOrigin refuses a post that the browser says came from elsewhere.
// Browsers send Sec-Fetch-Site on every request and vouch for the origin
// with it. Origin alone cannot: with Referrer-Policy no-referrer a browser
// posts even a same-origin form with "Origin: null". A client that sends
// neither header is not a browser being abused, and still needs the token.
func sameOrigin(r *http.Request) bool {
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

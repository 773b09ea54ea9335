// Package console renders the security officers' web console: an overview
// of decisions over time, search, one decision in full with its chain proof,
// chain verification, the shadow policy's divergences, the queue of
// two-person release authority, the records due for review and the exports
// whose delivery the importing state has not confirmed.
//
// Pages are rendered on the server with html/template, so every value that
// came from outside (a record id, a reason message, a member name) is
// escaped by context; charts are SVG drawn here. The only assets are one
// stylesheet and one small script embedded in the binary: nothing is loaded
// from elsewhere, the console works offline, and the Content-Security-Policy
// in Headers forbids inline scripts and styles.
//
// The package knows nothing of HTTP routing or identity: the server decides
// who may look, records each access in the audit log, and writes the Page.
package console

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/deliveries"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/reviews"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Options configure a Console.
type Options struct {
	// Audit is the log's read side; without one every page that reads the
	// log answers 503.
	Audit audit.Reader
	// Keys returns the public keys checkpoints are verified with (the
	// signer's JWKS). Nil: chains and proofs are checked without signatures,
	// and the page says so.
	Keys func(ctx context.Context) (jwk.Set, error)
	// Policy is the engine, asked for its shadow divergences and status
	// when it offers them (policy.DivergenceLister, policy.StatusReporter).
	Policy policy.Engine
	// Base is the path the console is served under, with a trailing slash.
	Base string
	// VerifyTimeout bounds one chain verification.
	VerifyTimeout time.Duration
	// CSRFKey authenticates the verify form's tokens, the same for every
	// replica (console.csrf_key_file); empty: a random key, so tokens do not
	// survive a restart or reach another replica, which New logs.
	CSRFKey []byte
	Logger  *slog.Logger
	// Registerer, if set, gets the console's metrics.
	Registerer prometheus.Registerer
	// Deliveries lists the unconfirmed deliveries (deliveries.List on the
	// store); nil: the page answers 503.
	Deliveries func(ctx context.Context) ([]deliveries.Unconfirmed, error)
	// ConfirmWithinDays is deliveries.confirm_within_days, for the page to
	// say what it lists.
	ConfirmWithinDays int
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// Reviews lists every originator's records due for review on or
	// before dueBefore, as of now (reviews.Due over the store); nil: the
	// reviews page answers 503.
	Reviews func(ctx context.Context, dueBefore, now time.Time) ([]reviews.Item, error)
}

// DefaultBase is where the gateway serves the console.
const DefaultBase = "/console/"

// DefaultVerifyTimeout bounds a verification when Options leave it unset.
const DefaultVerifyTimeout = 5 * time.Minute

// Console renders the pages. It is safe for concurrent use.
type Console struct {
	opts  Options
	log   *slog.Logger
	pages map[string]*template.Template
	csrf  *CSRF
	m     *metrics
	// verifying admits one chain verification at a time: each reads the
	// whole log, and several at once would only compete for the same disk.
	verifying chan struct{}
}

// Viewer is the security officer looking at the console, as the gateway
// identified them from their certificate.
type Viewer struct {
	ID   string
	Name string
}

// Page is a rendered page, ready to be sent once its access is recorded.
type Page struct {
	Status int
	Body   []byte
	Access Access
}

// Access says what a page disclosed, for the audit event of the view.
type Access struct {
	// Action names the page: overview, search, event, verify, shadow,
	// reviews.
	Action   string
	RecordID string
	// Events is how many audit events the page listed.
	Events int
}

// New parses the embedded templates once, so that a broken one stops the
// gateway at start-up instead of failing a page.
func New(opts Options) (*Console, error) {
	if opts.Base == "" {
		opts.Base = DefaultBase
	}
	if !strings.HasPrefix(opts.Base, "/") || !strings.HasSuffix(opts.Base, "/") {
		return nil, fmt.Errorf("console: base %q must start and end with /", opts.Base)
	}
	if opts.VerifyTimeout <= 0 {
		opts.VerifyTimeout = DefaultVerifyTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	csrf, err := NewCSRF(opts.CSRFKey)
	if err != nil {
		return nil, err
	}
	c := &Console{
		opts:      opts,
		log:       opts.Logger.With("component", "console"),
		pages:     map[string]*template.Template{},
		csrf:      csrf,
		m:         newMetrics(),
		verifying: make(chan struct{}, 1),
	}
	csrf.now = opts.Now
	if len(opts.CSRFKey) == 0 {
		c.log.Warn("console.csrf_key_file is not set: the verify form's key is random to this process, " +
			"so a form shown before a restart or by another replica is refused")
	}
	if opts.Registerer != nil {
		if err := c.m.register(opts.Registerer); err != nil {
			return nil, err
		}
	}
	base, err := template.New("layout.html").Funcs(c.funcs()).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return nil, fmt.Errorf("console: parse layout: %w", err)
	}
	for _, name := range pageNames {
		t, err := template.Must(base.Clone()).ParseFS(templateFS, "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("console: parse %s: %w", name, err)
		}
		c.pages[name] = t
	}
	return c, nil
}

var pageNames = []string{"overview", "search", "event", "verify", "shadow", "releases", "reviews", "deliveries", "error"}

// CSRF is the console's token minter, for the server to bind tokens to the
// caller's connection.
func (c *Console) CSRF() *CSRF { return c.csrf }

// chrome is what every page shows around its content.
type chrome struct {
	Title  string
	Nav    string
	Viewer *Viewer
	Base   string
	Now    time.Time
	Data   any
}

type navItem struct {
	Key, Label, Path string
}

// navItems are the console's sections, in the order of the header.
var navItems = []navItem{
	{"overview", "Overview", ""},
	{"search", "Search", "search"},
	{"verify", "Verify chain", "verify"},
	{"shadow", "Shadow policy", "shadow"},
	{"releases", "Releases", "releases"},
	{"reviews", "Reviews", "reviews"},
	{"deliveries", "Deliveries", "deliveries"},
}

func (c *Console) render(page, title string, v *Viewer, status int, data any) (*Page, error) {
	t, ok := c.pages[page]
	if !ok {
		return nil, problem.Internal(fmt.Errorf("console: no template %q", page))
	}
	nav := page
	if page == "event" {
		nav = "search"
	}
	var buf bytes.Buffer
	err := t.ExecuteTemplate(&buf, "layout.html", chrome{Title: title, Nav: nav, Viewer: v, Base: c.opts.Base, Now: c.opts.Now().UTC(), Data: data})
	if err != nil {
		// The page is rendered whole before anything is sent, so a template
		// error never leaves half a page in front of the officer.
		return nil, problem.Internal(fmt.Errorf("console: render %s: %w", page, err))
	}
	return &Page{Status: status, Body: buf.Bytes(), Access: Access{Action: page}}, nil
}

// errorData is the content of the error page.
type errorData struct {
	Status    int
	Title     string
	Detail    string
	RequestID string
}

// Error renders p as an HTML page. v is nil when the caller is not an
// officer (a refused certificate): the header then names no one and offers
// no navigation.
func (c *Console) Error(v *Viewer, p *problem.Error, requestID string) []byte {
	title := p.Title
	if title == "" {
		title = http.StatusText(p.Status)
	}
	pg, err := c.render("error", title, v, p.Status, errorData{Status: p.Status, Title: title, Detail: p.Detail, RequestID: requestID})
	if err != nil {
		c.log.Error("console error page not rendered", "error", err)
		return []byte("<!doctype html><title>error</title><p>" + template.HTMLEscapeString(title) + "</p>")
	}
	return pg.Body
}

// reader is the audit log, or the problem every page answers without one.
func (c *Console) reader() (audit.Reader, error) {
	if c.opts.Audit == nil {
		return nil, problem.Unavailable("the audit log is not available on this gateway", errors.New("console: no audit reader"))
	}
	return c.opts.Audit, nil
}

// Static returns an embedded asset by name (console.css, console.js).
func Static(name string) (body []byte, contentType string, ok bool) {
	if strings.Contains(name, "/") || strings.HasPrefix(name, ".") {
		return nil, "", false
	}
	b, err := fs.ReadFile(staticFS, "static/"+name)
	if err != nil {
		return nil, "", false
	}
	switch {
	case strings.HasSuffix(name, ".css"):
		contentType = "text/css; charset=utf-8"
	case strings.HasSuffix(name, ".js"):
		contentType = "text/javascript; charset=utf-8"
	case strings.HasSuffix(name, ".svg"):
		contentType = "image/svg+xml"
	default:
		return nil, "", false
	}
	return b, contentType, true
}

// headers are set on every console response, error pages included. The
// policy allows only the console's own stylesheet and script: no inline
// code, no frames, no form posting elsewhere, no referrer leaking a record
// id in a URL, and nothing cached on a shared workstation.
var headers = map[string]string{
	"Content-Security-Policy":      "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
	"X-Content-Type-Options":       "nosniff",
	"Referrer-Policy":              "no-referrer",
	"Cache-Control":                "no-store",
	"X-Frame-Options":              "DENY",
	"Cross-Origin-Opener-Policy":   "same-origin",
	"Cross-Origin-Resource-Policy": "same-origin",
}

// Headers returns a copy of the headers every console response carries.
func Headers() map[string]string {
	out := make(map[string]string, len(headers))
	for k, v := range headers {
		out[k] = v
	}
	return out
}

// SetHeaders puts the console's headers on h.
func SetHeaders(h http.Header) {
	for k, v := range headers {
		h.Set(k, v)
	}
}

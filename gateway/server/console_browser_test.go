package server

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/ura-gateway/ura/certs"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// conChromium finds Debian's chromium (URA_CHROMIUM overrides). Without it
// the browser test is skipped on a workstation and fails in CI.
func conChromium(t *testing.T) string {
	t.Helper()
	path := os.Getenv("URA_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := exec.LookPath(path); err != nil {
		msg := "chromium not found at " + path + " (apt-get install -y chromium, or set URA_CHROMIUM)"
		switch strings.ToLower(os.Getenv("CI")) {
		case "", "0", "false", "no":
			t.Skip(msg)
		}
		t.Fatalf("%s; CI is set, so the browser test must run", msg)
	}
	return path
}

// conBrowserProxy is an HTTPS endpoint on 127.0.0.1 that a headless browser
// can talk to, forwarding every request to the gateway over mutual TLS with
// a member's certificate: Chromium cannot be handed a client certificate
// without a profile and a user at the prompt. The gateway still does all
// the work: the handshake, the identity, the console.
type conBrowserProxy struct {
	URL string
	srv *httptest.Server
}

func conStartBrowserProxy(t *testing.T, p *testPKI, gateway string, member *certs.Leaf, serverCert tls.Certificate) *conBrowserProxy {
	t.Helper()
	target := &url.URL{Scheme: "https", Host: gateway}
	roots := x509.NewCertPool()
	roots.AddCert(p.root.Cert)
	transport := &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs:      roots,
		ServerName:   "localhost",
		Certificates: []tls.Certificate{member.TLSCertificate()},
		MinVersion:   tls.VersionTLS13,
	}}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(target)
			// The browser's Host, so that the console's same-origin check
			// sees the origin the browser sent.
			r.Out.Host = r.In.Host
		},
		Transport: transport,
	}
	srv := httptest.NewUnstartedServer(rp)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{serverCert}, MinVersion: tls.VersionTLS12}
	srv.StartTLS()
	t.Cleanup(func() {
		srv.Close()
		// A connection dialled but never used would hold up the
		// gateway's graceful shutdown.
		transport.CloseIdleConnections()
	})
	return &conBrowserProxy{URL: srv.URL, srv: srv}
}

// conProxyCert is the browser proxies' own localhost certificate, from a
// CA nobody trusts; Chromium is told to accept exactly its public key.
func conProxyCert(t *testing.T) (tls.Certificate, string) {
	t.Helper()
	ca, err := certs.NewRootCA("console browser-test proxy", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(certs.LeafOptions{CommonName: "127.0.0.1", DNSNames: []string{"localhost"},
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(leaf.Cert.RawSubjectPublicKeyInfo)
	return leaf.TLSCertificate(), base64.StdEncoding.EncodeToString(sum[:])
}

// conArtifacts is var/artifacts at the repository root.
func conArtifacts(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
	out := filepath.Join(dir, "var", "artifacts")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	return out
}

// conBrowserLog collects what the page reported: console messages, CSP
// violations, exceptions and dialogs (an alert would mean injected script).
type conBrowserLog struct {
	mu       sync.Mutex
	messages []string
	dialogs  []string
}

func (l *conBrowserLog) listen(ev any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	switch e := ev.(type) {
	case *log.EventEntryAdded:
		l.messages = append(l.messages, string(e.Entry.Source)+"/"+string(e.Entry.Level)+": "+e.Entry.Text)
	case *runtime.EventExceptionThrown:
		l.messages = append(l.messages, "exception: "+e.ExceptionDetails.Text)
	case *runtime.EventConsoleAPICalled:
		l.messages = append(l.messages, "console."+string(e.Type))
	case *page.EventJavascriptDialogOpening:
		l.dialogs = append(l.dialogs, e.Message)
	}
}

func (l *conBrowserLog) snapshot() (messages, dialogs []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.messages...), append([]string(nil), l.dialogs...)
}

// TestConBrowser drives the console in headless Chromium with a security
// officer's certificate: overview, a search for customs' denials, one
// decision with its verified proof, "verify chain", the shadow policy's
// divergences, the records due for review, the unconfirmed deliveries; then
// AIM's certificate is refused. Screenshots go to
// var/artifacts/console*.png.
func TestConBrowser(t *testing.T) {
	chromium := conChromium(t)
	e := startGateway(t, conParts())
	conSeed(t, e)
	if res := exResults(t, e.as("AL/GOV/AIM").push(reviewLicence(t, 940, -4))); res[0].Status != "accepted" {
		t.Fatalf("a licence past its review date: %+v", res[0])
	}
	// An export declared months ago that no importing state confirmed.
	if res := exResults(t, e.as("AL/GOV/DPD").push(polRecord(t, "export", "id", "DPD-EVT-2026-9000010",
		"event.customs_declaration", "EX-2026-000999", "event.quantity", 1))); res[0].Status != "accepted" {
		t.Fatalf("export: %+v", res[0])
	}
	const hostile = `<script>alert(1)</script>`
	if err := e.chain.Append(context.Background(), audit.Event{Time: time.Now().UTC(), RequestID: "req-hostile", Member: "IT/GOV/MOD",
		Action: "push", Route: "/v1/records", RecordKind: "licence", RecordID: hostile, RecordVersion: 1, Decision: audit.DecisionDeny,
		Status: 200, Reasons: []verdict.Reason{{Code: "schema_invalid", Message: `id "><img src=x onerror=alert(2)>`}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.chain.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	proxyCert, spki := conProxyCert(t)
	officer := conStartBrowserProxy(t, e.p, e.addr, e.p.member(e.p.inter, "AL/GOV/AUDIT"), proxyCert)
	aim := conStartBrowserProxy(t, e.p, e.addr, e.p.member(e.p.inter, "AL/GOV/AIM"), proxyCert)
	artifacts := conArtifacts(t)

	ctx, blog := conBrowser(t, chromium, spki)

	pg := &conPage{t: t, ctx: ctx, artifacts: artifacts}
	must, text, follow, shot := pg.must, pg.text, pg.follow, pg.shot

	// Overview.
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(officer.URL+"/console/"))
	must("open the console", err)
	if resp.Status != http.StatusOK {
		t.Fatalf("console: HTTP %d", resp.Status)
	}
	if csp, _ := resp.Headers["Content-Security-Policy"].(string); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("the browser got CSP %q", csp)
	}
	must("overview", chromedp.Do(ctx, chromedp.WaitVisible(chromedp.CSS("figure.chart svg"))))
	if got := text(".brand"); got != "ura — security officers' console" {
		t.Errorf("header %q", got)
	}
	if got := text(".viewer"); !strings.Contains(got, "AL/GOV/AUDIT") || !strings.Contains(got, "Security officer") {
		t.Errorf("signed-in member %q", got)
	}
	if got := text(".cards"); !strings.Contains(strings.ToLower(got), "denied") {
		t.Errorf("cards %q", got)
	}
	shot("console-overview.png")

	// Search customs' denials through the form.
	follow(`nav.tabs a[href="/console/search"]`, "#search-submit")
	must("fill the search form", chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS(`input[name="member"]`), "AL/GOV/DPD"),
		chromedp.SetValue(chromedp.CSS(`select[name="decision"]`), "deny"),
	))
	follow("#search-submit", "#results")
	loc, err := chromedp.Run(ctx, chromedp.Location())
	must("location", err)
	if !strings.Contains(loc, "decision=deny") || !strings.Contains(loc, "member=AL%2FGOV%2FDPD") {
		t.Errorf("search URL %s", loc)
	}
	rows := text("#results tbody")
	for _, w := range []string{"AL/GOV/DPD", "deny", "push_not_authorised", "DPD-LIC-1"} {
		if !strings.Contains(rows, w) {
			t.Errorf("search results lack %q:\n%s", w, rows)
		}
	}
	if strings.Contains(rows, "allow") || strings.Contains(rows, "AL/GOV/AIM") {
		t.Errorf("search results hold other decisions or members:\n%s", rows)
	}
	shot("console.png")

	// One decision in full.
	follow("#results tbody tr:first-child a.seq", "#proof-state")
	if got := text("#proof-state"); !strings.Contains(got, "verified") {
		t.Errorf("proof %q", got)
	}
	if got := text("#record-id"); !strings.HasPrefix(got, "DPD-") {
		t.Errorf("record id %q", got)
	}
	if got := text("main"); !strings.Contains(got, "Policy revision") || !strings.Contains(got, e.engine.Revision()) {
		t.Errorf("decision page lacks the policy revision")
	}
	shot("console-event.png")

	// Verify the chain.
	follow(`nav.tabs a[href="/console/verify"]`, "#verify-button")
	follow("#verify-button", "#verify-result")
	result := text("#verify-result")
	if !strings.Contains(result, "Chain intact") || !strings.Contains(result, "checked against the gateway's keys") {
		t.Errorf("verify result:\n%s", result)
	}
	count, err := strconv.ParseInt(strings.TrimSpace(text("#verify-count")), 10, 64)
	if err != nil || count < 20 || count > e.chain.Head().Count {
		t.Errorf("verified %d events (%v); the head is %d", count, err, e.chain.Head().Count)
	}
	if got := strings.TrimSpace(text("#verify-checkpoints")); got == "0" {
		t.Errorf("no checkpoint matched")
	}
	shot("console-verify.png")

	// The shadow candidate's divergences.
	follow(`nav.tabs a[href="/console/shadow"]`, "table.events")
	if got := text("main"); !strings.Contains(got, "candidate_freeze") {
		t.Errorf("shadow page:\n%s", got)
	}
	shot("console-shadow.png")

	// The records due for review, the overdue licence among them.
	follow(`nav.tabs a[href="/console/reviews"]`, "table#reviews")
	if got := text("#reviews"); !strings.Contains(got, "AIM-LIC-2026-000940") || !strings.Contains(got, "overdue") || !strings.Contains(got, "4 day(s)") {
		t.Errorf("reviews page:\n%s", got)
	}
	if got := strings.TrimSpace(text("#reviews-overdue")); got != "1" {
		t.Errorf("overdue count %q", got)
	}
	shot("console-reviews.png")
	// The exports waiting for the importing state's confirmation.
	follow(`nav.tabs a[href="/console/deliveries"]`, "#deliveries")
	if got := text("#deliveries tbody"); !strings.Contains(got, "DPD-EVT-2026-9000010") || !strings.Contains(got, "EX-2026-000999") ||
		!strings.Contains(got, "CZE") || !strings.Contains(got, " d") {
		t.Errorf("deliveries page:\n%s", got)
	}
	shot("console-deliveries.png")

	// A hostile record id is text in the browser, and runs nothing.
	must("hostile search", chromedp.Do(ctx,
		chromedp.Navigate(officer.URL+"/console/search?record_id="+url.QueryEscape(hostile)),
		chromedp.WaitVisible(chromedp.ID("results")),
	))
	if got := text("#results code.record-id"); got != hostile {
		t.Errorf("hostile record id shown as %q", got)
	}
	scripts, err := chromedp.Run(ctx, chromedp.Evaluate[float64](`document.scripts.length + document.images.length`))
	must("count scripts", err)
	if scripts != 1 {
		t.Errorf("%v scripts and images on the page, want only the console's script", scripts)
	}

	// AIM's certificate, through the same kind of proxy, is refused.
	resp, err = chromedp.Run(ctx, chromedp.NavigateResponse(aim.URL+"/console/"))
	must("open the console as AIM", err)
	if resp.Status != http.StatusForbidden {
		t.Errorf("AIM got HTTP %d", resp.Status)
	}
	if got := text("h1"); !strings.Contains(got, "403") {
		t.Errorf("AIM's page: %q", got)
	}
	if got := text("body"); strings.Contains(got, "DPD-") || strings.Contains(got, "Verify chain") {
		t.Errorf("the refusal shows console content:\n%s", got)
	}
	shot("console-forbidden.png")

	messages, dialogs := blog.snapshot()
	if len(dialogs) > 0 {
		t.Errorf("the page opened dialogs (injected script ran): %v", dialogs)
	}
	csp := regexp.MustCompile(`(?i)content security policy|refused to (load|execute|apply)`)
	for _, m := range messages {
		if csp.MatchString(m) || strings.HasPrefix(m, "exception") {
			t.Errorf("browser reported: %s", m)
		}
	}
	if err := ctx.Err(); errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("the browser test ran out of time")
	}
}

// conPage drives one browser tab of a console test: each step fails the
// test with what it was doing.
type conPage struct {
	t         *testing.T
	ctx       context.Context
	artifacts string
}

func (p *conPage) must(what string, err error) {
	p.t.Helper()
	if err != nil {
		p.t.Fatalf("%s: %v", what, err)
	}
}

// text is the text of the element sel selects.
func (p *conPage) text(sel string) string {
	p.t.Helper()
	s, err := chromedp.Run(p.ctx, chromedp.Text(chromedp.CSS(sel)))
	p.must("text of "+sel, err)
	return s
}

// follow clicks a link or button that loads a new page (a form's post, a
// 303 after it), and waits until that page has loaded and shows waitFor: a
// query against the page being left would race its unloading. The page
// being left is marked, since a form may post to its own URL.
func (p *conPage) follow(click, waitFor string) {
	p.t.Helper()
	_, err := chromedp.Run(p.ctx, chromedp.Evaluate[bool](`window.uraLeaving = true`))
	p.must("mark the page", err)
	p.must("click "+click, chromedp.Do(p.ctx, chromedp.Click(chromedp.CSS(click))))
	deadline := time.Now().Add(30 * time.Second)
	for {
		state, err := chromedp.Run(p.ctx, chromedp.Evaluate[string](`(window.uraLeaving ? "old " : "new ") + document.readyState`))
		if err == nil && state == "new complete" {
			break
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("clicking %s loaded no new page (%q, %v)", click, state, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	p.must("wait for "+waitFor, chromedp.Do(p.ctx, chromedp.WaitVisible(chromedp.CSS(waitFor))))
}

// shot saves a screenshot of the whole page under the artifacts directory
// and returns its path.
func (p *conPage) shot(name string) string {
	p.t.Helper()
	png, err := chromedp.Run(p.ctx, chromedp.FullScreenshot(100))
	p.must("screenshot", err)
	path := filepath.Join(p.artifacts, name)
	p.must("save screenshot", os.WriteFile(path, png, 0o644))
	p.t.Logf("screenshot: %s", path)
	return path
}

// conBrowser starts headless Chromium, trusting the browser proxies'
// certificate (spki), and returns its context, bounded to 90 seconds, and
// what its pages logged; everything stops when the test ends.
func conBrowser(t *testing.T, chromium, spki string) (context.Context, *conBrowserLog) {
	t.Helper()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("ignore-certificate-errors-spki-list", spki),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1366, 900),
	)
	t.Cleanup(cancelAlloc)
	browser, cancelBrowser := chromedp.NewContext(allocCtx, chromedp.WithLogf(t.Logf))
	t.Cleanup(cancelBrowser)
	blog := &conBrowserLog{}
	if err := chromedp.Listen(browser, blog.listen); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	ctx, cancel := context.WithTimeout(browser, 90*time.Second)
	t.Cleanup(cancel)
	return ctx, blog
}

package server

import (
	"context"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/api/consoleapi"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/console"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// conShadowPolicy is a candidate that would stop every release: beside the
// embedded policy it diverges on each allowed decision.
const conShadowPolicy = `package ura

decision := {"allow": false, "redact": [], "reasons": [{"code": "candidate_freeze", "message": "candidate policy: all releases frozen"}]}
`

// conParts are the real parts the console reads: the embedded policy with
// the shadow candidate beside it, an embedded record store, and the audit
// chain over a file store, checkpointed every five events by a local key.
func conParts() gatewayOption {
	return func(s *gatewaySetup) {
		withShadowPolicy(conShadowPolicy)(s)
		withAuditChain(5)(s)
	}
}

// conSeed drives realistic traffic through the exchange: accepted and
// denied pushes, and pulls that are redacted or withheld, so that the log
// holds every kind of decision the console shows.
func conSeed(t *testing.T, e *gatewayEnv) {
	t.Helper()
	aim := exResults(t, e.as("AL/GOV/AIM").push(
		polRecord(t, "entity"),
		polRecord(t, "licence", "label.releasable_to", []any{"ALB", "NATO"}),
		polRecord(t, "transfer_ita"),
	))
	for _, r := range aim {
		if r.Status != "accepted" {
			t.Fatalf("AIM push %s: %+v", r.ID, r)
		}
	}
	denied := exResults(t, e.as("AL/GOV/DPD").push(
		polRecord(t, "export", "id", "DPD-EVT-2026-9000002", "event.quantity", 1, "event.to", "SRB"),
		polRecord(t, "licence", "id", "DPD-LIC-1", "label.originator", "AL/GOV/DPD"),
	))
	for _, r := range denied {
		if r.Status != "denied" {
			t.Fatalf("customs push %s: %+v, want denied", r.ID, r)
		}
	}
	for _, m := range []string{"AL/GOV/DPD", "IT/GOV/MOD", "NATO/ORG/LIAISON"} {
		if r := e.as(m).get("/v1/records?limit=100"); r.status != http.StatusOK {
			t.Fatalf("%s pull: %d %s", m, r.status, r.body)
		}
	}
	// The shadow candidate is compared off the request path.
	waitFor(t, func() bool {
		for _, d := range e.engine.Divergences() {
			if d.RecordID == "AIM-LIC-2026-000123" && d.Action == policy.Pull {
				return true
			}
		}
		return false
	})
}

const conBrowserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

func (c *memberClient) html(path string) memberResponse {
	c.t.Helper()
	return c.do(http.MethodGet, path, "", conBrowserAccept, nil)
}

// conPaths are the console's pages and assets, and one it does not have.
var conPaths = []string{
	"/console/",
	"/console/?range=1h",
	"/console/search",
	"/console/search?decision=deny&member=AL/GOV/DPD",
	"/console/events/1",
	"/console/verify",
	"/console/shadow",
	"/console/static/console.css",
	"/console/static/console.js",
	"/console/no-such-page",
}

func conCheckHeaders(t *testing.T, what string, h http.Header) {
	t.Helper()
	for k, v := range console.Headers() {
		if h.Get(k) != v {
			t.Errorf("%s: %s = %q, want %q", what, k, h.Get(k), v)
		}
	}
}

// TestConNonAuditorsForbidden: every member that is not a security officer
// gets 403 on every console path, known or not, as problem+json or as a
// short HTML page for a browser, with no data in either; each attempt is
// in the audit log. The auditor gets every page.
func TestConNonAuditorsForbidden(t *testing.T) {
	e := startGateway(t, conParts())
	conSeed(t, e)
	before := len(e.chainEvents(t))
	attempts := 0
	for _, member := range []string{"AL/GOV/AIM", "AL/GOV/MOD", "AL/GOV/DPD", "IT/GOV/MOD", "NATO/ORG/LIAISON"} {
		c := e.as(member)
		for _, path := range conPaths {
			r := c.get(path)
			r.problem(t, http.StatusForbidden, problem.TypeForbidden)
			conCheckHeaders(t, member+" "+path, r.header)
			r = c.html(path)
			if r.status != http.StatusForbidden || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
				t.Fatalf("%s %s as a browser: %d %s", member, path, r.status, r.header.Get("Content-Type"))
			}
			conCheckHeaders(t, member+" "+path+" (html)", r.header)
			body := string(r.body)
			if !strings.Contains(body, "403") || strings.Contains(body, "AIM-LIC") || strings.Contains(body, "Chain head") ||
				strings.Contains(body, `class="tabs"`) || strings.Contains(body, member) {
				t.Errorf("%s %s: the 403 page shows more than a refusal:\n%s", member, path, body)
			}
			attempts += 2
		}
		r := c.do(http.MethodPost, "/console/verify", "application/x-www-form-urlencoded", "", []byte("csrf=x"))
		r.problem(t, http.StatusForbidden, problem.TypeForbidden)
		attempts++
	}
	denied := 0
	for _, ev := range e.chainEvents(t)[before:] {
		if ev.Action == "console.refused" {
			denied++
			if ev.Decision != audit.DecisionDeny || ev.Status != http.StatusForbidden || len(ev.Reasons) != 1 ||
				ev.Reasons[0].Code != chain.ReasonNotAuditor || ev.Member == "" || !strings.HasPrefix(ev.Route, "/console/") {
				t.Errorf("refusal event %+v", ev)
			}
		}
	}
	if denied != attempts {
		t.Errorf("%d refusals audited, want %d", denied, attempts)
	}

	auditor := e.as("AL/GOV/AUDIT")
	for _, path := range conPaths {
		r := auditor.html(path)
		want := http.StatusOK
		if strings.HasSuffix(path, "no-such-page") {
			want = http.StatusNotFound
		}
		if r.status != want {
			t.Errorf("auditor %s: %d, want %d: %.300s", path, r.status, want, r.body)
		}
		conCheckHeaders(t, "auditor "+path, r.header)
	}
	if r := auditor.html("/console/"); !strings.Contains(string(r.body), "Security officer") || !strings.Contains(string(r.body), "AL/GOV/AUDIT") {
		t.Errorf("the console does not show who is signed in")
	}
}

// TestConPages reads each page as the security officer after real traffic.
func TestConPages(t *testing.T) {
	e := startGateway(t, conParts())
	conSeed(t, e)
	auditor := e.as("AL/GOV/AUDIT")

	body := string(auditor.html("/console/").body)
	for _, w := range []string{"Decisions over time", `class="seg deny"`, `class="seg allow"`, "licence_destination_mismatch", "push_not_authorised", "AL/GOV/DPD"} {
		if !strings.Contains(body, w) {
			t.Errorf("overview lacks %q", w)
		}
	}

	r := auditor.html("/console/search?decision=deny&member=AL/GOV/DPD")
	if r.status != http.StatusOK {
		t.Fatalf("search: %d", r.status)
	}
	seqs := regexp.MustCompile(`class="seq" href="/console/events/(\d+)"`).FindAllStringSubmatch(string(r.body), -1)
	if len(seqs) < 2 {
		t.Fatalf("search for customs' denials found %d rows:\n%s", len(seqs), r.body)
	}

	r = auditor.html("/console/events/" + seqs[0][1])
	body = string(r.body)
	for _, w := range []string{"DPD-", "push_not_authorised", "Policy revision", e.engine.Revision(), "Decision id", "Request digest", "Previous hash", `id="proof-state"`} {
		if !strings.Contains(body, w) {
			t.Errorf("event page lacks %q", w)
		}
	}
	if _, err := e.chain.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if body := string(auditor.html("/console/events/" + seqs[0][1]).body); !strings.Contains(body, `class="proof verified"`) {
		t.Errorf("the proof does not verify against the signer's keys")
	}

	// A redacted pull shows the paths, never the values.
	evs, err := e.chain.Search(context.Background(), audit.Query{Decision: audit.DecisionRedact, Member: "AL/GOV/DPD", Limit: 1})
	if err != nil || len(evs.Events) != 1 {
		t.Fatalf("no redacted decision for customs: %v", err)
	}
	body = string(auditor.html("/console/events/" + strconv.FormatInt(evs.Events[0].Seq, 10)).body)
	if !strings.Contains(body, "/licence/contract_value") || strings.Contains(body, "1840000") {
		t.Errorf("redacted paths missing, or a value shown")
	}

	// The shadow candidate diverged on every release.
	body = string(auditor.html("/console/shadow").body)
	if !strings.Contains(body, "candidate_freeze") || !strings.Contains(body, "AIM-LIC-2026-000123") || strings.Contains(body, "shadow-empty") {
		t.Errorf("shadow page lacks the divergences:\n%s", body)
	}
	if body := string(auditor.html("/console/events/99999").body); !strings.Contains(body, "404") {
		t.Errorf("missing event: %s", body)
	}
}

// TestConViewsAudited: each page the officer opens is in the log before it
// is sent, with what it disclosed.
func TestConViewsAudited(t *testing.T) {
	e := startGateway(t, conParts())
	conSeed(t, e)
	auditor := e.as("AL/GOV/AUDIT")
	before := len(e.chainEvents(t))
	for _, path := range []string{"/console/", "/console/search?record_id=AIM-LIC-2026-000123", "/console/events/2", "/console/shadow", "/console/static/console.css"} {
		auditor.html(path)
	}
	var actions []string
	for _, ev := range e.chainEvents(t)[before:] {
		actions = append(actions, ev.Action)
		if ev.Member != "AL/GOV/AUDIT" || ev.Decision != audit.DecisionAllow || ev.RequestDigest == "" {
			t.Errorf("view event %+v", ev)
		}
		if ev.Action == "console.search" && (ev.RecordID != "AIM-LIC-2026-000123" || ev.Records == 0) {
			t.Errorf("search event %+v", ev)
		}
	}
	want := []string{"console.overview", "console.search", "console.event", "console.shadow"}
	if strings.Join(actions, ",") != strings.Join(want, ",") {
		t.Errorf("audited %v, want %v", actions, want)
	}
}

// TestConEscaping: a record id chosen by whoever pushed it is shown as
// text on every page that lists it, never run.
func TestConEscaping(t *testing.T) {
	e := startGateway(t, conParts())
	const hostile = `<script>alert(1)</script>`
	ev := audit.Event{Time: time.Now().UTC(), RequestID: "req-x", Member: "AL/GOV/AIM", Action: "push", Route: "/v1/records",
		RecordKind: "licence", RecordID: hostile, RecordVersion: 1, Decision: audit.DecisionDeny, Status: 200,
		Reasons: []verdict.Reason{{Code: "schema", Message: `bad id "><img src=x onerror=alert(2)>`}}}
	if err := e.chain.Append(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	auditor := e.as("AL/GOV/AUDIT")
	for _, path := range []string{"/console/search?record_id=" + url.QueryEscape(hostile), "/console/search?decision=deny", "/console/events/1"} {
		r := auditor.html(path)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d", path, r.status)
		}
		body := string(r.body)
		if strings.Contains(body, hostile) || strings.Contains(body, "<img") {
			t.Errorf("%s: hostile markup reached the page unescaped", path)
		}
		if !strings.Contains(body, "&lt;script&gt;alert(1)&lt;/script&gt;") {
			t.Errorf("%s: the record id is not shown", path)
		}
		if strings.Count(body, "<script") != 1 {
			t.Errorf("%s: %d script elements, want only the console's own", path, strings.Count(body, "<script"))
		}
		conCheckHeaders(t, path, r.header)
	}
}

var conTokenRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

func conToken(t *testing.T, c *memberClient) string {
	t.Helper()
	r := c.html("/console/verify")
	m := conTokenRe.FindStringSubmatch(string(r.body))
	if r.status != http.StatusOK || m == nil {
		t.Fatalf("verify form: %d, no token", r.status)
	}
	return m[1]
}

func conPost(c *memberClient, token string, header map[string]string) memberResponse {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.base+"/console/verify", strings.NewReader(url.Values{"csrf": {token}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", conBrowserAccept)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return c.send(req)
}

// TestConVerifyCSRF: the verify button works with the token of the page
// that showed it, and a post forged elsewhere is refused and audited: no
// token, a token of another certificate (even of the same officer), a
// tampered one, or a post the browser says came from another site.
func TestConVerifyCSRF(t *testing.T) {
	e := startGateway(t, conParts())
	conSeed(t, e)
	auditor := e.as("AL/GOV/AUDIT")
	token := conToken(t, auditor)
	other := e.newClient("AL/GOV/AUDIT")
	otherToken := conToken(t, other)
	origin := "https://" + e.addr

	before := len(e.chainEvents(t))
	for _, tt := range []struct {
		name   string
		token  string
		header map[string]string
	}{
		{"no token", "", nil},
		{"tampered", token[:len(token)-2] + "xx", nil},
		{"another certificate's", otherToken, nil},
		{"cross-site origin", token, map[string]string{"Origin": "https://evil.example"}},
		{"cross-site fetch", token, map[string]string{"Sec-Fetch-Site": "cross-site"}},
		{"null origin", token, map[string]string{"Origin": "null"}},
		{"same-site, other origin", token, map[string]string{"Sec-Fetch-Site": "same-site", "Origin": origin}},
	} {
		r := conPost(auditor, tt.token, tt.header)
		if r.status != http.StatusForbidden || strings.Contains(string(r.body), "Chain intact") {
			t.Errorf("%s: %d", tt.name, r.status)
		}
		conCheckHeaders(t, tt.name, r.header)
	}
	refusals := 0
	for _, ev := range e.chainEvents(t)[before:] {
		if ev.Action == "console.refused" && (ev.Reasons[0].Code == consoleapi.ReasonCSRF || ev.Reasons[0].Code == consoleapi.ReasonOrigin) {
			refusals++
		}
	}
	if refusals != 7 {
		t.Errorf("%d forged posts audited, want 7", refusals)
	}

	head := e.chain.Head()
	r := conPost(auditor, token, map[string]string{"Origin": origin, "Sec-Fetch-Site": "same-origin"})
	body := string(r.body)
	if r.status != http.StatusOK || !strings.Contains(body, "Chain intact") {
		t.Fatalf("verify: %d\n%s", r.status, body)
	}
	if !strings.Contains(body, `id="verify-count">`+strconv.FormatInt(head.Count, 10)+`<`) && !strings.Contains(body, `id="verify-count">`+strconv.FormatInt(head.Count+1, 10)+`<`) {
		t.Errorf("verify count is not the head (%d):\n%s", head.Count, body)
	}
	if !strings.Contains(body, "checked against the gateway") {
		t.Errorf("checkpoint signatures were not checked")
	}
	// What a browser sends for the console's own form under
	// Referrer-Policy no-referrer.
	if r := conPost(auditor, token, map[string]string{"Origin": "null", "Sec-Fetch-Site": "same-origin"}); r.status != http.StatusOK {
		t.Errorf("same-origin browser post: %d", r.status)
	}
	// Forged posts are counted for alerting.
	metrics := string(auditor.get("/metrics").body)
	for _, want := range []string{`ura_console_refusals_total{reason="csrf"} 3`, `ura_console_refusals_total{reason="cross_origin"} 4`,
		`ura_console_chain_verifications_total{result="intact"} 2`} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	// The other officer's certificate posts its own token fine.
	if r := conPost(other, otherToken, nil); r.status != http.StatusOK {
		t.Errorf("other certificate: %d", r.status)
	}
	// Other methods and paths.
	if r := auditor.do(http.MethodPost, "/console/search", "application/x-www-form-urlencoded", "", nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("POST /console/search: %d", r.status)
	}
	if r := auditor.do(http.MethodDelete, "/console/", "", "", nil); r.status != http.StatusMethodNotAllowed {
		t.Errorf("DELETE /console/: %d", r.status)
	}
}

// TestConVerifyFindsTampering: an event changed on disk under the running
// gateway is named by its position when the officer presses "verify chain".
func TestConVerifyFindsTampering(t *testing.T) {
	e := startGateway(t, conParts())
	conSeed(t, e)
	auditor := e.as("AL/GOV/AUDIT")
	token := conToken(t, auditor)
	if r := conPost(auditor, token, nil); r.status != http.StatusOK || !strings.Contains(string(r.body), "Chain intact") {
		t.Fatalf("before: %d", r.status)
	}
	segs, err := filepath.Glob(filepath.Join(e.auditDir, "*.log"))
	if err != nil || len(segs) == 0 {
		t.Fatalf("no segment files in %s: %v", e.auditDir, err)
	}
	raw, err := os.ReadFile(segs[0])
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(raw), "\n")
	// Turn customs' first denial into an allow, same length, as an insider
	// hiding it would.
	bad := -1
	for i, l := range lines {
		if strings.Contains(l, `"decision":"deny"`) && strings.Contains(l, `"member":"AL/GOV/DPD"`) {
			lines[i], bad = strings.Replace(l, `"decision":"deny"`, `"decision":"alow"`, 1), i+1
			break
		}
	}
	if bad < 0 {
		t.Fatal("no denial of customs in the log")
	}
	writeFile(t, segs[0], []byte(strings.Join(lines, "")))
	r := conPost(auditor, token, nil)
	body := string(r.body)
	if r.status != http.StatusOK || !strings.Contains(body, "Chain broken at event #"+strconv.Itoa(bad)) ||
		!strings.Contains(body, `id="verify-bad-seq">#`+strconv.Itoa(bad)+`<`) {
		t.Fatalf("after tampering with #%d: %d\n%s", bad, r.status, body)
	}
}

// TestConAuditDown: when the log cannot take the record of a view, the
// officer gets a 503 and nothing of the page.
func TestConAuditDown(t *testing.T) {
	e := startGateway(t, conParts())
	conSeed(t, e)
	e.auditStore.Fail.Store(true)
	auditor := e.as("AL/GOV/AUDIT")
	for _, path := range []string{"/console/", "/console/search?decision=deny", "/console/events/1"} {
		r := auditor.html(path)
		if r.status != http.StatusServiceUnavailable || strings.Contains(string(r.body), "DPD-") || strings.Contains(string(r.body), "Chain head") {
			t.Errorf("%s with the log down: %d %.200s", path, r.status, r.body)
		}
		conCheckHeaders(t, path, r.header)
	}
	// A refusal that cannot be recorded is a 503 too, not a silent 403.
	if r := e.as("AL/GOV/AIM").get("/console/"); r.status != http.StatusServiceUnavailable {
		t.Errorf("unrecorded refusal: %d", r.status)
	}
}

// TestConDisabled: console.enabled: false removes the routes.
func TestConDisabled(t *testing.T) {
	e := startGateway(t, conParts(), withConfig(func(cfg *config.Config) { cfg.Console.Enabled = false }))
	for _, path := range []string{"/console/", "/console/static/console.css"} {
		if r := e.as("AL/GOV/AUDIT").get(path); r.status != http.StatusNotFound {
			t.Errorf("%s: %d, want 404", path, r.status)
		}
	}
}

// TestConLogsNoSecrets: the console logs neither form tokens nor anything
// of the records it shows.
func TestConLogsNoSecrets(t *testing.T) {
	e := startGateway(t, conParts())
	conSeed(t, e)
	auditor := e.as("AL/GOV/AUDIT")
	token := conToken(t, auditor)
	conPost(auditor, token, nil)
	conPost(auditor, token+"x", nil)
	logs := e.logs.String()
	for _, s := range []string{token, "csrf=", "1840000", "jan.novak"} {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds %q", s)
		}
	}
	if !strings.Contains(logs, `component=console`) {
		t.Errorf("no console log line")
	}
}

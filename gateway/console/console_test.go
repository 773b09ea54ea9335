package console

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/audit/audittest"
	"github.com/ura-gateway/ura/gateway/deliveries"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/reviews"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// TestPagesGolden renders each page over a real log with a fixed clock and
// compares it with testdata/*.html.golden.
func TestPagesGolden(t *testing.T) {
	ctx := context.Background()
	ch := openChain(t, sampleEvents(40), nil)
	waiting := []deliveries.Unconfirmed{{ID: "DPD-EVT-2026-0004507", CustomsDeclaration: "EX-2026-000456", LicenceID: "AIM-LIC-2026-000123",
		Item: deliveries.Marking{Country: "ALB", Manufacturer: "KAYO", Serial: "PL26-762-0042"}, Category: "ML3", Quantity: 100000, To: "CZE",
		Declared: testNow.Add(-96 * 24 * time.Hour), WaitingSeconds: 96 * 86400}}
	c := newConsole(t, Options{Audit: ch, Policy: &fakeEngine{}, Reviews: sampleReviews, ConfirmWithinDays: 90,
		Deliveries: func(context.Context) ([]deliveries.Unconfirmed, error) { return waiting, nil }})
	none := newConsole(t, Options{Audit: ch, Policy: &fakeEngine{}, ConfirmWithinDays: 90,
		Deliveries: func(context.Context) ([]deliveries.Unconfirmed, error) { return nil, nil }})
	pages := []struct {
		name  string
		build func() (*Page, error)
	}{
		{"overview", func() (*Page, error) { return c.Overview(ctx, officer, url.Values{}) }},
		{"overview-1h", func() (*Page, error) { return c.Overview(ctx, officer, url.Values{"range": {"1h"}}) }},
		{"search", func() (*Page, error) { return c.Search(ctx, officer, url.Values{"decision": {"deny"}, "limit": {"5"}}) }},
		{"search-errors", func() (*Page, error) {
			return c.Search(ctx, officer, url.Values{"decision": {"maybe"}, "from": {"yesterday"}})
		}},
		{"event", func() (*Page, error) { return c.Event(ctx, officer, "5") }},
		{"verify-form", func() (*Page, error) { return c.VerifyForm(officer, "1780403400.token") }},
		{"shadow-none", func() (*Page, error) { return c.Shadow(ctx, officer) }},
		{"releases", func() (*Page, error) { return c.Releases(officer, sampleReleases(), true, "1780403400.token") }},
		{"reviews", func() (*Page, error) { return c.Reviews(ctx, officer, url.Values{"due_before": {"2026-07-02"}}) }},
		{"deliveries", func() (*Page, error) { return c.Deliveries(ctx, officer) }},
		{"deliveries-none", func() (*Page, error) { return none.Deliveries(ctx, officer) }},
	}
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			pg, err := p.build()
			if err != nil {
				t.Fatal(err)
			}
			assertNoInlineCode(t, p.name, pg.Body)
			golden(t, p.name+".html.golden", pg.Body)
		})
	}
}

func TestOverview(t *testing.T) {
	ctx := context.Background()
	signer := audittest.NewSigner(t, "audit-test-1")
	ch := openChain(t, sampleEvents(70), signer)
	c := newConsole(t, Options{Audit: ch})
	pg, err := c.Overview(ctx, officer, url.Values{"range": {"24h"}})
	if err != nil {
		t.Fatal(err)
	}
	body := string(pg.Body)
	want := []string{
		"<span class=\"mark\">ura</span> <span class=\"sep\">—</span> security officers' console",
		"AL/GOV/AUDIT", "Security officer",
		"Decisions over time", "<svg", "class=\"seg deny\"", "class=\"seg allow\"",
		"Denials by reason", "not_releasable", "Denials by member", "IT/GOV/MOD",
		"checkpoint #70 signed",
		`href="/console/search?decision=deny&amp;from=`,
	}
	for _, w := range want {
		if !strings.Contains(body, w) {
			t.Errorf("overview lacks %q", w)
		}
	}
	if pg.Status != http.StatusOK || pg.Access.Action != "overview" {
		t.Errorf("status %d access %+v", pg.Status, pg.Access)
	}
	// An unknown range is the default one, not an error.
	pg, err = c.Overview(ctx, officer, url.Values{"range": {"<script>"}})
	if err != nil || !strings.Contains(string(pg.Body), `class="active" aria-current="true">Last 24 hours`) {
		t.Errorf("unknown range: %v", err)
	}
}

func TestSearch(t *testing.T) {
	ctx := context.Background()
	ch := openChain(t, sampleEvents(70), nil)
	c := newConsole(t, Options{Audit: ch})
	tests := []struct {
		name   string
		form   url.Values
		status int
		rows   int
		next   bool
		want   []string
	}{
		{"latest", url.Values{}, 200, 50, true, []string{"Latest events"}},
		{"denials", url.Values{"decision": {"deny"}}, 200, 20, false, []string{"Matching events", "not_releasable"}},
		{"member and reason", url.Values{"member": {"IT/GOV/MOD"}, "reason": {"clearance"}}, 200, 4, false, nil},
		{"record", url.Values{"record_id": {"AIM-LIC-2026-000003"}}, 200, 4, false, []string{"AIM-LIC-2026-000003"}},
		{"page size", url.Values{"limit": {"10"}}, 200, 10, true, []string{`id="older"`}},
		{"older page", url.Values{"limit": {"10"}, "cursor": {"11"}}, 200, 10, false, []string{"← Newest"}},
		{"time range", url.Values{"from": {testNow.Add(-time.Hour).Format(formTime)}, "to": {testNow.Format(formTime)}}, 200, 35, false, nil},
		{"bad decision", url.Values{"decision": {"maybe"}}, 400, 0, false, []string{"must be one of allow"}},
		{"bad time", url.Values{"from": {"yesterday"}}, 400, 0, false, []string{"must be a time such as"}},
		{"empty range", url.Values{"from": {"2026-06-02T10:00"}, "to": {"2026-06-02T09:00"}}, 400, 0, false, []string{"must be after from"}},
		{"too long", url.Values{"member": {strings.Repeat("A", 300)}}, 400, 0, false, []string{"at most 256 bytes"}},
		{"nothing", url.Values{"member": {"XX/NONE"}}, 200, 0, false, []string{"No events match."}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pg, err := c.Search(ctx, officer, tt.form)
			if err != nil {
				t.Fatal(err)
			}
			body := string(pg.Body)
			if pg.Status != tt.status {
				t.Fatalf("status %d, want %d", pg.Status, tt.status)
			}
			if rows := strings.Count(body, `class="seq"`); rows != tt.rows || pg.Access.Events != tt.rows {
				t.Errorf("%d rows (access %d), want %d", rows, pg.Access.Events, tt.rows)
			}
			if next := strings.Contains(body, `id="older"`); next != tt.next {
				t.Errorf("older link %v, want %v", next, tt.next)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
		})
	}
}

func TestParseSearch(t *testing.T) {
	tests := []struct {
		name   string
		in     url.Values
		want   audit.Query
		errors []string
	}{
		{"empty", url.Values{}, audit.Query{Limit: defaultSearchRows}, nil},
		{"all fields", url.Values{"member": {" AL/GOV/AIM "}, "record_id": {"X-1"}, "decision": {"deny"}, "reason": {"clearance"},
			"from": {"2026-06-02T08:00"}, "to": {"2026-06-02T09:30:15"}, "limit": {"20"}, "cursor": {"99"}},
			audit.Query{Member: "AL/GOV/AIM", RecordID: "X-1", Decision: "deny", Reason: "clearance",
				From: time.Date(2026, 6, 2, 8, 0, 0, 0, time.UTC), To: time.Date(2026, 6, 2, 9, 30, 15, 0, time.UTC), Limit: 20, Before: 99}, nil},
		{"rfc3339 with zone", url.Values{"from": {"2026-06-02T10:00:00+02:00"}},
			audit.Query{From: time.Date(2026, 6, 2, 8, 0, 0, 0, time.UTC), Limit: defaultSearchRows}, nil},
		{"bad decision", url.Values{"decision": {"DENY"}}, audit.Query{Limit: defaultSearchRows}, []string{"decision"}},
		{"bad times", url.Values{"from": {"x"}, "to": {"2026-13-01T00:00"}}, audit.Query{Limit: defaultSearchRows}, []string{"from", "to"}},
		{"reversed", url.Values{"from": {"2026-06-02T08:00"}, "to": {"2026-06-02T08:00"}}, audit.Query{}, []string{"to"}},
		{"limits", url.Values{"limit": {"0"}, "cursor": {"-1"}}, audit.Query{}, []string{"limit", "cursor"}},
		{"huge limit", url.Values{"limit": {"100000"}}, audit.Query{}, []string{"limit"}},
		{"invalid utf-8", url.Values{"reason": {"\xff\xfe"}}, audit.Query{}, []string{"reason"}},
		{"oversized", url.Values{"record_id": {strings.Repeat("9", 257)}}, audit.Query{}, []string{"record_id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _, errs := ParseSearch(tt.in)
			var fields []string
			for f := range errs {
				fields = append(fields, f)
			}
			if len(fields) != len(tt.errors) {
				t.Fatalf("errors %v, want fields %v", errs, tt.errors)
			}
			for _, f := range tt.errors {
				if errs[f] == "" {
					t.Errorf("no error for %s: %v", f, errs)
				}
			}
			if len(tt.errors) == 0 && !equalQuery(q, tt.want) {
				t.Errorf("query %+v, want %+v", q, tt.want)
			}
		})
	}
}

func equalQuery(a, b audit.Query) bool {
	return a.Member == b.Member && a.RecordID == b.RecordID && a.Decision == b.Decision && a.Reason == b.Reason &&
		a.From.Equal(b.From) && a.To.Equal(b.To) && a.Before == b.Before && a.Limit == b.Limit
}

// FuzzParseSearch: the search form is outside input; whatever it holds,
// parsing never panics, and what reaches the log's query is bounded.
func FuzzParseSearch(f *testing.F) {
	f.Add("AL/GOV/AIM", "AIM-LIC-2026-000123", "deny", "clearance", "2026-06-02T08:00", "2026-06-02T09:00", "50", "10")
	f.Add("", "<script>alert(1)</script>", "", "", "x", "", "-1", "0")
	f.Fuzz(func(t *testing.T, member, record, decision, reason, from, to, limit, cursor string) {
		q, form, errs := ParseSearch(url.Values{"member": {member}, "record_id": {record}, "decision": {decision},
			"reason": {reason}, "from": {from}, "to": {to}, "limit": {limit}, "cursor": {cursor}})
		for _, s := range []string{q.Member, q.RecordID, q.Reason} {
			if len(s) > 256 {
				t.Fatalf("field of %d bytes passed", len(s))
			}
		}
		if q.Decision != "" && !slices.Contains(audit.Decisions, q.Decision) {
			t.Fatalf("decision %q passed", q.Decision)
		}
		if q.Limit < 1 || q.Limit > maxSearchRows {
			t.Fatalf("limit %d", q.Limit)
		}
		if q.Before < 0 {
			t.Fatalf("cursor %d", q.Before)
		}
		if len(errs) == 0 && !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
			t.Fatalf("empty range passed")
		}
		_ = form.values().Encode()
	})
}

// TestEscaping: values from the log are the attacker's: a member or partner
// chose the record id, the reason messages come from policy over their
// data. Every page must show them as text.
func TestEscaping(t *testing.T) {
	ctx := context.Background()
	const hostile = `<script>alert(1)</script>`
	const attr = `"><img src=x onerror=alert(2)>`
	ev := sampleEvents(1)[0]
	ev.RecordID = hostile
	ev.Member = "AL/GOV/AIM" + attr
	ev.Decision = audit.DecisionDeny
	ev.Reasons = []verdict.Reason{{Code: "x" + attr, Message: hostile + attr}}
	ev.Redactions = []verdict.Redaction{{Pointer: "/a" + attr, Rule: "r" + attr}}
	ev.PolicyRevision = "javascript:alert(3)"
	ch := openChain(t, []audit.Event{ev}, nil)
	eng := &fakeEngine{status: policy.Status{Shadow: &policy.PolicyInfo{Revision: hostile}}, divs: []policy.Divergence{{
		Time: testNow, Member: ev.Member, Action: policy.Pull, RecordID: hostile, RecordVersion: 1,
		Active: policy.Outcome{Allow: true, Reasons: []string{hostile}}, Shadow: policy.Outcome{Allow: true, Redact: []string{"/x" + attr}},
	}}}
	c := newConsole(t, Options{Audit: ch, Policy: eng})
	v := &Viewer{ID: "AL/GOV/AUDIT", Name: "Officer " + hostile}
	pages := map[string]func() (*Page, error){
		"overview": func() (*Page, error) { return c.Overview(ctx, v, url.Values{}) },
		"search":   func() (*Page, error) { return c.Search(ctx, v, url.Values{"record_id": {hostile}}) },
		"search echoed": func() (*Page, error) {
			return c.Search(ctx, v, url.Values{"member": {attr}, "reason": {hostile}, "from": {attr}})
		},
		"event":  func() (*Page, error) { return c.Event(ctx, v, "1") },
		"shadow": func() (*Page, error) { return c.Shadow(ctx, v) },
		"verify": func() (*Page, error) { return c.VerifyForm(v, attr) },
		"error": func() (*Page, error) {
			return &Page{Body: c.Error(v, problem.New(400, problem.TypeBadRequest, hostile), attr)}, nil
		},
	}
	for name, build := range pages {
		t.Run(name, func(t *testing.T) {
			pg, err := build()
			if err != nil {
				t.Fatal(err)
			}
			body := pg.Body
			problems, elements := inlineCode(body)
			if len(problems) > 0 {
				t.Errorf("the hostile values became code: %v", problems)
			}
			if elements["script"] != 1 || elements["img"] != 0 {
				t.Errorf("elements %v: want exactly the console's own script and no img", elements)
			}
			if bytes.Contains(body, []byte(hostile)) || bytes.Contains(body, []byte(`<img`)) {
				t.Errorf("raw hostile markup in the page")
			}
			if name != "verify" && name != "search echoed" && !bytes.Contains(body, []byte("&lt;script&gt;alert(1)&lt;/script&gt;")) {
				t.Errorf("the hostile value is not shown escaped")
			}
		})
	}
}

func TestEvent(t *testing.T) {
	ctx := context.Background()
	signer := audittest.NewSigner(t, "audit-test-1")
	ch := openChain(t, sampleEvents(20), signer)
	keys := func(ctx context.Context) (jwk.Set, error) { return signer.Keys(ctx) }
	tests := []struct {
		name  string
		keys  func(context.Context) (jwk.Set, error)
		seq   string
		state string
		err   int
	}{
		{"verified", keys, "3", proofVerified, 0},
		{"at the checkpoint", keys, "20", proofVerified, 0},
		{"no keys", nil, "3", proofUnsigned, 0},
		{"keys down", func(context.Context) (jwk.Set, error) { return nil, errors.New("vault sealed") }, "3", proofUnsigned, 0},
		{"other keys", func(ctx context.Context) (jwk.Set, error) { return audittest.NewSigner(t, "audit-test-1").Keys(ctx) }, "3", proofFailed, 0},
		{"missing", keys, "21", "", 404},
		{"zero", keys, "0", "", 400},
		{"not a number", keys, "1x", "", 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConsole(t, Options{Audit: ch, Keys: tt.keys})
			pg, err := c.Event(ctx, officer, tt.seq)
			if tt.err != 0 {
				if p := problem.From(err); err == nil || p.Status != tt.err {
					t.Fatalf("err %v, want %d", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			body := string(pg.Body)
			if !strings.Contains(body, `class="proof `+tt.state+`"`) {
				t.Errorf("proof state is not %s", tt.state)
			}
			for _, w := range []string{"Policy revision", "sha256:4f2a9c", "Decision id", "ura-signing/1", "Request digest", "Previous hash", "Nearest checkpoint", "audit-test-1"} {
				if !strings.Contains(body, w) {
					t.Errorf("event page lacks %q", w)
				}
			}
			if pg.Access.Events != 1 || pg.Access.RecordID == "" {
				t.Errorf("access %+v", pg.Access)
			}
		})
	}
	// Without a checkpoint the proof is pending.
	c := newConsole(t, Options{Audit: openChain(t, sampleEvents(3), nil), Keys: keys})
	pg, err := c.Event(ctx, officer, "2")
	if err != nil || !strings.Contains(string(pg.Body), `class="proof pending"`) {
		t.Errorf("pending proof: %v", err)
	}
}

// tamperedReader serves a real log whose export is altered on the way, as
// a log edited on disk would read.
type tamperedReader struct {
	*audit.Chain
	edit func(lines [][]byte) [][]byte
	// failAfter, when set, cuts the export with an I/O error after that
	// many lines.
	failAfter int
}

func (r *tamperedReader) Export(ctx context.Context, w io.Writer, from int64) error {
	var buf bytes.Buffer
	if err := r.Chain.Export(ctx, &buf, from); err != nil {
		return err
	}
	lines := bytes.SplitAfter(buf.Bytes(), []byte("\n"))
	if r.edit != nil {
		lines = r.edit(lines)
	}
	for i, l := range lines {
		if r.failAfter > 0 && i == r.failAfter {
			return errors.New("read segment 000001.log: input/output error")
		}
		if _, err := w.Write(l); err != nil {
			return err
		}
	}
	return nil
}

func TestVerify(t *testing.T) {
	ctx := context.Background()
	signer := audittest.NewSigner(t, "audit-test-1")
	ch := openChain(t, sampleEvents(30), signer)
	keys := func(ctx context.Context) (jwk.Set, error) { return signer.Keys(ctx) }
	tests := []struct {
		name    string
		reader  audit.Reader
		keys    func(context.Context) (jwk.Set, error)
		status  int
		result  string
		want    []string
		signed  bool
		metrics string
	}{
		{"intact", ch, keys, 200, "ok", []string{"Chain intact", `id="verify-count">30<`, "Checkpoints matched", "checked against the gateway"}, true, resultIntact},
		{"intact without keys", ch, nil, 200, "ok", []string{"Chain intact", "not checked", "no signing keys"}, false, resultIntact},
		{"modified", &tamperedReader{Chain: ch, edit: func(l [][]byte) [][]byte {
			l[6] = bytes.Replace(l[6], []byte(`"decision":"deny"`), []byte(`"decision":"allow"`), 1)
			l[6] = bytes.Replace(l[6], []byte(`"decision":"redact"`), []byte(`"decision":"allow"`), 1)
			l[6] = bytes.Replace(l[6], []byte(`"member":"`), []byte(`"member":"X`), 1)
			return l
		}}, keys, 200, "bad", []string{"Chain broken at event #7", `id="verify-bad-seq">#7<`}, true, resultBroken},
		{"deleted", &tamperedReader{Chain: ch, edit: func(l [][]byte) [][]byte {
			return append(l[:9:9], l[10:]...)
		}}, keys, 200, "bad", []string{"Chain broken at event #10"}, true, resultBroken},
		{"reordered", &tamperedReader{Chain: ch, edit: func(l [][]byte) [][]byte {
			l[3], l[4] = l[4], l[3]
			return l
		}}, keys, 200, "bad", []string{"Chain broken at event #4"}, true, resultBroken},
		{"read error", &tamperedReader{Chain: ch, failAfter: 12}, keys, 503, "unknown", []string{"could not be read to the end"}, true, resultIncomplete},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			reg := prometheus.NewRegistry()
			c := newConsole(t, Options{Audit: tt.reader, Keys: tt.keys, Registerer: reg})
			pg, err := c.Verify(ctx, officer, "tok")
			if err != nil {
				t.Fatal(err)
			}
			body := string(pg.Body)
			if pg.Status != tt.status || !strings.Contains(body, `class="panel result `+tt.result+`"`) {
				t.Fatalf("status %d, result not %s:\n%s", pg.Status, tt.result, body)
			}
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			if got := testutil.ToFloat64(c.m.verifications.WithLabelValues(tt.metrics)); got != 1 {
				t.Errorf("verifications{result=%s} = %v", tt.metrics, got)
			}
		})
	}
}

// TestVerifyOneAtATime: a second verification waits for the first; one
// that cannot wait is told to come back rather than queued for ever.
func TestVerifyOneAtATime(t *testing.T) {
	ch := openChain(t, sampleEvents(5), nil)
	c := newConsole(t, Options{Audit: ch})
	c.verifying <- struct{}{} // a verification is running
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Verify(ctx, officer, "tok")
	if p := problem.From(err); p.Status != http.StatusServiceUnavailable {
		t.Fatalf("busy: %v", err)
	}
	<-c.verifying
	if pg, err := c.Verify(context.Background(), officer, "tok"); err != nil || pg.Status != 200 {
		t.Fatalf("after: %v", err)
	}
}

func TestShadow(t *testing.T) {
	ctx := context.Background()
	loaded := testNow.Add(-time.Hour)
	divs := []policy.Divergence{
		{Time: testNow.Add(-2 * time.Minute), Member: "IT/GOV/MOD", Action: policy.Pull, RecordKind: "licence", RecordID: "AIM-LIC-2026-000001", RecordVersion: 2,
			Active: policy.Outcome{Allow: true, Redact: []string{"/licence/contract_value"}, DecisionID: "d-1", Revision: "r-active"},
			Shadow: policy.Outcome{Allow: false, Reasons: []string{"not_releasable"}, DecisionID: "d-1s", Revision: "r-shadow"}},
		{Time: testNow.Add(-time.Minute), Member: "AL/GOV/DPD", Action: policy.Pull, RecordKind: "licence", RecordID: "AIM-LIC-2026-000002", RecordVersion: 1,
			Active: policy.Outcome{Allow: true}, Shadow: policy.Outcome{Allow: true, Redact: []string{"/licence/end_user/contact"}}},
	}
	active := policy.PolicyInfo{Revision: "r-active", Source: "embedded", LoadedAt: loaded}
	tests := []struct {
		name   string
		engine policy.Engine
		want   []string
		rows   int
	}{
		{"no engine", nil, []string{`id="shadow-empty"`, "No shadow policy is configured"}, 0},
		{"no shadow", &fakeEngine{status: policy.Status{Active: active}}, []string{"No shadow policy is configured", "r-active", "none configured"}, 0},
		{"shadow agrees", &fakeEngine{status: policy.Status{Active: active, Shadow: &policy.PolicyInfo{Revision: "r-shadow", Source: "dir"}}},
			[]string{"agreed with the enforced one", "r-shadow"}, 0},
		{"divergences", &fakeEngine{status: policy.Status{Active: active, Shadow: &policy.PolicyInfo{Revision: "r-shadow"}, ShadowDivergences: 2}, divs: divs},
			[]string{"Divergences <span class=\"count\">2</span>", "not_releasable", "/licence/end_user/contact", "AIM-LIC-2026-000001"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newConsole(t, Options{Policy: tt.engine})
			pg, err := c.Shadow(ctx, officer)
			if err != nil {
				t.Fatal(err)
			}
			body := string(pg.Body)
			for _, w := range tt.want {
				if !strings.Contains(body, w) {
					t.Errorf("page lacks %q", w)
				}
			}
			if pg.Access.Events != tt.rows {
				t.Errorf("%d rows, want %d", pg.Access.Events, tt.rows)
			}
			// Newest first.
			if tt.rows == 2 && strings.Index(body, "AIM-LIC-2026-000002") > strings.Index(body, "AIM-LIC-2026-000001") {
				t.Errorf("divergences not newest first")
			}
		})
	}
}

// TestNoAuditLog: without a log reader every page that reads it is a 503,
// never an empty page that looks like an empty log.
func TestNoAuditLog(t *testing.T) {
	ctx := context.Background()
	c := newConsole(t, Options{})
	for name, run := range map[string]func() (*Page, error){
		"overview": func() (*Page, error) { return c.Overview(ctx, officer, nil) },
		"search":   func() (*Page, error) { return c.Search(ctx, officer, nil) },
		"event":    func() (*Page, error) { return c.Event(ctx, officer, "1") },
		"verify":   func() (*Page, error) { return c.Verify(ctx, officer, "") },
		"form":     func() (*Page, error) { return c.VerifyForm(officer, "") },
	} {
		if _, err := run(); problem.From(err).Status != http.StatusServiceUnavailable {
			t.Errorf("%s: %v, want 503", name, err)
		}
	}
}

func TestStatic(t *testing.T) {
	for _, tt := range []struct {
		name, ct string
		ok       bool
	}{
		{"console.css", "text/css; charset=utf-8", true},
		{"console.js", "text/javascript; charset=utf-8", true},
		{"../templates/layout.html", "", false},
		{"", "", false},
		{".hidden", "", false},
		{"missing.css", "", false},
	} {
		body, ct, ok := Static(tt.name)
		if ok != tt.ok || ct != tt.ct || (ok && len(body) == 0) {
			t.Errorf("Static(%q) = %d bytes, %q, %v", tt.name, len(body), ct, ok)
		}
	}
}

func TestHeaders(t *testing.T) {
	h := http.Header{}
	SetHeaders(h)
	want := map[string]string{
		"Content-Security-Policy": "default-src 'none'; style-src 'self'; script-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
		"X-Content-Type-Options":  "nosniff",
		"Referrer-Policy":         "no-referrer",
		"Cache-Control":           "no-store",
	}
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("%s = %q, want %q", k, h.Get(k), v)
		}
	}
}

func TestNewRejectsBadBase(t *testing.T) {
	for _, base := range []string{"console/", "/console", "http://x/"} {
		if _, err := New(Options{Base: base}); err == nil {
			t.Errorf("base %q accepted", base)
		}
	}
}

// TestReleasesQueue: each request under its status, buttons only where the
// officer may use them, and none at all for an auditor without the role.
func TestReleasesQueue(t *testing.T) {
	c := newConsole(t, Options{})
	pg, err := c.Releases(officer, sampleReleases(), true, "tok.en")
	if err != nil {
		t.Fatal(err)
	}
	body := string(pg.Body)
	section := func(key string) string {
		i := strings.Index(body, `id="releases-`+key+`"`)
		j := strings.Index(body[i:], "</section>")
		return body[i : i+j]
	}
	checks := []struct {
		key        string
		has, hasnt []string
	}{
		{"pending", []string{"AIM-LIC-2026-000001", "AIM-LIC-2026-000002", "releases/0190a000-0000-7000-8000-000000000001/approve", "releases/0190a000-0000-7000-8000-000000000002/revoke"},
			[]string{"releases/0190a000-0000-7000-8000-000000000002/approve"}},
		{"approved", []string{"AIM-LIC-2026-000003", "AL/GOV/AUDIT3", "releases/0190a000-0000-7000-8000-000000000003/revoke"}, []string{"/approve"}},
		{"expired", []string{"AIM-LIC-2026-000004"}, []string{"<form"}},
		{"revoked", []string{"AIM-LIC-2026-000005", "revoked by AL/GOV/AUDIT2"}, []string{"<form"}},
	}
	for _, ch := range checks {
		s := section(ch.key)
		for _, w := range ch.has {
			if !strings.Contains(s, w) {
				t.Errorf("%s lacks %q", ch.key, w)
			}
		}
		for _, w := range ch.hasnt {
			if strings.Contains(s, w) {
				t.Errorf("%s has %q", ch.key, w)
			}
		}
	}
	if !strings.Contains(body, `name="csrf" value="tok.en"`) || strings.Contains(body, "<b>by</b>") {
		t.Errorf("forms lack the token, or the justification is not escaped")
	}
	pg, _ = c.Releases(officer, sampleReleases(), false, "tok.en")
	if strings.Contains(string(pg.Body), "<form") || !strings.Contains(string(pg.Body), "do not hold the release role") {
		t.Error("an auditor without the release role is offered buttons")
	}
}

// sampleReviews is a store with a licence past its review date and an
// event due soon.
func sampleReviews(_ context.Context, _, _ time.Time) ([]reviews.Item, error) {
	return []reviews.Item{
		{ID: "AIM-LIC-2026-000130", Kind: "licence", Version: 1, Originator: "AL/GOV/AIM", PolicyID: "NATO", Classification: "RESTRICTED", Review: "2026-05-20", Overdue: true, Days: -13},
		{ID: "AIM-EVT-2026-0000131", Kind: "tracking_event", Version: 2, Originator: "AL/GOV/AIM", PolicyID: "AL", Classification: "I KUFIZUAR", Review: "2026-06-20", Days: 18},
	}, nil
}

// TestReviewsPageRefusesOtherParameters: the reviews page takes due_before
// alone, as one date.
func TestReviewsPageRefusesOtherParameters(t *testing.T) {
	c := newConsole(t, Options{Reviews: sampleReviews})
	for _, q := range []url.Values{{"limit": {"5"}}, {"due_before": {"soon"}}, {"due_before": {"2026-07-01", "2026-07-02"}}} {
		if _, err := c.Reviews(context.Background(), officer, q); err == nil {
			t.Errorf("%v: no error", q)
		}
	}
	if _, err := newConsole(t, Options{}).Reviews(context.Background(), officer, nil); err == nil {
		t.Error("a console with no reviews source lists reviews")
	}
}

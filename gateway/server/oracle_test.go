package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/api/exchange"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/cursor"
)

// The partner who should not see. Each test here puts a record the Italian
// partner may not see beside one that does not exist, asks about both the
// same way, and requires the two answers to be the same: status, body,
// headers (RateLimit included) and the work the gateway did for them (audit
// events). The gateway runs the embedded policy over a real embedded store
// and the real rate limiter (in-process), over mutual TLS.

// oracleEnv is a gateway holding one SECRET licence of AIM's that no
// partner may see, and two partner members with identical limits so that a
// question about a hidden record (asked by one) and about a missing one
// (asked by the other) start from the same quota; it returns the licence's
// id. The gateway runs the embedded policy and the real limiter in the
// process, under the rate limits as opts leave them.
func oracleEnv(t *testing.T, opts ...gatewayOption) (*gatewayEnv, string) {
	t.Helper()
	opts = append([]gatewayOption{withEmbeddedPolicy(), withRealLimiter("", ""), withConfig(func(cfg *config.Config) {
		cfg.Members = append(cfg.Members,
			config.Member{ID: "IT/GOV/HIDDEN", Name: "Partner asking about a hidden record", Nation: "ITA", Kind: "partner", Clearance: "CONFIDENTIAL"},
			config.Member{ID: "IT/GOV/MISSING", Name: "Partner asking about a missing record", Nation: "ITA", Kind: "partner", Clearance: "CONFIDENTIAL"})
		// The two partners' limits refill once a day at most, so that their
		// RateLimit values are compared on what the requests cost, never on
		// how much time passed between them. Each quota divides a day into
		// whole seconds: a request charged in steps refills a little between
		// them, and a reset of a whole number of seconds minus that little
		// still rounds up to the same second (1000 a day, 86.4 s each, once
		// gave 259 s for one partner and 260 s for the other).
		day := func(n int) *config.Rate { return &config.Rate{Rate: n, Burst: n, Period: 24 * time.Hour} }
		if cfg.RateLimit.Members == nil {
			cfg.RateLimit.Members = map[string]config.MemberRateLimit{}
		}
		for _, m := range []string{"IT/GOV/HIDDEN", "IT/GOV/MISSING"} {
			cfg.RateLimit.Members[m] = config.MemberRateLimit{RateClasses: config.RateClasses{
				Push: day(200), Pull: day(960), Trace: day(30), Audit: day(20)}}
		}
	})}, opts...)
	e := startGateway(t, opts...)
	secret := polRecord(t, "licence", "label.classification", "SECRET", "label.releasable_to", []any{"ALB"})
	res := exResults(t, e.as("AL/GOV/AIM").push(secret))
	if res[0].Status != "accepted" {
		t.Fatalf("AIM's licence: %+v", res[0])
	}
	return e, res[0].ID
}

// oracleSame fails unless two answers are the same but for the fields
// that differ between any two requests (request ids, decision ids,
// signatures, echoed ids).
func oracleSame(t *testing.T, what string, hidden, missing memberResponse, hiddenID, missingID string, leaks ...string) {
	t.Helper()
	if hidden.status != missing.status {
		t.Errorf("%s: status %d for the hidden record, %d for the missing one", what, hidden.status, missing.status)
	}
	for _, h := range []string{"Content-Type", "RateLimit", "RateLimit-Policy", "Retry-After", "Cache-Control"} {
		if a, b := hidden.header.Get(h), missing.header.Get(h); a != b {
			t.Errorf("%s: %s %q for the hidden record, %q for the missing one", what, h, a, b)
		}
	}
	norm := func(body []byte, id string) string {
		var v any
		if err := json.Unmarshal(body, &v); err != nil {
			t.Fatalf("%s: body is not JSON: %s", what, body)
		}
		v = oracleScrub(v)
		b, _ := json.Marshal(v)
		// The two partners differ only in name.
		r := []string{"HIDDEN", "<member>", "MISSING", "<member>"}
		if id != "" {
			r = append(r, id, "<id>")
		}
		return strings.NewReplacer(r...).Replace(string(b))
	}
	if a, b := norm(hidden.body, hiddenID), norm(missing.body, missingID); a != b {
		t.Errorf("%s: bodies differ:\nhidden:  %s\nmissing: %s", what, a, b)
	}
	if leaks == nil {
		leaks = []string{"SECRET", "AL/GOV/AIM", "KAYO"}
	}
	for _, leak := range leaks {
		if strings.Contains(string(hidden.body), leak) {
			t.Errorf("%s: the answer about the hidden record quotes %q: %s", what, leak, hidden.body)
		}
	}
}

// oracleScrub blanks the members every answer has its own value of.
func oracleScrub(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k := range x {
			switch k {
			case "instance", "decision_id", "jws", "next_cursor", "audit_seq", "digest":
				// Sealed cursors differ on every answer; their length is
				// checked on its own. A push result's audit_seq is where
				// its own decision landed in the log, and its digest that
				// of the bytes the caller pushed itself (whose ids differ):
				// neither is read from a stored record.
				x[k] = "<per request>"
			default:
				x[k] = oracleScrub(x[k])
			}
		}
	case []any:
		for i := range x {
			x[i] = oracleScrub(x[i])
		}
	}
	return v
}

// oracleWork is the audit events one request wrote, without the values
// that are per request or per record.
func oracleWork(e *gatewayEnv, from int) []string {
	var out []string
	for _, ev := range e.audit.All()[from:] {
		rec := ""
		if ev.RecordID != "" {
			rec = "record"
		}
		out = append(out, strings.Join([]string{ev.Action, ev.Decision, rec, http.StatusText(ev.Status)}, "|"))
	}
	return out
}

// TestOraclePushHiddenEqualsMissing: a partner pushing a record whose id is
// that of AIM's stored SECRET licence is refused exactly as when it uses an
// id no record has, and learns nothing of the stored version (its
// originator, classification, releasability).
func TestOraclePushHiddenEqualsMissing(t *testing.T) {
	e, id := oracleEnv(t)
	probe := func(member, id string) memberResponse {
		return e.as(member).push(polRecord(t, "licence", "id", id, "label.originator", member))
	}
	missingID := id[:len(id)-1] + "9"
	hidden := probe("IT/GOV/HIDDEN", id)
	missing := probe("IT/GOV/MISSING", missingID)
	oracleSame(t, "push", hidden, missing, id, missingID)
	res := exResults(t, hidden)
	if res[0].Status != "denied" || res[0].Reasons[0]["code"] != "id_outside_namespace" {
		t.Errorf("hidden probe: %+v", res[0])
	}
}

// TestOracleIDSquatting: a partner cannot take an id AIM will use; AIM's
// own record with that id is then accepted.
func TestOracleIDSquatting(t *testing.T) {
	e, _ := oracleEnv(t)
	const id = "AIM-LIC-2026-NOPE-9"
	squat := exResults(t, e.as("IT/GOV/MOD").push(polRecord(t, "licence", "id", id, "label.originator", "IT/GOV/MOD")))
	if squat[0].Status != "denied" || squat[0].Reasons[0]["code"] != "id_outside_namespace" {
		t.Fatalf("squatting push: %+v", squat[0])
	}
	own := exResults(t, e.as("AL/GOV/AIM").push(polRecord(t, "licence", "id", id)))
	if own[0].Status != "accepted" {
		t.Fatalf("AIM's own licence after the squatting attempt: %+v", own[0])
	}
	// In its own namespace the partner pushes what its authority covers.
	ownNS := exResults(t, e.as("IT/GOV/MOD").push(polRecord(t, "licence", "id", "IT-GOV-MOD-LIC-1", "label.originator", "IT/GOV/MOD")))
	if ownNS[0].Status != "denied" || ownNS[0].Reasons[0]["code"] == "id_outside_namespace" {
		t.Errorf("partner licence in its own namespace: %+v (want the authority refusal, not the namespace one)", ownNS[0])
	}
}

// TestOracleGetHiddenEqualsMissing: GET /v1/records/{id} of a record the
// partner may not see and of an id nothing has: same status, body,
// RateLimit values, and the same audit work (finding: the hidden record
// used to get a policy decision and two audit events, the missing one one).
func TestOracleGetHiddenEqualsMissing(t *testing.T) {
	e, id := oracleEnv(t)
	missingID := id[:len(id)-1] + "9"
	n := len(e.audit.All())
	hidden := e.as("IT/GOV/HIDDEN").get("/v1/records/" + id)
	hiddenWork := oracleWork(e, n)
	n = len(e.audit.All())
	missing := e.as("IT/GOV/MISSING").get("/v1/records/" + missingID)
	missingWork := oracleWork(e, n)
	oracleSame(t, "get", hidden, missing, id, missingID)
	if strings.Join(hiddenWork, ",") != strings.Join(missingWork, ",") {
		t.Errorf("audit work differs:\nhidden:  %v\nmissing: %v", hiddenWork, missingWork)
	}
	if hidden.status != http.StatusNotFound || hidden.header.Get("RateLimit") == "" {
		t.Errorf("hidden: %d, RateLimit %q", hidden.status, hidden.header.Get("RateLimit"))
	}
	// The second partner's quota moved by the same one request.
	again := e.as("IT/GOV/MISSING").get("/v1/records/" + id)
	if again.status != http.StatusNotFound {
		t.Errorf("hidden for the second partner too: %d", again.status)
	}
	var withheld, notFound int
	for _, ev := range e.audit.All() {
		if ev.Decision == audit.DecisionWithhold && ev.RecordID != "" {
			switch ev.Reasons[0].Code {
			case "not_found":
				notFound++
			default:
				withheld++
			}
		}
	}
	if withheld != 2 || notFound != 1 {
		t.Errorf("audit: %d withheld, %d not found; want 2 and 1", withheld, notFound)
	}
}

// TestOraclePageHiddenEqualsMissing: a page whose filter matches only a
// record the partner may not see, and one whose filter matches nothing:
// same body (no records, same "more"), same RateLimit values, and sealed
// cursors of one length that tell nothing of the position behind them.
func TestOraclePageHiddenEqualsMissing(t *testing.T) {
	e, _ := oracleEnv(t)
	hidden := e.as("IT/GOV/HIDDEN").get("/v1/records?kind=licence&originator=AL/GOV/AIM&limit=5")
	missing := e.as("IT/GOV/MISSING").get("/v1/records?kind=licence&originator=AL/GOV/AIM&limit=5&since=2099-01-01")
	oracleSame(t, "page", hidden, missing, "", "")
	h, m := exPage(t, hidden), exPage(t, missing)
	if len(h.NextCursor) != cursor.Len || len(m.NextCursor) != cursor.Len {
		t.Errorf("cursors of %d and %d characters, want %d", len(h.NextCursor), len(m.NextCursor), cursor.Len)
	}
	// The same page asked twice hands out two different cursors.
	if again := exPage(t, e.as("IT/GOV/HIDDEN").get("/v1/records?kind=licence&originator=AL/GOV/AIM&limit=5")); again.NextCursor == h.NextCursor {
		t.Error("the same page handed out the same cursor twice")
	}
}

// TestOracleTraceHiddenEqualsMissing: the trace of an item whose only event
// the partner may not see, against the trace of an item that has none.
func TestOracleTraceHiddenEqualsMissing(t *testing.T) {
	e, _ := oracleEnv(t)
	ev := polRecord(t, "transfer_ita", "id", "AIM-EVT-2026-0000900", "label.releasable_to", []any{"ALB"}, "label.classification", "SECRET")
	if res := exResults(t, e.as("AL/GOV/AIM").push(ev)); res[0].Status != "accepted" {
		t.Fatalf("AIM's event: %+v", res[0])
	}
	mk := ev["event"].(map[string]any)["item"].(map[string]any)["marking"].(map[string]any)
	path := "/v1/items/" + mk["country"].(string) + "/" + mk["manufacturer"].(string) + "/"
	hidden := e.as("IT/GOV/HIDDEN").get(path + mk["serial"].(string) + "/trace")
	missing := e.as("IT/GOV/MISSING").get(path + "NO-SUCH-SERIAL/trace")
	// The item's marking is the caller's own question, echoed.
	oracleSame(t, "trace", hidden, missing, mk["serial"].(string), "NO-SUCH-SERIAL", "SECRET", "AL/GOV/AIM", "transferred")
	if hidden.status != http.StatusOK || !strings.Contains(string(hidden.body), `"events":[]`) {
		t.Errorf("trace of a hidden item: %d %s", hidden.status, hidden.body)
	}
}

// oraclePush has AIM push docs and requires every one accepted.
func oraclePush(t *testing.T, e *gatewayEnv, docs ...map[string]any) {
	t.Helper()
	for _, r := range exResults(t, e.as("AL/GOV/AIM").push(docs...)) {
		if r.Status != "accepted" {
			t.Fatalf("AIM's %s: %+v", r.ID, r)
		}
	}
}

// oracleLicence is an AIM licence with id AIM-LIC-2026-<n>: releasable to
// Italy (so to the Italian partners) or, hidden, a SECRET one for Albania
// only.
func oracleLicence(t *testing.T, n int, hidden bool, kv ...any) map[string]any {
	t.Helper()
	kv = append([]any{"id", fmt.Sprintf("AIM-LIC-2026-%06d", n)}, kv...)
	if hidden {
		kv = append(kv, "label.classification", "SECRET", "label.releasable_to", []any{"ALB"})
	} else {
		kv = append(kv, "label.releasable_to", []any{"ALB", "ITA"})
	}
	return polRecord(t, "licence", kv...)
}

// oracleDecided is the records a request's audit events decided, from
// event from on, as "decision id" (a partner receives licences redacted).
func oracleDecided(e *gatewayEnv, from int) []string {
	var out []string
	for _, ev := range e.audit.All()[from:] {
		if ev.RecordID != "" {
			out = append(out, ev.Decision+" "+ev.RecordID)
		}
	}
	return out
}

func oracleIDs(p exPageT) []string {
	ids := []string{}
	for _, d := range p.Records {
		ids = append(ids, d.ID)
	}
	return ids
}

// TestOraclePageHiddenAfterVisible: a page of one record the partner may
// see, followed in the store by one it may not, answers exactly like the
// same page with nothing after it: "more" counts only what the caller may
// see (finding: it used to be true when the record after the page was
// withheld).
func TestOraclePageHiddenAfterVisible(t *testing.T) {
	e, first := oracleEnv(t)
	// The hidden licence dates from 2020: since=2026 leaves it out, so one
	// partner's filter has it after the visible licence, the other's not.
	oraclePush(t, e, oracleLicence(t, 200, false), oracleLicence(t, 201, true, "label.created", "2020-01-01T00:00:00Z"))
	n := len(e.audit.All())
	hidden := e.as("IT/GOV/HIDDEN").get("/v1/records?kind=licence&since=2020-01-01&limit=1")
	hiddenWork := oracleDecided(e, n)
	missing := e.as("IT/GOV/MISSING").get("/v1/records?kind=licence&since=2026-01-01&limit=1")
	oracleSame(t, "page", hidden, missing, "", "")
	h, m := exPage(t, hidden), exPage(t, missing)
	if got := oracleIDs(h); len(got) != 1 || got[0] != "AIM-LIC-2026-000200" || h.More || m.More {
		t.Errorf("page with a hidden record after it: %v, more %v (without it: more %v)", got, h.More, m.More)
	}
	// With limit=2 the page holds the stored hidden licence and the visible
	// one, so the record after them is the only difference between the two.
	oracleSame(t, "page of two",
		e.as("IT/GOV/HIDDEN").get("/v1/records?kind=licence&since=2020-01-01&limit=2"),
		e.as("IT/GOV/MISSING").get("/v1/records?kind=licence&since=2026-01-01&limit=2"), "", "")
	// The lookahead's withheld record is decided and audited, in scan order.
	want := []string{"withhold " + first, "redact AIM-LIC-2026-000200", "withhold AIM-LIC-2026-000201"}
	if strings.Join(hiddenWork, ",") != strings.Join(want, ",") {
		t.Errorf("audited decisions %v, want %v", hiddenWork, want)
	}
	// The cursor is after the withheld record: the next page decides nothing.
	n = len(e.audit.All())
	rest := exPage(t, e.as("IT/GOV/HIDDEN").get("/v1/records?kind=licence&since=2020-01-01&limit=1&cursor="+h.NextCursor))
	if len(rest.Records) != 0 || rest.More || len(oracleDecided(e, n)) != 0 {
		t.Errorf("after the last page: %v, more %v, decided %v", oracleIDs(rest), rest.More, oracleDecided(e, n))
	}
}

// TestOraclePageVisibleAfterHidden: visible, hidden, visible. A page of one
// looks past the hidden record to the visible one (more=true) and leaves
// it, undecided, to the next page, which starts behind the hidden one; a
// page of two holds both visible records.
func TestOraclePageVisibleAfterHidden(t *testing.T) {
	e, first := oracleEnv(t)
	oraclePush(t, e, oracleLicence(t, 300, false), oracleLicence(t, 301, true), oracleLicence(t, 302, false))
	const path = "/v1/records?kind=licence&limit="
	n := len(e.audit.All())
	p1 := exPage(t, e.as("IT/GOV/HIDDEN").get(path+"1"))
	if got := oracleIDs(p1); len(got) != 1 || got[0] != "AIM-LIC-2026-000300" || !p1.More {
		t.Fatalf("first page: %v, more %v", got, p1.More)
	}
	want := []string{"withhold " + first, "redact AIM-LIC-2026-000300", "withhold AIM-LIC-2026-000301"}
	if got := oracleDecided(e, n); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("first page audited %v, want %v (the visible record ahead is not)", got, want)
	}
	n = len(e.audit.All())
	p2 := exPage(t, e.as("IT/GOV/HIDDEN").get(path+"1&cursor="+p1.NextCursor))
	if got := oracleIDs(p2); len(got) != 1 || got[0] != "AIM-LIC-2026-000302" || p2.More {
		t.Errorf("second page: %v, more %v", got, p2.More)
	}
	if got := oracleDecided(e, n); strings.Join(got, ",") != "redact AIM-LIC-2026-000302" {
		t.Errorf("second page audited %v: it should start behind the hidden record", got)
	}
	both := exPage(t, e.as("IT/GOV/HIDDEN").get(path+"2"))
	if got := oracleIDs(both); strings.Join(got, ",") != "AIM-LIC-2026-000300,AIM-LIC-2026-000302" || both.More {
		t.Errorf("page of two: %v, more %v", got, both.More)
	}
}

// TestOraclePageLookaheadBound: a page decides at most max(limit, 256)
// withheld records. A run of exactly that many with nothing after it still
// answers more=false; one more record after the bound answers more=true
// (the documented residual), and the next page resumes behind the last
// record decided.
func TestOraclePageLookaheadBound(t *testing.T) {
	e, _ := oracleEnv(t)
	docs := []map[string]any{oracleLicence(t, 400, false)}
	// With the stored hidden licence before it, exchange.Lookahead-1 hidden
	// records fill the page's budget.
	for i := range exchange.Lookahead - 1 {
		docs = append(docs, oracleLicence(t, 1000+i, true))
	}
	oraclePush(t, e, docs...)
	const path = "/v1/records?kind=licence&limit=1"
	if p := exPage(t, e.as("IT/GOV/HIDDEN").get(path)); len(p.Records) != 1 || p.More {
		t.Errorf("budget exactly spent, store ended: %v, more %v", oracleIDs(p), p.More)
	}
	oraclePush(t, e, oracleLicence(t, 2000, true), oracleLicence(t, 401, false))
	p := exPage(t, e.as("IT/GOV/HIDDEN").get(path))
	if got := oracleIDs(p); len(got) != 1 || got[0] != "AIM-LIC-2026-000400" || !p.More {
		t.Fatalf("budget spent, records follow: %v, more %v", got, p.More)
	}
	n := len(e.audit.All())
	next := exPage(t, e.as("IT/GOV/HIDDEN").get(path+"&cursor="+p.NextCursor))
	if got := oracleIDs(next); strings.Join(got, ",") != "AIM-LIC-2026-000401" || next.More {
		t.Errorf("after the bound: %v, more %v", got, next.More)
	}
	want := "withhold AIM-LIC-2026-002000,redact AIM-LIC-2026-000401"
	if got := strings.Join(oracleDecided(e, n), ","); got != want {
		t.Errorf("after the bound audited %v, want %v", got, want)
	}
}

// TestOracleStreamHiddenEqualsMissing: an NDJSON stream whose filter matches
// only a hidden record, and one whose filter matches nothing: the same
// trailer, the same RateLimit values (a stream pays its first chunk even
// when nothing matches).
func TestOracleStreamHiddenEqualsMissing(t *testing.T) {
	e, _ := oracleEnv(t)
	hidden := e.as("IT/GOV/HIDDEN").do(http.MethodGet, "/v1/records?kind=licence&originator=AL/GOV/AIM", "", exchange.NDJSON, nil)
	missing := e.as("IT/GOV/MISSING").do(http.MethodGet, "/v1/records?kind=licence&originator=AL/GOV/AIM&since=2099-01-01", "", exchange.NDJSON, nil)
	oracleSame(t, "stream", hidden, missing, "", "")
	if hidden.status != http.StatusOK || !strings.Contains(string(hidden.body), `"complete":true,"records":0`) {
		t.Errorf("stream of hidden records: %d %s", hidden.status, hidden.body)
	}
}

package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/store/bolt"
	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/api/exchange"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/records"
)

// worklistStore counts what the work lists read of a store: records
// (Query) and keyed register entries (ScanKeyed).
type worklistStore struct {
	store.Store
	read, keyed atomic.Int64
}

func (s *worklistStore) Query(ctx context.Context, q store.Query, fn func(*records.Record, string) error) error {
	return s.Store.Query(ctx, q, func(rec *records.Record, cursor string) error {
		s.read.Add(1)
		return fn(rec, cursor)
	})
}

func (s *worklistStore) ScanKeyed(ctx context.Context, register string, fn func(key, recordID string, value json.RawMessage) error) error {
	return s.Store.ScanKeyed(ctx, register, func(key, recordID string, value json.RawMessage) error {
		s.keyed.Add(1)
		return fn(key, recordID, value)
	})
}

// worklistEnv is a gateway on a counted bolt store with the real limiter,
// each member of pull given that many of class pull a day, so that
// RateLimit values compare what requests cost, never the time between them.
func worklistEnv(t *testing.T, pull map[string]int, opts ...gatewayOption) (*gatewayEnv, *worklistStore) {
	t.Helper()
	bst, err := bolt.Open(filepath.Join(t.TempDir(), "ura.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bst.Close() })
	st := &worklistStore{Store: bst}
	day := func(n int) *config.Rate { return &config.Rate{Rate: n, Burst: n, Period: 24 * time.Hour} }
	opts = append([]gatewayOption{withEmbeddedPolicyOn(st), withRealLimiter("", ""), withConfig(func(cfg *config.Config) {
		cfg.Limits.MaxRecords = max(cfg.Limits.MaxRecords, 400)
		if cfg.RateLimit.Members == nil {
			cfg.RateLimit.Members = map[string]config.MemberRateLimit{}
		}
		for m, n := range pull {
			cfg.RateLimit.Members[m] = config.MemberRateLimit{RateClasses: config.RateClasses{Pull: day(n)}}
		}
	})}, opts...)
	return startGateway(t, opts...), st
}

// restricted is the label category no member is granted: a record
// carrying it is withheld from every caller (category_not_held).
var restricted = []any{map[string]any{"type": "restrictive", "name": "Special Access", "values": []any{"ALTAY"}}}

// trackingEvent is AIM's tracking event n: a transfer, or with typ a
// trace request or an answer under request id rid; hidden, withheld from
// every member.
func trackingEvent(t *testing.T, n int, typ, rid string, hidden bool) map[string]any {
	t.Helper()
	kv := []any{"id", fmt.Sprintf("AIM-EVT-2026-%07d", n)}
	switch typ {
	case "TRACE_REQUEST":
		kv = append(kv, "event.type", typ, "event.from", nil, "event.to", nil, "event.location", nil,
			"event.trace", map[string]any{"request_id": rid, "reason": "rifle seized in Bari", "requesting_authority": "Carabinieri di Bari"})
	case "TRACE_RESPONSE":
		kv = append(kv, "event.type", typ, "event.from", nil, "event.to", nil, "event.location", nil,
			"event.trace", map[string]any{"request_id": rid, "requester": "AL/GOV/AIM", "answer": "transferred to ITA at Rinas"})
	}
	if hidden {
		kv = append(kv, "label.categories", restricted)
	}
	return polRecord(t, "transfer_ita", kv...)
}

// pushAs pushes docs as member and requires every one accepted.
func pushAs(t *testing.T, e *gatewayEnv, member string, docs ...map[string]any) {
	t.Helper()
	for len(docs) > 0 {
		n := min(len(docs), 150)
		for _, r := range exResults(t, e.as(member).push(docs[:n]...)) {
			if r.Status != exchange.StatusAccepted {
				t.Fatalf("%s's %s: %+v", member, r.ID, r)
			}
		}
		docs = docs[n:]
	}
}

// checkScanRefusal: r is the 429 of a scan charge in class pull, and the
// member's first rate-limit refusal on route is audited as one.
func checkScanRefusal(t *testing.T, e *gatewayEnv, r memberResponse, member, route string) {
	t.Helper()
	p := r.problem(t, http.StatusTooManyRequests, problem.TypeRateLimited)
	if p["class"] != "pull" || r.header.Get("Retry-After") == "" || r.header.Get("RateLimit-Policy") == "" ||
		!strings.HasPrefix(r.header.Get("RateLimit"), `"pull";r=`) {
		t.Errorf("%s: refusal %v, headers %v", route, p, r.header)
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		firsts, _ := refusalEvents(e.audit)
		for _, ev := range firsts {
			if ev.Member == member && ev.Route == route {
				if ev.Status != http.StatusTooManyRequests || ev.Decision != audit.DecisionDeny ||
					len(ev.Reasons) != 1 || ev.Reasons[0].Code != chain.ReasonRateLimited {
					t.Errorf("%s: refusal event %+v", route, ev)
				}
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: no rate-limit refusal of %s audited", route, member)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// wantRemaining checks the pull quota left that r's RateLimit shows.
func wantRemaining(t *testing.T, what string, r memberResponse, want int) {
	t.Helper()
	if got := r.header.Get("RateLimit"); got != fmt.Sprintf(`"pull";r=%d;t=%d`, want, rlSeconds(t, got)) {
		t.Errorf("%s: RateLimit %q, want %d left", what, got, want)
	}
}

// refusedScans: the agency, able to pay one scan of a listing's two (20 of
// pull), is refused the second after reading the scan it paid and the
// entry that asked for the next (the first request, at path), and, asked
// again, is refused before anything is read; neither listing is audited as
// served (action).
func refusedScans(t *testing.T, e *gatewayEnv, st *worklistStore, path, route, action string) {
	t.Helper()
	st.read.Store(0)
	r := e.as("AL/GOV/AIM").get(path)
	checkScanRefusal(t, e, r, "AL/GOV/AIM", route)
	wantRemaining(t, "after one paid scan", r, 20-exchange.ReportScanCost)
	if n := st.read.Load(); n != exchange.Chunk+1 {
		t.Errorf("refused its second scan after reading %d entries, want the %d paid and the one that asked", n, exchange.Chunk)
	}
	st.read.Store(0)
	e.as("AL/GOV/AIM").get(route).problem(t, http.StatusTooManyRequests, problem.TypeRateLimited)
	if n := st.read.Load(); n != 0 {
		t.Errorf("refused its first scan after reading %d entries", n)
	}
	for _, ev := range e.audit.All() {
		if ev.Action == action && ev.Member == "AL/GOV/AIM" && ev.Status == http.StatusOK {
			t.Errorf("a refused listing audited as served: %+v", ev)
		}
	}
}

// TestOpenTracesPayForTheirScan: the open trace requests are paid in class
// pull by the scan of the stored tracking events, ReportScanCost per 256,
// the first before the store is read. Over 301 events (two scans) the
// agency, with 20 of pull a day, pays the first scan and is refused the
// second before the event that asked for it is used; asked again, it is
// refused before the store is read; the refusal is audited as a rate-limit
// refusal and no listing is audited as served. The security officer, with
// 1,000 a day, gets the list with two scans paid.
func TestOpenTracesPayForTheirScan(t *testing.T) {
	e, st := worklistEnv(t, map[string]int{"AL/GOV/AIM": 20, "AL/GOV/AUDIT": 1000})
	docs := []map[string]any{trackingEvent(t, 1000, "TRACE_REQUEST", "AIM-TR-1", false)}
	for i := range 300 {
		docs = append(docs, trackingEvent(t, 2000+i, "", "", false))
	}
	pushAs(t, e, "AL/GOV/AIM", docs...)

	refusedScans(t, e, st, "/v1/traces/open", "/v1/traces/open", "traces_open")

	st.read.Store(0)
	r := e.as("AL/GOV/AUDIT").get("/v1/traces/open")
	if r.status != http.StatusOK {
		t.Fatalf("officer: %d %s", r.status, r.body)
	}
	wantRemaining(t, "the officer, after two scans", r, 1000-2*exchange.ReportScanCost)
	if n := st.read.Load(); n != int64(len(docs)) {
		t.Errorf("the listing read %d events, %d stored", n, len(docs))
	}
}

// asOf and waiting are the values of a work list that tell the time of
// the answer, as_of with as many fraction digits as its nanoseconds need:
// each is replaced by one mark, and the length compared is the body's
// without them, so that what is compared is everything else.
var (
	asOf    = regexp.MustCompile(`"as_of":"[^"]*"`)
	waiting = regexp.MustCompile(`"waiting_seconds":\d+`)
)

// worklistShape is what a caller sees of an answer: status, the headers
// a count could show in (RateLimit compared as the quota it stands for,
// countHeaders; Content-Length as the length of the body without its
// times), and the body with its times masked.
func worklistShape(t *testing.T, r memberResponse) string {
	t.Helper()
	timed := 0
	mask := func(b []byte) []byte { timed += len(b); return []byte("TIME") }
	body := waiting.ReplaceAllFunc(asOf.ReplaceAllFunc(r.body, mask), mask)
	h := countHeaders(t, r.header)
	for i, name := range oracleCountHeaders {
		if name == "Content-Length" {
			n, err := strconv.Atoi(r.header.Get(name))
			if err != nil {
				t.Fatalf("Content-Length %q", r.header.Get(name))
			}
			h[i] = fmt.Sprintf("header Content-Length without times: %d", n-timed)
		}
	}
	return fmt.Sprintf("%d\n%s\nbody bytes without times %d\n%s", r.status, strings.Join(h, "\n"), len(r.body)-timed, body)
}

// TestOpenTracesHiddenEqualsMissing: the agency's list of open trace
// requests is the same answer (status, body and its length, RateLimit,
// RateLimit-Policy, Retry-After) from a gateway holding trace requests,
// an answer and transfers withheld from it as from one where they are not
// stored: a withheld request is not listed, and a withheld answer does not
// close the request it answers.
func TestOpenTracesHiddenEqualsMissing(t *testing.T) {
	answer := func(withHidden bool) string {
		e, _ := worklistEnv(t, map[string]int{"AL/GOV/AIM": 960})
		docs := []map[string]any{
			trackingEvent(t, 1, "TRACE_REQUEST", "AIM-TR-1", false),
			trackingEvent(t, 2, "TRACE_REQUEST", "AIM-TR-2", false),
			trackingEvent(t, 3, "TRACE_REQUEST", "AIM-TR-3", false),
			trackingEvent(t, 4, "TRACE_RESPONSE", "AIM-TR-3", false),
		}
		for i := range 20 {
			docs = append(docs, trackingEvent(t, 100+i, "", "", false))
		}
		if withHidden {
			docs = append(docs,
				trackingEvent(t, 5, "TRACE_REQUEST", "AIM-TR-H1", true),
				trackingEvent(t, 6, "TRACE_REQUEST", "AIM-TR-H2", true),
				trackingEvent(t, 7, "TRACE_RESPONSE", "AIM-TR-2", true))
			for i := range 30 {
				docs = append(docs, trackingEvent(t, 200+i, "", "", true))
			}
		}
		pushAs(t, e, "AL/GOV/AIM", docs...)
		r := e.as("AL/GOV/AIM").get("/v1/traces/open")
		var body struct{ Open []exchange.OpenTrace }
		if r.status != http.StatusOK || json.Unmarshal(r.body, &body) != nil || len(body.Open) != 2 ||
			body.Open[0].RequestID != "AIM-TR-1" || body.Open[1].RequestID != "AIM-TR-2" {
			t.Fatalf("hidden %v: %d %s", withHidden, r.status, r.body)
		}
		return worklistShape(t, r)
	}
	if hidden, missing := answer(true), answer(false); hidden != missing {
		t.Errorf("beside withheld events:\n%s\nwithout them:\n%s", hidden, missing)
	}
}

// TestReviewsPayForTheirScan: the records due for review are paid in
// class pull by the scan of the records read, ReportScanCost per 256, the
// first before the store is read. Over AIM's 300 licences (two scans) the
// agency, with 20 of pull a day, pays the first scan and is refused the
// second before the record that asked for it is used; asked again, it is
// refused before the store is read. The ministry, which originated
// nothing, reads nothing of AIM's records and pays one scan; the security
// officer, who is listed every originator's, pays the two.
func TestReviewsPayForTheirScan(t *testing.T) {
	e, st := worklistEnv(t, map[string]int{"AL/GOV/AIM": 20, "AL/GOV/MOD": 20, "AL/GOV/AUDIT": 1000})
	docs := make([]map[string]any, 300)
	for i := range docs {
		docs[i] = oracleLicence(t, 7000+i, false, "label.review", "2099-01-01")
	}
	pushAs(t, e, "AL/GOV/AIM", docs...)

	refusedScans(t, e, st, "/v1/reviews?due_before=2200-01-01", "/v1/reviews", "reviews_due")

	st.read.Store(0)
	r := e.as("AL/GOV/MOD").get("/v1/reviews")
	if r.status != http.StatusOK {
		t.Fatalf("ministry: %d %s", r.status, r.body)
	}
	wantRemaining(t, "the ministry, after one scan", r, 20-exchange.ReportScanCost)
	if n := st.read.Load(); n != 0 {
		t.Errorf("the ministry's listing read %d of AIM's records", n)
	}

	st.read.Store(0)
	r = e.as("AL/GOV/AUDIT").get("/v1/reviews?due_before=2200-01-01")
	var body struct{ Reviews []json.RawMessage }
	if r.status != http.StatusOK || json.Unmarshal(r.body, &body) != nil || len(body.Reviews) != len(docs) {
		t.Fatalf("officer: %d %.300s", r.status, r.body)
	}
	wantRemaining(t, "the officer, after two scans", r, 1000-2*exchange.ReportScanCost)
	stored := 0
	_ = st.Store.Query(context.Background(), store.Query{}, func(*records.Record, string) error { stored++; return nil })
	if n := st.read.Load(); n != int64(stored) || stored > 2*exchange.Chunk {
		t.Errorf("the officer's listing read %d records, %d stored", n, stored)
	}
}

// exitOf is customs' exit confirmation n under its own customs
// declaration number: an entry of the register of declarations.
func exitOf(t *testing.T, n int) map[string]any {
	t.Helper()
	return polRecord(t, "export", "id", fmt.Sprintf("DPD-EVT-2026-%07d", n), "event.type", "EXIT_CONFIRMED",
		"event.customs_declaration", fmt.Sprintf("EX-2026-%06d", n), "event.item.marking.serial", fmt.Sprintf("K26-%06d", n))
}

// TestUnconfirmedDeliveriesPayBeforeTheyRead: the agency pays
// AgencyDeliveriesCost in class pull before the register of declarations
// is read, whatever it holds; with exactly that much of pull a day, it is
// listed once, then refused before anything is read. The security officer
// pays by the scan of 256 entries: with 20 a day, over 300 entries, the
// first scan is paid and the second refused before the entry that asked
// for it is used, then nothing is read. Each refusal is audited as a
// rate-limit refusal.
func TestUnconfirmedDeliveriesPayBeforeTheyRead(t *testing.T) {
	e, st := worklistEnv(t, map[string]int{"AL/GOV/AIM": exchange.AgencyDeliveriesCost, "AL/GOV/AUDIT": 20})
	docs := make([]map[string]any, 300)
	for i := range docs {
		docs[i] = exitOf(t, 1000+i)
	}
	pushAs(t, e, "AL/GOV/DPD", docs...)

	r := e.as("AL/GOV/AIM").get("/v1/deliveries/unconfirmed")
	if r.status != http.StatusOK {
		t.Fatalf("agency: %d %s", r.status, r.body)
	}
	wantRemaining(t, "the agency, after its listing", r, 0)
	if n := st.keyed.Load(); n != int64(len(docs)) {
		t.Errorf("the agency's listing read %d entries, %d registered", n, len(docs))
	}
	st.keyed.Store(0)
	r = e.as("AL/GOV/AIM").get("/v1/deliveries/unconfirmed")
	checkScanRefusal(t, e, r, "AL/GOV/AIM", "/v1/deliveries/unconfirmed")
	if n := st.keyed.Load(); n != 0 {
		t.Errorf("a refused agency listing read %d entries", n)
	}

	st.keyed.Store(0)
	r = e.as("AL/GOV/AUDIT").get("/v1/deliveries/unconfirmed")
	checkScanRefusal(t, e, r, "AL/GOV/AUDIT", "/v1/deliveries/unconfirmed")
	wantRemaining(t, "the officer, after one paid scan", r, 20-exchange.ReportScanCost)
	if n := st.keyed.Load(); n != exchange.Chunk+1 {
		t.Errorf("refused its second scan after reading %d entries, want the %d paid and the one that asked", n, exchange.Chunk)
	}
	st.keyed.Store(0)
	e.as("AL/GOV/AUDIT").get("/v1/deliveries/unconfirmed").problem(t, http.StatusTooManyRequests, problem.TypeRateLimited)
	if n := st.keyed.Load(); n != 0 {
		t.Errorf("refused its first scan after reading %d entries", n)
	}
	for _, ev := range e.audit.All() {
		if ev.Action == "deliveries_unconfirmed" && ev.Member == "AL/GOV/AUDIT" && ev.Status == http.StatusOK {
			t.Errorf("a refused listing audited as served: %+v", ev)
		}
	}
}

// TestUnconfirmedDeliveriesHiddenEqualsMissing: the agency's list is the
// same answer (status, body and its length, RateLimit, RateLimit-Policy,
// Retry-After) from a gateway whose register holds declarations and exits
// it may not pull as from one where they are not stored: its price does
// not follow the register.
func TestUnconfirmedDeliveriesHiddenEqualsMissing(t *testing.T) {
	answer := func(withHidden bool) string {
		e, _ := worklistEnv(t, map[string]int{"AL/GOV/AIM": 2 * exchange.AgencyDeliveriesCost})
		pushAs(t, e, "AL/GOV/AIM", polRecord(t, "licence"))
		docs := []map[string]any{
			exportOf(t, "DPD-EVT-2026-9000001", "K26-000001", "EX-2026-000001", "2026-06-02T07:55:00Z"),
			exportOf(t, "DPD-EVT-2026-9000002", "K26-000002", "EX-2026-000002", "2026-06-01T07:55:00Z"),
		}
		if withHidden {
			for i := range 3 {
				x := exportOf(t, fmt.Sprintf("DPD-EVT-2026-900001%d", i), fmt.Sprintf("K26-00001%d", i), fmt.Sprintf("EX-2026-00001%d", i), "2026-06-02T07:56:00Z")
				x["label"].(map[string]any)["releasable_to"] = []any{"CZE"}
				docs = append(docs, x)
			}
			for i := range 300 {
				x := exitOf(t, 5000+i)
				x["label"].(map[string]any)["categories"] = restricted
				docs = append(docs, x)
			}
		}
		pushAs(t, e, "AL/GOV/DPD", docs...)
		r := e.as("AL/GOV/AIM").get("/v1/deliveries/unconfirmed")
		var body struct{ Unconfirmed []json.RawMessage }
		if r.status != http.StatusOK || json.Unmarshal(r.body, &body) != nil || len(body.Unconfirmed) != 2 {
			t.Fatalf("hidden %v: %d %.300s", withHidden, r.status, r.body)
		}
		return worklistShape(t, r)
	}
	if hidden, missing := answer(true), answer(false); hidden != missing {
		t.Errorf("beside withheld declarations:\n%s\nwithout them:\n%s", hidden, missing)
	}
}

package server

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/api/apitest"
	"github.com/ura-gateway/ura/gateway/api/exchange"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/ratelimit"
	"github.com/ura-gateway/ura/gateway/records"
)

// exSample is the valid record of kind from the records package's testdata.
func exSample(t *testing.T, kind string) map[string]any {
	t.Helper()
	return exReadDoc(t, filepath.Join("..", "records", "testdata", "valid", kind+".json"))
}

// exReadDoc reads a JSON document, numbers kept as written.
func exReadDoc(t *testing.T, path string) map[string]any {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// exWith returns a copy of doc with top-level or nested values set:
// path "licence.status" → doc["licence"]["status"].
func exWith(doc map[string]any, kv ...any) map[string]any {
	raw, _ := json.Marshal(doc)
	var out map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	_ = dec.Decode(&out)
	for i := 0; i < len(kv); i += 2 {
		path := strings.Split(kv[i].(string), ".")
		m := out
		for _, p := range path[:len(path)-1] {
			m = m[p].(map[string]any)
		}
		if kv[i+1] == nil {
			delete(m, path[len(path)-1])
		} else {
			m[path[len(path)-1]] = kv[i+1]
		}
	}
	return out
}

type exResultT struct {
	Index      int                  `json:"index"`
	ID         string               `json:"id"`
	Version    int                  `json:"version"`
	Status     string               `json:"status"`
	Reasons    []map[string]string  `json:"reasons"`
	Errors     []problem.FieldError `json:"errors"`
	DecisionID string               `json:"decision_id"`
	Digest     string               `json:"digest"`
	AuditSeq   int64                `json:"audit_seq"`
	JWS        string               `json:"jws"`
}

func exResults(t *testing.T, r memberResponse) []exResultT {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("push: %d %s", r.status, r.body)
	}
	var body struct{ Results []exResultT }
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	return body.Results
}

type exPageT struct {
	Records    []exchange.Delivery `json:"records"`
	NextCursor string              `json:"next_cursor"`
	More       bool                `json:"more"`
}

func exPage(t *testing.T, r memberResponse) exPageT {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("pull: %d %s", r.status, r.body)
	}
	var p exPageT
	if err := json.Unmarshal(r.body, &p); err != nil {
		t.Fatal(err)
	}
	return p
}

// recordOf verifies a delivery of e's and returns the record inside it.
func (e *gatewayEnv) recordOf(t *testing.T, d exchange.Delivery, recipient string) (map[string]any, map[string]any) {
	t.Helper()
	typ, payload := apitest.Verify(t, d.JWS)
	if typ != "ura-delivery+jws" {
		t.Errorf("delivery typ %q", typ)
	}
	if payload["recipient"] != recipient || payload["iss"] != "ura" || payload["iat"] == nil || payload["decision_id"] == "" || payload["policy_revision"] != e.revision {
		t.Errorf("delivery payload envelope: %v", payload)
	}
	rec, _ := payload["record"].(map[string]any)
	if rec["id"] != d.ID {
		t.Errorf("delivery id %s, record id %v", d.ID, rec["id"])
	}
	return rec, payload
}

func TestExPushPullRoundTrip(t *testing.T) {
	e := startGateway(t)
	aim := e.as("AL/GOV/AIM")
	res := exResults(t, aim.push(exSample(t, records.KindLicence), exSample(t, records.KindEntity), exSample(t, records.KindExcludedEntity)))
	dpd := exResults(t, e.as("AL/GOV/DPD").push(exSample(t, records.KindTrackingEvent)))
	mod := exResults(t, e.as("AL/GOV/MOD").push(exSample(t, records.KindEndUserCertificate)))
	for i, r := range append(append(res, dpd...), mod...) {
		if r.Status != "accepted" || r.DecisionID == "" {
			t.Errorf("result %d: %+v", i, r)
		}
		typ, payload := apitest.Verify(t, r.JWS)
		if typ != "ura-result+jws" || payload["status"] != "accepted" || payload["iss"] != "ura" || payload["iat"] == nil || payload["jws"] != nil {
			t.Errorf("result %d payload: %s %v", i, typ, payload)
		}
	}
	if _, p := apitest.Verify(t, res[0].JWS); p["recipient"] != "AL/GOV/AIM" || p["id"] != "AIM-LIC-2026-000123" {
		t.Errorf("result payload: %v", p)
	}
	// Each result binds content: the digest of the bytes stored, and the
	// seq of the record's decision event, both inside the signature.
	events := e.audit.All()
	for _, r := range res {
		stored, _ := e.store.Get(t.Context(), r.ID)
		_, p := apitest.Verify(t, r.JWS)
		if r.Digest != records.Digest(stored.Raw) || p["digest"] != r.Digest {
			t.Errorf("result %s: digest %q (signed %v), stored bytes have %s", r.ID, r.Digest, p["digest"], records.Digest(stored.Raw))
		}
		if r.AuditSeq < 1 || r.AuditSeq > int64(len(events)) || p["audit_seq"] != float64(r.AuditSeq) {
			t.Fatalf("result %s: audit_seq %d (signed %v)", r.ID, r.AuditSeq, p["audit_seq"])
		}
		if ev := events[r.AuditSeq-1]; ev.Seq != r.AuditSeq || ev.Action != "push" || ev.RecordID != r.ID || ev.DecisionID != r.DecisionID {
			t.Errorf("result %s: seq %d is %+v", r.ID, r.AuditSeq, ev)
		}
	}
	if e.store.Len() != 5 {
		t.Fatalf("stored %d, want 5", e.store.Len())
	}

	// The Ministry of Defence pulls everything released to ALB.
	page := exPage(t, e.as("AL/GOV/MOD").get("/v1/records"))
	if len(page.Records) != 5 || page.More || page.NextCursor == "" {
		t.Fatalf("page: %d records, more %v, cursor %q", len(page.Records), page.More, page.NextCursor)
	}
	stored, _ := e.store.Get(t.Context(), "AIM-LIC-2026-000123")
	rec, payload := e.recordOf(t, page.Records[0], "AL/GOV/MOD")
	got, _ := json.Marshal(rec)
	if !bytes.Equal(got, stored.Raw) || len(payload["redactions"].([]any)) != 0 {
		t.Errorf("pulled record differs from the stored one:\n%s\n%s", got, stored.Raw)
	}
	// Nothing new behind the cursor.
	if again := exPage(t, e.as("AL/GOV/MOD").get("/v1/records?cursor="+page.NextCursor)); len(again.Records) != 0 ||
		e.cursorPos(t, "AL/GOV/MOD", store.Query{}, again.NextCursor) != e.cursorPos(t, "AL/GOV/MOD", store.Query{}, page.NextCursor) {
		t.Errorf("pull behind the last cursor: %+v", again)
	}
	// A cursor opens only for the member and the query it was handed out
	// for, and a made-up one is refused.
	for _, path := range []string{
		"/v1/records?kind=licence&cursor=" + page.NextCursor,
		"/v1/records?cursor=" + store.EncodeCursor(1),
	} {
		e.as("AL/GOV/MOD").get(path).problem(t, http.StatusBadRequest, problem.TypeBadRequest)
	}
	e.as("AL/GOV/DPD").get("/v1/records?cursor="+page.NextCursor).problem(t, http.StatusBadRequest, problem.TypeBadRequest)
	// Filters.
	if p := exPage(t, e.as("AL/GOV/MOD").get("/v1/records?kind=tracking_event&licence_id=AIM-LIC-2026-000123")); len(p.Records) != 1 || p.Records[0].ID != "AIM-EVT-2026-9000001" {
		t.Errorf("filtered pull: %+v", p.Records)
	}
	if p := exPage(t, e.as("AL/GOV/MOD").get("/v1/records?originator=AL/GOV/AIM&limit=2")); len(p.Records) != 2 || !p.More {
		t.Errorf("paged pull: %d records, more %v", len(p.Records), p.More)
	}
	one := e.as("AL/GOV/MOD").get("/v1/records/AIM-ENT-L61234567A")
	var d exchange.Delivery
	if one.status != 200 || json.Unmarshal(one.body, &d) != nil || d.Version != 2 {
		t.Fatalf("get: %d %s", one.status, one.body)
	}
	e.recordOf(t, d, "AL/GOV/MOD")

	// Every request and every decision is in the audit log, and every
	// delivered record's event names the signing key. A push's decisions
	// are logged before anything is stored or signed, so the key that
	// signed its results is on the push's final request event.
	var pushes, pulls int
	for _, ev := range e.audit.All() {
		if ev.Member == "" || ev.RequestID == "" || ev.Time.IsZero() {
			t.Errorf("incomplete audit event %+v", ev)
		}
		if ev.RecordID != "" && ev.Action != "push" && ev.SigningKID != "test:1" && ev.Decision != audit.DecisionWithhold {
			t.Errorf("record event without signing kid: %+v", ev)
		}
		if ev.Action == "push" && ev.RecordID == "" && ev.Status == http.StatusOK && ev.SigningKID != "test:1" {
			t.Errorf("push result event without signing kid: %+v", ev)
		}
		switch {
		case ev.Action == "push" && ev.RecordID != "":
			pushes++
			if !strings.HasPrefix(ev.RequestDigest, "sha256:") || ev.DecisionID == "" || ev.PolicyRevision != e.revision {
				t.Errorf("push event %+v", ev)
			}
		case ev.Action == "pull" && ev.RecordID != "":
			pulls++
		}
	}
	if pushes != 5 || pulls != 5+0+1+2+1 {
		t.Errorf("audit: %d push record events (want 5), %d pull record events (want 9)", pushes, pulls)
	}
}

// TestExPushStatuses drives every result status through one gateway.
func TestExPushStatuses(t *testing.T) {
	e := startGateway(t)
	aim := e.as("AL/GOV/AIM")
	lic := exSample(t, records.KindLicence)
	exResults(t, aim.push(lic))
	revoked := exWith(lic, "version", json.Number("4"), "licence.status", "revoked")
	exResults(t, aim.push(revoked, exWith(exSample(t, records.KindEntity), "id", "AIM-ENT-1")))

	batch := []map[string]any{
		revoked, // 0 unchanged
		exWith(revoked, "licence.status_reason", "other content"),                                                      // 1 same version, other content
		exWith(lic, "licence.status", "issued"),                                                                        // 2 older version
		exWith(revoked, "version", json.Number("5"), "licence.status", "issued"),                                       // 3 revoked is final
		exWith(exSample(t, records.KindExcludedEntity), "id", "AIM-LIC-2026-000123"),                                   // 4 kind change
		exWith(exSample(t, records.KindEntity), "id", "DENY-1"),                                                        // 5 policy deny
		exWith(exSample(t, records.KindEntity), "label.originator", "AL/GOV/MOD"),                                      // 6 spoofed originator
		exWith(exSample(t, records.KindEntity), "entity.activities", []any{"x"}),                                       // 7 invalid
		exWith(exSample(t, records.KindEntity), "id", "AIM-ENT-2"),                                                     // 8 accepted
		exWith(exSample(t, records.KindEntity), "id", "AIM-ENT-1", "version", json.Number("3"), "entity.name", "KAYO"), // 9 update
	}
	got := exResults(t, aim.push(batch...))
	want := []struct{ status, reason string }{
		{"unchanged", ""}, {"conflict", "version_conflict"}, {"conflict", "version_conflict"}, {"conflict", "illegal_transition"},
		{"conflict", "kind_change"}, {"denied", "test_deny"}, {"denied", "originator_mismatch"}, {"invalid", ""},
		{"accepted", ""}, {"accepted", ""},
	}
	if len(got) != len(want) {
		t.Fatalf("%d results for %d records", len(got), len(want))
	}
	for i, w := range want {
		r := got[i]
		if r.Index != i || r.Status != w.status {
			t.Errorf("record %d: status %s, want %s (%+v)", i, r.Status, w.status, r)
			continue
		}
		if w.reason != "" && (len(r.Reasons) == 0 || r.Reasons[0]["code"] != w.reason) {
			t.Errorf("record %d: reasons %v, want %s", i, r.Reasons, w.reason)
		}
		if _, p := apitest.Verify(t, r.JWS); p["status"] != w.status || p["index"] != float64(i) {
			t.Errorf("record %d: signed payload %v", i, p)
		}
	}
	if len(got[7].Errors) != 1 || got[7].Errors[0].Pointer != "/entity/activities/0" || *got[7].Errors[0].Record != 7 {
		t.Errorf("invalid record errors: %+v", got[7].Errors)
	}
	if m := got[3].Reasons[0]["message"]; !strings.Contains(m, "revoked") {
		t.Errorf("transition message %q", m)
	}
	// Nothing of a refused record was stored.
	if r, _ := e.store.Get(t.Context(), "AIM-LIC-2026-000123"); r.Version != 4 || r.Kind != records.KindLicence {
		t.Errorf("licence now %s v%d", r.Kind, r.Version)
	}
	for _, id := range []string{"DENY-1"} {
		if _, err := e.store.Get(t.Context(), id); err == nil {
			t.Errorf("%s stored", id)
		}
	}
	if r, _ := e.store.Get(t.Context(), "AIM-ENT-L61234567A"); r != nil {
		t.Error("the spoofed or invalid record was stored")
	}
	// One request event and one event per record, with the outcome.
	var reqEvents, recEvents int
	decisions := map[string]int{}
	for _, ev := range e.audit.All()[len(e.audit.All())-11:] {
		if ev.RecordID == "" && ev.RecordVersion == 0 {
			reqEvents++
			if ev.Records != 10 || ev.Status != 200 {
				t.Errorf("request event %+v", ev)
			}
			continue
		}
		recEvents++
		decisions[ev.Decision]++
	}
	if reqEvents != 1 || recEvents != 10 || decisions[audit.DecisionAllow] != 3 || decisions[audit.DecisionDeny] != 7 {
		t.Errorf("audit: %d request events, %d record events, decisions %v", reqEvents, recEvents, decisions)
	}
}

// TestExOriginatorSpoofing: no one pushes in another institution's name.
func TestExOriginatorSpoofing(t *testing.T) {
	e := startGateway(t, withEmbeddedPolicy())
	lic := exSample(t, records.KindLicence) // originator AL/GOV/AIM
	for _, member := range []string{"AL/GOV/MOD", "IT/GOV/MOD", "AL/GOV/AUDIT"} {
		r := exResults(t, e.as(member).push(lic))[0]
		if r.Status != "denied" || r.Reasons[0]["code"] != "originator_mismatch" {
			t.Errorf("%s pushing as AL/GOV/AIM: %+v", member, r)
		}
	}
	if got := e.stored(t); len(got) != 0 {
		t.Fatalf("a spoofed record was stored: %v", got)
	}
	// The originator itself may.
	if r := exResults(t, e.as("AL/GOV/AIM").push(lic))[0]; r.Status != "accepted" {
		t.Fatalf("the originator's own push: %+v", r)
	}
}

// TestExRedactionProvenance: a partner pulling a licence with fields
// removed is told, in the signed delivery, each removed pointer, the rule
// that removed it and the policy revision that decided; the pull's audit
// event says the same. Neither holds the removed values.
func TestExRedactionProvenance(t *testing.T) {
	e := startGateway(t, withEmbeddedPolicy())
	exResults(t, e.as("AL/GOV/AIM").push(exSample(t, records.KindLicence)))
	removed := []string{"Jan Novák", "jan.novak@army.cz", "Jan Nov\\u00e1k"}
	want := []any{map[string]any{"pointer": "/licence/end_user/contact", "rule": "redactions.partner.licence"}}

	resp := e.as("IT/GOV/MOD").get("/v1/records")
	page := exPage(t, resp)
	if len(page.Records) != 1 {
		t.Fatalf("the partner got %d records", len(page.Records))
	}
	rec, payload := e.recordOf(t, page.Records[0], "IT/GOV/MOD")
	if !reflect.DeepEqual(payload["redactions"], want) || payload["policy_revision"] != e.revision || e.revision == "" {
		t.Errorf("delivery redactions %v, revision %v; want %v, %s", payload["redactions"], payload["policy_revision"], want, e.revision)
	}
	if eu := rec["licence"].(map[string]any)["end_user"].(map[string]any); eu["contact"] != nil || eu["name"] != "Ministry of Defence" {
		t.Errorf("end_user %v", eu)
	}
	// The same through GET and the stream, and never a removed value.
	for _, r := range []memberResponse{resp, e.as("IT/GOV/MOD").get("/v1/records/AIM-LIC-2026-000123"),
		e.as("IT/GOV/MOD").do(http.MethodGet, "/v1/records", "", exchange.NDJSON, nil)} {
		jws := exJWSIn(r.body)
		if len(jws) == 0 {
			t.Fatalf("no delivery in %s", r.body)
		}
		for _, s := range removed {
			if bytes.Contains(r.body, []byte(s)) {
				t.Errorf("%q is in what the partner received", s)
			}
		}
		for _, j := range jws {
			typ, p := apitest.Verify(t, j)
			if typ != "ura-delivery+jws" {
				continue // the stream's trailer
			}
			raw, _ := base64.RawURLEncoding.DecodeString(strings.Split(j, ".")[1])
			if !reflect.DeepEqual(p["redactions"], want) || p["policy_revision"] != e.revision {
				t.Errorf("delivery %s", raw)
			}
			for _, s := range removed {
				if bytes.Contains(raw, []byte(s)) {
					t.Errorf("%q is in the signed payload", s)
				}
			}
		}
	}
	// The audit event of each release carries the same list and revision.
	n := 0
	for _, ev := range e.audit.All() {
		if ev.Member != "IT/GOV/MOD" || ev.RecordID == "" || slices.Contains(conditionIDs, ev.RecordID) {
			continue
		}
		n++
		got, _ := json.Marshal(ev.Redactions)
		if ev.Decision != audit.DecisionRedact || ev.PolicyRevision != e.revision ||
			string(got) != `[{"pointer":"/licence/end_user/contact","rule":"redactions.partner.licence"}]` {
			t.Errorf("audit event %+v", ev)
		}
		b, _ := json.Marshal(ev)
		for _, s := range removed {
			if bytes.Contains(b, []byte(s)) {
				t.Errorf("audit event holds %q", s)
			}
		}
	}
	if n != 3 {
		t.Errorf("%d per-record audit events for the partner's three pulls", n)
	}
	// The agency, whose own record it is, is told nothing was removed.
	_, own := e.recordOf(t, exPage(t, e.as("AL/GOV/AIM").get("/v1/records")).Records[0], "AL/GOV/AIM")
	if red, ok := own["redactions"].([]any); !ok || len(red) != 0 {
		t.Errorf("the originator's delivery: redactions %v", own["redactions"])
	}
}

// TestExRedaction: redacted fields are removed before serialization, so
// their values are nowhere in what is sent.
func TestExRedaction(t *testing.T) {
	e := startGateway(t, withEmbeddedPolicy())
	exResults(t, e.as("AL/GOV/AIM").push(exSample(t, records.KindLicence)))
	secrets := []string{"1840000", "Jan Novák", "jan.novak@army.cz", `"EUR"`}

	resp := e.as("AL/GOV/DPD").get("/v1/records?kind=licence")
	page := exPage(t, resp)
	if len(page.Records) != 1 {
		t.Fatalf("customs got %d records", len(page.Records))
	}
	rec, payload := e.recordOf(t, page.Records[0], "AL/GOV/DPD")
	if red := payload["redactions"].([]any); len(red) != 2 || red[0].(map[string]any)["pointer"] != "/licence/contract_value" {
		t.Errorf("redactions %v", red)
	}
	lic := rec["licence"].(map[string]any)
	if _, ok := lic["contract_value"]; ok {
		t.Error("contract_value delivered")
	}
	if eu := lic["end_user"].(map[string]any); eu["contact"] != nil || eu["name"] != "Ministry of Defence" {
		t.Errorf("end_user %v", eu)
	}
	decoded, _ := base64.RawURLEncoding.DecodeString(strings.Split(page.Records[0].JWS, ".")[1])
	for _, s := range secrets {
		if bytes.Contains(resp.body, []byte(s)) || bytes.Contains(decoded, []byte(s)) {
			t.Errorf("%q is in what customs received", s)
		}
	}
	// The same through GET and the stream.
	for _, r := range []memberResponse{e.as("AL/GOV/DPD").get("/v1/records/AIM-LIC-2026-000123"),
		e.as("AL/GOV/DPD").do(http.MethodGet, "/v1/records", "", exchange.NDJSON, nil)} {
		for _, jws := range exJWSIn(r.body) {
			payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(jws, ".")[1])
			for _, s := range secrets {
				if bytes.Contains(payload, []byte(s)) {
					t.Errorf("%q delivered", s)
				}
			}
		}
	}
	// The ministry, which may see them, gets them.
	full, _ := e.recordOf(t, exPage(t, e.as("AL/GOV/MOD").get("/v1/records?kind=licence")).Records[0], "AL/GOV/MOD")
	if full["licence"].(map[string]any)["contract_value"] == nil {
		t.Error("the ministry lost the contract value")
	}
	// Redactions are audited by path, never by value.
	for _, ev := range e.audit.All() {
		if ev.Decision == audit.DecisionRedact {
			if len(ev.Redactions) != 2 {
				t.Errorf("redact event %+v", ev)
			}
			b, _ := json.Marshal(ev)
			for _, s := range secrets {
				if bytes.Contains(b, []byte(s)) {
					t.Errorf("audit event holds %q", s)
				}
			}
		}
	}
}

func exJWSIn(body []byte) []string {
	var out []string
	for _, f := range strings.FieldsFunc(string(body), func(r rune) bool { return r == '"' }) {
		if strings.Count(f, ".") == 2 && strings.HasPrefix(f, "eyJ") {
			out = append(out, f)
		}
	}
	return out
}

// TestExRedactionFailureWithholds: a policy redaction that cannot be
// applied withholds the record instead of sending the field.
func TestExRedactionFailureWithholds(t *testing.T) {
	e := startGateway(t)
	e.policy.Redact = []string{"licence/contract_value"} // not a JSON pointer
	exResults(t, e.as("AL/GOV/AIM").push(exSample(t, records.KindLicence)))
	if p := exPage(t, e.as("AL/GOV/DPD").get("/v1/records")); len(p.Records) != 0 {
		t.Fatalf("record with a failed redaction delivered: %+v", p.Records)
	}
}

// TestExWithheldNeverSent: a record policy withholds is not sent, and
// asking for it by id answers exactly like a missing record.
func TestExWithheldNeverSent(t *testing.T) {
	e := startGateway(t, withEmbeddedPolicy())
	// Released to Albania and Czechia only (not NATO, of which Italy is a
	// member), so not to Italy; and a partner receives no entities.
	licence := exWith(exSample(t, records.KindLicence), "label.releasable_to", []any{"ALB", "CZE"})
	exResults(t, e.as("AL/GOV/AIM").push(licence, exSample(t, records.KindEntity)))
	it := e.as("IT/GOV/MOD")
	resp := it.get("/v1/records")
	if p := exPage(t, resp); len(p.Records) != 0 || p.NextCursor == "" {
		t.Fatalf("Italy received %+v", p)
	}
	if bytes.Contains(resp.body, []byte("AIM-LIC")) {
		t.Error("a withheld record's id reached the caller")
	}
	stream := it.do(http.MethodGet, "/v1/records", "", exchange.NDJSON, nil)
	if lines := strings.Split(strings.TrimSpace(string(stream.body)), "\n"); len(lines) != 1 || !strings.Contains(lines[0], `"complete":true`) {
		t.Fatalf("stream to Italy: %q", stream.body)
	}
	withheld := it.get("/v1/records/AIM-LIC-2026-000123").problem(t, 404, problem.TypeNotFound)
	missing := it.get("/v1/records/AIM-LIC-2099-999999").problem(t, 404, problem.TypeNotFound)
	delete(withheld, "instance")
	delete(missing, "instance")
	if a, b := jsonString(withheld), jsonString(missing); a != b {
		t.Errorf("withheld and missing answer differently:\n%s\n%s", a, b)
	}
	// The liaison office receives the entity, not the licence, which is
	// not released to NATO either.
	if p := exPage(t, e.as("NATO/ORG/LIAISON").get("/v1/records")); len(p.Records) != 1 || p.Records[0].ID != "AIM-ENT-L61234567A" {
		t.Errorf("NATO received %+v", p.Records)
	}
	why := map[string]string{"AIM-LIC-2026-000123": "not_releasable", "AIM-ENT-L61234567A": "pull_not_permitted"}
	withholds := 0
	for _, ev := range e.audit.All() {
		if ev.Decision == audit.DecisionWithhold && ev.RecordID != "" && ev.Reasons[0].Code != "not_found" && !slices.Contains(conditionIDs, ev.RecordID) {
			withholds++
			if ev.Reasons[0].Code != why[ev.RecordID] || ev.SigningKID != "" {
				t.Errorf("withhold event %+v", ev)
			}
		}
	}
	if withholds != 6 {
		t.Errorf("%d withhold events, want 6 (five for Italy, one for NATO)", withholds)
	}
	// Withheld records are paid for like any other: they cost a decision
	// and an audit event, and must not show in the quota.
	if taken := e.limiter.Counts(ratelimit.ClassPull); taken == 0 {
		t.Errorf("pull taken %d", taken)
	}
}

func jsonString(v any) string { b, _ := json.Marshal(v); return string(b) }

// TestExSignerDown: nothing unsigned leaves. Push, page, stream, get and
// trace all answer 503 with no record in them.
func TestExSignerDown(t *testing.T) {
	e := startGateway(t)
	exResults(t, e.as("AL/GOV/AIM").push(exSample(t, records.KindLicence)))
	exResults(t, e.as("AL/GOV/DPD").push(exSample(t, records.KindTrackingEvent)))
	e.signer.Fail.Store(true)
	before := len(e.audit.All())
	mod := e.as("AL/GOV/MOD")
	for name, r := range map[string]memberResponse{
		"push":   e.as("AL/GOV/AIM").push(exSample(t, records.KindEntity)),
		"page":   mod.get("/v1/records"),
		"stream": mod.do(http.MethodGet, "/v1/records", "", exchange.NDJSON, nil),
		"get":    mod.get("/v1/records/AIM-LIC-2026-000123"),
		"trace":  mod.get("/v1/items/ALB/KAYO/K26-000123/trace"),
	} {
		r.problem(t, http.StatusServiceUnavailable, problem.TypeUnavailable)
		if bytes.Contains(r.body, []byte("eyJ")) || bytes.Contains(r.body, []byte("AIM-")) || bytes.Contains(r.body, []byte("sealed")) {
			t.Errorf("%s: 503 body carries data or internals: %s", name, r.body)
		}
	}
	var storedAudited, failedRequest bool
	for _, ev := range e.audit.All()[before:] {
		switch {
		case ev.Action == "push" && ev.RecordID == "AIM-ENT-L61234567A":
			// Stored before signing failed: its decision is still logged.
			storedAudited = ev.Decision == audit.DecisionAllow && ev.SigningKID == ""
		case ev.Action == "push":
			failedRequest = ev.Decision == audit.DecisionError && ev.Status == http.StatusServiceUnavailable
		case ev.Decision == audit.DecisionAllow || ev.Decision == audit.DecisionRedact:
			t.Errorf("a delivery was audited though nothing was signed: %+v", ev)
		}
	}
	if !storedAudited || !failedRequest {
		t.Errorf("the failed push is not in the audit log as stored and failed (%v, %v)", storedAudited, failedRequest)
	}
	// The pushed entity was stored before signing failed; the retry is
	// unchanged and signed.
	e.signer.Fail.Store(false)
	if r := exResults(t, e.as("AL/GOV/AIM").push(exSample(t, records.KindEntity)))[0]; r.Status != "unchanged" {
		t.Errorf("retry after signer outage: %+v", r)
	}
}

// TestExAuditDown: nothing unaudited leaves.
func TestExAuditDown(t *testing.T) {
	e := startGateway(t)
	exResults(t, e.as("AL/GOV/AIM").push(exSample(t, records.KindLicence)))
	e.audit.Fail.Store(true)
	mod := e.as("AL/GOV/MOD")
	for name, r := range map[string]memberResponse{
		"push":        e.as("AL/GOV/AIM").push(exSample(t, records.KindEntity)),
		"page":        mod.get("/v1/records"),
		"stream":      mod.do(http.MethodGet, "/v1/records", "", exchange.NDJSON, nil),
		"get":         mod.get("/v1/records/AIM-LIC-2026-000123"),
		"bad request": mod.get("/v1/records?limit=zero"),
	} {
		r.problem(t, http.StatusServiceUnavailable, problem.TypeUnavailable)
		if bytes.Contains(r.body, []byte("eyJ")) {
			t.Errorf("%s: a signed record in a 503", name)
		}
	}
}

// TestExStreamBoundedMemory streams 100,000 records (URA_STREAM_RECORDS
// overrides, e.g. 1000000) through a store that makes them up as it is
// scanned, and reports the heap in use while streaming. A handler that
// collected the result would hold every record and signature at once.
func TestExStreamBoundedMemory(t *testing.T) {
	n := 100_000
	if testing.Short() {
		n = 5_000
	}
	if v := os.Getenv("URA_STREAM_RECORDS"); v != "" {
		if _, err := fmt.Sscan(v, &n); err != nil {
			t.Fatal(err)
		}
	}
	gen := &apitest.GenStore{Store: *apitest.NewStore(), N: n}
	e := startGateway(t, withStore(gen), withAuditLog(&apitest.Audit{Discard: true}))
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var peak atomic.Uint64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		var ms runtime.MemStats
		for {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > peak.Load() {
				peak.Store(ms.HeapInuse)
			}
		}
	})
	req, _ := http.NewRequest(http.MethodGet, "https://"+e.addr+"/v1/records", nil)
	req.Header.Set("Accept", exchange.NDJSON)
	hc := *e.as("AL/GOV/MOD").http
	hc.Timeout = 0 // a long stream outlives the helpers' 10 s client timeout
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != exchange.NDJSON+`; profile="`+exchange.ProfileJWS+`"` {
		t.Fatalf("status %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	lines, last := 0, ""
	start := time.Now()
	for sc.Scan() {
		lines++
		if lines == 1 {
			e.recordOf(t, mustDelivery(t, sc.Bytes()), "AL/GOV/MOD")
		}
		last = sc.Text()
	}
	elapsed := time.Since(start)
	close(stop)
	wg.Wait()
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if lines != n+1 {
		t.Fatalf("%d lines, want %d records and a trailer", lines, n)
	}
	var tr exchange.Trailer
	if err := json.Unmarshal([]byte(last), &tr); err != nil || !tr.Complete || tr.Records != n || e.cursorPos(t, "AL/GOV/MOD", store.Query{}, tr.NextCursor) != uint64(n) {
		t.Fatalf("trailer %q", last)
	}
	if calls := e.signer.Calls.Load(); calls != int64((n+exchange.Chunk-1)/exchange.Chunk)+1 {
		t.Errorf("%d signer calls for %d records, want one per chunk and one for the trailer", calls, n)
	}
	t.Logf("streamed %d records in %v (%.0f records/s, client and server in one process); heap in use before %.1f MiB, peak while streaming %.1f MiB",
		n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), float64(base.HeapInuse)/(1<<20), float64(peak.Load())/(1<<20))
	// A generous bound that only a handler holding the whole result would
	// break: 100,000 signed records are over 200 MiB.
	if grown := float64(peak.Load()-min(peak.Load(), base.HeapInuse)) / (1 << 20); grown > 64 {
		t.Errorf("heap grew by %.1f MiB while streaming", grown)
	}
}

func mustDelivery(t *testing.T, line []byte) exchange.Delivery {
	t.Helper()
	var d exchange.Delivery
	if err := json.Unmarshal(line, &d); err != nil || d.JWS == "" {
		t.Fatalf("not a delivery line: %q", line)
	}
	return d
}

// TestExStreamStoppedByRateLimit: a stream the rate limit stops ends with
// an error trailer (never a problem appended to records), naming where to
// resume.
func TestExStreamStoppedByRateLimit(t *testing.T) {
	gen := &apitest.GenStore{Store: *apitest.NewStore(), N: 1000}
	lim := apitest.NewLimiter(map[ratelimit.Class]int{ratelimit.ClassPull: 2 * exchange.Chunk})
	e := startGateway(t, withStore(gen), withLimiter(lim))
	r := e.as("AL/GOV/MOD").do(http.MethodGet, "/v1/records", "", exchange.NDJSON, nil)
	lines := strings.Split(strings.TrimSpace(string(r.body)), "\n")
	if r.status != 200 || len(lines) != 2*exchange.Chunk+1 {
		t.Fatalf("status %d, %d lines", r.status, len(lines))
	}
	var tr exchange.Trailer
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &tr); err != nil || tr.Complete || tr.Records != 2*exchange.Chunk ||
		e.cursorPos(t, "AL/GOV/MOD", store.Query{}, tr.NextCursor) != 2*exchange.Chunk || tr.Error["type"] != problem.TypeRateLimited || tr.Error["retry_after"] != float64(7) {
		t.Fatalf("trailer %s", lines[len(lines)-1])
	}
	// Resuming from the trailer's cursor continues where it stopped.
	lim.SetBudget(nil)
	rest := e.as("AL/GOV/MOD").do(http.MethodGet, "/v1/records?cursor="+tr.NextCursor, "", exchange.NDJSON, nil)
	restLines := strings.Split(strings.TrimSpace(string(rest.body)), "\n")
	if len(restLines) != 1000-2*exchange.Chunk+1 || mustDelivery(t, []byte(restLines[0])).ID != "AIM-EVT-2026-0000513" {
		t.Fatalf("resumed stream: %d lines, first %.60s", len(restLines), restLines[0])
	}
	// The first chunk refused is a plain 429 before any byte.
	lim2 := apitest.NewLimiter(map[ratelimit.Class]int{ratelimit.ClassPull: 10})
	e2 := startGateway(t, withStore(gen), withLimiter(lim2))
	r2 := e2.as("AL/GOV/MOD").do(http.MethodGet, "/v1/records", "", exchange.NDJSON, nil)
	r2.problem(t, http.StatusTooManyRequests, problem.TypeRateLimited)
	if r2.header.Get("Retry-After") != "7" {
		t.Errorf("Retry-After %q", r2.header.Get("Retry-After"))
	}
}

func TestExPushRateLimited(t *testing.T) {
	lim := apitest.NewLimiter(map[ratelimit.Class]int{ratelimit.ClassPush: 2})
	e := startGateway(t, withLimiter(lim))
	aim := e.as("AL/GOV/AIM")
	r := aim.push(exSample(t, records.KindLicence), exSample(t, records.KindEntity), exSample(t, records.KindExcludedEntity))
	r.problem(t, http.StatusTooManyRequests, problem.TypeRateLimited)
	if r.header.Get("Retry-After") == "" || e.store.Len() != 0 {
		t.Fatalf("Retry-After %q, stored %d", r.header.Get("Retry-After"), e.store.Len())
	}
	// The refused push still paid its minimum of one (charge), so one
	// record of the budget is left, and a push of one record is served.
	if taken := lim.Counts(ratelimit.ClassPush); taken != 1 {
		t.Errorf("a refused push was charged %d, want its minimum of 1", taken)
	}
	exResults(t, aim.push(exSample(t, records.KindLicence)))
}

// TestExRequestErrors: every refusal of a whole request is problem+json
// with a stable type and, where a field is at fault, its pointer.
func TestExRequestErrors(t *testing.T) {
	e := startGateway(t, withConfig(func(cfg *config.Config) {
		cfg.Limits = config.Limits{MaxBodyBytes: 64 << 10, MaxRecords: 3, MaxDepth: 6, MaxStringLength: 100, MaxPageSize: 50}
	}))
	aim := e.as("AL/GOV/AIM")
	lic, _ := json.Marshal(exSample(t, records.KindLicence))
	batch := func(n int) []byte {
		return []byte("[" + strings.TrimSuffix(strings.Repeat(`{},`, n), ",") + "]")
	}
	cases := []struct {
		name, method, path, ctype, accept string
		body                              []byte
		status                            int
		typ                               string
		pointer                           string
	}{
		{"body too large", "POST", "/v1/records", "application/json", "", bytes.Repeat([]byte(" "), 65<<10), 413, problem.TypeBodyTooLarge, ""},
		{"too many records", "POST", "/v1/records", "application/json", "", batch(4), 413, problem.TypeTooManyRecords, ""},
		{"too deep", "POST", "/v1/records", "application/json", "", []byte(`[{"a":[[[[[[1]]]]]]}]`), 422, problem.TypeTooDeep, "/a/0/0/0/0/0"},
		{"string too long", "POST", "/v1/records", "application/json", "", []byte(`[{"id":"` + strings.Repeat("A", 101) + `"}]`), 422, problem.TypeStringTooLong, "/id"},
		{"form post", "POST", "/v1/records", "application/x-www-form-urlencoded", "", []byte("a=b"), 415, problem.TypeUnsupportedMedia, ""},
		{"no content type", "POST", "/v1/records", "", "", lic, 415, problem.TypeUnsupportedMedia, ""},
		{"latin-1 charset", "POST", "/v1/records", "application/json; charset=iso-8859-1", "", lic, 415, problem.TypeUnsupportedMedia, ""},
		{"malformed", "POST", "/v1/records", "application/json", "", []byte(`[{"id":`), 400, problem.TypeBadRequest, ""},
		{"object not array", "POST", "/v1/records", "application/json", "", lic, 400, problem.TypeBadRequest, ""},
		{"pretty NDJSON", "POST", "/v1/records", exchange.NDJSON, "", []byte("{\n}\n"), 400, problem.TypeBadRequest, ""},
		{"unknown kind filter", "GET", "/v1/records?kind=weapon", "", "", nil, 400, problem.TypeBadRequest, "kind"},
		{"bad since", "GET", "/v1/records?since=yesterday", "", "", nil, 400, problem.TypeBadRequest, "since"},
		{"bad limit", "GET", "/v1/records?limit=-1", "", "", nil, 400, problem.TypeBadRequest, "limit"},
		{"page over max", "GET", "/v1/records?limit=51", "", "", nil, 400, problem.TypeBadRequest, "limit"},
		{"bad originator", "GET", "/v1/records?originator=aim", "", "", nil, 400, problem.TypeBadRequest, "originator"},
		{"half a marking", "GET", "/v1/records?country=ALB&serial=K1", "", "", nil, 400, problem.TypeBadRequest, "manufacturer"},
		{"misspelt filter", "GET", "/v1/records?knd=licence", "", "", nil, 400, problem.TypeBadRequest, "knd"},
		{"repeated filter", "GET", "/v1/records?kind=licence&kind=entity", "", "", nil, 400, problem.TypeBadRequest, "kind"},
		{"forged cursor", "GET", "/v1/records?cursor=AAAA", "", "", nil, 400, problem.TypeBadRequest, "cursor"},
		{"cursor with symbols", "GET", "/v1/records?cursor=%27%3B--", "", "", nil, 400, problem.TypeBadRequest, "cursor"},
		{"csv wanted", "GET", "/v1/records", "", "text/csv", nil, 406, problem.TypeNotAcceptable, ""},
		{"trace bad country", "GET", "/v1/items/ALBANIA/KAYO/K1/trace", "", "", nil, 400, problem.TypeBadRequest, "country"},
		{"trace bad serial", "GET", "/v1/items/ALB/KAYO/K%3C1%3E/trace", "", "", nil, 400, problem.TypeBadRequest, "serial"},
		{"unknown schema", "GET", "/v1/schemas/weapon", "", "", nil, 404, problem.TypeNotFound, ""},
		{"bad record id", "GET", "/v1/records/..%2Fetc", "", "", nil, 404, problem.TypeNotFound, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := aim.do(tc.method, tc.path, tc.ctype, tc.accept, tc.body)
			p := r.problem(t, tc.status, tc.typ)
			if tc.pointer != "" {
				errs, _ := p["errors"].([]any)
				if len(errs) == 0 || errs[0].(map[string]any)["pointer"] != tc.pointer {
					t.Errorf("errors %v, want pointer %s", p["errors"], tc.pointer)
				}
			}
			if bytes.Contains(r.body, []byte("syntax error")) || bytes.Contains(r.body, []byte("json:")) {
				t.Errorf("internal decoder message leaked: %s", r.body)
			}
		})
	}
	if e.store.Len() != 0 {
		t.Error("a refused request stored records")
	}
	// Refused requests are audited with their status.
	statuses := map[int]int{}
	for _, ev := range e.audit.All() {
		statuses[ev.Status]++
	}
	if statuses[413] != 2 || statuses[422] != 2 || statuses[415] != 3 || statuses[400] < 10 {
		t.Errorf("audited statuses %v", statuses)
	}
}

func TestExTrace(t *testing.T) {
	e := startGateway(t)
	ev := exSample(t, records.KindTrackingEvent)
	mk := func(id, typ, at string, releasable ...any) map[string]any {
		return exWith(ev, "id", id, "event.type", typ, "event.at", at, "label.releasable_to", releasable)
	}
	// Pushed out of order; one event is not releasable to Italy.
	exResults(t, e.as("AL/GOV/DPD").push(
		mk("EVT-3", "EXIT_CONFIRMED", "2026-06-03T10:00:00Z", "ALB", "ITA"),
		mk("EVT-1", "EXPORT_DECLARED", "2026-06-01T09:00:00+02:00", "ALB", "ITA"),
		mk("EVT-2", "EXPORT_DECLARED", "2026-06-02T07:55:00Z", "ALB"),
		exWith(mk("EVT-9", "EXPORT_DECLARED", "2026-06-01T00:00:00Z", "ALB", "ITA"), "event.item.marking.serial", "OTHER"),
	))
	get := func(member string) []string {
		r := e.as(member).get("/v1/items/ALB/KAYO/K26-000123/trace")
		var body struct {
			Item   map[string]string
			Events []exchange.Delivery
		}
		if r.status != 200 || json.Unmarshal(r.body, &body) != nil || body.Item["serial"] != "K26-000123" {
			t.Fatalf("trace: %d %s", r.status, r.body)
		}
		var ids []string
		for _, d := range body.Events {
			rec, _ := e.recordOf(t, d, member)
			ids = append(ids, rec["id"].(string))
		}
		return ids
	}
	if got := get("AL/GOV/MOD"); !slices.Equal(got, []string{"EVT-1", "EVT-2", "EVT-3"}) {
		t.Errorf("trace for ALB: %v", got)
	}
	if got := get("IT/GOV/MOD"); !slices.Equal(got, []string{"EVT-1", "EVT-3"}) {
		t.Errorf("trace for ITA: %v", got)
	}
	// One charge per trace, whatever the item's history holds.
	if taken := e.limiter.Counts(ratelimit.ClassTrace); taken != 2 {
		t.Errorf("trace charged %d", taken)
	}
	// Unknown item: an empty history, not an error.
	r := e.as("AL/GOV/MOD").get("/v1/items/ITA/BERETTA/X1/trace")
	if r.status != 200 || !bytes.Contains(r.body, []byte(`"events":[]`)) {
		t.Errorf("unknown item: %d %s", r.status, r.body)
	}
}

func TestExSchemas(t *testing.T) {
	e := startGateway(t)
	for _, k := range records.Kinds {
		r := e.as("IT/GOV/MOD").get("/v1/schemas/" + k)
		want, _, _ := records.Schema(k)
		if r.status != 200 || r.header.Get("Content-Type") != "application/schema+json" || !bytes.Equal(r.body, want) {
			t.Errorf("%s: %d %s", k, r.status, r.header.Get("Content-Type"))
		}
	}
	r := e.as("IT/GOV/MOD").get("/v1/openapi.json")
	if r.status != 200 || !bytes.Equal(r.body, openapiDoc) {
		t.Errorf("openapi: %d", r.status)
	}
}

// TestExNotConfigured: a gateway without its chain refuses data routes
// rather than half-working.
func TestExNotConfigured(t *testing.T) {
	e := startGateway(t, withoutParts())
	c := e.as("AL/GOV/AIM")
	body, _ := json.Marshal([]any{exSample(t, records.KindLicence)})
	c.do(http.MethodPost, "/v1/records", "application/json", "", body).problem(t, 503, problem.TypeUnavailable)
	c.get("/v1/records").problem(t, 503, problem.TypeUnavailable)
	if r := c.get("/v1/schemas/licence"); r.status != 200 {
		t.Errorf("schemas need no chain: %d", r.status)
	}
}

// TestExStoreFailure: a storage error fails the request; nothing unsigned
// is returned.
func TestExStoreFailure(t *testing.T) {
	e := startGateway(t)
	e.store.FailOn = "AIM-ENT-L61234567A"
	r := e.as("AL/GOV/AIM").push(exSample(t, records.KindLicence), exSample(t, records.KindEntity))
	r.problem(t, 503, problem.TypeUnavailable)
	if bytes.Contains(r.body, []byte("fire")) {
		t.Error("internal cause leaked")
	}
	e.store.FailOn = ""
	got := exResults(t, e.as("AL/GOV/AIM").push(exSample(t, records.KindLicence), exSample(t, records.KindEntity)))
	if got[0].Status != "unchanged" || got[1].Status != "accepted" {
		t.Errorf("retry: %s %s", got[0].Status, got[1].Status)
	}
}

// TestExForwarding: accepted (and unchanged, for retries) records reach the
// outbox; an outbox failure is a 503.
func TestExForwarding(t *testing.T) {
	fw := &fakeForwarder{}
	e := startGateway(t, withForwarder(fw))
	aim := e.as("AL/GOV/AIM")
	exResults(t, aim.push(exSample(t, records.KindLicence), exWith(exSample(t, records.KindEntity), "id", "DENY-1")))
	if got := fw.IDs(); !slices.Equal(got, []string{"AIM-LIC-2026-000123"}) {
		t.Errorf("forwarded %v", got)
	}
	fw.Fail.Store(true)
	aim.push(exSample(t, records.KindEntity)).problem(t, 503, problem.TypeUnavailable)
	fw.Fail.Store(false)
	exResults(t, aim.push(exSample(t, records.KindEntity)))
	if got := fw.IDs(); !slices.Equal(got, []string{"AIM-LIC-2026-000123", "AIM-ENT-L61234567A"}) {
		t.Errorf("forwarded after retry %v", got)
	}
}

// TestExLogsHoldNoRecordData: whatever happens, the log names records by id
// and never holds their content, personal data or signatures.
func TestExLogsHoldNoRecordData(t *testing.T) {
	e := startGateway(t)
	aim, dpd := e.as("AL/GOV/AIM"), e.as("AL/GOV/DPD")
	exResults(t, aim.push(exSample(t, records.KindLicence), exSample(t, records.KindEntity)))
	exPage(t, dpd.get("/v1/records"))
	dpd.do(http.MethodGet, "/v1/records", "", exchange.NDJSON, nil)
	e.policy.Redact = []string{"no-slash"}
	exPage(t, dpd.get("/v1/records"))
	e.signer.Fail.Store(true)
	aim.push(exSample(t, records.KindExcludedEntity))
	e.signer.Fail.Store(false)
	e.audit.Fail.Store(true)
	dpd.get("/v1/records")
	e.audit.Fail.Store(false)
	e.store.FailOn = "AIM-EXC-2025-0007"
	aim.push(exSample(t, records.KindExcludedEntity))
	logs := e.logs.String()
	if !strings.Contains(logs, "AIM-LIC-2026-000123") || !strings.Contains(logs, "request failed") {
		t.Fatalf("the log is missing what it should say:\n%s", logs)
	}
	for _, s := range []string{"1840000", "jan.novak@army.cz", "Jan Novák", "KAYO sh.a.", "Adriatik", "eyJ", "L61234567A\"", "licensing@kayo.al"} {
		if strings.Contains(logs, s) {
			t.Errorf("the log holds %q", s)
		}
	}
}

func TestExMetrics(t *testing.T) {
	e := startGateway(t)
	exResults(t, e.as("AL/GOV/AIM").push(exSample(t, records.KindLicence), exWith(exSample(t, records.KindEntity), "id", "DENY-1")))
	exPage(t, e.as("AL/GOV/DPD").get("/v1/records"))
	exPage(t, e.as("IT/GOV/MOD").get("/v1/records"))
	m := e.srv.metrics.registry
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"ura_records_pushed_total", map[string]string{"status": "accepted"}, 1},
		{"ura_records_pushed_total", map[string]string{"status": "denied"}, 1},
		{"ura_records_pulled_total", map[string]string{"class": "pull", "decision": "redact"}, 1},
		{"ura_records_pulled_total", map[string]string{"class": "pull", "decision": "withhold"}, 1},
	} {
		if got := exMetricValue(t, m, tc.name, tc.labels); got != tc.want {
			t.Errorf("%s%v = %v, want %v", tc.name, tc.labels, got, tc.want)
		}
	}
}

func exMetricValue(t *testing.T, g prometheus.Gatherer, name string, labels map[string]string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if labels[lp.GetName()] != lp.GetValue() {
					continue next
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// TestExAuditBeforeEffect: when the audit log cannot take a push's
// decisions, nothing of the push takes effect: not stored, not queued for
// forwarding, and the pusher is told to retry.
func TestExAuditBeforeEffect(t *testing.T) {
	fw := &fakeForwarder{}
	e := startGateway(t, withForwarder(fw))
	e.audit.Fail.Store(true)
	r := e.as("AL/GOV/AIM").push(exSample(t, records.KindLicence))
	r.problem(t, http.StatusServiceUnavailable, problem.TypeUnavailable)
	if n := e.store.Len(); n != 0 {
		t.Errorf("%d records stored without their decisions in the audit log", n)
	}
	if got := fw.IDs(); len(got) != 0 {
		t.Errorf("queued for forwarding without their decisions in the audit log: %v", got)
	}
	// Once the log is back, the same push takes effect, decisions first.
	e.audit.Fail.Store(false)
	exResults(t, e.as("AL/GOV/AIM").push(exSample(t, records.KindLicence)))
	evs := e.audit.All()
	if len(evs) < 3 || evs[0].Status != 0 || evs[1].RecordID == "" || evs[len(evs)-1].Status != http.StatusOK {
		t.Errorf("audit order: want decided request, decisions, then the result: %+v", evs)
	}
	if e.store.Len() != 1 || len(fw.IDs()) != 1 {
		t.Errorf("after the log is back: stored %d, forwarded %v", e.store.Len(), fw.IDs())
	}
}

// cursorPos opens a cursor handed out to member for q.
func (e *gatewayEnv) cursorPos(t *testing.T, member string, q store.Query, c string) uint64 {
	t.Helper()
	pos, err := e.srv.deps.Cursors.Open(exchange.CursorBinding(member, q), c)
	if err != nil {
		t.Fatalf("cursor %q does not open for %s: %v", c, member, err)
	}
	return pos
}

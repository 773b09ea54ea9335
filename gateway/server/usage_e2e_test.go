package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/api/exchange"
)

// usagePost sends a usage batch as member under key (none when empty).
func usagePost(c *memberClient, key string, lines ...map[string]any) memberResponse {
	c.t.Helper()
	body, _ := json.Marshal(map[string]any{"lines": lines})
	req, _ := http.NewRequest(http.MethodPost, c.base+"/v1/licences/usage", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Idempotency-Key", key)
	}
	return c.send(req)
}

func usageAnswer(t *testing.T, r memberResponse) exchange.UsageAnswer {
	t.Helper()
	var a exchange.UsageAnswer
	if r.status != http.StatusOK || json.Unmarshal(r.body, &a) != nil {
		t.Fatalf("usage batch: %d %s", r.status, r.body)
	}
	return a
}

func line(lic, cat string, q any, date string) map[string]any {
	return map[string]any{"licence_id": lic, "ml_category": cat, "quantity": q, "declaration": "EX-2026-000456", "date": date}
}

func licenceUsage(t *testing.T, c *memberClient, id string) map[string]store.CategoryUsage {
	t.Helper()
	r := c.get("/v1/licences/" + id + "/usage")
	var u store.LicenceUsage
	if r.status != http.StatusOK || json.Unmarshal(r.body, &u) != nil || u.LicenceID != id {
		t.Fatalf("usage of %s: %d %s", id, r.status, r.body)
	}
	out := map[string]store.CategoryUsage{}
	for _, cu := range u.Categories {
		out[cu.Category] = cu
	}
	return out
}

// TestUsageBatchPartialAndReplayed: customs returns a batch whose valid
// lines apply and whose others are listed with their reason; the same
// batch again is answered as the first time, replayed, and applies nothing;
// the same key with another body is a 409. Every batch is audited, before
// and after it is applied.
func TestUsageBatchPartialAndReplayed(t *testing.T) {
	c := cbStart(t)
	if res := exResults(t, c.as("AL/GOV/AIM").push(polRecord(t, "licence"))); res[0].Status != exchange.StatusAccepted {
		t.Fatalf("licence: %+v", res[0])
	}
	dpd := c.as("AL/GOV/DPD")
	lines := []map[string]any{
		line("AIM-LIC-2026-000123", "ML1", 10, "2026-06-01"),   // applied
		line("AIM-LIC-2026-999999", "ML1", 1, "2026-06-01"),    // unknown licence
		line("AIM-LIC-2026-000123", "ML9", 1, "2026-06-01"),    // category not covered
		line("AIM-LIC-2026-000123", "ML1", 491, "2026-06-01"),  // 10 + 491 > 500
		line("AIM-LIC-2026-000123", "ML1", 1, "2026-04-30"),    // before the licence
		line("AIM-LIC-2026-000123", "ML1", 1, "1 June 2026"),   // not a date
		line("AIM-LIC-2026-000123", "ML3", 1000, "2026-06-02"), // applied
	}
	first := usageAnswer(t, usagePost(dpd, "dpd-2026-06-02-1", lines...))
	if first.Replayed || !slices.Equal(first.Applied, []int{0, 6}) {
		t.Errorf("applied %v replayed %v, want [0 6]", first.Applied, first.Replayed)
	}
	want := []string{"licence_unknown", "licence_category_not_covered", "licence_quantity_exceeded", "licence_not_yet_valid", "invalid_line"}
	var got []string
	for i, r := range first.Rejected {
		got = append(got, r.Code)
		if r.Line != i+1 || r.Message == "" {
			t.Errorf("rejection %d: %+v", i, r)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("rejected %v, want %v", got, want)
	}
	again := usageAnswer(t, usagePost(dpd, "dpd-2026-06-02-1", lines...))
	if !again.Replayed || jsonString(again.Applied) != jsonString(first.Applied) || jsonString(again.Rejected) != jsonString(first.Rejected) {
		t.Errorf("repeat = %+v, want the first answer replayed", again)
	}
	u := licenceUsage(t, c.as("AL/GOV/AIM"), "AIM-LIC-2026-000123")
	if u["ML1"].Used != 10 || u["ML1"].Remaining != 490 || u["ML3"].Used != 1000 || u["ML3"].Remaining != 199000 {
		t.Errorf("usage after a repeat: %+v", u)
	}
	usagePost(dpd, "dpd-2026-06-02-1", line("AIM-LIC-2026-000123", "ML1", 11, "2026-06-01")).
		problem(t, http.StatusConflict, "urn:ura:problem:conflict")
	if u := licenceUsage(t, c.as("AL/GOV/DPD"), "AIM-LIC-2026-000123"); u["ML1"].Used != 10 {
		t.Errorf("a refused key applied its lines: %+v", u)
	}
	p := usagePost(dpd, "", lines[0]).problem(t, http.StatusBadRequest, "urn:ura:problem:bad-request")
	if errs, _ := p["errors"].([]any); len(errs) != 1 || errs[0].(map[string]any)["pointer"] != "Idempotency-Key" {
		t.Errorf("no key: %v", p)
	}
	var usageEvents []string
	for _, ev := range c.audit.All() {
		if ev.Member == "AL/GOV/DPD" && ev.RecordID == "" && (ev.Action == "licence_usage" || ev.Action == "licence_usage.outcome") {
			var codes []string
			for _, r := range ev.Reasons {
				codes = append(codes, r.Code)
			}
			usageEvents = append(usageEvents, ev.Action+" "+ev.Decision+" "+jsonString(codes))
		}
	}
	wantEvents := []string{
		"licence_usage allow null",
		`licence_usage.outcome allow ["licence_unknown","licence_category_not_covered","licence_quantity_exceeded","licence_not_yet_valid","invalid_line"]`,
		"licence_usage allow null",
		`licence_usage.outcome allow ["replayed","licence_unknown","licence_category_not_covered","licence_quantity_exceeded","licence_not_yet_valid","invalid_line"]`,
		"licence_usage allow null",
		`licence_usage deny ["idempotency_key_reused"]`,
		"licence_usage deny null",
	}
	if !slices.Equal(usageEvents, wantEvents) {
		t.Errorf("audit events:\n%s\nwant\n%s", jsonString(usageEvents), jsonString(wantEvents))
	}
}

// TestUsageOnlyFromCustoms: every other kind of member is refused the
// usage route, and applies nothing.
func TestUsageOnlyFromCustoms(t *testing.T) {
	c := cbStart(t)
	exResults(t, c.as("AL/GOV/AIM").push(polRecord(t, "licence")))
	for _, member := range []string{"AL/GOV/AIM", "AL/GOV/MOD", "IT/GOV/MOD", "NATO/ORG/LIAISON", "AL/GOV/AUDIT", fedPeerID} {
		t.Run(member, func(t *testing.T) {
			usagePost(c.as(member), "k-"+member, line("AIM-LIC-2026-000123", "ML1", 1, "2026-06-01")).
				problem(t, http.StatusForbidden, "urn:ura:problem:forbidden")
		})
	}
	if u := licenceUsage(t, c.as("AL/GOV/AIM"), "AIM-LIC-2026-000123"); u["ML1"].Used != 0 {
		t.Errorf("a refused member's lines applied: %+v", u)
	}
}

// TestLicenceUsageHiddenLikeMissing: a licence the policy withholds from
// the caller has no usage to show, answered exactly like an id not stored
// (status, body, rate-limit headers).
func TestLicenceUsageHiddenLikeMissing(t *testing.T) {
	c := cbStart(t)
	albOnly := polRecord(t, "licence", "label.releasable_to", []any{"ALB"})
	exResults(t, c.as("AL/GOV/AIM").push(albOnly))
	it := c.as("IT/GOV/MOD")
	hidden := it.get("/v1/licences/AIM-LIC-2026-000123/usage")
	missing := it.get("/v1/licences/AIM-LIC-2026-000999/usage")
	hb := hidden.problem(t, http.StatusNotFound, "urn:ura:problem:not-found")
	mb := missing.problem(t, http.StatusNotFound, "urn:ura:problem:not-found")
	delete(hb, "instance")
	delete(mb, "instance")
	if jsonString(hb) != jsonString(mb) || hidden.header.Get("RateLimit") != missing.header.Get("RateLimit") ||
		len(hidden.body) != len(missing.body) {
		t.Errorf("a withheld licence's usage answers unlike a missing one:\n%s %q\n%s %q", hidden.body, hidden.header.Get("RateLimit"), missing.body, missing.header.Get("RateLimit"))
	}
	if licenceUsage(t, c.as("AL/GOV/AIM"), "AIM-LIC-2026-000123")["ML1"].Licensed != 500 {
		t.Error("the agency does not see the licence's usage")
	}
}

// TestUsageHiddenLicenceLikeUnknown: a line against a licence customs may
// not pull (classified above its clearance) is refused exactly like one
// against a licence not stored, and nothing of it is applied.
func TestUsageHiddenLicenceLikeUnknown(t *testing.T) {
	c := cbStart(t)
	secret := polRecord(t, "licence", "id", "AIM-LIC-2026-000777", "label.classification", "SECRET")
	if res := exResults(t, c.as("AL/GOV/AIM").push(secret)); res[0].Status != exchange.StatusAccepted {
		t.Fatalf("licence: %+v", res[0])
	}
	a := usageAnswer(t, usagePost(c.as("AL/GOV/DPD"), "hidden-1",
		line("AIM-LIC-2026-000777", "ML1", 1, "2026-06-01"), line("AIM-LIC-2026-000778", "ML1", 1, "2026-06-01")))
	if len(a.Applied) != 0 || len(a.Rejected) != 2 {
		t.Fatalf("answer %+v", a)
	}
	hidden, missing := a.Rejected[0], a.Rejected[1]
	if hidden.Code != "licence_unknown" || missing.Code != "licence_unknown" ||
		strings.Replace(hidden.Message, "000777", "000778", 1) != missing.Message {
		t.Errorf("a withheld licence's line answers unlike a missing one: %+v %+v", hidden, missing)
	}
	if u := licenceUsage(t, c.as("AL/GOV/AIM"), "AIM-LIC-2026-000777"); u["ML1"].Used != 0 {
		t.Errorf("a withheld licence was used: %+v", u)
	}
}

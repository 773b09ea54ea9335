package server

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/reviews"
)

// reviewLicence is AIM's licence n, releasable to Italy, whose review date
// is days from today (negative: past).
func reviewLicence(t *testing.T, n, days int) map[string]any {
	t.Helper()
	today := time.Now().UTC()
	return polRecord(t, "licence", "id", fmt.Sprintf("AIM-LIC-2026-%06d", n),
		"label.releasable_to", []any{"ALB", "ITA", "NATO"},
		"label.created", today.AddDate(0, 0, -90).Format(time.RFC3339),
		"label.review", today.AddDate(0, 0, days).Format(time.DateOnly))
}

// TestReviewsListing: GET /v1/reviews lists an institution's own records
// due for review within 30 days (or before due_before), overdue ones
// first; an officer sees every originator's; every other kind is refused.
func TestReviewsListing(t *testing.T) {
	c := cbStart(t)
	for _, r := range []map[string]any{reviewLicence(t, 910, -5), reviewLicence(t, 911, 10), reviewLicence(t, 912, 100)} {
		if res := exResults(t, c.as("AL/GOV/AIM").push(r)); res[0].Status != "accepted" {
			t.Fatalf("push: %+v", res[0])
		}
	}
	list := func(member, query string) []reviews.Item {
		t.Helper()
		r := c.as(member).get("/v1/reviews" + query)
		var body struct {
			Reviews []reviews.Item `json:"reviews"`
		}
		if r.status != http.StatusOK || json.Unmarshal(r.body, &body) != nil {
			t.Fatalf("%s: %d %s", member, r.status, r.body)
		}
		return body.Reviews
	}
	got := list("AL/GOV/AIM", "")
	if len(got) != 2 || got[0].ID != "AIM-LIC-2026-000910" || !got[0].Overdue || got[0].Days != -5 ||
		got[1].ID != "AIM-LIC-2026-000911" || got[1].Overdue || got[1].Days != 10 ||
		got[0].Kind != "licence" || got[0].Classification != "RESTRICTED" || got[0].PolicyID != "NATO" || got[0].Version == 0 {
		t.Errorf("AIM's reviews: %+v", got)
	}
	if all := list("AL/GOV/AIM", "?due_before="+time.Now().UTC().AddDate(0, 0, 200).Format(time.DateOnly)); len(all) != 3 {
		t.Errorf("due_before in 200 days: %+v", all)
	}
	if mod := list("AL/GOV/MOD", ""); len(mod) != 0 {
		t.Errorf("the ministry sees AIM's reviews: %+v", mod)
	}
	if off := list("AL/GOV/AUDIT", ""); len(off) != 2 {
		t.Errorf("the officer's reviews: %+v", off)
	}
	n := len(c.audit.All())
	list("AL/GOV/DPD", "")
	if evs := c.audit.All()[n:]; len(evs) != 1 || evs[0].Action != "reviews_due" || evs[0].Decision != audit.DecisionAllow {
		t.Errorf("audit of a listing: %+v", evs)
	}
	p := c.as("AL/GOV/AIM").get("/v1/reviews?due=2027-01-01").problem(t, http.StatusBadRequest, "urn:ura:problem:bad-request")
	if errs, _ := p["errors"].([]any); len(errs) != 1 || errs[0].(map[string]any)["pointer"] != "due" {
		t.Errorf("unknown parameter: %v", p)
	}
	c.as("AL/GOV/AIM").get("/v1/reviews?due_before=soon").problem(t, http.StatusBadRequest, "urn:ura:problem:bad-request")
}

// TestReviewsRefusedPerKind: every member kind that may not list reviews
// gets 403, audited as a refusal, and nothing of the records.
func TestReviewsRefusedPerKind(t *testing.T) {
	c := cbStart(t)
	if res := exResults(t, c.as("AL/GOV/AIM").push(reviewLicence(t, 913, -5))); res[0].Status != "accepted" {
		t.Fatalf("push: %+v", res[0])
	}
	for kind, member := range map[string]string{"partner": "IT/GOV/MOD", "liaison": "NATO/ORG/LIAISON", "gateway": fedPeerID} {
		t.Run(kind, func(t *testing.T) {
			r := c.as(member).get("/v1/reviews")
			r.problem(t, http.StatusForbidden, "urn:ura:problem:forbidden")
			if strings.Contains(string(r.body), "AIM-LIC") {
				t.Errorf("the refusal names a record: %s", r.body)
			}
		})
	}
}

// TestReviewOverdueHiddenEqualsMissing: a partner asking for a record past
// its review date gets exactly what it gets for a record that does not
// exist; the audit log says review_overdue. Once AIM pushes a reviewed
// version, the partner receives it again.
func TestReviewOverdueHiddenEqualsMissing(t *testing.T) {
	e, _ := oracleEnv(t)
	overdue := reviewLicence(t, 920, -3)
	if res := exResults(t, e.as("AL/GOV/AIM").push(overdue)); res[0].Status != "accepted" {
		t.Fatalf("push: %+v", res[0])
	}
	id, missingID := "AIM-LIC-2026-000920", "AIM-LIC-2026-000929"
	n := len(e.audit.All())
	hidden := e.as("IT/GOV/HIDDEN").get("/v1/records/" + id)
	var reasons []string
	for _, ev := range e.audit.All()[n:] {
		if ev.RecordID == id {
			for _, r := range ev.Reasons {
				reasons = append(reasons, r.Code)
			}
		}
	}
	missing := e.as("IT/GOV/MISSING").get("/v1/records/" + missingID)
	oracleSame(t, "get", hidden, missing, id, missingID, "AL/GOV/AIM", "KAYO", "review")
	if hidden.status != http.StatusNotFound || strings.Join(reasons, ",") != "review_overdue" {
		t.Errorf("hidden: %d, audit reasons %v", hidden.status, reasons)
	}
	// A licence's new version follows its lifecycle: an issued licence
	// that changes is renewed.
	reviewed := exWith(reviewLicence(t, 920, 365), "version", 4, "licence.status", "renewed")
	if res := exResults(t, e.as("AL/GOV/AIM").push(reviewed)); res[0].Status != "accepted" {
		t.Fatalf("reviewed version: %+v", res[0])
	}
	if r := e.as("IT/GOV/HIDDEN").get("/v1/records/" + id); r.status != http.StatusOK {
		t.Errorf("the reviewed version: %d %s", r.status, r.body)
	}
}

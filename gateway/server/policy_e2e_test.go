package server

import (
	"bytes"
	"encoding/json"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/ura-gateway/ura/gateway/api/apitest"
)

// polRecord reads one of the policy package's realistic test records and
// applies edits (dotted paths, nil deletes).
func polRecord(t *testing.T, name string, kv ...any) map[string]any {
	t.Helper()
	return exWith(exReadDoc(t, filepath.Join("..", "policy", "testdata", "records", name+".json")), kv...)
}

// polView is what one member received from a pull: the records inside the
// signed deliveries, by id, and the raw response.
type polView struct {
	records map[string]map[string]any
	redact  map[string][]string
	raw     []byte
}

func polPull(t *testing.T, e *gatewayEnv, member, revision string) polView {
	t.Helper()
	r := e.as(member).get("/v1/records?limit=100")
	page := exPage(t, r)
	v := polView{records: map[string]map[string]any{}, redact: map[string][]string{}, raw: r.body}
	for _, d := range page.Records {
		_, payload := apitest.Verify(t, d.JWS)
		if payload["recipient"] != member || payload["policy_revision"] != revision || payload["decision_id"] == "" {
			t.Errorf("%s: delivery of %s: envelope %v", member, d.ID, payload)
		}
		rec, _ := payload["record"].(map[string]any)
		v.records[d.ID] = rec
		for _, p := range payload["redactions"].([]any) {
			v.redact[d.ID] = append(v.redact[d.ID], p.(map[string]any)["pointer"].(string))
		}
	}
	return v
}

func (v polView) ids() []string {
	out := make([]string, 0, len(v.records))
	for id := range v.records {
		out = append(out, id)
	}
	sort.Strings(out)
	return out
}

// TestPolE2EFourViews pushes realistic records through a gateway running the
// embedded policy over real mutual TLS and a real embedded store, then has
// AIM, Customs, the Italian partner and the NATO liaison pull the same
// records: four different views, each what the policy allows, with
// redacted fields absent from the bytes on the wire.
func TestPolE2EFourViews(t *testing.T) {
	e := startGateway(t, withEmbeddedPolicy())
	rev := e.revision

	// AIM: its registers, a licence, two marking events.
	aimRes := exResults(t, e.as("AL/GOV/AIM").push(
		polRecord(t, "entity"),
		polRecord(t, "excluded"),
		polRecord(t, "licence", "label.releasable_to", []any{"ALB", "NATO"}),
		polRecord(t, "transfer_ita"),
		polRecord(t, "transfer_ita", "id", "AIM-EVT-2026-0000778", "event.type", "MANUFACTURED", "event.to", nil, "event.from", nil,
			"label.releasable_to", []any{"ALB"}),
	))
	for _, r := range aimRes {
		if r.Status != "accepted" {
			t.Fatalf("AIM push %s: %+v", r.ID, r)
		}
	}
	// Customs: an export within the licence, then one that would exceed it,
	// one to another destination, and a licence push it has no authority for.
	dpdRes := exResults(t, e.as("AL/GOV/DPD").push(
		polRecord(t, "export", "event.quantity", 400),
		polRecord(t, "export", "id", "DPD-EVT-2026-9000002", "event.quantity", 101),
		polRecord(t, "export", "id", "DPD-EVT-2026-9000003", "event.quantity", 1, "event.to", "SRB"),
		polRecord(t, "licence", "id", "DPD-LIC-1", "label.originator", "AL/GOV/DPD"),
	))
	want := []struct{ status, code string }{
		{"accepted", ""},
		{"denied", "licence_quantity_exceeded"},
		{"denied", "licence_destination_mismatch"},
		{"denied", "push_not_authorised"},
	}
	for i, w := range want {
		r := dpdRes[i]
		var codes []string
		for _, reason := range r.Reasons {
			codes = append(codes, reason["code"])
			if reason["message"] == "" {
				t.Errorf("reason without a message: %+v", r)
			}
		}
		if r.Status != w.status || (w.code != "" && !slices.Contains(codes, w.code)) || r.DecisionID == "" {
			t.Errorf("customs push %d (%s): %s %v, want %s %s", i, r.ID, r.Status, codes, w.status, w.code)
		}
	}
	// A holder on the register of excluded entities, named differently.
	excl := exResults(t, e.as("AL/GOV/AIM").push(polRecord(t, "licence", "id", "AIM-LIC-2026-000999", "version", 1,
		"licence.holder", map[string]any{"entity_id": "L07654321C", "name": "SHADOW ARMS, Sh.P.K."})))
	if excl[0].Status != "denied" || excl[0].Reasons[0]["code"] != "excluded_entity" {
		t.Errorf("excluded holder: %+v", excl[0])
	}

	views := map[string]polView{}
	for _, m := range []string{"AL/GOV/AIM", "AL/GOV/DPD", "IT/GOV/MOD", "NATO/ORG/LIAISON"} {
		views[m] = polPull(t, e, m, rev)
	}
	// The licence's import authorisation and end-user certificates are
	// stored by the harness (storeConditions): the agency reads both,
	// customs the authorisation, a partner and the liaison neither.
	wantIDs := map[string][]string{
		"AL/GOV/AIM": {"AIM-ENT-L61234567A", "AIM-EUC-2026-0001", "AIM-EUC-2026-0002", "AIM-EVT-2026-0000777", "AIM-EVT-2026-0000778",
			"AIM-EXC-2025-0007", "AIM-IA-2026-0001", "AIM-LIC-2026-000123", "DPD-EVT-2026-9000001"},
		"AL/GOV/DPD": {"AIM-ENT-L61234567A", "AIM-EVT-2026-0000777", "AIM-EVT-2026-0000778", "AIM-EXC-2025-0007",
			"AIM-IA-2026-0001", "AIM-LIC-2026-000123", "DPD-EVT-2026-9000001"},
		"IT/GOV/MOD":       {"AIM-EVT-2026-0000777", "AIM-LIC-2026-000123"}, // REL ALB, NATO: Italy is an ally
		"NATO/ORG/LIAISON": {"AIM-ENT-L61234567A", "AIM-EVT-2026-0000777", "AIM-LIC-2026-000123"},
	}
	for m, ids := range wantIDs {
		if got := views[m].ids(); !slices.Equal(got, ids) {
			t.Errorf("%s sees %v, want %v", m, got, ids)
		}
	}

	lic := "AIM-LIC-2026-000123"
	licOf := func(m string) map[string]any {
		l, _ := views[m].records[lic]["licence"].(map[string]any)
		return l
	}
	endUser := func(m string) map[string]any {
		eu, _ := licOf(m)["end_user"].(map[string]any)
		return eu
	}
	// AIM: everything.
	if licOf("AL/GOV/AIM")["contract_value"] == nil || endUser("AL/GOV/AIM")["contact"] == nil || len(views["AL/GOV/AIM"].redact[lic]) != 0 {
		t.Errorf("AIM's licence is not whole: %v", views["AL/GOV/AIM"].records[lic])
	}
	// Customs: validity, holder and items, never the value or the contact.
	dpdLic := licOf("AL/GOV/DPD")
	if dpdLic["contract_value"] != nil || endUser("AL/GOV/DPD")["contact"] != nil ||
		dpdLic["valid_until"] == nil || dpdLic["holder"] == nil || dpdLic["items"] == nil || endUser("AL/GOV/DPD")["name"] == nil {
		t.Errorf("customs' licence: %v", dpdLic)
	}
	if got := views["AL/GOV/DPD"].redact[lic]; !slices.Equal(got, []string{"/licence/contract_value", "/licence/end_user/contact"}) {
		t.Errorf("customs' redactions %v", got)
	}
	if ent, _ := views["AL/GOV/DPD"].records["AIM-ENT-L61234567A"]["entity"].(map[string]any); ent["contact"] != nil || ent["name"] == nil {
		t.Errorf("customs' entity: %v", ent)
	}
	// NATO: the licence, without personal contact data, value kept.
	if licOf("NATO/ORG/LIAISON")["contract_value"] == nil || endUser("NATO/ORG/LIAISON")["contact"] != nil {
		t.Errorf("NATO's licence: %v", licOf("NATO/ORG/LIAISON"))
	}
	// What must never be on the wire to those who may not see it.
	for m, secrets := range map[string][]string{
		"AL/GOV/DPD":       {"contract_value", "1840000", "jana.novakova", "arben.hoxha"},
		"NATO/ORG/LIAISON": {"jana.novakova", "arben.hoxha"},
		"IT/GOV/MOD":       {"jana.novakova", "DPD-EVT", "AIM-EVT-2026-0000778"},
	} {
		for _, s := range secrets {
			if bytes.Contains(views[m].raw, []byte(s)) {
				t.Errorf("%s's pull carries %q", m, s)
			}
		}
	}

	// Single-record reads follow the same decisions.
	if r := e.as("IT/GOV/MOD").get("/v1/records/" + lic); r.status != http.StatusOK {
		t.Errorf("partner read of a licence released to NATO: %d", r.status)
	}
	if r := e.as("IT/GOV/MOD").get("/v1/records/AIM-EVT-2026-0000778"); r.status != http.StatusNotFound {
		t.Errorf("partner read of an event not released to it: %d", r.status)
	}

	// GET /v1/policy: members see the revision; the registers are the
	// store's, and the answer names no size of them.
	var ps map[string]any
	if r := e.as("IT/GOV/MOD").get("/v1/policy"); r.status != http.StatusOK || json.Unmarshal(r.body, &ps) != nil {
		t.Fatalf("/v1/policy as partner: %d %s", r.status, r.body)
	}
	if active := ps["active"].(map[string]any); active["revision"] != rev || active["source"] != "embedded" || active["loaded_at"] == nil || ps["registers"] != nil {
		t.Errorf("/v1/policy for a partner: %v", ps)
	}
	if r := e.as("AL/GOV/AUDIT").get("/v1/policy"); r.status != http.StatusOK || strings.Contains(string(r.body), `"registers"`) {
		t.Errorf("/v1/policy for a security officer: %d %s", r.status, r.body)
	}
	m := e.as("AL/GOV/AUDIT").get("/metrics")
	for _, series := range []string{`ura_policy_decisions_total{action="pull",result="allow"}`, `ura_policy_decisions_total{action="push",result="deny"}`, "ura_policy_eval_seconds_bucket"} {
		if !strings.Contains(string(m.body), series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
}

// TestPolStatusWithoutEngine: a gateway whose engine cannot describe itself
// says so instead of inventing a revision.
func TestPolStatusWithoutEngine(t *testing.T) {
	e := startGateway(t)
	e.as("AL/GOV/AIM").get("/v1/policy").problem(t, http.StatusNotFound, "urn:ura:problem:not-found")
}

package server

import (
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/ura-gateway/ura/gateway/config"
)

// Screening through the real push path on the embedded policy and a real
// store (gateway/ARCHITECTURE.md, "Name matching"): a denial Italy's
// gateway relays, then AIM's licence for an essentially identical
// transaction (consultation_required), unlocked by AIM's consultation of
// Italy; a consignee on the consolidated sanctions list
// (sanctions_match); an end user on the register of excluded entities
// under its Cyrillic name (excluded_entity_match).
func TestScreeningE2E(t *testing.T) {
	list, err := filepath.Abs(filepath.Join("..", "..", "deploy", "dev", "sanctions.xml"))
	if err != nil {
		t.Fatal(err)
	}
	c := cbStart(t, withConfig(func(cfg *config.Config) { cfg.Screening.SanctionsFile = list }))
	aim := c.as("AL/GOV/AIM")

	denial := scDenial("IT-GOV-MOD-DEN-2026-0007", "IT/GOV/MOD", "ITA", "Đorđević Trading d.o.o.")
	if r := c.relay(t, denial); r[0].Status != "accepted" {
		t.Fatalf("Italy's denial relayed: %+v", r[0])
	}

	// The goods are ammunition (ML3): small arms would also need an import
	// authorisation and a certificate (conditions_test.go), which is not
	// what this test is about.
	//
	// (1) An export to Serbia of ML3 cartridges to the denied end user, written
	// as AIM's officers write it: consultation required, naming the denial,
	// its score and the fields that matched.
	lic := scLicence("AIM-LIC-2026-000200", "Djordjevic Trading", "Adriatic Freight")
	r := exResults(t, aim.push(lic))[0]
	msg := scReason(t, r, "consultation_required")
	for _, want := range []string{"IT-GOV-MOD-DEN-2026-0007", "denied by ITA", "the end user Djordjevic Trading matches the denied end user Đorđević Trading d.o.o.", "matched on name, country"} {
		if !strings.Contains(msg, want) {
			t.Errorf("reason %q lacks %q", msg, want)
		}
	}
	if ev := scDecision(c, "AIM-LIC-2026-000200"); ev == "" || !strings.Contains(ev, "IT-GOV-MOD-DEN-2026-0007") || !strings.Contains(ev, "score ") {
		t.Errorf("audit event reasons: %q", ev)
	}
	// Another destination: not the same transaction.
	other := scLicence("AIM-LIC-2026-000201", "Djordjevic Trading", "Adriatic Freight")
	other = exWith(other, "licence.destination", "MNE", "licence.end_user.country", "MNE")
	if r := exResults(t, aim.push(other))[0]; r.Status != "accepted" {
		t.Errorf("a licence to another destination: %+v", r)
	}

	// The attack: Italy's gateway relays a consultation of its own with
	// outcome proceed. Another state's decision to proceed is not this
	// state's consultation: the licence stays held.
	itCons := exWith(scConsultation("IT-GOV-MOD-CONS-2026-0001", 1, "IT-GOV-MOD-DEN-2026-0007", "proceed"),
		"label.originator", "IT/GOV/MOD", "consultation.consulting_state", "ITA")
	if r := c.relay(t, itCons); r[0].Status != "accepted" {
		t.Fatalf("Italy's consultation relayed: %+v", r[0])
	}
	scReason(t, exResults(t, aim.push(lic))[0], "consultation_required")

	// Releasable to the EU and Albania: Czechia's ministry reads the
	// denial; Serbia's, outside both, is answered as for an id never
	// stored.
	if r := c.as("CZ/GOV/MOD").get("/v1/records/IT-GOV-MOD-DEN-2026-0007"); r.status != http.StatusOK {
		t.Errorf("Czechia's ministry reads the denial: %d %s", r.status, r.body)
	}
	hidden := c.as("RS/GOV/MOD").get("/v1/records/IT-GOV-MOD-DEN-2026-0007")
	missing := c.as("RS/GOV/MOD").get("/v1/records/IT-GOV-MOD-DEN-2026-0999")
	oracleSame(t, "a denial not released to Serbia", hidden, missing, "IT-GOV-MOD-DEN-2026-0007", "IT-GOV-MOD-DEN-2026-0999",
		"Trading", "ITA", "SRB")

	// A pending consultation does not unlock it; one whose outcome is
	// proceed does.
	cons := scConsultation("AIM-CONS-2026-0100", 1, "IT-GOV-MOD-DEN-2026-0007", "pending")
	if r := exResults(t, aim.push(cons))[0]; r.Status != "accepted" {
		t.Fatalf("consultation: %+v", r)
	}
	scReason(t, exResults(t, aim.push(lic))[0], "consultation_required")
	cons = scConsultation("AIM-CONS-2026-0100", 2, "IT-GOV-MOD-DEN-2026-0007", "proceed")
	cons = exWith(cons, "consultation.answer", map[string]any{"date": "2026-06-20", "text": "Italy raises no objection."})
	if r := exResults(t, aim.push(cons, lic)); r[0].Status != "accepted" || r[1].Status != "accepted" {
		t.Fatalf("after the consultation: %+v", r)
	}

	// (2) A consignee on the sanctions list, by its alias in another script.
	sanc := scLicence("AIM-LIC-2026-000202", "Ministry of Defence", "Zvezda Oružje d.o.o.")
	sanc = exWith(sanc, "licence.destination", "MNE", "licence.end_user.country", "MNE")
	msg = scReason(t, exResults(t, aim.push(sanc))[0], "sanctions_match")
	for _, want := range []string{"DATAID 9900102", "reference DVe.002", "the consignee Zvezda Oružje d.o.o."} {
		if !strings.Contains(msg, want) {
			t.Errorf("reason %q lacks %q", msg, want)
		}
	}

	// (3) An end user excluded under its Cyrillic name, named in Latin
	// letters without diacritics.
	exc := map[string]any{"kind": "excluded_entity", "id": "AIM-EXC-2026-0002", "version": 1,
		"label": map[string]any{"classification": "RESTRICTED", "releasable_to": []any{"ALB"}, "originator": "AL/GOV/AIM", "created": "2026-05-01T10:00:00Z"},
		"excluded_entity": map[string]any{"entity_id": "RS-20817651", "name": "Ђурић Оружје", "country": "SRB",
			"reason": "brokering without a licence", "excluded_from": "2026-01-01", "decision_ref": "AIM-VEN-2026-02"}}
	if r := exResults(t, aim.push(exc))[0]; r.Status != "accepted" {
		t.Fatalf("exclusion: %+v", r)
	}
	excl := scLicence("AIM-LIC-2026-000203", "Djuric Oruzje", "Adriatic Freight")
	excl = exWith(excl, "licence.destination", "MNE", "licence.end_user.country", "SRB")
	msg = scReason(t, exResults(t, aim.push(excl))[0], "excluded_entity_match")
	for _, want := range []string{"AIM-EXC-2026-0002", "the end user Djuric Oruzje matches Ђурић Оружје", "matched on name, country"} {
		if !strings.Contains(msg, want) {
			t.Errorf("reason %q lacks %q", msg, want)
		}
	}
}

func scDenial(id, originator, state, endUser string) map[string]any {
	return map[string]any{"kind": "denial", "id": id, "version": 1,
		"label": map[string]any{"classification": "RESTRICTED", "releasable_to": []any{"EU", "ALB"}, "originator": originator, "created": "2026-05-10T09:00:00Z"},
		"denial": map[string]any{"denying_state": state, "date": "2026-05-10", "criteria": []any{2, 7}, "destination": "SRB",
			"end_user":  map[string]any{"name": endUser, "country": "SRB"},
			"consignee": map[string]any{"name": "Balkan Logistics Group", "country": "SRB"},
			"goods":     []any{map[string]any{"ml_category": "ML3", "description": "7.62x39mm cartridges"}},
			"reasons":   "risk of diversion", "status": "active"}}
}

func scLicence(id, endUser, consignee string) map[string]any {
	return map[string]any{"kind": "licence", "id": id, "version": 1,
		"label": map[string]any{"classification": "RESTRICTED", "releasable_to": []any{"ALB"}, "originator": "AL/GOV/AIM", "created": "2026-05-01T10:00:00Z"},
		"licence": map[string]any{"type": "export", "status": "issued",
			"holder":     map[string]any{"entity_id": "L61234567A", "name": "KAYO sh.a."},
			"valid_from": "2026-05-01", "valid_until": "2099-04-30",
			"items":       []any{map[string]any{"ml_category": "ML3", "description": "7.62x39mm cartridges", "quantity": 400000, "unit": "rounds"}},
			"destination": "SRB",
			"end_user":    map[string]any{"name": endUser, "country": "SRB"},
			"consignee":   map[string]any{"name": consignee, "country": "SRB"}}}
}

func scConsultation(id string, version int, denial, outcome string) map[string]any {
	return map[string]any{"kind": "consultation", "id": id, "version": version,
		"label": map[string]any{"classification": "RESTRICTED", "releasable_to": []any{"ALB", "ITA"}, "originator": "AL/GOV/AIM", "created": "2026-06-01T08:00:00Z"},
		"consultation": map[string]any{"denial_id": denial, "consulting_state": "ALB", "denying_state": "ITA",
			"request": map[string]any{"date": "2026-06-01", "text": "please share the grounds of your denial"}, "outcome": outcome}}
}

// scReason is the message of the one reason with code, of a denied result.
func scReason(t *testing.T, r exResultT, code string) string {
	t.Helper()
	if r.Status != "denied" {
		t.Fatalf("%s: %s %v, want denied with %s", r.ID, r.Status, cbCodes(r), code)
	}
	i := slices.IndexFunc(r.Reasons, func(x map[string]string) bool { return x["code"] == code })
	if i < 0 {
		t.Fatalf("%s: reasons %v, want %s", r.ID, r.Reasons, code)
	}
	return r.Reasons[i]["message"]
}

// scDecision is the messages of the first push decision event of id.
func scDecision(c *cbEnv, id string) string {
	for _, e := range c.audit.All() {
		if e.RecordID == id && e.Action == "push" && e.Decision == "deny" {
			var msgs []string
			for _, r := range e.Reasons {
				msgs = append(msgs, r.Message)
			}
			return strings.Join(msgs, "\n")
		}
	}
	return ""
}

package server

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/ura-gateway/ura/gateway/api/exchange"
)

// Licence conditions and brokering through the real push path: mutual TLS,
// the embedded policy, the embedded store and its keyed registers, read per
// decision (gateway/ARCHITECTURE.md, "Licence conditions").

// condPush pushes docs as member and returns each result's status and
// reason codes, by record id.
func condPush(t *testing.T, e *gatewayEnv, member string, docs ...map[string]any) map[string][]string {
	t.Helper()
	out := map[string][]string{}
	for _, r := range exResults(t, e.as(member).push(docs...)) {
		got := []string{r.Status}
		for _, reason := range r.Reasons {
			got = append(got, reason["code"])
		}
		out[r.ID] = got
	}
	return out
}

// condWant fails unless id's result is status with exactly the codes.
func condWant(t *testing.T, what string, got map[string][]string, id, status string, codes ...string) {
	t.Helper()
	want := append([]string{status}, codes...)
	g := got[id]
	if len(g) == 0 || g[0] != want[0] || !slices.Equal(sortedTail(g), sortedTail(want)) {
		t.Errorf("%s: %s = %v, want %v", what, id, g, want)
	}
}

func sortedTail(s []string) []string {
	if len(s) == 0 {
		return nil
	}
	t := slices.Clone(s[1:])
	slices.Sort(t)
	return t
}

const condLicence = "AIM-LIC-2026-000123"

// TestCondImportAndTransitAuthorisations: an export licence for small arms
// is refused until the importing state's authorisation and every transit
// state's non-objection are on the register, and an authorisation that does
// not fit (goods, quantity, destination, validity) is named invalid; then
// each export declared under the licence is held to the authorisation as
// stored when it is declared, and to the licence's transit states.
func TestCondImportAndTransitAuthorisations(t *testing.T) {
	e := startGateway(t, withBareRegisters())
	aim, dpd := "AL/GOV/AIM", "AL/GOV/DPD"
	ia, euc, ta := polRecord(t, "import_authorisation"), polRecord(t, "end_user_certificate"), polRecord(t, "transit_authorisation")
	lic := exWith(polRecord(t, "licence"), "licence.transit", []any{"HRV"})

	got := condPush(t, e, aim, euc, ta, lic)
	condWant(t, "before the import authorisation", got, condLicence, "denied", "import_authorisation_missing")

	// The wrong goods, too few, another destination, expired: each a new
	// version of the authorisation, replacing what the last one put on the
	// register.
	version := 1
	for _, c := range []struct {
		what string
		kv   []any
	}{
		{"the import authorisation covers other goods", []any{"import_authorisation.items", []any{map[string]any{"ml_category": "ML2", "description": "mortars", "quantity": 500, "unit": "pieces"}}}},
		{"the import authorisation covers fewer rifles", []any{"import_authorisation.items", []any{map[string]any{"ml_category": "ML1", "description": "rifles", "quantity": 499, "unit": "pieces"}}}},
		{"the import authorisation is Slovakia's", []any{"import_authorisation.destination", "SVK"}},
		{"the import authorisation has expired", []any{"import_authorisation.valid_until", "2026-05-31"}},
	} {
		bad := exWith(ia, append([]any{"version", json.Number(jsonString(version))}, c.kv...)...)
		version++
		got := condPush(t, e, aim, bad, lic)
		condWant(t, c.what, got, condLicence, "denied", "import_authorisation_invalid")
	}
	ia = exWith(ia, "version", json.Number(jsonString(version)))

	// A licence through a transit state without a non-objection.
	viaMNE := exWith(lic, "id", "AIM-LIC-2026-000124", "licence.transit", []any{"HRV", "MNE"})
	got = condPush(t, e, aim, ia, viaMNE)
	// HRV's non-objection concerns the other licence: two states lack one.
	condWant(t, "a transit state without a non-objection", got, "AIM-LIC-2026-000124", "denied", "transit_authorisation_missing", "transit_authorisation_missing")

	got = condPush(t, e, aim, lic)
	condWant(t, "with its authorisations", got, condLicence, "accepted")

	// Declarations: within the conditions; through a state the licence does
	// not list; then after the importing state's authorisation is replaced
	// by a version that ended before the declaration's date.
	decl := polRecord(t, "export")
	got = condPush(t, e, dpd, decl,
		exWith(decl, "id", "DPD-EVT-2026-9000002", "event.transit", []any{"HRV", "SRB"}))
	condWant(t, "a declaration within the conditions", got, "DPD-EVT-2026-9000001", "accepted")
	condWant(t, "a declaration through an unlisted state", got, "DPD-EVT-2026-9000002", "denied", "transit_not_licensed")

	// Through HRV while its non-objection is in force; then that
	// non-objection replaced by a version that ended before the date.
	viaHRV := exWith(decl, "id", "DPD-EVT-2026-9000004", "event.transit", []any{"HRV"})
	condWant(t, "a declaration through a state with its non-objection", condPush(t, e, dpd, viaHRV), "DPD-EVT-2026-9000004", "accepted")
	lapsed := exWith(ta, "version", json.Number("2"), "transit_authorisation.valid_until", "2026-06-01")
	condWant(t, "the non-objection shortened", condPush(t, e, aim, lapsed), "AIM-TA-2026-0001", "accepted")
	got = condPush(t, e, dpd, exWith(viaHRV, "id", "DPD-EVT-2026-9000005"))
	condWant(t, "a declaration after the non-objection ended", got, "DPD-EVT-2026-9000005", "denied", "transit_authorisation_missing")
	got = condPush(t, e, dpd, exWith(decl, "id", "DPD-EVT-2026-9000006"))
	condWant(t, "a declaration through no transit state", got, "DPD-EVT-2026-9000006", "accepted")
	condWant(t, "the non-objection restored", condPush(t, e, aim, exWith(ta, "version", json.Number("3"))), "AIM-TA-2026-0001", "accepted")

	shortened := exWith(ia, "version", json.Number(jsonString(version+1)), "import_authorisation.valid_until", "2026-06-01")
	condWant(t, "the authorisation shortened", condPush(t, e, aim, shortened), "AIM-IA-2026-0001", "accepted")
	got = condPush(t, e, dpd, exWith(decl, "id", "DPD-EVT-2026-9000003"))
	condWant(t, "a declaration after the authorisation ended", got, "DPD-EVT-2026-9000003", "denied", "import_authorisation_invalid")
}

// TestCondEndUserCertificate: the licence is checked against the
// certificate it names; a certificate revoked after the licence was issued
// puts its exports on hold.
func TestCondEndUserCertificate(t *testing.T) {
	e := startGateway(t, withBareRegisters())
	aim, dpd := "AL/GOV/AIM", "AL/GOV/DPD"
	euc := polRecord(t, "end_user_certificate")
	lic := polRecord(t, "licence")
	exResults(t, e.as(aim).push(polRecord(t, "import_authorisation"), polRecord(t, "transit_authorisation")))

	got := condPush(t, e, aim, lic)
	condWant(t, "no certificate", got, condLicence, "denied", "euc_missing")
	condPush(t, e, aim, euc)
	for _, c := range []struct {
		what, code string
		lic        map[string]any
	}{
		{"another end user", "euc_end_user_mismatch", exWith(lic, "licence.end_user", map[string]any{"name": "Arms Depot s.r.o.", "country": "CZE"})},
		{"more cartridges than certified", "euc_goods_not_covered", exWith(lic, "licence.items", []any{
			map[string]any{"ml_category": "ML3", "description": "7.62x39mm cartridges", "quantity": 200001, "unit": "rounds"},
			map[string]any{"ml_category": "ML1", "description": "AK-pattern rifles", "quantity": 500, "unit": "pieces"}})},
		{"a licence outlasting the certificate", "euc_not_valid", exWith(lic, "licence.valid_until", "2100-01-01")},
	} {
		condWant(t, c.what, condPush(t, e, aim, c.lic), condLicence, "denied", c.code)
	}
	noClause := exWith(euc, "version", json.Number("2"), "end_user_certificate.reexport_clause", nil)
	condPush(t, e, aim, noClause)
	condWant(t, "no re-export clause", condPush(t, e, aim, lic), condLicence, "denied", "euc_reexport_clause_missing")
	condPush(t, e, aim, exWith(euc, "version", json.Number("3")))
	condWant(t, "the certificate in order", condPush(t, e, aim, lic), condLicence, "accepted")

	decl := polRecord(t, "export")
	condWant(t, "a declaration", condPush(t, e, dpd, decl), "DPD-EVT-2026-9000001", "accepted")
	revoked := exWith(euc, "version", json.Number("4"), "end_user_certificate.status", "revoked",
		"end_user_certificate.status_reason", "withdrawn by the Czech Ministry of Defence")
	condWant(t, "revocation", condPush(t, e, aim, revoked), "AIM-EUC-2026-0001", "accepted")
	got = condPush(t, e, dpd, exWith(decl, "id", "DPD-EVT-2026-9000002"))
	condWant(t, "a declaration after the revocation", got, "DPD-EVT-2026-9000002", "denied", "euc_revoked")
}

// condBroker is Shqiponja acting under brokering licence bl.
func condBroker(bl string) map[string]any {
	return map[string]any{"entity_id": "M01523408K", "name": "Shqiponja Defence Trading sh.p.k.", "brokering_licence_id": bl}
}

// condBrokering is Shqiponja's registration and a brokering licence
// covering the test licence (rifles and cartridges to Czechia).
func condBrokering(t *testing.T) (registration, licence map[string]any) {
	registration = exWith(exSample(t, "broker_registration"), "broker_registration.valid_until", "2099-02-02")
	licence = exWith(exSample(t, "brokering_licence"), "brokering_licence.valid_until", "2099-04-30",
		"brokering_licence.items", []any{
			map[string]any{"ml_category": "ML3", "description": "cartridges", "quantity": 200000, "unit": "rounds"},
			map[string]any{"ml_category": "ML1", "description": "rifles", "quantity": 500, "unit": "pieces"}})
	return registration, licence
}

// TestCondBrokering: a licence or a declaration naming a broker needs the
// broker registered, a brokering licence of its own covering the goods and
// the destination, and the broker not excluded; the trace of a brokered
// item shows the declaration naming the broker and the brokering licence.
func TestCondBrokering(t *testing.T) {
	e := startGateway(t, withBareRegisters())
	aim, dpd := "AL/GOV/AIM", "AL/GOV/DPD"
	exResults(t, e.as(aim).push(polRecord(t, "import_authorisation"), polRecord(t, "end_user_certificate"), polRecord(t, "transit_authorisation")))
	reg, bl := condBrokering(t)
	lic := exWith(polRecord(t, "licence"), "licence.broker", condBroker("AIM-BRL-2026-0011"))

	condWant(t, "an unregistered broker", condPush(t, e, aim, lic), condLicence, "denied", "broker_not_registered")
	condPush(t, e, aim, reg)
	condWant(t, "no brokering licence", condPush(t, e, aim, lic), condLicence, "denied", "brokering_licence_missing")
	narrow := exWith(bl, "brokering_licence.destination", "SVK")
	condWant(t, "a brokering licence for Slovakia", condPush(t, e, aim, narrow, lic), condLicence, "denied", "brokering_not_covered")
	condWant(t, "the brokering licence covering it", condPush(t, e, aim, exWith(bl, "version", json.Number("2")), lic), condLicence, "accepted")

	decl := exWith(polRecord(t, "export"), "event.broker", condBroker("AIM-BRL-2026-0011"))
	got := condPush(t, e, dpd, decl,
		exWith(decl, "id", "DPD-EVT-2026-9000002", "event.broker", condBroker("AIM-BRL-2026-0099")),
		exWith(decl, "id", "DPD-EVT-2026-9000003", "event.quantity", 501))
	condWant(t, "a brokered declaration", got, "DPD-EVT-2026-9000001", "accepted")
	condWant(t, "a declaration naming no brokering licence of the broker's", got, "DPD-EVT-2026-9000002", "denied", "brokering_licence_missing")
	condWant(t, "a declaration beyond the brokering licence", got, "DPD-EVT-2026-9000003", "denied", "brokering_not_covered",
		"licence_quantity_exceeded", "import_authorisation_invalid")

	// The excluded broker: registered and licensed, still refused.
	exclusion := exWith(polRecord(t, "excluded"), "excluded_entity.entity_id", "M01523408K",
		"excluded_entity.name", "Shqiponja Defence Trading sh.p.k.")
	condPush(t, e, aim, exclusion)
	got = condPush(t, e, dpd, exWith(decl, "id", "DPD-EVT-2026-9000004"))
	condWant(t, "an excluded broker", got, "DPD-EVT-2026-9000004", "denied", "excluded_entity")

	// The trace: AIM sees the declaration naming the broker and the
	// brokering licence; Italy, which may read neither, gets what it
	// would for an item whose brokering licence is not stored.
	trace := func(member, serial string) (events, brokering []string) {
		r := e.as(member).get("/v1/items/ALB/KAYO/" + serial + "/trace")
		var body struct {
			Events    []exchange.Delivery
			Brokering []exchange.Delivery
		}
		if r.status != http.StatusOK || json.Unmarshal(r.body, &body) != nil || body.Brokering == nil {
			t.Fatalf("trace: %d %s", r.status, r.body)
		}
		for _, d := range body.Events {
			rec, _ := e.recordOf(t, d, member)
			events = append(events, rec["id"].(string))
		}
		for _, d := range body.Brokering {
			rec, _ := e.recordOf(t, d, member)
			if rec["kind"] != "brokering_licence" {
				t.Errorf("trace brokering holds a %v", rec["kind"])
			}
			brokering = append(brokering, rec["id"].(string))
		}
		return events, brokering
	}
	ev, br := trace(aim, "K26-000123")
	if !slices.Equal(ev, []string{"DPD-EVT-2026-9000001"}) || !slices.Equal(br, []string{"AIM-BRL-2026-0011"}) {
		t.Errorf("AIM's trace: events %v, brokering %v", ev, br)
	}
	// Italy may read neither the declaration (released to ALB and CZE) nor
	// the brokering licence: its trace is that of an item never declared.
	hidden := e.as("IT/GOV/MOD").get("/v1/items/ALB/KAYO/K26-000123/trace")
	missing := e.as("IT/GOV/MOD").get("/v1/items/ALB/KAYO/K26-000999/trace")
	oracleSame(t, "brokered trace", hidden, missing, "K26-000123", "K26-000999", "AIM-BRL", "Shqiponja", "M01523408K")
}

// TestCondNewKindsWhoPushesAndReads: the agency pushes the four kinds;
// customs and a partner may not; customs reads them, a partner is answered
// as if they did not exist.
func TestCondNewKindsWhoPushesAndReads(t *testing.T) {
	e := startGateway(t, withBareRegisters())
	reg, bl := condBrokering(t)
	docs := []map[string]any{polRecord(t, "import_authorisation"), polRecord(t, "transit_authorisation"), reg, bl}
	for id, r := range condPush(t, e, "AL/GOV/AIM", docs...) {
		if r[0] != "accepted" {
			t.Errorf("AIM pushes %s: %v", id, r)
		}
	}
	for _, d := range docs {
		id := d["id"].(string)
		for member, own := range map[string]string{"AL/GOV/DPD": "DPD-X-1", "IT/GOV/MOD": "IT-GOV-MOD-X-1"} {
			got := condPush(t, e, member, exWith(d, "id", own, "label.originator", member))
			if !slices.Equal(got[own], []string{"denied", "push_not_authorised"}) {
				t.Errorf("%s pushes a %s: %v", member, d["kind"], got[own])
			}
		}
		if r := e.as("AL/GOV/DPD").get("/v1/records/" + id); r.status != http.StatusOK {
			t.Errorf("customs reads %s: %d", id, r.status)
		}
		hidden := e.as("IT/GOV/MOD").get("/v1/records/" + id)
		missing := e.as("IT/GOV/MOD").get("/v1/records/AIM-NOT-STORED-1")
		if hidden.status != http.StatusNotFound {
			t.Errorf("Italy reads %s: %d", id, hidden.status)
		}
		oracleSame(t, "get "+id, hidden, missing, id, "AIM-NOT-STORED-1")
	}
}

package server

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/ura-gateway/ura/gateway/api/exchange"
	"github.com/ura-gateway/ura/gateway/deliveries"
)

// itemEvent is AIM's event of type typ about item serial at time at.
func itemEvent(t *testing.T, id, typ, at, serial string) map[string]any {
	t.Helper()
	return polRecord(t, "export", "id", id, "label.originator", "AL/GOV/AIM", "label.releasable_to", []any{"ALB"},
		"event.type", typ, "event.at", at, "event.item.marking.serial", serial,
		"event.licence_id", nil, "event.from", nil, "event.to", nil, "event.customs_declaration", nil, "event.quantity", nil)
}

// exportOf is customs' export declaration id of item serial under customs
// declaration number decl, at time at.
func exportOf(t *testing.T, id, serial, decl, at string) map[string]any {
	t.Helper()
	return polRecord(t, "export", "id", id, "event.item.marking.serial", serial, "event.customs_declaration", decl,
		"event.at", at, "event.quantity", json.Number("1"))
}

// pushOne pushes rec as member and returns its one result.
func pushOne(t *testing.T, c *memberClient, rec map[string]any) exResultT {
	t.Helper()
	res := exResults(t, c.push(rec))
	if len(res) != 1 {
		t.Fatalf("push: %d results", len(res))
	}
	return res[0]
}

func codesOfResult(r exResultT) []string {
	var out []string
	for _, x := range r.Reasons {
		out = append(out, x["code"])
	}
	return out
}

func wantStatus(t *testing.T, what string, r exResultT, status string, codes ...string) {
	t.Helper()
	if r.Status != status || !slices.Equal(codesOfResult(r), codes) {
		t.Errorf("%s: %s %v, want %s %v", what, r.Status, codesOfResult(r), status, codes)
	}
}

// TestItemStolenStopsExport: through the real push path, the embedded
// policy and the embedded store, an item reported stolen is not declared
// for export, and is again once it is recovered; a RECOVERED of an item
// that is not missing is refused; nothing follows destruction.
func TestItemStolenStopsExport(t *testing.T) {
	c := cbStart(t)
	aim, dpd := c.as("AL/GOV/AIM"), c.as("AL/GOV/DPD")
	wantStatus(t, "licence", pushOne(t, aim, polRecord(t, "licence")), exchange.StatusAccepted)
	wantStatus(t, "manufacture", pushOne(t, aim, itemEvent(t, "AIM-EVT-2026-0000001", "MANUFACTURED", "2026-05-10T08:00:00Z", "K26-000123")), exchange.StatusAccepted)
	wantStatus(t, "recovered before any loss", pushOne(t, aim, itemEvent(t, "AIM-EVT-2026-0000002", "RECOVERED", "2026-05-11T08:00:00Z", "K26-000123")),
		exchange.StatusDenied, "item_not_missing")
	wantStatus(t, "theft", pushOne(t, aim, itemEvent(t, "AIM-EVT-2026-0000003", "STOLEN", "2026-05-20T08:00:00+02:00", "K26-000123")), exchange.StatusAccepted)
	wantStatus(t, "export of the stolen item", pushOne(t, dpd, exportOf(t, "DPD-EVT-2026-9000001", "K26-000123", "EX-2026-000456", "2026-06-02T07:55:00Z")),
		exchange.StatusDenied, "item_stolen")
	wantStatus(t, "transfer of the stolen item", pushOne(t, aim, itemEvent(t, "AIM-EVT-2026-0000004", "TRANSFERRED", "2026-05-21T08:00:00Z", "K26-000123")),
		exchange.StatusDenied, "item_stolen")
	wantStatus(t, "recovery", pushOne(t, aim, itemEvent(t, "AIM-EVT-2026-0000005", "RECOVERED", "2026-05-25T08:00:00Z", "K26-000123")), exchange.StatusAccepted)
	wantStatus(t, "export after recovery", pushOne(t, dpd, exportOf(t, "DPD-EVT-2026-9000001", "K26-000123", "EX-2026-000456", "2026-06-02T07:55:00Z")),
		exchange.StatusAccepted)

	// Destroyed: nothing follows, not even a recovery.
	wantStatus(t, "destruction", pushOne(t, aim, itemEvent(t, "AIM-EVT-2026-0000010", "DESTROYED", "2026-05-20T08:00:00Z", "K26-000999")), exchange.StatusAccepted)
	wantStatus(t, "export of a destroyed item", pushOne(t, dpd, exportOf(t, "DPD-EVT-2026-9000002", "K26-000999", "EX-2026-000457", "2026-06-02T07:55:00Z")),
		exchange.StatusDenied, "item_destroyed")
	wantStatus(t, "storage of a destroyed item", pushOne(t, aim, itemEvent(t, "AIM-EVT-2026-0000011", "STORED", "2026-05-21T08:00:00Z", "K26-000999")),
		exchange.StatusDenied, "item_destroyed")
	wantStatus(t, "recovery of a destroyed item", pushOne(t, aim, itemEvent(t, "AIM-EVT-2026-0000012", "RECOVERED", "2026-05-22T08:00:00Z", "K26-000999")),
		exchange.StatusDenied, "item_destroyed")

	// In one batch, a theft reported before an export stops it.
	batch := exResults(t, aim.push(itemEvent(t, "AIM-EVT-2026-0000020", "STOLEN", "2026-05-20T08:00:00Z", "K26-000777")))
	wantStatus(t, "theft", batch[0], exchange.StatusAccepted)
	res := exResults(t, dpd.push(exportOf(t, "DPD-EVT-2026-9000003", "K26-000888", "EX-2026-000458", "2026-06-02T07:55:00Z"),
		exportOf(t, "DPD-EVT-2026-9000004", "K26-000777", "EX-2026-000458", "2026-06-02T07:56:00Z")))
	wantStatus(t, "export of another item", res[0], exchange.StatusAccepted)
	wantStatus(t, "export of the stolen item in a batch", res[1], exchange.StatusDenied, "item_stolen")
}

// TestImportAgainstUnknownLicence: an IMPORT_DECLARED names an import
// licence of this nation in force; an unknown one, or an export licence,
// is refused.
func TestImportAgainstUnknownLicence(t *testing.T) {
	c := cbStart(t)
	aim, dpd := c.as("AL/GOV/AIM"), c.as("AL/GOV/DPD")
	importLicence := polRecord(t, "licence", "id", "AIM-LIC-2026-000200", "licence.type", "import", "licence.destination", "ALB")
	wantStatus(t, "import licence", pushOne(t, aim, importLicence), exchange.StatusAccepted)
	wantStatus(t, "export licence", pushOne(t, aim, polRecord(t, "licence")), exchange.StatusAccepted)
	imp := func(id, lic string) map[string]any {
		return polRecord(t, "export", "id", id, "event.type", "IMPORT_DECLARED", "event.from", "CZE", "event.to", "ALB",
			"event.licence_id", lic, "event.customs_declaration", "IM-2026-000001", "event.item.marking.serial", "CZ-1")
	}
	wantStatus(t, "import under an unknown licence", pushOne(t, dpd, imp("DPD-EVT-2026-9100001", "AIM-LIC-2026-999999")), exchange.StatusDenied, "licence_unknown")
	wantStatus(t, "import under an export licence", pushOne(t, dpd, imp("DPD-EVT-2026-9100002", "AIM-LIC-2026-000123")), exchange.StatusDenied, "licence_type_mismatch")
	wantStatus(t, "import under the import licence", pushOne(t, dpd, imp("DPD-EVT-2026-9100003", "AIM-LIC-2026-000200")), exchange.StatusAccepted)
}

// TestExitWithoutDeclarationFlagged: an exit is stored whether or not its
// declaration is, and one without a matching declaration carries its flag
// in the signed result and the audit log, where it is searched for.
func TestExitWithoutDeclarationFlagged(t *testing.T) {
	c := cbStart(t)
	aim, dpd := c.as("AL/GOV/AIM"), c.as("AL/GOV/DPD")
	pushOne(t, aim, polRecord(t, "licence"))
	wantStatus(t, "export", pushOne(t, dpd, exportOf(t, "DPD-EVT-2026-9000001", "K26-000123", "EX-2026-000456", "2026-06-02T07:55:00Z")), exchange.StatusAccepted)
	exit := func(id, serial, decl string) map[string]any {
		return polRecord(t, "export", "id", id, "event.type", "EXIT_CONFIRMED", "event.item.marking.serial", serial,
			"event.customs_declaration", decl, "event.at", "2026-06-03T07:55:00Z", "event.quantity", json.Number("1"))
	}
	wantStatus(t, "matching exit", pushOne(t, dpd, exit("DPD-EVT-2026-9000002", "K26-000123", "EX-2026-000456")), exchange.StatusAccepted)
	flagged := pushOne(t, dpd, exit("DPD-EVT-2026-9000003", "K26-000123", "EX-2026-099999"))
	wantStatus(t, "exit without declaration", flagged, exchange.StatusAccepted, "exit_without_declaration")
	wantStatus(t, "exit of another item", pushOne(t, dpd, exit("DPD-EVT-2026-9000004", "K26-000124", "EX-2026-000456")),
		exchange.StatusAccepted, "exit_declaration_mismatch")
	found := false
	for _, ev := range c.audit.All() {
		if ev.RecordID == "DPD-EVT-2026-9000003" && ev.Decision == "allow" && len(ev.Reasons) == 1 && ev.Reasons[0].Code == "exit_without_declaration" {
			found = true
		}
	}
	if !found {
		t.Error("the flagged exit's decision event does not carry its flag")
	}
	if got := c.stored(t); !slices.Contains(got, "DPD-EVT-2026-9000003 v1") {
		t.Errorf("the flagged exit was not stored: %v", got)
	}
}

func unconfirmed(t *testing.T, c *memberClient) []deliveries.Unconfirmed {
	t.Helper()
	var body struct {
		Days        int                      `json:"confirm_within_days"`
		Unconfirmed []deliveries.Unconfirmed `json:"unconfirmed"`
	}
	r := c.get("/v1/deliveries/unconfirmed")
	if r.status != http.StatusOK || json.Unmarshal(r.body, &body) != nil || body.Days != 90 {
		t.Fatalf("unconfirmed deliveries: %d %s", r.status, r.body)
	}
	return body.Unconfirmed
}

func idsOf(list []deliveries.Unconfirmed) []string {
	out := []string{}
	for _, u := range list {
		out = append(out, u.ID)
	}
	return out
}

// TestUnconfirmedDeliveries: exports declared more than 90 days ago that
// the importing state has not confirmed are listed, oldest first; a
// confirmation from the importing state, pushed or relayed, closes one; a
// confirmation from another state is refused and closes nothing.
func TestUnconfirmedDeliveries(t *testing.T) {
	c := cbStart(t)
	aim, dpd := c.as("AL/GOV/AIM"), c.as("AL/GOV/DPD")
	pushOne(t, aim, polRecord(t, "licence"))
	for _, x := range [][4]string{
		{"DPD-EVT-2026-9000001", "K26-000001", "EX-2026-000001", "2026-06-02T07:55:00Z"},
		{"DPD-EVT-2026-9000002", "K26-000002", "EX-2026-000002", "2026-06-03T07:55:00Z"},
		{"DPD-EVT-2026-9000003", "K26-000003", "EX-2026-000003", "2026-06-01T07:55:00Z"},
		{"DPD-EVT-2026-9000004", "K26-000004", "EX-2026-000004", "2099-01-01T00:00:00Z"}, // not overdue
	} {
		wantStatus(t, x[0], pushOne(t, dpd, exportOf(t, x[0], x[1], x[2], x[3])), exchange.StatusAccepted)
	}
	want := []string{"DPD-EVT-2026-9000003", "DPD-EVT-2026-9000001", "DPD-EVT-2026-9000002"}
	if got := idsOf(unconfirmed(t, aim)); !slices.Equal(got, want) {
		t.Fatalf("listed %v, want %v", got, want)
	}
	list := unconfirmed(t, c.as("AL/GOV/AUDIT"))
	if !slices.Equal(idsOf(list), want) || list[0].CustomsDeclaration != "EX-2026-000003" || list[0].Item.Serial != "K26-000003" ||
		list[0].To != "CZE" || list[0].WaitingSeconds < 90*86400 {
		t.Errorf("the officer's list: %+v", list)
	}
	cz := partnerClient(t, c, "CZ/GOV/MOD")
	confirm := func(id, originator, decl, to string) map[string]any {
		return polRecord(t, "export", "id", id, "label.originator", originator, "label.releasable_to", []any{"ALB", to},
			"event.type", "DELIVERY_CONFIRMED", "event.customs_declaration", decl, "event.from", "ALB", "event.to", to,
			"event.at", "2026-06-10T10:00:00Z", "event.licence_id", nil)
	}
	wantStatus(t, "Serbia confirms Czechia's delivery", pushOne(t, c.as("RS/GOV/MOD"), confirm("RS-GOV-MOD-DC-1", "RS/GOV/MOD", "EX-2026-000001", "CZE")),
		exchange.StatusDenied, "delivery_not_from_importer")
	wantStatus(t, "Czechia confirms", pushOne(t, cz, confirm("CZ-GOV-MOD-DC-1", "CZ/GOV/MOD", "EX-2026-000001", "CZE")), exchange.StatusAccepted)
	if got := idsOf(unconfirmed(t, aim)); !slices.Equal(got, []string{"DPD-EVT-2026-9000003", "DPD-EVT-2026-9000002"}) {
		t.Errorf("after Czechia's confirmation: %v", got)
	}

	// An export to Italy, confirmed by Italy's ministry through Italy's
	// gateway.
	// Its licence is issued against Italy's import authorisation and the
	// end user's certificate (Licence conditions).
	wantStatus(t, "Italy's import authorisation", pushOne(t, aim, polRecord(t, "import_authorisation", "id", "AIM-IA-2026-0124",
		"import_authorisation.reference", "IT-IA-2026-0124", "import_authorisation.destination", "ITA")), exchange.StatusAccepted)
	wantStatus(t, "the Italian end user's certificate", pushOne(t, aim, polRecord(t, "end_user_certificate", "id", "AIM-EUC-2026-0124",
		"end_user_certificate.country", "ITA", "end_user_certificate.end_user.country", "ITA")), exchange.StatusAccepted)
	wantStatus(t, "licence for Italy", pushOne(t, aim, polRecord(t, "licence", "id", "AIM-LIC-2026-000124", "licence.destination", "ITA",
		"licence.end_user.country", "ITA", "licence.import_authorisation", "IT-IA-2026-0124", "licence.end_user_certificate_id", "AIM-EUC-2026-0124")),
		exchange.StatusAccepted)
	toItaly := polRecord(t, "export", "id", "DPD-EVT-2026-9000005", "event.licence_id", "AIM-LIC-2026-000124", "event.to", "ITA",
		"label.releasable_to", []any{"ALB", "ITA"}, "event.item.marking.serial", "K26-000005", "event.customs_declaration", "EX-2026-000005",
		"event.quantity", json.Number("1"))
	wantStatus(t, "export to Italy", pushOne(t, dpd, toItaly), exchange.StatusAccepted)
	if got := idsOf(unconfirmed(t, aim)); !slices.Contains(got, "DPD-EVT-2026-9000005") {
		t.Fatalf("the export to Italy is not listed: %v", got)
	}
	relayed := c.relay(t, confirm("IT-GOV-MOD-DC-5", "IT/GOV/MOD", "EX-2026-000005", "ITA"))
	if relayed[0].Status != exchange.StatusAccepted {
		t.Fatalf("Italy's relayed confirmation: %+v", relayed[0])
	}
	if got := idsOf(unconfirmed(t, aim)); slices.Contains(got, "DPD-EVT-2026-9000005") {
		t.Errorf("the relayed confirmation did not close the export to Italy: %v", got)
	}
}

func partnerClient(t *testing.T, c *cbEnv, member string) *memberClient {
	t.Helper()
	return c.as(member)
}

// TestUnconfirmedDeliveriesRefusedAlike: every kind of member but the
// agency and security officers is refused, one test per kind, and the
// refusal is the same whether exports wait or not; a declaration the
// agency may not pull is not in its list, which then reads exactly as if
// the declaration were not stored.
func TestUnconfirmedDeliveriesRefusedAlike(t *testing.T) {
	c := cbStart(t)
	members := []string{"AL/GOV/MOD", "AL/GOV/DPD", "IT/GOV/MOD", "NATO/ORG/LIAISON", fedPeerID}
	refusals := func() map[string]string {
		out := map[string]string{}
		for _, m := range members {
			p := c.as(m).get("/v1/deliveries/unconfirmed").problem(t, http.StatusForbidden, "urn:ura:problem:forbidden")
			delete(p, "instance")
			out[m] = jsonString(p)
		}
		return out
	}
	before := refusals()
	pushOne(t, c.as("AL/GOV/AIM"), polRecord(t, "licence"))
	wantStatus(t, "export", pushOne(t, c.as("AL/GOV/DPD"), exportOf(t, "DPD-EVT-2026-9000001", "K26-000001", "EX-2026-000001", "2026-06-02T07:55:00Z")), exchange.StatusAccepted)
	for _, m := range members {
		t.Run(m, func(t *testing.T) {
			after := refusals()
			if after[m] != before[m] {
				t.Errorf("the refusal changed once an export waits:\n%s\n%s", before[m], after[m])
			}
		})
	}
	aim := c.as("AL/GOV/AIM")
	shown := aim.get("/v1/deliveries/unconfirmed")
	// Customs declares an export it releases only to Czechia: the agency
	// may not pull it, so its list is the same as before.
	hidden := exportOf(t, "DPD-EVT-2026-9000002", "K26-000002", "EX-2026-000002", "2026-06-02T07:56:00Z")
	hidden["label"].(map[string]any)["releasable_to"] = []any{"CZE"}
	wantStatus(t, "export released to Czechia only", pushOne(t, c.as("AL/GOV/DPD"), hidden), exchange.StatusAccepted)
	again := aim.get("/v1/deliveries/unconfirmed")
	strip := func(r memberResponse) string {
		m := r.json(t)
		delete(m, "as_of")
		list, _ := m["unconfirmed"].([]any)
		for _, u := range list {
			delete(u.(map[string]any), "waiting_seconds")
		}
		return jsonString(m)
	}
	if strip(shown) != strip(again) || shown.header.Get("RateLimit-Policy") != again.header.Get("RateLimit-Policy") {
		t.Errorf("a declaration the agency may not pull shows in its list:\n%s\n%s", strip(shown), strip(again))
	}
	if got := idsOf(unconfirmed(t, c.as("AL/GOV/AUDIT"))); len(got) != 2 {
		t.Errorf("the officer's list: %v", got)
	}
	p := aim.get("/v1/deliveries/unconfirmed?days=5").problem(t, http.StatusBadRequest, "urn:ura:problem:bad-request")
	if errs, _ := p["errors"].([]any); len(errs) != 1 || errs[0].(map[string]any)["pointer"] != "days" {
		t.Errorf("unknown parameter: %v", p)
	}
}

package registers

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/ura-gateway/ura/gateway/records"
)

// Each keyed register of licence conditions derives its entries and the
// keys a decision reads from the record alone.
func TestConditionRegisters(t *testing.T) {
	goods := []any{map[string]any{"ml_category": "ML1", "quantity": json.Number("300")},
		map[string]any{"ml_category": "ML1", "quantity": json.Number("20")}}
	broker := map[string]any{"entity_id": "M01523408K", "name": "Shqiponja", "brokering_licence_id": "AIM-BRL-1"}
	lic := rec(t, records.KindLicence, "LIC-1", 1, map[string]any{"type": "export", "status": "issued",
		"import_authorisation": "MK-1", "end_user_certificate_id": "EUC-1", "transit": []any{"MNE", "SRB"}, "broker": broker})
	bare := rec(t, records.KindLicence, "LIC-2", 1, map[string]any{"type": "export"})
	decl := rec(t, records.KindTrackingEvent, "D-1", 1, map[string]any{"type": "EXPORT_DECLARED", "licence_id": "LIC-1", "broker": broker})
	other := rec(t, records.KindTrackingEvent, "E-1", 1, map[string]any{"type": "STORED", "broker": broker})
	via := rec(t, records.KindTrackingEvent, "D-2", 1, map[string]any{"type": "EXPORT_DECLARED", "licence_id": "LIC-1", "transit": []any{"MNE"}})
	imported := rec(t, records.KindTrackingEvent, "D-3", 1, map[string]any{"type": "IMPORT_DECLARED", "licence_id": "LIC-1", "transit": []any{"MNE"}})
	ia := rec(t, records.KindImportAuthorisation, "IA-1", 1, map[string]any{"reference": "MK-1", "destination": "MKD",
		"valid_from": "2026-01-01", "valid_until": "2027-01-01", "items": goods})
	ta := rec(t, records.KindTransitAuthorisation, "TA-1", 1, map[string]any{"licence_id": "LIC-1", "transit_state": "MNE",
		"valid_from": "2026-01-01", "valid_until": "2027-01-01"})
	euc := rec(t, records.KindEndUserCertificate, "EUC-1", 2, map[string]any{"end_user": map[string]any{"name": "Army", "country": "MKD"},
		"country": "MKD", "issued_on": "2026-01-01", "valid_until": "2027-01-01", "items": goods, "reexport_clause": "no re-export"})
	revoked := rec(t, records.KindEndUserCertificate, "EUC-2", 1, map[string]any{"status": "revoked"})
	reg := rec(t, records.KindBrokerRegistration, "REG-1", 1, map[string]any{"broker": map[string]any{"entity_id": "M01523408K"},
		"registering_state": "ALB", "registration_number": "R-4", "status": "active"})
	bl := rec(t, records.KindBrokeringLicence, "AIM-BRL-1", 1, map[string]any{"broker": map[string]any{"entity_id": "M01523408K"},
		"destination": "HUN", "status": "issued", "items": goods})

	entries := func(k Keyed, r *records.Record) string {
		b, err := json.Marshal(k.Entries(r))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	for _, tc := range []struct {
		name string
		got  string
		want string
	}{
		{"import authorisation", entries(importAuthorisations, ia),
			`[{"Key":"MK-1","Value":{"record_id":"IA-1","reference":"MK-1","destination":"MKD","valid_from":"2026-01-01","valid_until":"2027-01-01","items":{"ML1":320}}}]`},
		{"transit authorisation", entries(transitAuthorisations, ta),
			`[{"Key":"LIC-1|MNE","Value":{"record_id":"TA-1","transit_state":"MNE","licence_id":"LIC-1","valid_from":"2026-01-01","valid_until":"2027-01-01"}}]`},
		{"certificate", entries(endUserCertificates, euc),
			`[{"Key":"EUC-1","Value":{"record_id":"EUC-1","status":"valid","end_user":{"name":"Army","country":"MKD"},"country":"MKD","issued_on":"2026-01-01","valid_until":"2027-01-01","items":{"ML1":320},"reexport_clause":true}}]`},
		{"revoked certificate", entries(endUserCertificates, revoked),
			`[{"Key":"EUC-2","Value":{"record_id":"EUC-2","status":"revoked","end_user":{"name":"","country":""},"country":"","issued_on":"","valid_until":"","items":{},"reexport_clause":false}}]`},
		{"licence conditions", entries(licenceConditions, lic),
			`[{"Key":"LIC-1","Value":{"import_authorisation":"MK-1","end_user_certificate":"EUC-1","transit":["MNE","SRB"]}}]`},
		{"licence without conditions", entries(licenceConditions, bare), `[{"Key":"LIC-2","Value":{"transit":[]}}]`},
		{"registration", entries(brokerRegistrations, reg),
			`[{"Key":"M01523408K","Value":{"record_id":"REG-1","registering_state":"ALB","registration_number":"R-4","valid_from":"","valid_until":"","status":"active"}}]`},
		{"brokering licence", entries(brokeringLicences, bl),
			`[{"Key":"AIM-BRL-1","Value":{"record_id":"AIM-BRL-1","broker":"M01523408K","destination":"HUN","status":"issued","valid_from":"","valid_until":"","items":{"ML1":320}}}]`},
		{"other kinds put nothing", entries(importAuthorisations, lic) + entries(transitAuthorisations, ia) +
			entries(licenceConditions, decl) + entries(brokerRegistrations, bl) + entries(brokeringLicences, reg) + entries(endUserCertificates, lic), "nullnullnullnullnullnull"},
	} {
		if tc.got != tc.want {
			t.Errorf("%s:\n got %s\nwant %s", tc.name, tc.got, tc.want)
		}
	}

	for _, tc := range []struct {
		name string
		k    Keyed
		rec  *records.Record
		want []string
	}{
		{"licence names its import authorisation", importAuthorisations, lic, []string{"MK-1"}},
		{"licence names its certificate", endUserCertificates, lic, []string{"EUC-1"}},
		{"licence reads each transit state's", transitAuthorisations, lic, []string{"LIC-1|MNE", "LIC-1|SRB"}},
		{"licence names its broker", brokerRegistrations, lic, []string{"M01523408K"}},
		{"licence names its brokering licence", brokeringLicences, lic, []string{"AIM-BRL-1"}},
		{"declaration reads its licence's conditions", licenceConditions, decl, []string{"LIC-1"}},
		{"declaration names its broker", brokerRegistrations, decl, []string{"M01523408K"}},
		{"declaration names no authorisation itself", importAuthorisations, decl, nil},
		{"a licence naming nothing reads nothing", importAuthorisations, bare, nil},
		{"a licence without transit reads none", transitAuthorisations, bare, nil},
		{"declaration reads its licence's non-objection of each state passed", transitAuthorisations, via, []string{"LIC-1|MNE"}},
		{"declaration through no state reads none", transitAuthorisations, decl, nil},
		{"an import declaration reads none", transitAuthorisations, imported, nil},
		{"another event's broker is not read", brokeringLicences, other, nil},
	} {
		if got := tc.k.Lookups(tc.rec); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: lookups %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A declaration reads its licence's conditions, then (Follow) the import
// authorisation and certificate they name: from the store in a second read,
// or from the batch's overlay when the licence came earlier in the batch.
func TestConditionsFollow(t *testing.T) {
	lic := rec(t, records.KindLicence, "LIC-1", 1, map[string]any{"type": "export", "status": "issued",
		"import_authorisation": "MK-1", "end_user_certificate_id": "EUC-1"})
	ia := rec(t, records.KindImportAuthorisation, "IA-1", 1, map[string]any{"reference": "MK-1", "destination": "MKD"})
	euc := rec(t, records.KindEndUserCertificate, "EUC-1", 1, map[string]any{"status": "revoked"})
	decl := rec(t, records.KindTrackingEvent, "D-1", 1, map[string]any{"type": "EXPORT_DECLARED", "licence_id": "LIC-1",
		"item": map[string]any{"ml_category": "ML1"}})

	// The store: what each read is asked for, answered from the three records.
	stored := NewOverlay(nil)
	for _, r := range []*records.Record{lic, ia, euc} {
		stored.Apply(r)
	}
	var asked [][]KeyRef
	read := func(_ context.Context, refs Refs) (*Snapshot, error) {
		asked = append(asked, refs.Keyed)
		out := NewSnapshot()
		for _, k := range refs.Keyed {
			for id, v := range stored.s.Keyed[k.Register][k.Key] {
				out.AddKeyed(k.Register, k.Key, id, v)
			}
		}
		return out, nil
	}
	snap, err := Read(context.Background(), []*records.Record{decl}, read)
	if err != nil {
		t.Fatal(err)
	}
	want := [][]KeyRef{{{"licence_conditions", "LIC-1"}},
		{{"end_user_certificates", "EUC-1"}, {"import_authorisations", "MK-1"}}}
	if !reflect.DeepEqual(asked, want) {
		t.Errorf("reads %v, want %v", asked, want)
	}
	doc := NewOverlay(snap).For(decl).Doc()
	if _, ok := doc["import_authorisations"].(map[string]any)["MK-1"]; !ok {
		t.Errorf("the declaration's decision lacks the import authorisation: %v", doc)
	}
	if _, ok := doc["end_user_certificates"].(map[string]any)["EUC-1"]; !ok {
		t.Errorf("the declaration's decision lacks the certificate: %v", doc)
	}

	// Nothing stored: the licence and its authorisation earlier in the batch.
	o := NewOverlay(nil)
	o.Apply(ia)
	o.Apply(lic)
	doc = o.For(decl).Doc()
	if _, ok := doc["import_authorisations"].(map[string]any)["MK-1"]; !ok {
		t.Errorf("the batch's own authorisation is missing: %v", doc)
	}
	if got := doc["end_user_certificates"].(map[string]any); len(got) != 0 {
		t.Errorf("a certificate no one pushed: %v", got)
	}
}

// TestConditionsJSON: the conditions a licence puts on the register are
// the encoder's bytes, whatever their strings hold.
func TestConditionsJSON(t *testing.T) {
	strs := []string{"", "MK-1", "a b", "<&>", `q"uote`, `back\slash`, "tab\there", "del\x7f", "Ђурић", "\u2028", "\xff", "~"}
	var cases []conditionsValue
	for _, a := range strs {
		for _, b := range strs {
			cases = append(cases,
				conditionsValue{ImportAuthorisation: a, EndUserCertificate: b, Transit: []string{}},
				conditionsValue{ImportAuthorisation: a, Transit: []string{b, a}},
				conditionsValue{EndUserCertificate: a, Transit: []string{b}})
		}
	}
	cases = append(cases, conditionsValue{}, conditionsValue{Transit: []string{""}})
	for _, c := range cases {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(c); err != nil {
			t.Fatal(err)
		}
		want := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
		got, err := marshalValue(c)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%+v: %s (%v), the encoder writes %s", c, got, err, want)
		}
	}
}

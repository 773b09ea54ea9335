package registers

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/ura-gateway/ura/gateway/records"
)

func decoded(t *testing.T, kind, id, originator, body string) *records.Record {
	t.Helper()
	var b map[string]any
	dec := json.NewDecoder(strings.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&b); err != nil {
		t.Fatal(err)
	}
	return &records.Record{Kind: kind, ID: id, Version: 1, Label: records.Label{Originator: originator},
		Doc: map[string]any{records.BodyKey(kind): b}}
}

// TestScreeningEntries: a denial is listed once per category it denies,
// under its destination; a consultation under its denial; an excluded
// entity under the start of each word of its name; a licence looks up its
// destination with each category, and the words of every party.
func TestScreeningEntries(t *testing.T) {
	den := decoded(t, records.KindDenial, "IT-DEN-1", "IT/GOV/MOD", `{"denying_state":"ITA","date":"2026-05-10","criteria":[2,7],
		"destination":"SRB","end_user":{"name":"Đorđević Trading","country":"SRB"},"status":"active","reasons":"r",
		"goods":[{"ml_category":"ML1","description":"a"},{"ml_category":"ML3","description":"b"},{"ml_category":"ML1","description":"c"}]}`)
	es := denialEntries(den)
	if len(es) != 2 || es[0].Key != "SRB|ML1" || es[1].Key != "SRB|ML3" {
		t.Fatalf("denial entries %+v", es)
	}
	d := es[1].Value.(Denial)
	if d.MLCategory != "ML3" || d.DenyingState != "ITA" || !slices.Equal(d.Criteria, []int64{2, 7}) || d.EndUser.Name != "Đorđević Trading" ||
		d.Consignee != nil || d.Originator != "IT/GOV/MOD" || d.Status != "active" {
		t.Errorf("denial value %+v", d)
	}
	cons := decoded(t, records.KindConsultation, "AIM-CONS-1", "AL/GOV/AIM", `{"denial_id":"IT-DEN-1","outcome":"proceed"}`)
	if es := consultationEntries(cons); len(es) != 1 || es[0].Key != "IT-DEN-1" ||
		es[0].Value != (Consultation{RecordID: "AIM-CONS-1", Originator: "AL/GOV/AIM", Outcome: "proceed"}) {
		t.Errorf("consultation entries %+v", es)
	}
	exc := decoded(t, records.KindExcludedEntity, "AIM-EXC-1", "AL/GOV/AIM", `{"entity_id":"X1","name":"Ђурић Оружје","country":"SRB","excluded_from":"2026-01-01"}`)
	es = excludedNameEntries(exc)
	if len(es) != 2 || es[0].Key != "dj" || es[1].Key != "or" || es[0].Value.(Excluded).Name != "Ђурић Оружје" {
		t.Errorf("excluded entries %+v", es)
	}
	lic := decoded(t, records.KindLicence, "AIM-LIC-1", "AL/GOV/AIM", `{"destination":"SRB","holder":{"name":"KAYO sh.a."},
		"end_user":{"name":"Djuric Oruzje","country":"SRB"},"items":[{"ml_category":"ML1"},{"ml_category":"ML1"},{"ml_category":"ML4"}]}`)
	if got := denialLookups(lic); !slices.Equal(got, []string{"SRB|ML1", "SRB|ML4"}) {
		t.Errorf("denial lookups %v", got)
	}
	if got := excludedNameLookups(lic); !slices.Equal(got, []string{"ka", "dj", "or"}) {
		t.Errorf("excluded lookups %v", got)
	}
	for _, f := range []func(*records.Record) []KeyedEntry{denialEntries, consultationEntries, excludedNameEntries} {
		if es := f(lic); es != nil {
			t.Errorf("a licence puts %+v", es)
		}
	}
	if denialLookups(den) != nil || excludedNameLookups(den) != nil {
		t.Error("a denial looks up screening registers")
	}
}

package registers

import (
	"encoding/json"
	"testing"

	"github.com/ura-gateway/ura/gateway/records"
)

func rec(t *testing.T, kind, id string, version int, body map[string]any) *records.Record {
	t.Helper()
	doc := map[string]any{"kind": kind, "id": id, "version": json.Number(itoa(version)),
		"label": map[string]any{"originator": "AL/GOV/AIM"}, records.BodyKey(kind): body}
	return &records.Record{Kind: kind, ID: id, Version: version, Label: records.Label{Originator: "AL/GOV/AIM"}, Doc: doc}
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// The overlay decides a batch as if its records were stored one by one, and
// gives each decision only what its record refers to.
func TestOverlay(t *testing.T) {
	// The fixed registers alone: the keyed ones have tests of their own.
	t.Cleanup(SetKeyed(nil))
	lic := rec(t, records.KindLicence, "LIC-1", 1, map[string]any{"status": "issued", "type": "export",
		"holder": map[string]any{"entity_id": "E1", "name": "Kayo sh.a."},
		"items":  []any{map[string]any{"ml_category": "ML1", "quantity": json.Number("10")}}})
	decl := func(id string, version int, q string) *records.Record {
		return rec(t, records.KindTrackingEvent, id, version, map[string]any{"type": "EXPORT_DECLARED", "licence_id": "LIC-1",
			"quantity": json.Number(q), "item": map[string]any{"ml_category": "ML1"}})
	}
	excl := rec(t, records.KindExcludedEntity, "X1", 1, map[string]any{"name": "KAYO, SH.A.", "excluded_from": "2025-01-01"})
	other := rec(t, records.KindEndUserCertificate, "EUC-1", 1, map[string]any{"end_user": map[string]any{"name": "Someone else"}})

	refs := RefsOf([]*records.Record{lic, decl("D1", 1, "4"), excl, other})
	if len(refs.Licences) != 1 || len(refs.Declarations) != 1 || len(refs.EntityIDs) != 1 || len(refs.Names) != 2 {
		t.Fatalf("refs = %+v", refs)
	}
	o := NewOverlay(nil)
	o.Apply(lic)
	o.Apply(decl("D1", 1, "4"))
	o.Apply(decl("D2", 1, "3"))
	o.Apply(decl("D1", 2, "5")) // replaces its 4
	o.Apply(decl("D1", 1, "9")) // older: nothing
	o.Apply(excl)
	snap := o.For(decl("D3", 1, "1"))
	if got := snap.Exported["LIC-1"]["ML1"]; got != 8 {
		t.Errorf("exported = %d, want 8", got)
	}
	if snap.ByName["kayo sh a"]["X1"] == nil {
		t.Errorf("the holder's exclusion by name is missing: %+v", snap.ByName)
	}
	if s := o.For(other); len(s.Licences)+len(s.Exported)+len(s.ByName) != 0 {
		t.Errorf("a record that refers to none of them got %+v", s)
	}
	doc := snap.Doc()
	// Every keyed register is there, empty: those are tested with their
	// own records (keyed_test.go and each register's tests).
	for name := range KeyedVersions() {
		if m, ok := doc[name].(map[string]any); !ok || len(m) != 0 {
			t.Errorf("keyed register %s = %v, want present and empty", name, doc[name])
		}
		delete(doc, name)
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"entities":{},"excluded":{"by_id":{},"by_name":{"kayo sh a":{"X1":{"from":"2025-01-01","record_id":"X1"}}}},` +
		`"exported":{"LIC-1":{"ML1":8}},"licences":{"LIC-1":{"destination":"","holder":{"entity_id":"E1","name":"Kayo sh.a."},` +
		`"items":{"ML1":10},"originator":"AL/GOV/AIM","status":"issued","type":"export","valid_from":"","valid_until":""}}}`
	if string(b) != want {
		t.Errorf("input.registers =\n%s\nwant\n%s", b, want)
	}
}

// WithoutLicence: a declaration's copy that cites no licence is given none
// of what the overlay holds of its licence (the entry, its exports, its
// holder's exclusions, its conditions), refers to none, and leaves the
// declaration as it was.
func TestWithoutLicence(t *testing.T) {
	lic := rec(t, records.KindLicence, "LIC-1", 1, map[string]any{"status": "issued", "type": "export",
		"holder": map[string]any{"entity_id": "E1", "name": "Kayo sh.a."}, "import_authorisation": "IA-1",
		"items": []any{map[string]any{"ml_category": "ML1", "quantity": json.Number("10")}}})
	excl := rec(t, records.KindExcludedEntity, "X1", 1, map[string]any{"name": "KAYO, SH.A.", "excluded_from": "2025-01-01"})
	decl := rec(t, records.KindTrackingEvent, "D1", 1, map[string]any{"type": "EXPORT_DECLARED", "licence_id": "LIC-1",
		"quantity": json.Number("4"), "item": map[string]any{"ml_category": "ML1"}})
	o := NewOverlay(nil)
	for _, r := range []*records.Record{lic, excl, decl} {
		o.Apply(r)
	}
	if s := o.For(decl); len(s.Licences) != 1 || len(s.Exported) != 1 || len(s.ByName) != 1 {
		t.Fatalf("the declaration itself: %+v", s)
	}
	blind := WithoutLicence(decl)
	if got, ok := DeclaredLicence(decl); !ok || got != "LIC-1" {
		t.Errorf("the declaration was changed: cites %q", got)
	}
	if got, ok := DeclaredLicence(blind); ok {
		t.Errorf("the copy cites %q", got)
	}
	if blind.ID != decl.ID || blind.Version != decl.Version || blind.Kind != decl.Kind {
		t.Errorf("the copy is %s v%d (%s)", blind.ID, blind.Version, blind.Kind)
	}
	if refs := RefsOf([]*records.Record{blind}); len(refs.Licences) != 0 || len(refs.EntityIDs)+len(refs.Names) != 0 {
		t.Errorf("the copy refers to %+v", refs)
	}
	s := o.For(blind)
	if len(s.Licences)+len(s.Exported)+len(s.ByID)+len(s.ByName) != 0 {
		t.Errorf("the copy was given %+v", s)
	}
	for name, keys := range s.Keyed {
		if len(keys) != 0 {
			t.Errorf("the copy was given keyed register %s: %v", name, keys)
		}
	}
}

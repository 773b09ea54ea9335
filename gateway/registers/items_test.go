package registers

import (
	"encoding/json"
	"testing"

	"github.com/ura-gateway/ura/gateway/records"
)

func event(t *testing.T, id string, version int, typ, at, serial string, extra map[string]any) *records.Record {
	t.Helper()
	body := map[string]any{"type": typ, "at": at, "item": map[string]any{"ml_category": "ML1",
		"marking": map[string]any{"manufacturer": "KAYO", "country": "ALB", "serial": serial, "year": json.Number("2026")}}}
	for k, v := range extra {
		body[k] = v
	}
	return rec(t, records.KindTrackingEvent, id, version, body)
}

func keyedJSON(t *testing.T, s *Snapshot) string {
	t.Helper()
	doc := s.Doc()
	b, err := json.Marshal(map[string]any{"items": doc["items"], "declarations": doc["declarations"]})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestItemsAndDeclarations: which events put what on the registers of items
// and declarations, which keys a decision reads, and how a batch's overlay
// applies a new version.
func TestItemsAndDeclarations(t *testing.T) {
	stolen := event(t, "E1", 1, "STOLEN", "2026-05-20T10:00:00+02:00", "K1", nil)
	trace := event(t, "E2", 1, "TRACE_REQUEST", "2026-05-21T08:00:00Z", "K1", map[string]any{"trace": map[string]any{"request_id": "T1"}})
	export := event(t, "E3", 1, "EXPORT_DECLARED", "2026-05-22T08:00:00Z", "K1",
		map[string]any{"licence_id": "LIC-1", "quantity": json.Number("3"), "to": "CZE", "from": "ALB", "customs_declaration": "EX-1"})
	exit := event(t, "E4", 1, "EXIT_CONFIRMED", "2026-05-23T08:00:00Z", "K1", map[string]any{"to": "CZE", "customs_declaration": "EX-1"})
	delivery := event(t, "E5", 1, "DELIVERY_CONFIRMED", "2026-05-24T08:00:00Z", "K1", map[string]any{"to": "CZE", "customs_declaration": "EX-1"})

	if got := itemLookups(trace); got != nil {
		t.Errorf("a trace request reads the item's state: %v", got)
	}
	if got := itemLookups(export); len(got) != 1 || got[0] != "ALB|KAYO|K1" {
		t.Errorf("item lookups %v", got)
	}
	if got := declarationLookups(exit); len(got) != 1 || got[0] != "EX-1" {
		t.Errorf("an exit reads %v", got)
	}
	for _, r := range []*records.Record{export, delivery, stolen} {
		if got := declarationLookups(r); got != nil {
			t.Errorf("%s reads the declarations: %v", r.Body()["type"], got)
		}
	}
	o := NewOverlay(nil)
	for _, r := range []*records.Record{stolen, trace, export, exit, delivery} {
		o.Apply(r)
	}
	got := keyedJSON(t, o.For(exit))
	want := `{"declarations":{"EX-1":{` +
		`"E3":{"at":"2026-05-22T08:00:00.000000000Z","from":"ALB","item":"ALB|KAYO|K1","licence_id":"LIC-1","ml_category":"ML1","quantity":3,"to":"CZE","type":"EXPORT_DECLARED"},` +
		`"E4":{"at":"2026-05-23T08:00:00.000000000Z","item":"ALB|KAYO|K1","ml_category":"ML1","quantity":1,"to":"CZE","type":"EXIT_CONFIRMED"},` +
		`"E5":{"at":"2026-05-24T08:00:00.000000000Z","item":"ALB|KAYO|K1","ml_category":"ML1","quantity":1,"to":"CZE","type":"DELIVERY_CONFIRMED"}}},` +
		`"items":{"ALB|KAYO|K1":{` +
		`"E1":{"at":"2026-05-20T08:00:00.000000000Z","type":"STOLEN"},` +
		`"E3":{"at":"2026-05-22T08:00:00.000000000Z","type":"EXPORT_DECLARED"},` +
		`"E4":{"at":"2026-05-23T08:00:00.000000000Z","type":"EXIT_CONFIRMED"},` +
		`"E5":{"at":"2026-05-24T08:00:00.000000000Z","type":"DELIVERY_CONFIRMED"}}}}`
	if got != want {
		t.Errorf("registers for an exit =\n%s\nwant\n%s", got, want)
	}
	// A new version of the theft report, now a loss of another item,
	// leaves nothing of the old one.
	o.Apply(event(t, "E1", 2, "LOST", "2026-05-20T08:00:00Z", "K2", nil))
	if got := keyedJSON(t, o.For(event(t, "E9", 1, "STORED", "2026-06-01T08:00:00Z", "K1", nil))); got !=
		`{"declarations":{},"items":{"ALB|KAYO|K1":{"E3":{"at":"2026-05-22T08:00:00.000000000Z","type":"EXPORT_DECLARED"},`+
			`"E4":{"at":"2026-05-23T08:00:00.000000000Z","type":"EXIT_CONFIRMED"},"E5":{"at":"2026-05-24T08:00:00.000000000Z","type":"DELIVERY_CONFIRMED"}}}}` {
		t.Errorf("after a new version: %s", got)
	}
}

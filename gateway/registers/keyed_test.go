package registers

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/ura-gateway/ura/gateway/records"
)

// A test register: each declaration under its licence, and, as a follow-up
// read, the holder the licence names.
func testKeyed() []Keyed {
	return []Keyed{{
		Name: "by_licence", Version: 1,
		Entries: func(r *records.Record) []KeyedEntry {
			if x, ok := ExportOf(r); ok {
				return []KeyedEntry{{Key: x.Licence, Value: map[string]any{"quantity": x.Quantity}}}
			}
			return nil
		},
		Lookups: func(r *records.Record) []string {
			if x, ok := ExportOf(r); ok {
				return []string{x.Licence}
			}
			return nil
		},
	}, {
		Name: "by_holder", Version: 1,
		Entries: func(r *records.Record) []KeyedEntry { return nil },
		Follow: func(r *records.Record, s *Snapshot) []string {
			if x, ok := ExportOf(r); ok {
				if l := s.Licences[x.Licence]; l != nil && l.Holder != nil {
					return []string{l.Holder.EntityID}
				}
			}
			return nil
		},
	}}
}

func TestKeyedOverlayAndRead(t *testing.T) {
	t.Cleanup(SetKeyed(testKeyed()))
	decl := func(id string, version int, lic, q string) *records.Record {
		return rec(t, records.KindTrackingEvent, id, version, map[string]any{"type": "EXPORT_DECLARED", "licence_id": lic,
			"quantity": json.Number(q), "item": map[string]any{"ml_category": "ML1"}})
	}
	batch := []*records.Record{decl("D1", 2, "LIC-2", "5"), decl("D3", 1, "LIC-1", "1")}
	var reads []Refs
	read := func(_ context.Context, refs Refs) (*Snapshot, error) {
		reads = append(reads, refs)
		s := NewSnapshot()
		if len(refs.Licences) > 0 {
			s.Licences["LIC-1"] = &Licence{ID: "LIC-1", Holder: &Holder{EntityID: "E1"}, Items: map[string]int64{}}
		}
		for _, k := range refs.Keyed {
			if k == (KeyRef{"by_licence", "LIC-1"}) {
				s.AddKeyed("by_licence", "LIC-1", "D1", KeyedValue{Version: 1, Value: json.RawMessage(`{"quantity":4}`)})
			}
			if k == (KeyRef{"by_holder", "E1"}) {
				s.AddKeyed("by_holder", "E1", "H1", KeyedValue{Version: 1, Value: json.RawMessage(`{"ok":true}`)})
			}
		}
		return s, nil
	}
	snap, err := Read(context.Background(), batch, read)
	if err != nil {
		t.Fatal(err)
	}
	if len(reads) != 2 || len(reads[1].Keyed) != 1 || reads[1].Keyed[0] != (KeyRef{"by_holder", "E1"}) {
		t.Fatalf("reads = %+v, want the lookups, then one follow-up read of the holder", reads)
	}
	if again := FollowRefs(batch, snap); !again.Empty() {
		t.Fatalf("a covered key is read again: %+v", again)
	}
	o := NewOverlay(snap)
	// D1 v2 moves from LIC-1 to LIC-2: a later decision on LIC-1 no longer
	// counts it, one on LIC-2 does.
	o.Apply(batch[0])
	doc := o.For(batch[1]).Doc()
	if got := doc["by_licence"].(map[string]any); len(got) != 0 {
		t.Fatalf("LIC-1 after D1 moved = %v", got)
	}
	if got := doc["by_holder"].(map[string]any)["E1"].(map[string]any)["H1"]; got == nil {
		t.Fatalf("the follow-up entry is not given to the decision: %v", doc["by_holder"])
	}
	doc = o.For(decl("D4", 1, "LIC-2", "1")).Doc()
	q := doc["by_licence"].(map[string]any)["LIC-2"].(map[string]any)["D1"].(map[string]any)["quantity"]
	if q != json.Number("5") {
		t.Fatalf("LIC-2 entry of D1 = %v, want 5 as a json.Number", q)
	}
	// An older version changes nothing.
	o.Apply(decl("D1", 1, "LIC-1", "4"))
	if got := o.For(batch[1]).Doc()["by_licence"].(map[string]any); len(got) != 0 {
		t.Fatalf("an older version was applied: %v", got)
	}
}

package registers

import (
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// TestAppendDocKeyCoversDoc: snapshots drawn from small sets of values,
// so that many are alike, have equal documents whenever their keys are
// equal (a key shared by two documents would give one snapshot's
// document to the other); and every field of the types Doc reads is
// known here as read by Doc, and so by AppendDocKey, or not: a new field
// fails the test until AppendDocKey is told of it.
func TestAppendDocKeyCoversDoc(t *testing.T) {
	for typ, fields := range map[reflect.Type][]string{
		// Declarations and read: only in a store read and the overlay;
		// lookups: a memo of what For reads; Screening: the caller's.
		reflect.TypeFor[Snapshot](): {"Licences", "Entities", "ByID", "ByName", "Exported", "Keyed",
			"-Declarations", "-read", "-lookups", "-Screening"},
		reflect.TypeFor[Licence]():    {"-ID", "-Version", "Originator", "Type", "Status", "ValidFrom", "ValidUntil", "Destination", "Holder", "Items"},
		reflect.TypeFor[Holder]():     {"EntityID", "Name"},
		reflect.TypeFor[Entity]():     {"RecordID", "-Version", "-EntityID", "Name", "Status"},
		reflect.TypeFor[Exclusion]():  {"RecordID", "-Version", "-EntityID", "-Name", "From", "Until"},
		reflect.TypeFor[KeyedValue](): {"-Version", "Value"},
	} {
		for f := range typ.Fields() {
			if !slices.Contains(fields, f.Name) && !slices.Contains(fields, "-"+f.Name) {
				t.Errorf("%s.%s: is it in Doc? Then in AppendDocKey too; list it here", typ.Name(), f.Name)
			}
		}
	}

	r := rand.New(rand.NewPCG(1, 2))
	pick := func(v ...string) string { return v[r.IntN(len(v))] }
	some := func() bool { return r.IntN(4) == 0 }
	snap := func() *Snapshot {
		s := NewSnapshot()
		for _, id := range []string{"L1", "L2"} {
			if some() {
				l := &Licence{ID: id, Version: r.IntN(3), Type: pick("export", "import"), Status: pick("issued", ""), ValidFrom: pick("", "2026"),
					ValidUntil: pick("", "2027"), Destination: pick("CZE", "SRB"), Originator: pick("AL/GOV/AIM", ""), Items: map[string]int64{}}
				if some() {
					l.Items[pick("ML1", "ML2")] = int64(r.IntN(2))
				}
				if some() {
					l.Holder = &Holder{EntityID: pick("", "E1"), Name: pick("", "Kayo")}
				}
				s.Licences[id] = l
			}
		}
		if some() {
			s.Entities[pick("E1", "E2")] = &Entity{RecordID: pick("R1", "R2"), Version: r.IntN(3), Name: pick("Kayo", ""), Status: pick("active", "")}
		}
		for range r.IntN(3) {
			if some() {
				s.AddExclusion(&Exclusion{RecordID: pick("X1", "X2"), Version: r.IntN(3), EntityID: pick("", "E1"), Name: pick("", "kayo"),
					From: pick("2026", ""), Until: pick("", "2027")})
			}
		}
		if some() {
			s.AddExported(pick("L1", "L2"), pick("ML1", "ML2"), int64(1+r.IntN(2)))
		}
		for range r.IntN(3) {
			if !some() {
				continue
			}
			reg, key := s.keyedRegister(pick("items", "denials", "unknown")), pick("k1", "k2")
			if reg[key] == nil {
				reg[key] = map[string]KeyedValue{}
			}
			if !some() { // else a key without entries
				reg[key][pick("R1", "R2")] = KeyedValue{Version: r.IntN(3), Value: json.RawMessage(pick(`1`, `"a"`, `{"b":2}`))}
			}
		}
		return s
	}
	byKey, byDoc := map[string]string{}, map[string]string{}
	var keys []string
	for range 3000 {
		s := snap()
		key := string(s.AppendDocKey(nil, &keys))
		d, err := json.Marshal(s.Doc()) // map keys sorted: equal documents, equal bytes
		if err != nil {
			t.Fatal(err)
		}
		doc := string(d)
		if old, ok := byKey[key]; ok && old != doc {
			t.Fatalf("one key, two documents:\n%s\n%s", old, doc)
		}
		byKey[key], byDoc[doc] = doc, key
	}
	// A document may have several keys (a register found without
	// entries, a value spelled two ways): built once for each, never
	// shared wrongly. Most snapshots alike must still be found alike.
	if len(byDoc) > 2900 || len(byDoc) < 50 || len(byKey) > 2*len(byDoc) {
		t.Errorf("%d keys for %d distinct documents of 3000 snapshots", len(byKey), len(byDoc))
	}
}

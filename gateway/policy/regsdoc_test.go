package policy

import (
	"reflect"
	"testing"

	"github.com/ura-gateway/ura/gateway/registers"
)

// TestRegsDocScreeningBesideKeyedScreening: a keyed register named
// "screening", declared or only found in a snapshot, beside the push's
// screening, gives the document Doc gives (Doc puts the screening last,
// over the register).
func TestRegsDocScreeningBesideKeyedScreening(t *testing.T) {
	both := []registers.Keyed{{Name: "screening", Version: 1}, {Name: "items", Version: 1}}
	items := []registers.Keyed{{Name: "items", Version: 1}}
	screening := map[string]any{"sanctions": []any{"x"}}
	for _, tc := range []struct {
		name      string
		declared  []registers.Keyed
		found     string // the register an entry is found on
		screening map[string]any
	}{
		{"declared, nothing found", both, "items", screening},
		{"declared and found", both, "screening", screening},
		{"only found", items, "screening", screening},
		{"found, no screening", both, "screening", nil},
		{"declared, no screening", both, "items", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Cleanup(registers.SetKeyed(tc.declared))
			s := registers.NewSnapshot()
			s.AddKeyed(tc.found, "k", "DPD-EVT-2026-8000001", registers.KeyedValue{Version: 1, Value: []byte(`{"n":1}`)})
			s.Screening = tc.screening
			var r regsDoc
			got, ok := r.doc(s)
			if want := s.Doc(); !ok || !reflect.DeepEqual(got, want) {
				t.Errorf("regsDoc (convertible %v)\n%v\nSnapshot.Doc\n%v", ok, got, want)
			}
		})
	}
}

// FuzzRegsDoc: for any stored bytes of keyed entries, with or without a
// screening, regsDoc's document is Snapshot.Doc's, the first time and from
// its cache, and it is convertible exactly when Doc's document is.
func FuzzRegsDoc(f *testing.F) {
	for _, seed := range [][2]string{
		{`{"type":"STOLEN","n":1.50}`, `{"type":`},
		{`[1, "two", null] trailing`, ``},
		{`{"n":1e999999999}`, `"\u2028<>&"`},
		{`  7 `, `{"a":{"b":[true,false,-0.0e+1]}}`},
		{`"\ud800"`, "\"\xff\""},
	} {
		f.Add(seed[0], seed[1], true)
		f.Add(seed[0], seed[1], false)
	}
	f.Fuzz(func(t *testing.T, a, b string, screened bool) {
		s := registers.NewSnapshot()
		s.AddKeyed("items", "ALB|KAYO|K26-000123", "DPD-EVT-2026-8000001", registers.KeyedValue{Version: 1, Value: []byte(a)})
		s.AddKeyed("items", "ALB|KAYO|K26-000124", "DPD-EVT-2026-8000002", registers.KeyedValue{Version: 1, Value: []byte(b)})
		s.AddKeyed("items", "ALB|KAYO|K26-000124", "DPD-EVT-2026-8000003", registers.KeyedValue{Version: 1, Value: []byte(a)})
		s.AddKeyed("unknown_register", a, "DPD-EVT-2026-8000004", registers.KeyedValue{Version: 1, Value: []byte(b)})
		if screened {
			s.Screening = map[string]any{"sanctions": []any{a}}
		}
		want := s.Doc()
		var r regsDoc
		for i := range 2 { // the second time from the cache
			got, ok := r.doc(s)
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("pass %d: regsDoc\n%#v\nSnapshot.Doc\n%#v", i, got, want)
			}
			if c := convertible(want); ok != c {
				t.Fatalf("pass %d: regsDoc says convertible %v, Doc's document is %v", i, ok, c)
			}
		}
	})
}

package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"testing"

	"github.com/ura-gateway/ura/gateway/records"
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
// screening, regsDoc's document is Snapshot.Doc's, the first time, from
// its cache and from its memo of documents built (regsDoc.built), and it
// is convertible exactly when Doc's document is.
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
		var (
			r       regsDoc
			scratch []member
		)
		for i := range 4 { // the second time from the cache; then built, the fourth time from its memo
			got, ok := r.doc(s)
			if i >= 2 {
				br := r.built(s, &scratch)
				got, ok = br.doc, br.ok
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("pass %d: regsDoc\n%#v\nSnapshot.Doc\n%#v", i, got, want)
			}
			if c := convertible(want); ok != c {
				t.Fatalf("pass %d: regsDoc says convertible %v, Doc's document is %v", i, ok, c)
			}
		}
	})
}

// cleanScreening is what the screening step sets on a licence's
// registers when nothing matched; sanctionsHit one match, its score a
// json.Number so that the document stays of JSON's types and is keyed.
func cleanScreening() map[string]any {
	return map[string]any{"denials": []any{}, "excluded": []any{}, "sanctions": []any{}}
}

func sanctionsHit() map[string]any {
	s := cleanScreening()
	s["sanctions"] = []any{map[string]any{"dataid": "9900102", "party": "end_user", "name": "Ministry of Defence of the Czech Republic",
		"matched_name": "Ministry of Defence of the Czech Republic", "score": json.Number("0.97"), "fields": []any{"name"}}}
	return s
}

// Attack: the documents a batch builds once are shared only by snapshots
// of equal content and screening. One snapshot whose screening is set
// again between two questions, as the push sets each record's (clean, a
// sanctions match, none, clean again), and then given one more entry,
// gets Snapshot.Doc of what it holds at each question, never an earlier
// question's; equal snapshots share one document.
func TestRegsDocSharedOnlyByEqual(t *testing.T) {
	o := licenceRegisters(t)
	lic := record(t, "licence", nil)
	s := o.For(lic)
	var (
		r       regsDoc
		scratch []member
		built   []*builtRegs
	)
	steps := []func(){
		func() { s.Screening = cleanScreening() },
		func() { s.Screening = sanctionsHit() },
		func() { s.Screening = nil },
		func() { s.Screening = cleanScreening() },
		func() {
			s.AddKeyed("items", "ALB|KAYO|K26-000123", "DPD-EVT-2026-8000001", registers.KeyedValue{Version: 1, Value: []byte(`{"type":"STOLEN"}`)})
		},
		func() { s = o.For(lic); s.Screening = cleanScreening() }, // a new snapshot like the first
	}
	for i, step := range steps {
		step()
		br := r.built(s, &scratch)
		if want := s.Doc(); !br.ok || !reflect.DeepEqual(br.doc, want) {
			t.Fatalf("step %d: built (convertible %v)\n%v\nSnapshot.Doc\n%v", i, br.ok, br.doc, want)
		}
		built = append(built, br)
	}
	for i, b := range built {
		for j := range i {
			if same, want := b == built[j], j == 0 && (i == 3 || i == 5) || j == 3 && i == 5; same != want {
				t.Errorf("steps %d and %d share a document: %v, want %v", j, i, same, want)
			}
		}
	}
}

// Attack: in one batch, a licence whose screening found a sanctions match
// and one whose holder is excluded, among clean licences alike but for
// their ids, are refused, each for its own reason, and the clean ones
// allowed; every key is the key a keyer that has built nothing before it
// writes, so a document built once changes no key.
func TestPushBatchScreeningDiffersBetweenRecords(t *testing.T) {
	e := newEngine(t, Options{Logger: discard})
	o := licenceRegisters(t)
	o.Apply(record(t, "excluded", nil))
	ex, _ := record(t, "excluded", nil).Doc["excluded_entity"].(map[string]any)
	var recs []*records.Record
	for i := range 6 {
		over := map[string]any{"id": fmt.Sprintf("AIM-LIC-2026-%06d", i)}
		if i == 4 {
			over["licence.holder"] = map[string]any{"entity_id": ex["entity_id"], "name": ex["name"]}
		}
		recs = append(recs, record(t, "licence", over))
	}
	in := pushes(o, memberAIM, recs...)
	for i := range in {
		in[i].Registers.Screening = cleanScreening()
		if i == 2 {
			in[i].Registers.Screening = sanctionsHit()
		}
	}
	for _, decide := range []func(*testing.T, *OPA, []Input) []Decision{checkChunk, checkBatch} {
		got := decide(t, e, in)
		for i, d := range got {
			switch {
			case i == 2 && (d.Allow || !hasCode(d, "sanctions_match")),
				i == 4 && (d.Allow || !hasCode(d, "excluded_entity")),
				i != 2 && i != 4 && !d.Allow:
				t.Errorf("%s: %+v", recordID(in[i]), d)
			}
		}
	}
	ctx := context.Background()
	c := e.active.Load()
	var shared keyer
	for i := range in {
		got, _, ok := e.pushKey(ctx, c, &shared, in[i])
		var fresh keyer
		want, _, wantOK := e.pushKey(ctx, c, &fresh, in[i])
		if ok != wantOK || !bytes.Equal(got, want) {
			t.Errorf("%s: key %q (%v), alone %q (%v)", recordID(in[i]), got, ok, want, wantOK)
		}
	}
}

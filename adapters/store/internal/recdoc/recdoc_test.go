package recdoc

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/records"
)

const event = `{"event":{"at":"2026-06-02T07:55:00Z","customs_declaration":"EX-2026-000456","from":"ALB",
"item":{"att_category":"small_arms","marking":{"country":"ALB","manufacturer":"KAYO","serial":"K26-000123","year":2026},"ml_category":"ML1"},
"licence_id":"AIM-LIC-2026-000123","location":"Durrës port","to":"CZE","type":"EXPORT_DECLARED"},
"id":"AIM-EVT-2026-9000001","kind":"tracking_event",
"label":{"classification":"UNCLASSIFIED","created":"2026-06-02T08:00:00Z","originator":"AL/GOV/DPD","releasable_to":["ALB","CZE"]},"version":7}`

func TestDecodeAndIndex(t *testing.T) {
	rec, err := Decode([]byte(event))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Kind != records.KindTrackingEvent || rec.ID != "AIM-EVT-2026-9000001" || rec.Version != 7 {
		t.Errorf("got %s %s v%d", rec.Kind, rec.ID, rec.Version)
	}
	if rec.Label.Originator != "AL/GOV/DPD" || !rec.Label.Created.Equal(time.Date(2026, 6, 2, 8, 0, 0, 0, time.UTC)) ||
		len(rec.Label.ReleasableTo) != 2 || rec.Label.Classification != "UNCLASSIFIED" {
		t.Errorf("label %+v", rec.Label)
	}
	if _, ok := rec.Doc["event"].(map[string]any)["item"].(map[string]any)["marking"].(map[string]any)["year"].(json.Number); !ok {
		t.Error("numbers must decode as json.Number")
	}
	ix, err := IndexOf(rec)
	if err != nil {
		t.Fatal(err)
	}
	want := store.Marking{Country: "ALB", Manufacturer: "KAYO", Serial: "K26-000123"}
	if ix.LicenceID != "AIM-LIC-2026-000123" || ix.Marking == nil || *ix.Marking != want || ix.Originator != "AL/GOV/DPD" {
		t.Errorf("index %+v", ix)
	}
	// Without Doc, the index is read from Raw.
	rec.Doc = nil
	if ix2, err := IndexOf(rec); err != nil || ix2.LicenceID != ix.LicenceID || *ix2.Marking != want {
		t.Errorf("index from raw %+v %v", ix2, err)
	}
}

func TestMatches(t *testing.T) {
	mk := store.Marking{Country: "ALB", Manufacturer: "KAYO", Serial: "S1"}
	ix := Index{Kind: "tracking_event", Originator: "AL/GOV/DPD", Created: time.Unix(100, 0), LicenceID: "L1", Marking: &mk}
	other := store.Marking{Country: "ALB", Manufacturer: "KAYO", Serial: "S2"}
	cases := []struct {
		q    store.Query
		want bool
	}{
		{store.Query{}, true},
		{store.Query{Kind: "tracking_event", Originator: "AL/GOV/DPD", LicenceID: "L1", Marking: &mk, Since: time.Unix(100, 0)}, true},
		{store.Query{Kind: "licence"}, false},
		{store.Query{Originator: "AL/GOV/AIM"}, false},
		{store.Query{LicenceID: "L2"}, false},
		{store.Query{Marking: &other}, false},
		{store.Query{Since: time.Unix(101, 0)}, false},
	}
	for i, tc := range cases {
		if got := ix.Matches(&tc.q); got != tc.want {
			t.Errorf("case %d: %v, want %v", i, got, tc.want)
		}
	}
	none := Index{Kind: "licence"}
	if none.Matches(&store.Query{Marking: &mk}) {
		t.Error("a record without a marking matched a marking query")
	}
}

func TestSameContent(t *testing.T) {
	cases := []struct {
		a, b string
		want bool
	}{
		{`{"a":1,"b":[1,2]}`, `{"a":1,"b":[1,2]}`, true},
		{`{"a":1,"b":[1,2]}`, `{ "b" : [1, 2], "a" : 1 }`, true},
		{`{"a":1}`, `{"a":1.0}`, false},
		{`{"a":[1,2]}`, `{"a":[2,1]}`, false},
		{`{"a":"x"}`, `{"a":"y"}`, false},
		{`{"a":1}`, `not json`, false},
	}
	for _, tc := range cases {
		if got := SameContent([]byte(tc.a), []byte(tc.b)); got != tc.want {
			t.Errorf("SameContent(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
}

func TestCheckInput(t *testing.T) {
	good := &records.Record{Kind: "licence", ID: "X", Version: 1, Raw: json.RawMessage(`{}`)}
	if err := CheckInput(good); err != nil {
		t.Error(err)
	}
	for _, bad := range []*records.Record{nil, {ID: "X", Version: 1, Raw: good.Raw}, {Kind: "licence", ID: "X", Raw: good.Raw},
		{Kind: "licence", ID: "X", Version: 1 << 31, Raw: good.Raw}, {Kind: "licence", ID: "X", Version: 1}} {
		if CheckInput(bad) == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}

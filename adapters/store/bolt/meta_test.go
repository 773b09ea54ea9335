package bolt

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/registers"
)

// TestAppendMetaIsMarshal holds the hand-written meta encoding to
// json.Marshal byte for byte, so that a file's values do not depend on
// which of the two wrote them; what it declines, encodeValue marshals.
func TestAppendMetaIsMarshal(t *testing.T) {
	at := time.Date(2026, 5, 1, 10, 0, 0, 123456789, time.UTC)
	cases := []meta{
		{Kind: "licence", Version: 1, Seq: 1, Originator: "AL/GOV/AIM", Created: at, Stored: at},
		{Kind: "tracking_event", Version: 1 << 30, Seq: 1<<64 - 1, Originator: "XK/MOD", Created: at.Truncate(time.Second), Stored: at.Add(time.Nanosecond),
			LicenceID: "AIM-LIC-2026-000123", Marking: &store.Marking{Country: "ALB", Manufacturer: "Zastava", Serial: "M70-0001"}},
		{Kind: "entity", Created: time.Date(2026, 1, 2, 3, 4, 5, 0, time.FixedZone("", 3600)), Stored: time.Time{}},
		{Kind: "", Marking: &store.Marking{}},
		{Kind: "licence", Originator: `quote " and \ backslash`, Created: at, Stored: at},
		{Kind: "licence", Originator: "<script>&", Created: at, Stored: at},
		{Kind: "licence", Originator: "Ōtautahi ünïcode", LicenceID: "tab\there", Created: at, Stored: at},
		{Kind: "licence", Originator: "invalid \xff utf-8", Created: at, Stored: at},
		{Kind: "licence", Created: time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC), Stored: at},
		{Kind: "licence", Created: at, Stored: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
	for i, m := range cases {
		want, wantErr := json.Marshal(&m)
		got, ok := appendMeta(nil, &m)
		if ok && (wantErr != nil || !bytes.Equal(got, want)) {
			t.Errorf("case %d: appendMeta wrote\n%s\njson.Marshal\n%s (%v)", i, got, want, wantErr)
		}
		val, err := encodeValue(&m, []byte(`{"id":"x"}`))
		if (err != nil) != (wantErr != nil) {
			t.Errorf("case %d: encodeValue error %v, json.Marshal %v", i, err, wantErr)
			continue
		}
		if err != nil {
			continue
		}
		mj, raw, err := splitValue(val)
		if err != nil || !bytes.Equal(mj, want) || string(raw) != `{"id":"x"}` {
			t.Errorf("case %d: encodeValue stored %q %q %v, want meta %q", i, mj, raw, err, want)
		}
	}
}

func BenchmarkEncodeValue(b *testing.B) {
	at := time.Date(2026, 5, 1, 10, 0, 0, 123456789, time.UTC)
	m := meta{Kind: "licence", Version: 3, Seq: 123456, Originator: "AL/GOV/AIM", Created: at, Stored: at, LicenceID: "AIM-LIC-2026-000123"}
	raw := bytes.Repeat([]byte("x"), 400)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeValue(&m, raw); err != nil {
			b.Fatal(err)
		}
	}
}

// TestMarshalRefs holds the hand-written keyed register owner encoding to
// json.Marshal byte for byte, escaped strings and all.
func TestMarshalRefs(t *testing.T) {
	cases := [][][2]string{
		{},
		{{"licence_holder", "AL/GOV/AIM"}},
		{{"a", ""}, {"", "b"}, {"serial", "ALB|Zastava|M70-0001"}},
		{{"reg", `quote " and \ backslash`}},
		{{"reg", "<script>&"}, {"plain", "x"}},
		{{"reg", "Ōtautahi ünïcode"}},
		{{"reg", "invalid \xff utf-8"}, {"tab\there", "\u2028"}},
	}
	for i, refs := range cases {
		want, err := json.Marshal(refs)
		if err != nil {
			t.Fatal(err)
		}
		rows := make([]registers.KeyedRow, len(refs))
		for j, r := range refs {
			rows[j] = registers.KeyedRow{Register: r[0], Key: r[1], Value: json.RawMessage(`1`)}
		}
		got, err := marshalRefs(nil, rows)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("case %d: marshalRefs wrote %s (%v), json.Marshal %s", i, got, err, want)
		}
	}
}

// TestAppendLicenceIsMarshal holds the hand-written licence register
// encoding to json.Marshal byte for byte; what it declines, putLicence
// marshals.
func TestAppendLicenceIsMarshal(t *testing.T) {
	// A field added to registers.Licence must be written by appendLicence
	// too: the count makes this test fail until it is looked at.
	if n := reflect.TypeFor[registers.Licence]().NumField(); n != 10 {
		t.Fatalf("registers.Licence has %d fields, appendLicence writes 10", n)
	}
	full := registers.Licence{ID: "LIC-1", Version: 9, Originator: "AL/GOV/AIM", Type: "individual", Status: "active",
		ValidFrom: "2026-01-01", ValidUntil: "2027-01-01", Destination: "XKX",
		Holder: &registers.Holder{EntityID: "ENT-1", Name: "Acme Defence"}, Items: map[string]int64{"ML1": 5, "ML10": -3, "ML2": 1 << 62, "": 0}}
	cases := []regLicence{
		{Version: 1, Licence: full},
		{Version: 1 << 30},
		{Version: -1, Licence: registers.Licence{Items: map[string]int64{}}},
		{Version: 2, Licence: registers.Licence{Holder: &registers.Holder{}, Items: map[string]int64{"ML<1>": 1}}},
		{Version: 2, Licence: registers.Licence{Originator: `quote " and \ backslash`}},
		{Version: 2, Licence: registers.Licence{Holder: &registers.Holder{Name: "Ōtautahi ünïcode & sons"}}},
		{Version: 2, Licence: registers.Licence{Destination: "invalid \xff utf-8", Type: "tab\there"}},
	}
	for i, l := range cases {
		want, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendLicence(nil, &l); !bytes.Equal(got, want) {
			t.Errorf("case %d: appendLicence wrote\n%s\njson.Marshal\n%s", i, got, want)
		}
	}
}

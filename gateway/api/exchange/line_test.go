package exchange

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/ura-gateway/ura/gateway/sign"
)

// A line written directly is the line encoding/json writes (ids with no
// HTML characters, which encoding/json alone escapes), and decodes back to
// the same delivery whatever the id holds.
func TestAppendLineIsEncodingJSON(t *testing.T) {
	proof := &sign.Proof{LeafIndex: 3, TreeSize: 7, InclusionPath: []string{"AAAA_-", "bbbb"}, Root: "eyJh.eyJi.c2ln"}
	for _, d := range []Delivery{
		{ID: "AIM-LIC-2026-000123", Version: 2, JWS: "eyJh.eyJi.c2ln"},
		{ID: "AIM-LIC-1", Version: 1, Payload: "eyJyZWNvcmQiOnt9fQ", Proof: proof},
		{ID: "x", Version: 0, Payload: "p", Proof: &sign.Proof{Root: "r"}},
		{ID: "x", Version: 1, Payload: "p", Proof: &sign.Proof{InclusionPath: []string{}, Root: "r"}},
		{ID: "q\"\\\n\u2028é", Version: -1, JWS: "not/base64+url"},
	} {
		var want bytes.Buffer
		// deliveryFields has Delivery's fields without its MarshalJSON.
		if err := json.NewEncoder(&want).Encode(deliveryFields(d)); err != nil {
			t.Fatal(err)
		}
		got := d.appendLine(nil)
		if !bytes.Equal(got, want.Bytes()) {
			t.Errorf("appendLine = %s, encoding/json %s", got, want.Bytes())
		}
		if m, err := json.Marshal(d); err != nil || !bytes.Equal(append(m, '\n'), want.Bytes()) {
			t.Errorf("MarshalJSON = %s (%v), encoding/json %s", m, err, want.Bytes())
		}
	}
	// A payload held as bytes is written as its base64url, as Payload.
	raw := []byte(`{"record":{"id":"<x>"}}` + "\xff")
	held := Delivery{ID: "AIM-LIC-1", Version: 1, payload: raw, Proof: proof}
	as := Delivery{ID: "AIM-LIC-1", Version: 1, Payload: base64.RawURLEncoding.EncodeToString(raw), Proof: proof}
	if a, b := held.appendLine(nil), as.appendLine(nil); !bytes.Equal(a, b) {
		t.Errorf("payload bytes written %s, as a string %s", a, b)
	}
	if a, err := json.Marshal([]Delivery{held}); err != nil || !bytes.Contains(a, []byte(as.Payload)) {
		t.Errorf("a page's delivery: %s (%v)", a, err)
	}
	for _, id := range []string{"<a&b>", "bad \xff", ""} {
		d := Delivery{ID: id, Version: 9, Payload: "p", Proof: proof}
		var back Delivery
		if err := json.Unmarshal(d.appendLine(nil), &back); err != nil {
			t.Fatalf("%q: %v", id, err)
		}
		want := d
		if id == "bad \xff" {
			want.ID = "bad \ufffd"
		}
		if !reflect.DeepEqual(back, want) {
			t.Errorf("decoded %+v, want %+v", back, want)
		}
	}
}

type deliveryFields Delivery

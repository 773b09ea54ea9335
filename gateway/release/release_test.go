package release

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/ura-gateway/ura/gateway/sign"
)

// TestPayload: the hand-assembled payload is exactly what encoding/json
// makes of sign.Delivery, with the record's bytes untouched.
func TestPayload(t *testing.T) {
	d := sign.Delivery{Record: json.RawMessage(`{"id":"A<1>","n":1.50}`), DecisionID: "dec-1", PolicyRevision: "rev",
		Redactions: []string{"/a/b"}, Recipient: "AL/GOV/MOD", Issuer: "ura", IssuedAt: 1767225600}
	got, err := Payload(d)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(d)
	var g, w any
	if json.Unmarshal(got, &g) != nil || json.Unmarshal(want, &w) != nil || !reflect.DeepEqual(g, w) {
		t.Fatalf("payload\n%s\nwant the same as\n%s", got, want)
	}
	if !bytes.Contains(got, d.Record) || bytes.Count(got, []byte(`"record"`)) != 1 {
		t.Errorf("record bytes changed or repeated: %s", got)
	}
	if _, err := Payload(sign.Delivery{Record: json.RawMessage(`{"id":`)}); err == nil {
		t.Error("a broken record was signed")
	}
}

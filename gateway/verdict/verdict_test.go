package verdict

import (
	"encoding/json"
	"slices"
	"testing"
)

// TestRedactionJSON: a redaction with its rule is an object; one without
// (an audit event appended before rules were recorded) is its bare pointer,
// and both read back as written, so an old event re-encodes to the bytes
// its hash covers.
func TestRedactionJSON(t *testing.T) {
	rs := []Redaction{{Pointer: "/licence/contract_value", Rule: "redactions.customs.licence"}, {Pointer: "/entity/contact"}}
	b, err := json.Marshal(rs)
	if err != nil {
		t.Fatal(err)
	}
	const want = `[{"pointer":"/licence/contract_value","rule":"redactions.customs.licence"},"/entity/contact"]`
	if string(b) != want {
		t.Fatalf("encoded %s, want %s", b, want)
	}
	var back []Redaction
	if err := json.Unmarshal(b, &back); err != nil || !slices.Equal(back, rs) {
		t.Fatalf("decoded %+v (%v)", back, err)
	}
	for _, bad := range []string{`[1]`, `[{"pointer":1}]`, `[["/a"]]`} {
		if err := json.Unmarshal([]byte(bad), &back); err == nil {
			t.Errorf("%s decoded as %+v", bad, back)
		}
	}
	if got := Pointers(rs); !slices.Equal(got, []string{"/licence/contract_value", "/entity/contact"}) {
		t.Errorf("pointers %v", got)
	}
}

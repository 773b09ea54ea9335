package records

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// checkApplyRaw: on a document's canonical bytes, ApplyRaw gives exactly
// Canonical of Apply's copy.
func checkApplyRaw(t *testing.T, text []byte, pointers []string) {
	d := json.NewDecoder(bytes.NewReader(text))
	d.UseNumber()
	var doc map[string]any
	if d.Decode(&doc) != nil {
		return
	}
	raw, err := Canonical(doc)
	if err != nil {
		return
	}
	r, err := NewRedaction(pointers)
	if err != nil {
		return
	}
	want, err := Canonical(r.Apply(doc))
	if err != nil {
		t.Fatal(err)
	}
	got, err := r.ApplyRaw(raw)
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("ApplyRaw(%s, %q) = %s (%v), want %s", raw, pointers, got, err, want)
	}
}

func TestApplyRawIsApply(t *testing.T) {
	lic, err := os.ReadFile(filepath.Join("testdata", "valid", "licence.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range [][]string{
		{"/licence/contract_value", "/licence/end_user/contact"},
		{"/licence/items/0", "/licence/items/2/quantity"},
		{"/licence/absent", "/nothing/here", "/label/releasable_to/0"},
		{"/licence/holder/name/deeper"},
		{"/id"},
	} {
		checkApplyRaw(t, lic, p)
	}
	doc := `{"a":[0,1,2,{"b":1}],"c":{"d":"\u2028<&>","e~f":1,"g/h":2},"é":{"x":null},"":[[]]}`
	for _, p := range [][]string{{"/a/1", "/a/3/b"}, {"/c/e~0f", "/c/g~1h"}, {"/é/x"}, {"/a/01"}, {"//0"}, {"/a/0", "/a/1", "/a/2", "/a/3"}} {
		checkApplyRaw(t, []byte(doc), p)
	}
	r, _ := NewRedaction([]string{"/a"})
	for _, bad := range []string{`[]`, `{"a":`, ``} {
		if _, err := r.ApplyRaw([]byte(bad)); err == nil {
			t.Errorf("ApplyRaw(%q) accepted", bad)
		}
	}
}

func FuzzApplyRaw(f *testing.F) {
	f.Add([]byte(`{"a":{"b":[1,{"c":2}]},"d":"x"}`), "/a/b/1/c", "/d")
	f.Add([]byte(`{"licence":{"contract_value":{"amount":1},"end_user":{"contact":"x","name":"y"}}}`), "/licence/contract_value", "/licence/end_user/contact")
	f.Fuzz(func(t *testing.T, text []byte, p1, p2 string) {
		checkApplyRaw(t, text, []string{p1, p2})
	})
}

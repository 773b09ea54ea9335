package records

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
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

// checkRawCopier: ApplyRaw answers as the token copier does, bytes or
// error, whatever the bytes and pointers.
func checkRawCopier(t *testing.T, raw []byte, pointers []string) {
	t.Helper()
	r, err := NewRedaction(pointers)
	if err != nil {
		return
	}
	want, werr := r.applyRawTokens(raw)
	got, err := r.ApplyRaw(raw)
	if (err == nil) != (werr == nil) || (err != nil && err.Error() != werr.Error()) || !bytes.Equal(got, want) {
		t.Fatalf("ApplyRaw(%q, %q) = %q, %v; token copier: %q, %v", raw, pointers, got, err, want, werr)
	}
}

func TestRawCopierIsTokenCopier(t *testing.T) {
	lic, err := os.ReadFile(filepath.Join("testdata", "valid", "licence.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(lic, &doc); err != nil {
		t.Fatal(err)
	}
	canon, _ := Canonical(doc)
	docs := []string{string(lic), string(canon),
		`{"a":[0,1,2,{"b":1}],"c":{"d":"\u2028<&>","e~f":1,"g/h":2},"é":{"x":null},"":[[]]}`,
		`{"a":{"b":"\ud800"},"c":"\ud800"}`, "{\"a\":{\"b\":\"\xff\"}}", `{"a":{"\u0062":1,"c":2}}`,
		`{"a":{"b":1,"c":"\"\\\/\b\f\n\r\t\u0041"}}`, `{"a":{"b":01}}`, `{"a":{"b":1}} `, `{"a":{"b":1}}x`,
		`{"a":{"b":1]}`, `{"a":[1,2}`, `{"a":{"b":1,}}`, `{"a":{,}}`, `{"a":{"b" :1}}`, `{"a":{"b":tru}}`,
		`{"a":{"b":[1,{"c":"x"}],"d":{"e":-1.5e+3}}}`, `{"a":{"b":1}`, `{"a":`, `{`, `[]`, `{"a":"\u12"}`,
		`{"a":{"b":{"c":"\x"}}}`, `{"a":{"b":1},"a":{"b":2,"c":3}}`, "{\"a\":{\"b\":\"\x01\"}}",
		strings.Repeat(`{"a":`, storedDepth+2) + `1` + strings.Repeat(`}`, storedDepth+2),
	}
	pointers := [][]string{{"/a/b"}, {"/a/c", "/x"}, {"/a/0", "/a/1"}, {"/licence/contract_value", "/licence/end_user/contact"},
		{"/a/b/1/c", "/a/d/e"}, {"/é/x", "/c/e~0f"}, {"/nothing"}, {"/a/a/a"}}
	for _, d := range docs {
		for _, p := range pointers {
			checkRawCopier(t, []byte(d), p)
		}
	}
}

func FuzzRawCopier(f *testing.F) {
	f.Add([]byte(`{"a":{"b":[1,{"c":2}]},"d":"x"}`), "/a/b/1/c", "/d")
	f.Add([]byte(`{"licence":{"contract_value":{"amount":1},"end_user":{"contact":"x","name":"y"}}}`), "/licence/contract_value", "/licence/end_user/contact")
	f.Add([]byte(`{"a":{"b":"\ud800\u00e9","c":[true,null,-0.5E-2]}}`), "/a/c/1", "/a/b")
	f.Fuzz(func(t *testing.T, raw []byte, p1, p2 string) {
		checkRawCopier(t, raw, []string{p1, p2})
	})
}

func BenchmarkApplyRaw(b *testing.B) {
	lic, err := os.ReadFile(filepath.Join("testdata", "valid", "licence.json"))
	if err != nil {
		b.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(lic, &doc); err != nil {
		b.Fatal(err)
	}
	raw, _ := Canonical(doc)
	r, err := NewRedaction([]string{"/licence/contract_value", "/licence/end_user/contact"})
	if err != nil {
		b.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		fn   func([]byte) ([]byte, error)
	}{{"copier", r.ApplyRaw}, {"tokens", r.applyRawTokens}} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := tc.fn(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

package records

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// referenceStored is how stored records were decoded before DecodeStored:
// DecodeStored must give the same document for every object it accepts.
func referenceStored(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	err := dec.Decode(&doc)
	return doc, err
}

func TestDecodeStoredIsEncodingJSON(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "valid", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatal("no valid records", err)
	}
	cases := []string{
		`{}`, `{"a":[],"b":{},"c":null,"d":[1,2.50,-0,1e400,"x"]}`,
		`{"a":"\u00e9\ud83d\ude00\u2028","a":"last wins"}`,
		`{"nested":{"deep":[{"x":[[[]]]}]}}`,
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, string(raw))
	}
	for _, c := range cases {
		want, err := referenceStored([]byte(c))
		if err != nil {
			t.Fatalf("reference refused %s: %v", c, err)
		}
		got, err := DecodeStored([]byte(c))
		if err != nil {
			t.Fatalf("DecodeStored(%s): %v", c, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("DecodeStored(%.80s) = %v, want %v", c, got, want)
		}
	}
	for _, bad := range []string{``, `[]`, `"x"`, `{"a":}`, `{"a":1`, `{1:2}`, `{} {}`, `{}x`} {
		if _, err := DecodeStored([]byte(bad)); err == nil {
			t.Errorf("DecodeStored(%q) accepted", bad)
		}
	}
}

// FuzzDecodeStored: whatever both accept decodes to the same document.
func FuzzDecodeStored(f *testing.F) {
	f.Add([]byte(`{"id":"x","version":1,"label":{"classification":"RESTRICTED"},"licence":{"items":[{"q":2}]}}`))
	f.Add([]byte(`{"a":"\ud800","b":"\xff","c":[true,false,null,-1.5e-3]}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := DecodeStored(raw)
		want, werr := referenceStored(raw)
		if err != nil || werr != nil {
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("DecodeStored(%q) = %v, want %v", raw, got, want)
		}
	})
}

// checkStoredParser: whatever the fast parser reads, the token decoder
// reads too, to the same document; and DecodeStored answers as the token
// decoder does, value or error, for every input.
func checkStoredParser(t *testing.T, raw []byte) {
	t.Helper()
	want, werr := decodeStoredTokens(raw)
	p := &storedParser{}
	fast, ok := p.parse(raw, true)
	if ok && (werr != nil || !reflect.DeepEqual(fast, want)) {
		t.Fatalf("fast parser read %q as %v; token decoder: %v, %v", raw, fast, want, werr)
	}
	got, err := DecodeStored(raw)
	if (err == nil) != (werr == nil) || (err != nil && err.Error() != werr.Error()) || !reflect.DeepEqual(got, want) {
		t.Fatalf("DecodeStored(%q) = %v, %v; token decoder: %v, %v", raw, got, err, want, werr)
	}
	// The record's Doc is DecodeStored's, its Raw the bytes read.
	rec, rerr := DecodeStoredRecord(raw)
	if (rerr == nil) != (werr == nil) || rerr == nil && (!reflect.DeepEqual(rec.Doc, want) || !bytes.Equal(rec.Raw, raw)) {
		t.Fatalf("DecodeStoredRecord(%q) = %+v, %v; token decoder: %v, %v", raw, rec, rerr, want, werr)
	}
}

func TestStoredParserIsTokenDecoder(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatal("no records", err)
	}
	cases := []string{
		`{}`, ` { } `, "{\t\"a\"\n:\r[ 1 , {} ,[ ] ] }", `{"a":[],"b":{},"c":null,"d":[1,2.50,-0,1e400,"x",1E+2,1e-2,0.0]}`,
		`{"a":"\u00e9\ud83d\ude00\u2028","a":"last wins"}`, `{"e":"\"\\\/\b\f\n\r\t\u0000\u001F\uFFFF"}`,
		`{"nested":{"deep":[{"x":[[[]]]}]}}`, `{"é":"ü€😀"}`,
		// Read by the token decoder only, or refused.
		`{"a":"\ud800"}`, `{"a":"\udc00x"}`, `{"a":"\ud800\u0041"}`, "{\"a\":\"\xff\"}", "{\"a\xff\":1}",
		`{"a":"\x"}`, `{"a":"\u12"}`, `{"a":"\u12g4"}`, "{\"a\":\"\x01\"}", `{"a":01}`, `{"a":-}`, `{"a":1.}`,
		`{"a":1e}`, `{"a":.5}`, `{"a":+1}`, `{"a":tru}`, `{"a":nul}`, `{"a":[1,]}`, `{"a":1,}`, `{,}`, `{"a" 1}`,
		`{"a":1}}`, `{"a":1} x`, `{}{}`, ``, `   `, `[]`, `"x"`, `{"a":`, `{"a":"`, `{"a":[`, `{"a"`, `{1:2}`,
		"\ufeff{}", `{"a":NaN}`, `{"a":Infinity}`, `{"a":"\u2028"}`,
		strings.Repeat(`{"a":`, storedDepth+2) + `1` + strings.Repeat(`}`, storedDepth+2),
		strings.Repeat(`[`, storedDepth) + strings.Repeat(`]`, storedDepth),
		`{"a":` + strings.Repeat(`[`, storedDepth-1) + strings.Repeat(`]`, storedDepth-1) + `}`,
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		cases = append(cases, string(raw))
		var doc map[string]any
		if json.Unmarshal(raw, &doc) == nil {
			c, _ := Canonical(doc)
			cases = append(cases, string(c))
		}
	}
	for _, c := range cases {
		checkStoredParser(t, []byte(c))
	}
	// A stored record is read by the fast parser, not handed on.
	lic, _ := os.ReadFile(filepath.Join("testdata", "valid", "licence.json"))
	if _, ok := new(storedParser).parse(lic, true); !ok {
		t.Error("the fast parser did not read a valid licence")
	}
}

// FuzzStoredParser: the fast parser never reads anything otherwise than
// the token decoder.
func FuzzStoredParser(f *testing.F) {
	f.Add([]byte(`{"id":"x","version":1,"label":{"classification":"RESTRICTED"},"licence":{"items":[{"q":2}]}}`))
	f.Add([]byte(`{"a":"\ud800","b":"\xff","c":[true,false,null,-1.5e-3],"d":"\ud83d\ude00\n"}`))
	f.Add([]byte(` {"a" : [ 1 , 2 ] } `))
	f.Fuzz(func(t *testing.T, raw []byte) {
		checkStoredParser(t, raw)
	})
}

func BenchmarkDecodeStored(b *testing.B) {
	raw, err := os.ReadFile(filepath.Join("testdata", "valid", "licence.json"))
	if err != nil {
		b.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		b.Fatal(err)
	}
	raw, _ = Canonical(doc)
	for _, tc := range []struct {
		name string
		fn   func([]byte) (map[string]any, error)
	}{{"parser", DecodeStored}, {"tokens", decodeStoredTokens}, {"record", func(raw []byte) (map[string]any, error) {
		// As a store reads a record: with its shape, which it has.
		rec, err := DecodeStoredRecord(raw)
		if err != nil {
			return nil, err
		}
		if _, ok := rec.Shape(); !ok {
			return nil, errors.New("no stored shape")
		}
		return rec.Doc, nil
	}}} {
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

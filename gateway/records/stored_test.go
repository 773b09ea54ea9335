package records

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
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

package records

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/gowebpki/jcs"
)

// encodingJSON is what Canonical wrote before it wrote decoded JSON itself:
// the bytes the store already keeps, which a re-push must match.
func encodingJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// checkCanonical holds for every JSON text: Canonical writes what
// encoding/json writes, and when it says its bytes are their own RFC 8785
// form, jcs.Transform agrees, so the digest is Digest's.
func checkCanonical(t *testing.T, text []byte) {
	d := json.NewDecoder(bytes.NewReader(text))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return
	}
	want, werr := encodingJSON(v)
	got, isJCS, err := canonical(v)
	if (err == nil) != (werr == nil) || !bytes.Equal(got, want) {
		t.Fatalf("canonical %q (%v), encoding/json %q (%v)", got, err, want, werr)
	}
	if err != nil {
		return
	}
	for _, size := range []int{0, len(got) / 2, len(got) + 64} {
		if sized, err := CanonicalSized(v, size); err != nil || !bytes.Equal(sized, got) {
			t.Fatalf("CanonicalSized(%d) = %q (%v), Canonical %q", size, sized, err, got)
		}
	}
	if isJCS {
		j, err := jcs.Transform(got)
		if err != nil || !bytes.Equal(j, got) {
			t.Fatalf("said to be RFC 8785 but jcs writes %q (%v) for %q", j, err, got)
		}
	}
	if a, b := digestOf(got, isJCS), Digest(got); a != b {
		t.Fatalf("digest %s, Digest %s of %q", a, b, got)
	}
}

var canonicalSeeds = []string{
	`{"b":1.50,"a":"\u00e9","c":[1e2,-0]}`,
	`{"n":0,"m":-0,"k":-7,"j":123456789012345,"i":1234567890123456,"h":9007199254740993,"g":1e400}`,
	`{"s":"a\u2028b\u2029c","t":"\u0000\u0001\b\f\n\r\t\"\\/<>&","u":"\ud83d\ude00"}`,
	`{"\u00e9":1,"e":2,"\ud83d\ude00":3,"\uffff":4,"":5}`,
	`[null,true,false,[],{},"",0.1,1E5,-1.0e-7]`,
	`{"a":{"b":{"c":[{"d":"x"}]}}}`,
	`"\ufffd"`,
	// Objects sorted on their own frame (up to 16 members) and on the
	// shared stack (more), one inside the other.
	`{` + manyNames(16) + `}`, `{` + manyNames(17) + `,"z":{` + manyNames(20) + `,"y":{"b":1,"a":[{` + manyNames(18) + `}]}}}`,
	`{"a":{` + manyNames(30) + `},"b":{` + manyNames(17) + `},"c":[{` + manyNames(3) + `},{` + manyNames(40) + `}]}`,
}

func TestCanonicalIsEncodingJSONAndDigestIsJCS(t *testing.T) {
	for _, s := range canonicalSeeds {
		checkCanonical(t, []byte(s))
	}
	for _, k := range Kinds {
		raw, err := os.ReadFile(filepath.Join("testdata", "valid", k+".json"))
		if err != nil {
			t.Fatal(err)
		}
		checkCanonical(t, raw)
	}
	// Not decoded JSON: written by encoding/json, digested by jcs.
	if b, err := Canonical(struct {
		B string `json:"b"`
		A []int  `json:"a"`
	}{"<x>", []int{1}}); err != nil || string(b) != `{"b":"<x>","a":[1]}` {
		t.Fatalf("struct: %s %v", b, err)
	}
	if _, err := Canonical(map[string]any{"n": json.Number("1x")}); err == nil {
		t.Fatal("an invalid json.Number was written")
	}
}

// TestPushDigestIsDigestOfRaw: the digest a push result carries, computed
// without parsing Raw again, is Digest(Raw) for every valid sample.
func TestPushDigestIsDigestOfRaw(t *testing.T) {
	var docs []any
	for _, k := range Kinds {
		docs = append(docs, sample(t, k))
	}
	got, err := DecodeBatch(batchOf(t, docs...), FormatJSON, testLimits)
	if err != nil {
		t.Fatal(err)
	}
	for i, c := range got {
		if !c.Valid() {
			t.Fatalf("record %d invalid: %v", i, c.Errors)
		}
		if c.Record.digest == "" || c.Record.ContentDigest() != Digest(c.Record.Raw) {
			t.Fatalf("record %d: digest %q, Digest %q", i, c.Record.digest, Digest(c.Record.Raw))
		}
	}
}

func FuzzCanonical(f *testing.F) {
	for _, s := range canonicalSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(checkCanonical)
}

package records

import (
	"encoding/json"
	"errors"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/problem"
)

func errorsAs(err error, target any) bool { return errors.As(err, target) }

var fuzzLimits = Limits{MaxRecords: 20, MaxDepth: 8, MaxStringLength: 256}

func seedBodies(f *testing.F, ndjson bool) {
	for _, k := range Kinds {
		raw, err := os.ReadFile(filepath.Join("testdata", "valid", k+".json"))
		if err != nil {
			f.Fatal(err)
		}
		var v any
		_ = json.Unmarshal(raw, &v)
		compact, _ := json.Marshal(v)
		if ndjson {
			f.Add(append(compact, '\n'))
		} else {
			f.Add(append(append([]byte("["), compact...), ']'))
		}
	}
	for _, s := range []string{`[{"id":"X-1","version":9223372036854775808}]`, `[{"id":"X\u0000","version":-9223372036854775809}]`,
		`[{"id":"X-1","version":1e300}]`, `[{"id":"X-1","version":2147483648}]`, `[]`, `[{}]`, `[{"a":1,"a":2}]`, "{}\n{}", `[[[[[[[[[[]]]]]]]]]]`, `[{"kind":"licence"}] x`, "\xff"} {
		f.Add([]byte(s))
	}
}

// checkDecoded holds for every body: a request-level problem, or one result
// per record that is either a record whose Raw re-decodes to a valid record,
// or field errors that name the record.
func checkDecoded(t *testing.T, body []byte, f Format) {
	got, err := DecodeBatch(body, f, fuzzLimits)
	if err != nil {
		var p *problem.Error
		if !errors.As(err, &p) || p.Status < 400 || p.Status >= 500 {
			t.Fatalf("error is not a 4xx problem: %v", err)
		}
		return
	}
	if len(got) == 0 || len(got) > fuzzLimits.MaxRecords {
		t.Fatalf("%d records", len(got))
	}
	for i, c := range got {
		// What is echoed and audited for any record, valid or not, is
		// bounded: a well-formed id or none, a version in range or none.
		if c.ID != "" && !ValidID(c.ID) || c.Version < 0 || c.Version > MaxVersion {
			t.Fatalf("record %d: unbounded identity echoed: id %q version %d", i, c.ID, c.Version)
		}
		if c.Valid() == (len(c.Errors) > 0) {
			t.Fatalf("record %d: valid %v with %d errors", i, c.Valid(), len(c.Errors))
		}
		for _, e := range c.Errors {
			if e.Record == nil || *e.Record != i {
				t.Fatalf("record %d: error names record %v", i, e.Record)
			}
		}
		if c.Valid() {
			again, err := DecodeBatch(append(append([]byte("["), c.Record.Raw...), ']'), FormatJSON, fuzzLimits)
			if err != nil || !again[0].Valid() || string(again[0].Record.Raw) != string(c.Record.Raw) {
				t.Fatalf("record %d: canonical Raw does not round-trip: %v", i, err)
			}
		}
	}
}

func FuzzDecodeJSON(f *testing.F) {
	seedBodies(f, false)
	f.Fuzz(func(t *testing.T, body []byte) { checkDecoded(t, body, FormatJSON) })
}

func FuzzDecodeNDJSON(f *testing.F) {
	seedBodies(f, true)
	f.Fuzz(func(t *testing.T, body []byte) { checkDecoded(t, body, FormatNDJSON) })
}

func FuzzRedact(f *testing.F) {
	for _, p := range []string{"/licence/contract_value", "/a~1b/0", "/~0", "", "x", "/items/-"} {
		f.Add(p)
	}
	doc := map[string]any{"licence": map[string]any{"contract_value": "secret"}, "a/b": []any{"x", "y"}, "~": 1, "items": []any{1}}
	f.Fuzz(func(t *testing.T, ptr string) {
		out, err := Redact(doc, []string{ptr})
		if err != nil {
			return
		}
		if _, err := Canonical(out); err != nil {
			t.Fatal(err)
		}
		if tokens, _ := ParsePointer(ptr); Pointer(tokens...) != ptr {
			t.Fatalf("pointer %q does not round-trip: %q", ptr, Pointer(tokens...))
		}
	})
}

// FuzzParseDateTime: whatever a record's date-time holds, ParseDateTime
// does not panic, and what it accepts has the schemas' syntax and keeps its
// calendar date (a leap second is not moved to the next day).
func FuzzParseDateTime(f *testing.F) {
	for _, s := range []string{"2026-05-01T10:00:00Z", "2026-05-01t10:00:00z", "2026-06-30T23:59:60Z",
		"2026-07-01T01:59:60.5+02:00", "2026-02-30T10:00:00Z", "2026-05-01T10:00:00.123456789012-12:00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseDateTime(s)
		if err != nil {
			return
		}
		if !dateTimeSyntax.MatchString(s) {
			t.Fatalf("%q accepted without the schemas' syntax", s)
		}
		if got.Format(time.DateOnly) != s[:10] {
			t.Fatalf("%q read as %v: another date", s, got)
		}
	})
}

// FuzzInt: Int never panics, and an integer it reads is the number the
// text denotes (checked exactly with big.Rat on short texts).
func FuzzInt(f *testing.F) {
	for _, s := range []string{"1", "1.0", "1e0", "-0", "10e-1", "1e400", "9223372036854775807", "0.5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		v, ok := Int(json.Number(s))
		// big.Rat builds 10^exp: only short exponents are checked.
		if i := strings.IndexAny(s, "eE"); !ok || len(s) > 64 || i >= 0 && len(strings.TrimLeft(s[i+1:], "+-")) > 3 {
			return
		}
		r, exact := new(big.Rat).SetString(s)
		if !exact || !r.IsInt() || r.Num().Int64() != v {
			t.Fatalf("Int(%q) = %d", s, v)
		}
	})
}

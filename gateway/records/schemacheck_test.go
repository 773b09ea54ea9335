package records

import (
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// TestPassCheckJudgesAsLibrary holds Validate, which lets a record its
// kind's pass check finds certainly valid skip the library, to Validate
// with the library judging every record: on every case of the differential
// corpus and every record made from a valid one of each kind by removing a
// field, adding an unknown one, or giving one a value of another type, a
// near miss of its pattern, bound or enumeration, or another discriminator,
// both give the same verdict and the same field errors, pointer and text.
// Beside that, the security property itself: whatever the pass check
// passes, the library accepts.
func TestPassCheckJudgesAsLibrary(t *testing.T) {
	set, err := schemas()
	if err != nil {
		t.Fatal(err)
	}
	cases := passCheckCases(t)
	refused, skipped, validUnsure := 0, 0, 0
	for i, d := range cases {
		want := validate(d, nil, false)
		got := validate(d, nil, true)
		if got.Valid() != want.Valid() || !reflect.DeepEqual(got.Errors, want.Errors) || got.ID != want.ID || got.Version != want.Version {
			raw, _ := json.Marshal(d)
			t.Errorf("case %d %s:\n with the pass check %v %v\n library alone       %v %v", i, raw, got.Valid(), got.Errors, want.Valid(), want.Errors)
		}
		k, _ := d["kind"].(string)
		pc := set.passes[k]
		if pc == nil {
			continue
		}
		libErr := set.compiled[k].Validate(d)
		switch v := pc.check(d); {
		case v == pass && libErr != nil:
			raw, _ := json.Marshal(d)
			t.Errorf("case %d %s: the pass check passes what the library refuses: %v", i, raw, libErr)
		case v == pass:
			skipped++
		case libErr == nil:
			validUnsure++
		}
		if !want.Valid() {
			refused++
		}
	}
	if refused < 3000 || skipped < 100 {
		t.Errorf("%d refused and %d passed cases: the mutations no longer reach the schemas", refused, skipped)
	}
	t.Logf("%d cases, %d refused, %d passed by the pass check, %d schema-valid left to the library", len(cases), refused, skipped, validUnsure)
}

// TestPassCheckCoversValidRecords: every kind has a pass check, and every
// valid record of the corpus and of testdata/valid passes it, so a push of
// well-formed records never pays for the library's validation.
func TestPassCheckCoversValidRecords(t *testing.T) {
	set, err := schemas()
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range Kinds {
		if set.passes[k] == nil {
			t.Errorf("%s: no pass check", k)
		}
	}
	docs := corpusDocs(t)
	for _, k := range Kinds {
		docs = append(docs, sample(t, k))
	}
	for _, d := range docs {
		k, _ := d["kind"].(string)
		sch, pc := set.compiled[k], set.passes[k]
		if sch == nil || pc == nil || sch.Validate(d) != nil {
			continue
		}
		if v := pc.check(d); v != pass {
			raw, _ := json.Marshal(d)
			t.Errorf("valid %s record not passed (%d): %s", k, v, raw)
		}
	}
}

// TestPassCheckVerdicts: what the pass check decides and what it leaves
// to the library, keyword by keyword; a keyword it does not model leaves
// the whole schema without a pass check.
func TestPassCheckVerdicts(t *testing.T) {
	compile := func(t *testing.T, schema string) *jsonschema.Schema {
		t.Helper()
		doc, err := jsonschema.UnmarshalJSON(strings.NewReader(schema))
		if err != nil {
			t.Fatal(err)
		}
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft2020)
		c.AssertFormat()
		if err := c.AddResource("urn:test", doc); err != nil {
			t.Fatal(err)
		}
		s, err := c.Compile("urn:test")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	tests := []struct {
		schema, value string
		want          verdict
	}{
		{`{"type":"integer","minimum":1,"maximum":10}`, `5`, pass},
		{`{"type":"integer","minimum":1,"maximum":10}`, `11`, fail},
		{`{"type":"integer","minimum":1,"maximum":10}`, `0`, fail},
		// The library reads 1.0 and 1e0 as integers.
		{`{"type":"integer"}`, `1.0`, pass},
		{`{"type":"integer"}`, `1e0`, pass},
		{`{"type":"integer"}`, `1.5`, fail},
		{`{"type":"integer","maximum":2147483647}`, `2147483647.0`, pass},
		{`{"type":"integer","maximum":2147483647}`, `2147483648.0`, fail},
		{`{"type":"integer"}`, `"1"`, fail},
		{`{"type":"integer"}`, `99999999999999999999`, pass},
		{`{"type":"integer","maximum":1000}`, `99999999999999999999`, fail},
		{`{"type":"number","minimum":0,"maximum":1000}`, `999.99`, pass},
		{`{"type":"number","minimum":0,"maximum":1000}`, `1000.01`, fail},
		{`{"type":"number","minimum":0,"maximum":1000}`, `-1e-9`, fail},
		{`{"type":"number","exclusiveMaximum":1}`, `1`, fail},
		{`{"multipleOf":0.5}`, `1.5`, pass},
		{`{"multipleOf":0.5}`, `1.25`, fail},
		{`{"const":"NATO"}`, `"NATO"`, pass},
		{`{"const":"NATO"}`, `"EU"`, fail},
		{`{"const":"NATO"}`, `1`, fail},
		{`{"not":{"const":"NATO"}}`, `"EU"`, pass},
		{`{"not":{"const":"NATO"}}`, `"NATO"`, fail},
		{`{"enum":["a","b"]}`, `"b"`, pass},
		{`{"enum":["a","b"]}`, `"c"`, fail},
		{`{"enum":["a","b"]}`, `null`, fail},
		{`{"type":"string","minLength":2,"maxLength":3}`, `"äöü"`, pass},
		{`{"type":"string","minLength":2,"maxLength":3}`, `"äöüß"`, fail},
		{`{"type":"string","pattern":"^[A-Z]{3}$"}`, `"ABC"`, pass},
		{`{"type":"string","pattern":"^[A-Z]{3}$"}`, `"ABCD"`, fail},
		{`{"type":"string","format":"date"}`, `"2026-02-28"`, pass},
		{`{"type":"string","format":"date"}`, `"2026-02-30"`, fail},
		{`{"type":"array","uniqueItems":true}`, `["a","b"]`, pass},
		{`{"type":"array","uniqueItems":true}`, `["a","a"]`, fail},
		{`{"type":"array","uniqueItems":true}`, `[1,2,1]`, fail},
		{`{"type":"array","uniqueItems":true}`, `[1,"1"]`, pass},
		// 1 and 1.0 are the same item to the library.
		{`{"type":"array","uniqueItems":true}`, `[1,1.0]`, fail},
		{`{"type":"array","uniqueItems":true}`, `[1,1.5]`, pass},
		{`{"type":"array","uniqueItems":true}`, `[{},{}]`, unsure},
		{`{"type":"array","maxItems":1,"items":{"type":"string"}}`, `["a"]`, pass},
		{`{"type":"array","maxItems":1,"items":{"type":"string"}}`, `["a","b"]`, fail},
		{`{"type":"array","items":{"type":"string"}}`, `[1]`, fail},
		{`{"type":"object","required":["a"],"additionalProperties":false,"properties":{"a":{}}}`, `{"a":1}`, pass},
		{`{"type":"object","required":["a"],"additionalProperties":false,"properties":{"a":{}}}`, `{}`, fail},
		{`{"type":"object","required":["a"],"additionalProperties":false,"properties":{"a":{}}}`, `{"a":1,"b":2}`, fail},
		{`{"additionalProperties":{"type":"string"}}`, `{"b":2}`, fail},
		{`{"minProperties":1}`, `{}`, fail},
		{`{"if":{"properties":{"t":{"const":"x"}}},"then":{"required":["y"]},"else":{"required":["z"]}}`, `{"t":"x","y":1}`, pass},
		{`{"if":{"properties":{"t":{"const":"x"}}},"then":{"required":["y"]},"else":{"required":["z"]}}`, `{"t":"x","z":1}`, fail},
		{`{"if":{"properties":{"t":{"const":"x"}}},"then":{"required":["y"]},"else":{"required":["z"]}}`, `{"t":"w","z":1}`, pass},
		{`{"allOf":[{"required":["a"]},{"required":["b"]}]}`, `{"a":1}`, fail},
		{`false`, `1`, fail},
		// Required members are counted while the members are checked.
		{`{"properties":{"a":{},"b":{}},"required":["a","b"]}`, `{"a":1,"b":2}`, pass},
		{`{"properties":{"a":{},"b":{}},"required":["a","b"]}`, `{"a":1,"c":2}`, fail},
		{`{"properties":{"a":{}},"required":["a","z"]}`, `{"a":1}`, fail},
		{`{"properties":{"a":{}},"required":["a","z"]}`, `{"a":1,"z":1}`, pass},
		{`{"properties":{"a":{}},"additionalProperties":false,"required":["a","z"]}`, `{"a":1,"z":1}`, fail},
	}
	for _, tc := range tests {
		pc, err := planOf(compile(t, tc.schema))
		if err != nil {
			t.Fatalf("%s: %v", tc.schema, err)
		}
		v, err := jsonschema.UnmarshalJSON(strings.NewReader(tc.value))
		if err != nil {
			t.Fatal(err)
		}
		if got := pc.check(v); got != tc.want {
			t.Errorf("%s on %s: %d, want %d", tc.schema, tc.value, got, tc.want)
		}
	}
	// A member left undecided does not hide a missing required one.
	req, err := planOf(compile(t, `{"properties":{"a":{"type":"number"},"b":{}},"required":["a","b"]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got := req.check(map[string]any{"a": float64(1)}); got != fail {
		t.Errorf("undecided member, missing required: %d, want fail", got)
	}
	if got := req.check(map[string]any{"a": float64(1), "b": "x"}); got != unsure {
		t.Errorf("undecided member, required present: %d, want unsure", got)
	}
	// A value no decoder makes, and an if it leaves undecided, decide
	// nothing.
	cond, err := planOf(compile(t, `{"if":{"properties":{"n":{"type":"integer"}}},"then":false}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []any{float64(1), map[string]any{"n": float64(1)}, map[string]any{"n": json.Number("x")}} {
		if got := cond.check(v); got != unsure {
			t.Errorf("%#v: %d, want unsure", v, got)
		}
	}
	for _, schema := range []string{`{"anyOf":[{"type":"string"}]}`, `{"$ref":"#/$defs/a","$defs":{"a":{}}}`,
		`{"patternProperties":{"^a":{}}}`, `{"prefixItems":[{}]}`, `{"contains":{}}`, `{"enum":[1,"a"]}`, `{"const":1}`,
		`{"properties":{"a":{"dependentRequired":{"b":["c"]}}}}`, `{"unevaluatedProperties":false}`, `{"format":"regex"}`} {
		if _, err := planOf(compile(t, schema)); !errors.Is(err, errUnplanned) {
			t.Errorf("%s: %v, want no pass check", schema, err)
		}
	}
}

// FuzzPassCheck: for any record that decodes, Validate gives what the
// library alone gives, and the pass check never passes what the library
// refuses.
func FuzzPassCheck(f *testing.F) {
	seedBodies(f, false)
	for _, k := range Kinds {
		if raw, err := json.Marshal(sample(f, k)); err == nil {
			f.Add(append(append([]byte("["), raw...), ']'))
		}
	}
	set, err := schemas()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		decoded, err := Decode(body, FormatJSON, fuzzLimits)
		if err != nil {
			return
		}
		for _, d := range decoded {
			got, want := validate(d.Value, d.Errors, true), validate(d.Value, d.Errors, false)
			if got.Valid() != want.Valid() || !reflect.DeepEqual(got.Errors, want.Errors) {
				t.Fatalf("with the pass check %v %v, library alone %v %v", got.Valid(), got.Errors, want.Valid(), want.Errors)
			}
			doc, _ := d.Value.(map[string]any)
			k, _ := doc["kind"].(string)
			if pc := set.passes[k]; pc != nil && pc.check(doc) == pass {
				if err := set.compiled[k].Validate(doc); err != nil {
					t.Fatalf("the pass check passes what the library refuses: %v", err)
				}
			}
		}
	})
}

// passCheckCases are the corpus's records and, for the first valid record
// of each kind and each testdata/valid sample, its mutations and near
// misses.
func passCheckCases(t *testing.T) []map[string]any {
	t.Helper()
	set, err := schemas()
	if err != nil {
		t.Fatal(err)
	}
	docs := corpusDocs(t)
	for _, k := range Kinds {
		docs = append(docs, sample(t, k))
	}
	var cases []map[string]any
	mutated := map[string]int{}
	for _, d := range docs {
		cases = append(cases, d)
		k, _ := d["kind"].(string)
		if set.compiled[k] != nil && set.compiled[k].Validate(d) == nil && mutated[k] < 2 {
			mutated[k]++
			cases = append(cases, mutations(d)...)
			cases = append(cases, nearMisses(d)...)
		}
	}
	return cases
}

// nearMisses are copies of doc with one string replaced by a value close
// to what the schemas allow (one character too many, a character of
// another class, another discriminator), one number moved to the edges of
// the schemas' bounds or written in another form, and one array with its
// first item repeated.
func nearMisses(doc map[string]any) []map[string]any {
	discriminators := []string{"export", "import", "transit", "brokering", "production", "EXPORT_DECLARED", "EXIT_CONFIRMED",
		"IMPORT_DECLARED", "DELIVERY_CONFIRMED", "TRACE_REQUEST", "TRACE_RESPONSE", "MANUFACTURED", "active", "revoked",
		"permissive", "restrictive", "informative", "NATO", "EU", "XKX", "AL", "UNCLASSIFIED", "SECRET", "KONFIDENCIAL",
		"ML22", "ML23", "ml1", "2026-02-29", "2024-02-29", "2026-01-01T00:00:00z", "2026-12-31T23:59:60Z", "AL/GOV/AIM"}
	numbers := []string{"1", "1799", "1800", "2200", "2201", "2147483647", "2147483648", "1000000000000", "1000000000001",
		"1e2", "1.0", "-0", "0.5", "1E+3", "100000000000000000000", "8", "9"}
	var out []map[string]any
	var visit func(path []any, v any)
	visit = func(path []any, v any) {
		set := func(r any) map[string]any {
			return withAt(doc, path[:len(path)-1], func(parent any) {
				switch p := path[len(path)-1].(type) {
				case string:
					parent.(map[string]any)[p] = r
				case int:
					parent.([]any)[p] = r
				}
			})
		}
		switch v := v.(type) {
		case map[string]any:
			for k, e := range v {
				visit(append(slices.Clone(path), k), e)
			}
		case []any:
			if len(v) > 0 && len(path) > 0 {
				out = append(out, set(append(slices.Clone(v), v[0])))
			}
			for i, e := range v {
				visit(append(slices.Clone(path), i), e)
			}
		case string:
			if len(path) == 0 {
				return
			}
			for _, r := range []string{v + "x", v + "-", v + " ", " " + v, "-" + v, v + "é", strings.ToLower(v), strings.ToUpper(v),
				v[:len(v)/2], strings.Repeat("A", 65), strings.Repeat("a", 257), strings.Repeat("a", 2001)} {
				out = append(out, set(r))
			}
			for _, r := range discriminators {
				out = append(out, set(r))
			}
		case json.Number:
			for _, r := range numbers {
				out = append(out, set(json.Number(r)))
			}
		}
	}
	visit(nil, doc)
	return out
}

// TestPassCheckKnowsEverySchemaField guards the plan against a newer
// jsonschema/v6 that adds an assertion to its compiled Schema: every field
// is either read by planOf (a keyword it models or refuses to plan) or an
// annotation that asserts nothing. A field outside both lists fails here
// before a plan could pass a record the library would refuse.
func TestPassCheckKnowsEverySchemaField(t *testing.T) {
	annotations := map[string]bool{
		"ID": true, "Anchor": true, "RecursiveAnchor": true, "DynamicAnchor": true,
		// Only meaningful with Contains, which planOf refuses.
		"MinContains": true, "MaxContains": true,
		"Title": true, "Description": true, "Default": true, "Comment": true,
		"ReadOnly": true, "WriteOnly": true, "Examples": true, "Deprecated": true,
	}
	src, err := os.ReadFile("schemacheck.go")
	if err != nil {
		t.Fatal(err)
	}
	typ := reflect.TypeFor[jsonschema.Schema]()
	for f := range typ.Fields() {
		if !f.IsExported() || annotations[f.Name] {
			continue
		}
		if !regexp.MustCompile(`\bs\.` + f.Name + `\b`).Match(src) {
			t.Errorf("jsonschema.Schema.%s is neither planned nor listed as an annotation: the pass check must model it or refuse to plan a schema that sets it", f.Name)
		}
	}
}

package records

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"

	"github.com/ura-gateway/ura/gateway/problem"
)

// TestInlinedSchemasJudgeAlike holds the compiled schemas, whose $refs are
// inlined (inlineRefs), to the schemas as served: on every case of the
// differential corpus and on every record made from a valid one by
// removing a field or giving it a value of another type or form, both
// accept the same records and refuse the others with the same field
// errors, pointer and text. The served schemas' errors are read as the
// gateway read them before inlining (a long enumeration known by where it
// is defined).
func TestInlinedSchemasJudgeAlike(t *testing.T) {
	inlined, err := buildSchemas(true)
	if err != nil {
		t.Fatal(err)
	}
	served, err := buildSchemas(false)
	if err != nil {
		t.Fatal(err)
	}
	docs := corpusDocs(t)
	var cases []map[string]any
	valid := map[string]bool{}
	for _, d := range docs {
		cases = append(cases, d)
		k, _ := d["kind"].(string)
		if served.compiled[k] != nil && served.compiled[k].Validate(d) == nil && !valid[k] {
			valid[k] = true
			cases = append(cases, mutations(d)...)
		}
	}
	refused := 0
	for i, d := range cases {
		k, _ := d["kind"].(string)
		a, b := served.compiled[k], inlined.compiled[k]
		if a == nil {
			continue
		}
		got := sortFieldErrors(schemaErrorsOrNil(b.Validate(d)))
		want := sortFieldErrors(servedErrors(a.Validate(d)))
		if len(want) > 0 {
			refused++
		}
		if !slices.Equal(got, want) {
			raw, _ := json.Marshal(d)
			t.Errorf("case %d %s:\n inlined %v\n served  %v", i, raw, got, want)
		}
	}
	if refused < 1000 {
		t.Errorf("only %d refused cases: the mutations no longer reach the schemas", refused)
	}
	t.Logf("%d cases, %d refused", len(cases), refused)
}

func schemaErrorsOrNil(err error) []problem.FieldError {
	if err == nil {
		return nil
	}
	return schemaErrors(err)
}

// servedErrors is schemaErrors as it read an enumeration's error before the
// schemas were inlined: by the $defs it failed in.
func servedErrors(err error) []problem.FieldError {
	if err == nil {
		return nil
	}
	return schemaErrorsWith(err, func(e *jsonschema.ValidationError, k *kind.Enum) string {
		for def, detail := range enumDetails {
			if strings.HasSuffix(e.SchemaURL, "/$defs/"+def) {
				return fmt.Sprintf("%v: %s", k.Got, detail)
			}
		}
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = fmt.Sprint(w)
		}
		return fmt.Sprintf("%v: must be one of %s", k.Got, strings.Join(want, ", "))
	})
}

// corpusDocs are the records of the differential corpus that decode.
func corpusDocs(t *testing.T) []map[string]any {
	t.Helper()
	f, err := os.Open(corpusPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var docs []map[string]any
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var c corpusCase
		if err := json.Unmarshal(sc.Bytes(), &c); err != nil {
			t.Fatal(err)
		}
		got, err := Decode(append(append([]byte("["), c.Record...), ']'), FormatJSON, differentialLimits)
		if err != nil || len(got) != 1 {
			continue
		}
		if d, ok := got[0].Value.(map[string]any); ok {
			docs = append(docs, d)
		}
	}
	return docs
}

// mutations are copies of doc with one field removed, or replaced by a
// value of another type or a string of another form, for every field at
// every depth, and with an unknown field added to every object.
func mutations(doc map[string]any) []map[string]any {
	replacements := []any{"", "x", "ZZZ", "2026-13-45", "not-an-email", json.Number("0"), json.Number("-1"),
		json.Number("1.5"), json.Number("99999999999"), true, nil, []any{}, []any{"x"}, map[string]any{}}
	var out []map[string]any
	var visit func(path []any, v any)
	visit = func(path []any, v any) {
		switch v := v.(type) {
		case map[string]any:
			out = append(out, withAt(doc, path, func(parent any) { parent.(map[string]any)["zz_unknown"] = "x" }))
			for k, e := range v {
				p := append(slices.Clone(path), k)
				out = append(out, withAt(doc, path, func(parent any) { delete(parent.(map[string]any), k) }))
				for _, r := range replacements {
					out = append(out, withAt(doc, path, func(parent any) { parent.(map[string]any)[k] = r }))
				}
				visit(p, e)
			}
		case []any:
			for i, e := range v {
				p := append(slices.Clone(path), i)
				for _, r := range replacements {
					out = append(out, withAt(doc, path, func(parent any) { parent.([]any)[i] = r }))
				}
				visit(p, e)
			}
		}
	}
	visit(nil, doc)
	return out
}

// withAt copies doc and applies change to the value at path in the copy.
func withAt(doc map[string]any, path []any, change func(any)) map[string]any {
	c := copyValue(doc).(map[string]any)
	var at any = c
	for _, p := range path {
		switch p := p.(type) {
		case string:
			at = at.(map[string]any)[p]
		case int:
			at = at.([]any)[p]
		}
	}
	change(at)
	return c
}

// TestInlineRefs: what is inlined and what is left as it is.
func TestInlineRefs(t *testing.T) {
	doc := map[string]any{
		"$defs": map[string]any{
			"code": map[string]any{"type": "string", "pattern": "^[A-Z]{3}$", "description": "a code"},
			"tree": map[string]any{"type": "object", "properties": map[string]any{"kids": map[string]any{"type": "array", "items": map[string]any{"$ref": "#/$defs/tree"}}}},
			"pair": map[string]any{"type": "array", "items": map[string]any{"$ref": "#/$defs/code"}},
		},
		"type": "object",
		"properties": map[string]any{
			"a":    map[string]any{"$ref": "#/$defs/code"},
			"b":    map[string]any{"$ref": "#/$defs/code", "description": "b's own"},
			"c":    map[string]any{"$ref": "#/$defs/code", "pattern": "^X"},
			"d":    map[string]any{"$ref": "#/$defs/tree"},
			"e":    map[string]any{"$ref": "#/$defs/pair"},
			"enum": map[string]any{"enum": []any{map[string]any{"$ref": "#/$defs/code"}}},
		},
		"dependentRequired": map[string]any{"properties": []any{"a"}},
	}
	got, err := inlineRefs(doc)
	if err != nil {
		t.Fatal(err)
	}
	props := got.(map[string]any)["properties"].(map[string]any)
	want := map[string]any{
		"a": map[string]any{"type": "string", "pattern": "^[A-Z]{3}$", "description": "a code"},
		"b": map[string]any{"type": "string", "pattern": "^[A-Z]{3}$", "description": "b's own"},
		// Two patterns: both must hold, so the $ref stays.
		"c": map[string]any{"$ref": "#/$defs/code", "pattern": "^X"},
		// A definition that refers to itself is inlined once; the $ref
		// inside it stays, to the definition still in $defs.
		"d": map[string]any{"type": "object", "properties": map[string]any{"kids": map[string]any{"type": "array", "items": map[string]any{"$ref": "#/$defs/tree"}}}},
		// Definitions inside definitions are inlined too.
		"e": map[string]any{"type": "array", "items": map[string]any{"type": "string", "pattern": "^[A-Z]{3}$", "description": "a code"}},
		// Values are values, whatever they look like.
		"enum": map[string]any{"enum": []any{map[string]any{"$ref": "#/$defs/code"}}},
	}
	for name, w := range want {
		g, _ := json.Marshal(props[name])
		wj, _ := json.Marshal(w)
		if string(g) != string(wj) {
			t.Errorf("%s = %s, want %s", name, g, wj)
		}
	}
	if dr, _ := json.Marshal(got.(map[string]any)["dependentRequired"]); string(dr) != `{"properties":["a"]}` {
		t.Errorf("dependentRequired = %s", dr)
	}
	if _, ok := got.(map[string]any)["$defs"].(map[string]any)["tree"]; !ok {
		t.Error("the definitions are gone")
	}
	// The input is not changed.
	if _, ok := doc["properties"].(map[string]any)["a"].(map[string]any)["$ref"]; !ok {
		t.Error("the input was changed")
	}
	if _, err := inlineRefs(map[string]any{"unevaluatedProperties": false}); err == nil {
		t.Error("unevaluatedProperties was inlined around")
	}
	if _, err := inlineRefs(map[string]any{"$id": "urn:x", "properties": map[string]any{"a": map[string]any{"$id": "urn:y"}}}); err == nil {
		t.Error("a $id below the root was let through")
	}
	if _, err := inlineRefs(map[string]any{"$ref": "#/$defs/missing"}); err == nil {
		t.Error("a $ref to a missing definition was let through")
	}
}

// TestPruneBranches: what pruneBranches removes and what it keeps.
func TestPruneBranches(t *testing.T) {
	code := map[string]any{"type": "string", "pattern": "^[A-Z]{3}$"}
	for _, tc := range []struct {
		name     string
		doc, out string
	}{
		{"a branch's property equal to the object's own goes",
			`{"properties":{"a":` + mustJSON(code) + `},"allOf":[{"if":{"required":["b"]},"then":{"required":["a"],"properties":{"a":` + mustJSON(code) + `}}}]}`,
			`{"if":{"required":["b"]},"properties":{"a":{"pattern":"^[A-Z]{3}$","type":"string"}},"then":{"required":["a"]}}`},
		{"a branch's property other than the object's own stays",
			`{"properties":{"a":{"type":"string"}},"if":{"required":["b"]},"then":{"properties":{"a":{"maxLength":3}}}}`,
			`{"if":{"required":["b"]},"properties":{"a":{"type":"string"}},"then":{"properties":{"a":{"maxLength":3}}}}`},
		{"an empty branch goes, and an if with no branch",
			`{"if":{"required":["b"]},"then":{},"else":{"$comment":"nothing"}}`,
			`{}`},
		{"an empty then goes, else stays",
			`{"if":{"required":["b"]},"then":{},"else":{"required":["c"]}}`,
			`{"else":{"required":["c"]},"if":{"required":["b"]}}`},
		{"an allOf of one member the schema has none of the keywords of moves up",
			`{"type":"object","$comment":"own","allOf":[{"$comment":"member's","required":["a"]}]}`,
			`{"$comment":"own","required":["a"],"type":"object"}`},
		{"an allOf of one member with a keyword of the schema stays",
			`{"required":["b"],"allOf":[{"required":["a"]}]}`,
			`{"allOf":[{"required":["a"]}],"required":["b"]}`},
		{"an allOf of several members stays, less the empty ones",
			`{"allOf":[{"if":{"required":["a"]},"then":{"required":["b"]}},{"if":{"required":["c"]},"then":{}},{"if":{"required":["d"]},"then":{"required":["e"]}}]}`,
			`{"allOf":[{"if":{"required":["a"]},"then":{"required":["b"]}},{"if":{"required":["d"]},"then":{"required":["e"]}}]}`},
		{"values are values",
			`{"const":{"if":{},"then":{}},"properties":{"if":{"then":{}}}}`,
			`{"const":{"if":{},"then":{}},"properties":{"if":{"then":{}}}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var doc any
			if err := json.Unmarshal([]byte(tc.doc), &doc); err != nil {
				t.Fatal(err)
			}
			if got := mustJSON(pruneBranches(doc)); got != tc.out {
				t.Errorf("got  %s\nwant %s", got, tc.out)
			}
		})
	}
}

func mustJSON(v any) string {
	raw, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(raw)
}

package records

import (
	"fmt"
	"reflect"
	"strings"
)

// inlineRefs returns a copy of a decoded schema in which every
// `"$ref": "#/$defs/NAME"` is replaced by the definition itself, merged
// with the keywords beside it. The served schema keeps its $refs; only the
// compiled copy is inlined, because santhosh-tekuri/jsonschema builds a
// validator, a scope and an evaluation record for every $ref it follows,
// and a record's schema follows dozens per record (measured: about a third
// of validation's CPU).
//
// The result validates exactly as the original does: in draft 2020-12 a
// $ref beside other keywords is one more conjunct at the same instance
// location, so moving the referenced keywords up is the same conjunction,
// as long as no keyword that validates appears on both sides (then the
// $ref is left as it is) and no unevaluatedProperties/unevaluatedItems
// sees the difference (the schemas use neither; inlineRefs refuses them).
// A $ref inside a definition back to itself (directly or not) is left as
// it is, resolved against the $defs the copy keeps.
// Errors carry the same instance locations, kinds and values; only their
// schema location differs, which is why enumDetail matches the long
// enumerations by their values, not by where they are defined.
func inlineRefs(doc any) (any, error) {
	root, ok := doc.(map[string]any)
	if !ok {
		return doc, nil
	}
	defs, _ := root["$defs"].(map[string]any)
	in := &inliner{defs: defs, done: map[string]any{}, busy: map[string]bool{}}
	out, err := in.walk(root)
	if err != nil {
		return nil, err
	}
	return out, nil
}

type inliner struct {
	defs map[string]any
	done map[string]any // definitions already inlined
	busy map[string]bool
	// depth is how deep in the document walk is: 1 at the root.
	depth int
}

const defsRef = "#/$defs/"

// Keywords whose value is not a schema but data, or a map of names to
// schemas, or a list of schemas (draft 2020-12). Any other object or list
// value is one schema.
var (
	dataKeywords = map[string]bool{"enum": true, "const": true, "default": true, "examples": true, "required": true,
		"type": true, "dependentRequired": true, "$vocabulary": true}
	schemaMapKeywords  = map[string]bool{"properties": true, "patternProperties": true, "$defs": true, "definitions": true, "dependentSchemas": true}
	scopeKeywords      = map[string]bool{"$id": true, "$anchor": true, "$dynamicRef": true, "$dynamicAnchor": true}
	schemaListKeywords = map[string]bool{"allOf": true, "anyOf": true, "oneOf": true, "prefixItems": true}
)

// walk inlines one schema.
func (in *inliner) walk(v any) (any, error) {
	s, ok := v.(map[string]any)
	if !ok {
		return v, nil // true, false
	}
	in.depth++
	defer func() { in.depth-- }()
	out := make(map[string]any, len(s))
	for k, e := range s {
		var err error
		switch {
		case k == "unevaluatedProperties" || k == "unevaluatedItems":
			return nil, fmt.Errorf("inlining $ref: %s would see the difference", k)
		case in.depth > 1 && scopeKeywords[k]:
			// A $ref copied out of or into its scope would resolve
			// against another base.
			return nil, fmt.Errorf("inlining $ref: %s below the root", k)
		case dataKeywords[k]:
			out[k] = copyValue(e)
		case schemaMapKeywords[k]:
			m, _ := e.(map[string]any)
			w := make(map[string]any, len(m))
			for name, sub := range m {
				if w[name], err = in.walk(sub); err != nil {
					return nil, err
				}
			}
			out[k] = w
		case schemaListKeywords[k]:
			l, _ := e.([]any)
			w := make([]any, len(l))
			for i, sub := range l {
				if w[i], err = in.walk(sub); err != nil {
					return nil, err
				}
			}
			out[k] = w
		default:
			if out[k], err = in.walk(e); err != nil {
				return nil, err
			}
		}
	}
	return in.merge(out)
}

// annotations are keywords that validate nothing: where the referring
// schema and the definition both have one, the referring schema's is kept.
var annotations = map[string]bool{"description": true, "title": true, "$comment": true, "examples": true, "default": true}

// merge replaces s's $ref to a definition by the definition's keywords.
func (in *inliner) merge(s map[string]any) (map[string]any, error) {
	ref, _ := s["$ref"].(string)
	name, ok := strings.CutPrefix(ref, defsRef)
	if !ok || strings.ContainsAny(name, "/~%") {
		return s, nil
	}
	def, err := in.def(name)
	if err != nil || def == nil {
		return s, err
	}
	for k := range def {
		if _, clash := s[k]; clash && k != "$ref" && !annotations[k] {
			return s, nil
		}
	}
	delete(s, "$ref")
	for k, e := range def {
		if _, own := s[k]; !own {
			s[k] = copyValue(e)
		}
	}
	return s, nil
}

// def is the inlined definition name, or nil when it cannot be inlined
// (it refers back to itself, or is not an object).
func (in *inliner) def(name string) (map[string]any, error) {
	if d, ok := in.done[name]; ok {
		m, _ := d.(map[string]any)
		return m, nil
	}
	raw, ok := in.defs[name]
	if !ok {
		return nil, fmt.Errorf("$ref to missing $defs/%s", name)
	}
	if in.busy[name] {
		return nil, nil
	}
	in.busy[name] = true
	w, err := in.walk(raw)
	delete(in.busy, name)
	if err != nil {
		return nil, err
	}
	m, _ := w.(map[string]any)
	if m != nil {
		if _, self := m["$ref"]; self {
			// Still a $ref after inlining: part of a cycle.
			m = nil
		}
	}
	in.done[name] = m
	return m, nil
}

// copyValue copies a schema value, so that no two places of the compiled
// schema share a map or a slice.
func copyValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = copyValue(e)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = copyValue(e)
		}
		return out
	}
	return v
}

// enumKey names an enumeration by its values, in order.
func enumKey(vals []any) string {
	var b strings.Builder
	for _, v := range vals {
		fmt.Fprintf(&b, "%v\x00", v)
	}
	return b.String()
}

// pruneBranches removes, from an inlined schema, the subschemas whose
// every error another part of the schema already reports, and the
// branches that assert nothing, so that the validator, which allocates a
// validator, a scope and an evaluation record for every subschema it
// enters, enters fewer per record:
//
//   - a then/else branch's property schema equal to the enclosing
//     object's own schema of that property: both see the same value, so
//     the branch's errors are the object's, and sortFieldErrors keeps one
//     of each pair anyway;
//   - a then or else that is empty (or only annotations), and an if left
//     with no branch: in draft 2020-12 an if only chooses a branch;
//   - an allOf of one member whose keywords the enclosing schema does not
//     have: the member's keywords move up, the same conjunction at the
//     same instance location, as inlineRefs moves a $ref's.
//
// The leaves of every error tree (instance location, kind, values), which
// are all that schemaErrors reads, stay the same; TestInlinedSchemasJudgeAlike
// holds the result to the served schemas.
func pruneBranches(v any) any {
	s, ok := v.(map[string]any)
	if !ok {
		return v
	}
	for k, e := range s {
		switch {
		case dataKeywords[k]:
		case schemaMapKeywords[k]:
			m, _ := e.(map[string]any)
			for name, sub := range m {
				m[name] = pruneBranches(sub)
			}
		case schemaListKeywords[k]:
			l, _ := e.([]any)
			for i, sub := range l {
				l[i] = pruneBranches(sub)
			}
		default:
			s[k] = pruneBranches(e)
		}
	}
	props, _ := s["properties"].(map[string]any)
	pruneConditional(s, props)
	if all, ok := s["allOf"].([]any); ok {
		kept := all[:0]
		for _, m := range all {
			if ms, ok := m.(map[string]any); ok {
				pruneConditional(ms, props)
				if onlyAnnotations(ms) {
					continue
				}
			}
			kept = append(kept, m)
		}
		switch {
		case len(kept) == 0:
			delete(s, "allOf")
		case len(kept) == 1 && hoistable(s, kept[0]):
			delete(s, "allOf")
			for k, e := range kept[0].(map[string]any) {
				if _, own := s[k]; !own {
					s[k] = e
				}
			}
		default:
			s["allOf"] = kept
		}
	}
	return s
}

// pruneConditional prunes s's then and else against props, the
// properties of the object schema s applies beside.
func pruneConditional(s map[string]any, props map[string]any) {
	if _, ok := s["if"]; !ok {
		return
	}
	for _, branch := range []string{"then", "else"} {
		b, ok := s[branch].(map[string]any)
		if !ok {
			continue
		}
		if bp, ok := b["properties"].(map[string]any); ok && props != nil {
			for name, sub := range bp {
				if own, ok := props[name]; ok && reflect.DeepEqual(own, sub) {
					delete(bp, name)
				}
			}
			if len(bp) == 0 {
				delete(b, "properties")
			}
		}
		if onlyAnnotations(b) {
			delete(s, branch)
		}
	}
	_, then := s["then"]
	_, els := s["else"]
	if !then && !els {
		delete(s, "if")
	}
}

// onlyAnnotations reports whether schema s asserts nothing.
func onlyAnnotations(s map[string]any) bool {
	for k := range s {
		if !annotations[k] {
			return false
		}
	}
	return true
}

// hoistable reports whether member m of s's allOf can be merged into s:
// an object none of whose validating keywords s has.
func hoistable(s map[string]any, m any) bool {
	ms, ok := m.(map[string]any)
	if !ok {
		return false
	}
	for k := range ms {
		if _, clash := s[k]; clash && !annotations[k] {
			return false
		}
	}
	return true
}

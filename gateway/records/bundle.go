package records

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
)

// defRefPrefix is how a kind's schema names its definitions. The standalone
// schemas resolve it against their own $id; an OpenAPI document resolves
// every $ref against the document root, where it would point nowhere.
const defRefPrefix = "#/$defs/"

// componentRefPrefix is where a bundled definition lives in an OpenAPI 3.1
// document.
const componentRefPrefix = "#/components/schemas/"

// OpenAPIComponents is every kind's schema bundled for an OpenAPI 3.1
// document's components.schemas, made from the same embedded files as the
// standalone schemas, so the two never differ in what they accept.
//
// names maps each kind to its component name (licence: Licence). The kind's
// schema loses $schema, $id and $defs; each definition it reaches becomes a
// component of its own and every "#/$defs/x" a "#/components/schemas/X":
// a definition shared by every kind (schemas/common.json) is one component
// named for it in PascalCase (record_id: RecordId), one of a kind's own is
// prefixed with the kind's component name (entity's activities:
// EntityActivities). A definition no kind reaches is left out, so the
// document has no unused component. Each value is the component's JSON.
func OpenAPIComponents(names map[string]string) (map[string]json.RawMessage, error) {
	common, err := readSchema("common")
	if err != nil {
		return nil, err
	}
	commonDefs, _ := common["$defs"].(map[string]any)
	all := map[string]any{}
	add := func(name string, v any) error {
		if _, clash := all[name]; clash {
			return fmt.Errorf("openapi components: two schemas named %s", name)
		}
		all[name] = v
		return nil
	}
	for def, v := range commonDefs {
		name := pascal(def)
		rewritten, err := rewriteDefRefs(v, func(d string) (string, bool) {
			_, ok := commonDefs[d]
			return pascal(d), ok
		})
		if err != nil {
			return nil, fmt.Errorf("schema common: $defs/%s: %w", def, err)
		}
		if err := add(name, rewritten); err != nil {
			return nil, err
		}
	}
	var roots []string
	for _, kind := range Kinds {
		kindName, ok := names[kind]
		if !ok || kindName == "" {
			return nil, fmt.Errorf("openapi components: no component name for kind %s", kind)
		}
		doc, err := readSchema(kind)
		if err != nil {
			return nil, err
		}
		own, _ := doc["$defs"].(map[string]any)
		for _, k := range []string{"$schema", "$id", "$defs"} {
			delete(doc, k)
		}
		resolve := func(d string) (string, bool) {
			if _, ok := own[d]; ok {
				return kindName + pascal(d), true
			}
			_, ok := commonDefs[d]
			return pascal(d), ok
		}
		for def, v := range own {
			rewritten, err := rewriteDefRefs(v, resolve)
			if err != nil {
				return nil, fmt.Errorf("schema %s: $defs/%s: %w", kind, def, err)
			}
			if err := add(kindName+pascal(def), rewritten); err != nil {
				return nil, err
			}
		}
		rewritten, err := rewriteDefRefs(doc, resolve)
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", kind, err)
		}
		if err := add(kindName, rewritten); err != nil {
			return nil, err
		}
		roots = append(roots, kindName)
	}
	out := map[string]json.RawMessage{}
	for _, name := range reachable(all, roots) {
		raw, err := json.Marshal(all[name])
		if err != nil {
			return nil, fmt.Errorf("openapi components: %s: %w", name, err)
		}
		out[name] = raw
	}
	return out, nil
}

// rewriteDefRefs copies v with every "#/$defs/x" replaced by the component
// resolve names; a reference anywhere else is an error, since the bundle
// could not keep it resolvable.
func rewriteDefRefs(v any, resolve func(def string) (string, bool)) (any, error) {
	switch x := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, c := range x {
			if k == "$ref" {
				ref, _ := c.(string)
				def, ok := strings.CutPrefix(ref, defRefPrefix)
				if !ok || strings.Contains(def, "/") {
					return nil, fmt.Errorf("$ref %q is not a definition of the schema", ref)
				}
				name, ok := resolve(def)
				if !ok {
					return nil, fmt.Errorf("$ref %q: no such definition", ref)
				}
				out[k] = componentRefPrefix + name
				continue
			}
			r, err := rewriteDefRefs(c, resolve)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	case []any:
		out := make([]any, len(x))
		for i, c := range x {
			r, err := rewriteDefRefs(c, resolve)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	default:
		return v, nil
	}
}

// reachable lists, sorted, the components roots reach through $ref.
func reachable(all map[string]any, roots []string) []string {
	seen := map[string]bool{}
	var visit func(v any)
	visit = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok {
				name := strings.TrimPrefix(ref, componentRefPrefix)
				if !seen[name] {
					seen[name] = true
					visit(all[name])
				}
			}
			for _, c := range x {
				visit(c)
			}
		case []any:
			for _, c := range x {
				visit(c)
			}
		}
	}
	for _, r := range roots {
		seen[r] = true
		visit(all[r])
	}
	return slices.Sorted(maps.Keys(seen))
}

// pascal is snake_case in PascalCase: record_id is RecordId.
func pascal(s string) string {
	var b strings.Builder
	for part := range strings.SplitSeq(s, "_") {
		if part == "" {
			continue
		}
		b.WriteString(strings.ToUpper(part[:1]) + part[1:])
	}
	return b.String()
}

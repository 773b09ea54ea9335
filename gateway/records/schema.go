package records

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

//go:embed schemas/*.json
var schemaFS embed.FS

// schemaSet is every kind's schema, compiled once.
type schemaSet struct {
	// docs are the standalone schemas as served, pretty-printed.
	docs map[string][]byte
	// compiled validate decoded records.
	compiled map[string]*jsonschema.Schema
	// passes are the compiled schemas read back as pass checks
	// (schemacheck.go), by kind; a kind without one is validated by the
	// library alone.
	passes map[string]*passCheck
	// countries and nations are the enums of $defs/country and $defs/nation,
	// for checks outside a record (query parameters).
	countries, nations map[string]bool
	// enumDetails are the details of the long enumerations (validate.go),
	// by enumKey of their values.
	enumDetails map[string]string
}

// schemas compiles the embedded schemas on first use. They are part of the
// program, so a failure is a bug that the package's tests catch; it is still
// returned, never panicked, so a server refuses to start instead of crashing.
var schemas = sync.OnceValues(func() (*schemaSet, error) { return buildSchemas(true) })

// buildSchemas compiles every kind's schema; inline compiles the copy with
// its $refs inlined (inlineRefs), as the gateway validates with.
func buildSchemas(inline bool) (*schemaSet, error) {
	common, err := readSchema("common")
	if err != nil {
		return nil, err
	}
	commonDefs, _ := common["$defs"].(map[string]any)
	set := &schemaSet{docs: map[string][]byte{}, compiled: map[string]*jsonschema.Schema{}, passes: map[string]*passCheck{}}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	// Dates, date-times and e-mail addresses are checked, not just annotated.
	c.AssertFormat()
	// Nothing outside the embedded files may be loaded: a $ref to a URL or
	// a file is a compile error, not a fetch.
	c.UseLoader(jsonschema.SchemeURLLoader{})
	for _, kind := range Kinds {
		doc, err := readSchema(kind)
		if err != nil {
			return nil, err
		}
		defs, _ := doc["$defs"].(map[string]any)
		if defs == nil {
			defs = map[string]any{}
		}
		for name, def := range commonDefs {
			if _, clash := defs[name]; clash {
				return nil, fmt.Errorf("schema %s: $defs/%s shadows a common definition", kind, name)
			}
			defs[name] = def
		}
		doc["$defs"] = defs
		pretty, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", kind, err)
		}
		set.docs[kind] = append(pretty, '\n')
		// The compiler gets its own decoded copy: it keeps references into
		// the document, which must not alias what other code may read.
		parsed, err := jsonschema.UnmarshalJSON(bytes.NewReader(pretty))
		if err != nil {
			return nil, fmt.Errorf("schema %s: %w", kind, err)
		}
		if inline {
			if parsed, err = inlineRefs(parsed); err != nil {
				return nil, fmt.Errorf("schema %s: %w", kind, err)
			}
			parsed = pruneBranches(parsed)
		}
		url := "urn:ura:schema:" + kind
		if err := c.AddResource(url, parsed); err != nil {
			return nil, fmt.Errorf("schema %s: %w", kind, err)
		}
		if set.compiled[kind], err = c.Compile(url); err != nil {
			return nil, fmt.Errorf("schema %s: %w", kind, err)
		}
		if pc, err := planOf(set.compiled[kind]); err == nil {
			set.passes[kind] = pc
		} else if !errors.Is(err, errUnplanned) {
			return nil, fmt.Errorf("schema %s: %w", kind, err)
		}
	}
	set.enumDetails = map[string]string{}
	for def, detail := range enumDetails {
		d, _ := commonDefs[def].(map[string]any)
		vals, _ := d["enum"].([]any)
		if len(vals) == 0 {
			return nil, fmt.Errorf("schema common: $defs/%s has no enum", def)
		}
		set.enumDetails[enumKey(vals)] = detail
	}
	set.countries = enumSet(commonDefs, "country")
	set.nations = enumSet(commonDefs, "nation")
	if len(set.countries) < 250 || len(set.nations) != len(set.countries)+2 {
		return nil, fmt.Errorf("schema common: country list incomplete (%d countries, %d nations)", len(set.countries), len(set.nations))
	}
	return set, nil
}

func readSchema(name string) (map[string]any, error) {
	raw, err := schemaFS.ReadFile("schemas/" + name + ".json")
	if err != nil {
		return nil, fmt.Errorf("schema %s: %w", name, err)
	}
	var doc map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("schema %s: %w", name, err)
	}
	return doc, nil
}

func enumSet(defs map[string]any, name string) map[string]bool {
	def, _ := defs[name].(map[string]any)
	vals, _ := def["enum"].([]any)
	set := make(map[string]bool, len(vals))
	for _, v := range vals {
		if s, ok := v.(string); ok {
			set[s] = true
		}
	}
	return set
}

// Schema returns the standalone JSON Schema (draft 2020-12) of kind, as
// served at /v1/schemas/{kind}; ok is false for an unknown kind.
func Schema(kind string) (doc []byte, ok bool, err error) {
	set, err := schemas()
	if err != nil {
		return nil, false, err
	}
	doc, ok = set.docs[kind]
	return doc, ok, nil
}

// LoadSchemas compiles every schema now, so a server can refuse to start
// rather than fail its first request.
func LoadSchemas() error {
	_, err := schemas()
	return err
}

// IsCountry reports whether code is an ISO 3166-1 alpha-3 code or XKX.
func IsCountry(code string) bool {
	set, err := schemas()
	return err == nil && set.countries[code]
}

// IsNation reports whether code is a country or a releasability group
// (NATO, EU).
func IsNation(code string) bool {
	set, err := schemas()
	return err == nil && set.nations[code]
}

// Countries lists the accepted country codes, sorted.
func Countries() []string {
	set, err := schemas()
	if err != nil {
		return nil
	}
	return slices.Sorted(maps.Keys(set.countries))
}

package server

import (
	"bytes"
	"encoding/json"
	"flag"
	"maps"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/ura-gateway/ura/gateway/records"
)

// The package's tests share one -update flag (rewrite golden files); it is
// defined only once whichever test file gets there first.
func init() {
	if flag.Lookup("update") == nil {
		flag.Bool("update", false, "rewrite golden files and the embedded OpenAPI schemas")
	}
}

func openapiUpdate() bool {
	f := flag.Lookup("update")
	return f != nil && f.Value.String() == "true"
}

// openapiPending are routes the document describes that other parts of the
// gateway have not wired yet. Each entry must go as soon as its route is
// served: the test fails for a pending route the engine serves.
var openapiPending = []string{}

var ginParam = regexp.MustCompile(`[:*]([A-Za-z_]+)`)

// TestOpenAPIMatchesRoutes fails when the engine serves a route the
// document does not describe, or the document describes one the engine does
// not serve (beyond the pending list).
func TestOpenAPIMatchesRoutes(t *testing.T) {
	doc := openapiLoad(t)
	if doc["openapi"] != "3.1.0" {
		t.Fatalf("openapi %v, want 3.1.0", doc["openapi"])
	}
	documented := map[string]bool{}
	for path, item := range doc["paths"].(map[string]any) {
		for method := range item.(map[string]any) {
			documented[strings.ToUpper(method)+" "+path] = true
		}
	}
	served := map[string]bool{}
	for _, r := range startGateway(t, withoutParts()).srv.engine.Routes() {
		served[r.Method+" "+ginParam.ReplaceAllString(r.Path, "{$1}")] = true
	}
	for route := range served {
		if !documented[route] {
			t.Errorf("%s is served but not in gateway/server/openapi.json", route)
		}
	}
	for route := range documented {
		pending := slices.Contains(openapiPending, route)
		switch {
		case !served[route] && !pending:
			t.Errorf("%s is in openapi.json but not served (add it to openapiPending only if it is being built)", route)
		case served[route] && pending:
			t.Errorf("%s is served now: remove it from openapiPending", route)
		}
	}
}

// TestOpenAPISchemasMatchRecords fails when the record schemas in the
// document differ from the ones pushes are validated against, bundled by
// records.OpenAPIComponents (every $ref resolvable from the document root);
// -update rewrites them. A definition the schemas no longer reach is left
// behind, and TestOpenAPINoUnusedComponents names it for deletion.
func TestOpenAPISchemasMatchRecords(t *testing.T) {
	doc := openapiLoad(t)
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	bundled, err := records.OpenAPIComponents(openapiSchemaNames)
	if err != nil {
		t.Fatal(err)
	}
	changed := false
	for _, name := range slices.Sorted(maps.Keys(bundled)) {
		var want any
		if err := json.Unmarshal(bundled[name], &want); err != nil {
			t.Fatal(err)
		}
		if reflect.DeepEqual(schemas[name], want) {
			continue
		}
		if openapiUpdate() {
			schemas[name], changed = want, true
			continue
		}
		t.Errorf("components.schemas.%s differs from the bundled record schemas (go test ./gateway/server -run OpenAPI -update)", name)
	}
	if changed || openapiUpdate() {
		openapiWrite(t, doc)
	}
}

// TestOpenAPINoUnusedComponents: every component is referenced from
// outside itself, so nothing in the document is dead weight a generator
// turns into types no operation uses.
func TestOpenAPINoUnusedComponents(t *testing.T) {
	for _, name := range openapiUnused(openapiLoad(t)) {
		t.Errorf("components/%s is not used", name)
	}
}

// openapiUnused lists the components (as section/name) no path reaches,
// through any chain of references; security schemes are named by security
// requirements, not references.
func openapiUnused(doc map[string]any) []string {
	seen := map[string]bool{}
	var visit func(v any)
	visit = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok && !seen[ref] {
				seen[ref] = true
				visit(openapiResolve(doc, ref))
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
	visit(doc["paths"])
	var unused []string
	components := doc["components"].(map[string]any)
	for section, entries := range components {
		if section == "securitySchemes" {
			continue
		}
		for name := range entries.(map[string]any) {
			if !seen["#/components/"+section+"/"+name] {
				unused = append(unused, section+"/"+name)
			}
		}
	}
	slices.Sort(unused)
	return unused
}

// TestOpenAPIReferencesResolve: every local $ref points at something, so
// generated clients do not fail on the document.
func TestOpenAPIReferencesResolve(t *testing.T) {
	doc := openapiLoad(t)
	var walk func(v any, at string)
	walk = func(v any, at string) {
		switch x := v.(type) {
		case map[string]any:
			if ref, ok := x["$ref"].(string); ok && strings.HasPrefix(ref, "#/components/") {
				if openapiResolve(doc, ref) == nil {
					t.Errorf("%s: $ref %s does not resolve", at, ref)
				}
			}
			for k, c := range x {
				walk(c, at+"/"+k)
			}
		case []any:
			for _, c := range x {
				walk(c, at)
			}
		}
	}
	walk(doc, "")
	for path, item := range doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			o := op.(map[string]any)
			if o["operationId"] == nil || o["summary"] == nil || o["responses"] == nil {
				t.Errorf("%s %s lacks operationId, summary or responses", method, path)
			}
		}
	}
}

func openapiResolve(doc map[string]any, ref string) any {
	var cur any = doc
	for _, tok := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = m[tok]
	}
	return cur
}

func openapiLoad(t *testing.T) map[string]any {
	t.Helper()
	raw, err := os.ReadFile("openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, openapiDoc) && !openapiUpdate() {
		t.Fatal("openapi.json on disk differs from the embedded copy; rebuild")
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return doc
}

// openapiNotProblems are error answers that are not problems: readiness
// says which dependency is down in its own form.
var openapiNotProblems = map[string]bool{"GET /readyz 503": true}

// TestOpenAPIProblemResponses: every operation lists the problem answers
// every route can give (400 for ambiguous framing, 500), and every 4xx and
// 5xx answer is application/problem+json with the Problem schema and names
// its problem types (urn:ura:problem:...), so a generated client can decode
// every refusal.
func TestOpenAPIProblemResponses(t *testing.T) {
	doc := openapiLoad(t)
	for path, item := range doc["paths"].(map[string]any) {
		for method, op := range item.(map[string]any) {
			responses := op.(map[string]any)["responses"].(map[string]any)
			for _, code := range []string{"400", "500"} {
				if responses[code] == nil {
					t.Errorf("%s %s lists no %s", method, path, code)
				}
			}
			for code, r := range responses {
				route := strings.ToUpper(method) + " " + path + " " + code
				if code[0] != '4' && code[0] != '5' || openapiNotProblems[route] {
					continue
				}
				resp := r.(map[string]any)
				if ref, ok := resp["$ref"].(string); ok {
					resp, _ = openapiResolve(doc, ref).(map[string]any)
				}
				content, _ := resp["content"].(map[string]any)
				media, _ := content["application/problem+json"].(map[string]any)
				schema, _ := media["schema"].(map[string]any)
				if schema["$ref"] != "#/components/schemas/Problem" {
					t.Errorf("%s: not application/problem+json with the Problem schema", route)
				}
				if desc, _ := resp["description"].(string); !strings.Contains(desc, "urn:ura:problem:") {
					t.Errorf("%s: the description names no problem type", route)
				}
			}
		}
	}
}

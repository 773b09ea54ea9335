package server

import (
	"bytes"
	"encoding/json"
	"flag"
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

// TestOpenAPISchemasMatchRecords fails when a record schema in the
// document differs from the one pushes are validated against; -update
// rewrites them from the embedded schemas.
func TestOpenAPISchemasMatchRecords(t *testing.T) {
	doc := openapiLoad(t)
	schemas := doc["components"].(map[string]any)["schemas"].(map[string]any)
	changed := false
	for _, kind := range records.Kinds {
		name := openapiSchemaNames[kind]
		raw, ok, err := records.Schema(kind)
		if err != nil || !ok {
			t.Fatalf("schema %s: %v", kind, err)
		}
		var want any
		if err := json.Unmarshal(raw, &want); err != nil {
			t.Fatal(err)
		}
		if reflect.DeepEqual(schemas[name], want) {
			continue
		}
		if openapiUpdate() {
			schemas[name], changed = want, true
			continue
		}
		t.Errorf("components.schemas.%s differs from the %s schema served at /v1/schemas/%s (go test ./gateway/server -run OpenAPI -update)", name, kind, kind)
	}
	if changed {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		enc.SetIndent("", "  ")
		if err := enc.Encode(doc); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile("openapi.json", b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		t.Log("rewrote openapi.json")
	}
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

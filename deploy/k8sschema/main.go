// Command k8sschema turns a Kubernetes OpenAPI v2 document (swagger.json)
// into the JSON schemas kubeconform reads: one self-contained file per kind,
// named <kind>-<group>-<version>.json (<kind>-<version>.json for the core
// group), every object closed with additionalProperties: false so that a
// misspelt field fails validation. This is the layout of the
// "standalone-strict" schema sets kubeconform normally downloads; the Helm
// chart's test (deploy/helm) validates against what this writes, and
// deploy/dev/lib.sh (ensure_k8s_schemas) runs it once per Kubernetes version.
//
//	k8sschema -swagger swagger.json -out DIR [-want-version v1.27.0]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "k8sschema:", err)
		os.Exit(1)
	}
}

func run(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("k8sschema", flag.ContinueOnError)
	fs.SetOutput(stderr)
	in := fs.String("swagger", "", "the Kubernetes OpenAPI v2 document")
	out := fs.String("out", "", "directory to write the schemas to")
	want := fs.String("want-version", "", "refuse a document whose info.version differs")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *in == "" || *out == "" {
		return errors.New("-swagger and -out are required")
	}
	raw, err := os.ReadFile(*in)
	if err != nil {
		return err
	}
	var doc struct {
		Info struct {
			Version string `json:"version"`
		} `json:"info"`
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return fmt.Errorf("%s: %w", *in, err)
	}
	if *want != "" && doc.Info.Version != *want {
		return fmt.Errorf("%s is Kubernetes %s, want %s", *in, doc.Info.Version, *want)
	}
	files, err := Convert(doc.Definitions)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return err
	}
	names := make([]string, 0, len(files))
	for name := range files {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		b, err := json.MarshalIndent(files[name], "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(*out, name), append(b, '\n'), 0o644); err != nil {
			return err
		}
	}
	_, err = fmt.Fprintf(stdout, "k8sschema: %d schemas for Kubernetes %s in %s\n", len(files), doc.Info.Version, *out)
	return err
}

// Convert returns the file name and schema of every kind in defs that has
// exactly one group-version-kind.
func Convert(defs map[string]map[string]any) (map[string]map[string]any, error) {
	c := converter{defs: defs}
	out := map[string]map[string]any{}
	for name, def := range defs {
		gvks, _ := def["x-kubernetes-group-version-kind"].([]any)
		if len(gvks) != 1 {
			continue
		}
		gvk, _ := gvks[0].(map[string]any)
		group, _ := gvk["group"].(string)
		version, _ := gvk["version"].(string)
		kind, _ := gvk["kind"].(string)
		if version == "" || kind == "" {
			return nil, fmt.Errorf("%s: incomplete x-kubernetes-group-version-kind", name)
		}
		s := c.schema(def, []string{name})
		apiVersion := version
		if group != "" {
			apiVersion = group + "/" + version
		}
		// A document of this kind names it: apiVersion and kind are fixed.
		if props, ok := s["properties"].(map[string]any); ok {
			props["apiVersion"] = map[string]any{"type": "string", "enum": []any{apiVersion}}
			props["kind"] = map[string]any{"type": "string", "enum": []any{kind}}
		}
		s["$schema"] = "http://json-schema.org/schema#"
		out[fileName(group, version, kind)] = s
	}
	return out, nil
}

// fileName is kubeconform's {{ .ResourceKind }}{{ .KindSuffix }}.json: the
// lower-case kind, the group's first label (none for the core group) and
// the version.
func fileName(group, version, kind string) string {
	if group == "" {
		return strings.ToLower(kind) + "-" + version + ".json"
	}
	first, _, _ := strings.Cut(group, ".")
	return strings.ToLower(kind) + "-" + first + "-" + version + ".json"
}

type converter struct {
	defs map[string]map[string]any
}

const refPrefix = "#/definitions/"

// Definitions the API server accepts in more than one JSON type.
const (
	defIntOrString = "io.k8s.apimachinery.pkg.util.intstr.IntOrString"
	defQuantity    = "io.k8s.apimachinery.pkg.api.resource.Quantity"
)

// schema returns s with every reference inlined and every object closed.
// stack holds the definitions being inlined: a definition that contains
// itself (a CRD's JSONSchemaProps) is left open at the point it recurs.
func (c converter) schema(s map[string]any, stack []string) map[string]any {
	if ref, ok := s["$ref"].(string); ok {
		name := strings.TrimPrefix(ref, refPrefix)
		switch name {
		case defIntOrString:
			return intOrString()
		case defQuantity:
			return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "number"}}}
		}
		for _, seen := range stack {
			if seen == name {
				return map[string]any{}
			}
		}
		def, ok := c.defs[name]
		if !ok {
			return map[string]any{}
		}
		return c.schema(def, append(stack[:len(stack):len(stack)], name))
	}
	if s["format"] == "int-or-string" {
		return intOrString()
	}
	out := make(map[string]any, len(s)+1)
	for k, v := range s {
		switch k {
		case "description", "x-kubernetes-group-version-kind":
			// Descriptions make the files several times larger and are
			// never read by a validator.
		case "properties":
			props := map[string]any{}
			for name, p := range v.(map[string]any) {
				props[name] = c.schema(p.(map[string]any), stack)
			}
			out[k] = props
		case "items", "not":
			if m, ok := v.(map[string]any); ok {
				out[k] = c.schema(m, stack)
			} else {
				out[k] = v
			}
		case "additionalProperties":
			if m, ok := v.(map[string]any); ok {
				out[k] = c.schema(m, stack)
			} else {
				out[k] = v
			}
		case "allOf", "anyOf", "oneOf":
			var list []any
			for _, e := range v.([]any) {
				list = append(list, c.schema(e.(map[string]any), stack))
			}
			out[k] = list
		default:
			out[k] = v
		}
	}
	if _, ok := out["properties"]; ok {
		if _, set := out["additionalProperties"]; !set {
			out["additionalProperties"] = false
		}
	}
	return out
}

func intOrString() map[string]any {
	return map[string]any{"oneOf": []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}}
}

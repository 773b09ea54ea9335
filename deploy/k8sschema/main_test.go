package main

import (
	"encoding/json"
	"testing"
)

func TestConvert(t *testing.T) {
	var defs map[string]map[string]any
	if err := json.Unmarshal([]byte(`{
	  "io.k8s.api.apps.v1.Thing": {"type": "object",
	    "x-kubernetes-group-version-kind": [{"group": "apps", "version": "v1", "kind": "Thing"}],
	    "properties": {"apiVersion": {"type": "string"}, "kind": {"type": "string"},
	      "spec": {"$ref": "#/definitions/io.k8s.api.apps.v1.ThingSpec"}}},
	  "io.k8s.api.apps.v1.ThingSpec": {"type": "object", "description": "dropped",
	    "properties": {"port": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString"},
	      "self": {"$ref": "#/definitions/io.k8s.api.apps.v1.ThingSpec"},
	      "labels": {"type": "object", "additionalProperties": {"type": "string"}}}},
	  "io.k8s.apimachinery.pkg.util.intstr.IntOrString": {"type": "string", "format": "int-or-string"},
	  "io.k8s.api.core.v1.Pod": {"type": "object", "properties": {},
	    "x-kubernetes-group-version-kind": [{"group": "", "version": "v1", "kind": "Pod"}]}
	}`), &defs); err != nil {
		t.Fatal(err)
	}
	files, err := Convert(defs)
	if err != nil {
		t.Fatal(err)
	}
	if len(files) != 2 || files["pod-v1.json"] == nil {
		t.Fatalf("files %v, want thing-apps-v1.json and pod-v1.json", keys(files))
	}
	got, _ := json.Marshal(files["thing-apps-v1.json"])
	want := `{"$schema":"http://json-schema.org/schema#","additionalProperties":false,"properties":{` +
		`"apiVersion":{"enum":["apps/v1"],"type":"string"},"kind":{"enum":["Thing"],"type":"string"},` +
		`"spec":{"additionalProperties":false,"properties":{"labels":{"additionalProperties":{"type":"string"},"type":"object"},` +
		`"port":{"oneOf":[{"type":"string"},{"type":"integer"}]},"self":{}},"type":"object"}},"type":"object"}`
	if string(got) != want {
		t.Errorf("schema\n got %s\nwant %s", got, want)
	}
}

func keys(m map[string]map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

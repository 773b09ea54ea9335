package server

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// TestOpenAPIToolsAccept points the tools partners use at what a running
// gateway serves, as deploy/openapi-check pins them: the OpenAPI document
// from GET /v1/openapi.json must validate (@seriousme/openapi-schema-
// validator) and lint with no error and no warning (@redocly/cli lint
// under deploy/openapi-check/redocly.yaml), and every record schema from
// GET /v1/schemas/{kind} must compile under ajv's strict mode (ajv.mjs).
func TestOpenAPIToolsAccept(t *testing.T) {
	dir := testenv.OpenAPICheck(t)
	e := startGateway(t, withoutParts())
	c := e.as("IT/GOV/MOD")
	work := t.TempDir()
	r := c.get("/v1/openapi.json")
	if r.status != 200 {
		t.Fatalf("GET /v1/openapi.json: %d", r.status)
	}
	docPath := filepath.Join(work, "openapi.json")
	if err := os.WriteFile(docPath, r.body, 0o644); err != nil {
		t.Fatal(err)
	}
	schemaArgs := []string{filepath.Join(dir, "ajv.mjs")}
	for _, kind := range records.Kinds {
		r := c.get("/v1/schemas/" + kind)
		if r.status != 200 {
			t.Fatalf("GET /v1/schemas/%s: %d", kind, r.status)
		}
		path := filepath.Join(work, kind+".json")
		if err := os.WriteFile(path, r.body, 0o644); err != nil {
			t.Fatal(err)
		}
		schemaArgs = append(schemaArgs, path)
	}
	bin := func(name string) string { return filepath.Join(dir, "node_modules", ".bin", name) }

	t.Run("openapi-schema-validator", func(t *testing.T) {
		out, stderr, err := runTool(t, nil, bin("validate-api"), docPath)
		var res struct {
			Valid  bool `json:"valid"`
			Errors any  `json:"errors"`
		}
		if jerr := json.Unmarshal(out, &res); jerr != nil {
			t.Fatalf("validate-api: %v %v\n%s%s", err, jerr, out, stderr)
		}
		if !res.Valid || err != nil {
			t.Fatalf("validate-api: valid %v (%v)\n%s", res.Valid, err, out)
		}
		t.Logf("validate-api: valid: %v", res.Valid)
	})

	t.Run("redocly-lint", func(t *testing.T) {
		out, stderr, err := runTool(t, nil, bin("redocly"), "lint", docPath,
			"--config", filepath.Join(dir, "redocly.yaml"), "--format=json")
		var res struct {
			Totals struct {
				Errors, Warnings, Ignored int
			} `json:"totals"`
			Version  string `json:"version"`
			Problems []struct {
				RuleID   string `json:"ruleId"`
				Severity string `json:"severity"`
				Message  string `json:"message"`
				Location []struct {
					Pointer string `json:"pointer"`
				} `json:"location"`
			} `json:"problems"`
		}
		if jerr := json.Unmarshal(out, &res); jerr != nil {
			t.Fatalf("redocly lint: %v %v\n%s%s", err, jerr, out, stderr)
		}
		for _, p := range res.Problems {
			at := ""
			if len(p.Location) > 0 {
				at = p.Location[0].Pointer
			}
			t.Errorf("redocly %s %s at %s: %s", p.Severity, p.RuleID, at, p.Message)
		}
		if err != nil || res.Totals.Errors != 0 || res.Totals.Warnings != 0 || res.Totals.Ignored != 0 {
			t.Fatalf("redocly lint %s: %d errors, %d warnings, %d ignored (%v)", res.Version, res.Totals.Errors, res.Totals.Warnings, res.Totals.Ignored, err)
		}
		t.Logf("redocly lint %s: %d errors, %d warnings", res.Version, res.Totals.Errors, res.Totals.Warnings)
	})

	t.Run("ajv-strict", func(t *testing.T) {
		if _, stderr, err := runTool(t, nil, "node", schemaArgs...); err != nil {
			t.Fatalf("ajv strict mode refuses a served schema: %v\n%s", err, stderr)
		}
	})
}

// runTool runs a command of deploy/openapi-check without its telemetry or
// update check (the tests run offline), and returns what it wrote.
func runTool(t *testing.T, stdin []byte, name string, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), "REDOCLY_TELEMETRY=off", "REDOCLY_SUPPRESS_UPDATE_NOTICE=true", "NO_COLOR=1")
	cmd.Stdin = bytes.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return out.Bytes(), errb.Bytes(), err
}

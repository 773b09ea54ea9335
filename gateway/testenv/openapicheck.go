package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// OpenAPICheck is the directory of deploy/openapi-check: the tools partners
// point at the gateway's OpenAPI document and record schemas (the OpenAPI
// schema validator, Redocly's linter, ajv), pinned by its package-lock.json
// and run with node. Without node or npm the test is skipped, saying so;
// without the installed node_modules it is skipped on a workstation and
// fails in CI, like JoseVerify.
func OpenAPICheck(t testing.TB) string {
	t.Helper()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("%s is not installed: the OpenAPI and JSON Schema tools of deploy/openapi-check cannot run", tool)
		}
	}
	_, here, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(here), "..", "..", "deploy", "openapi-check")
	for _, pkg := range []string{"@redocly/cli", "@seriousme/openapi-schema-validator", "ajv", "ajv-formats"} {
		if _, err := os.Stat(filepath.Join(dir, "node_modules", pkg, "package.json")); err != nil {
			msg := "deploy/openapi-check/node_modules is incomplete: run npm ci --prefix deploy/openapi-check"
			if inCI() {
				t.Fatal(msg)
			}
			t.Skip(msg)
		}
	}
	return dir
}

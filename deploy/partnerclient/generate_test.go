package partnerclient

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// The committed client is what the pinned generator makes of the committed
// document, byte for byte: a change to the document without regenerating,
// or an edit by hand to the generated file, fails here.
func TestGeneratedClientIsCurrent(t *testing.T) {
	out := filepath.Join(t.TempDir(), "client.gen.go")
	cmd := exec.Command("go", "tool", "oapi-codegen", "-config", "oapi-codegen.yaml", "-o", out,
		filepath.Join("..", "..", "gateway", "server", "openapi.json"))
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("oapi-codegen: %v\n%s", err, b)
	}
	want, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile("client.gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatal("client.gen.go is not what oapi-codegen makes of gateway/server/openapi.json: " +
			"run `go generate ./...` in deploy/partnerclient and commit the result")
	}
}

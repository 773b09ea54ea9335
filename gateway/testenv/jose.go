package testenv

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// JoseVerify runs deploy/jose-verify/verify.mjs with args, stdin on its
// standard input: a JOSE implementation (the jose npm package) that shares
// nothing with the code that signed. valid is its exit status 0; exit 1 (a
// refusal) is valid false; anything else fails the test. Without the
// verifier's node_modules the test is skipped on a workstation and fails in
// CI.
func JoseVerify(t testing.TB, stdin []byte, args ...string) (valid bool, stdout []byte) {
	t.Helper()
	_, here, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(here), "..", "..", "deploy", "jose-verify")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "jose")); err != nil {
		msg := "deploy/jose-verify/node_modules missing: run npm ci --prefix deploy/jose-verify"
		if inCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	cmd := exec.Command("node", append([]string{filepath.Join(dir, "verify.mjs")}, args...)...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return true, out
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		return false, out
	}
	t.Fatalf("node verify.mjs %v: %v\n%s", args, err, stderr.String())
	return false, nil
}

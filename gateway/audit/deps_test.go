package audit

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoPolicyEngineDependency keeps the audit log, and the verifier built
// on it, free of the policy engine: the log records decisions but must not
// pull OPA into every program that reads or checks it.
func TestNoPolicyEngineDependency(t *testing.T) {
	gobin := goBinary(t)
	out, err := exec.Command(gobin, "list", "-deps", ".", "./audittest").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	for _, pkg := range strings.Fields(string(out)) {
		if strings.Contains(pkg, "open-policy-agent") {
			t.Errorf("gateway/audit depends on %s", pkg)
		}
	}
}

// goBinary finds the go command on PATH; the test is skipped where there is
// none.
func goBinary(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command on PATH")
	}
	return gobin
}

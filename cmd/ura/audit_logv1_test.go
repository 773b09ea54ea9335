package main

import (
	"path/filepath"
	"strings"
	"testing"
)

// TestAuditVerifyLogV1: `ura audit verify` passes a log written before
// events were canonicalised in one pass (gateway/audit/testdata/log-v1),
// checkpoint signatures included.
func TestAuditVerifyLogV1(t *testing.T) {
	testdata := filepath.Join("..", "..", "gateway", "audit", "testdata")
	out, errOut, err := auditTestRun(t, "verify", "--dir", filepath.Join(testdata, "log-v1"), "--jwks", filepath.Join(testdata, "log-v1-jwks.json"))
	if err != nil {
		t.Fatalf("verify: %v\n%s%s", err, out, errOut)
	}
	if !strings.Contains(out, "OK:") || !strings.Contains(out, "55 events") || !strings.Contains(out, "4 signed checkpoints") {
		t.Fatalf("output: %s", out)
	}
}

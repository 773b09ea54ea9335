package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/audit/audittest"
)

func auditTestRun(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), append([]string{"audit"}, args...), &out, &errOut)
	return out.String(), errOut.String(), err
}

// auditTestLog writes a real log of n events with a checkpoint every 25 and
// returns its directory and a JWKS file holding the signing key.
func auditTestLog(t *testing.T, n int) (dir, jwksPath string, signer *audittest.Signer) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "audit")
	signer = audittest.NewSigner(t, "ura-audit-test/1")
	st, err := audit.OpenFileStore(dir, audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := audit.Open(context.Background(), audit.Options{Store: st, Signer: signer, CheckpointEvery: 1 << 40, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	evs := audittest.Events(n, time.Date(2026, 6, 2, 8, 0, 0, 0, time.UTC))
	for i := 0; i < n; i += 25 {
		if err := c.Append(context.Background(), evs[i:min(i+25, n)]...); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Checkpoint(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(signer.KeySet())
	if err != nil {
		t.Fatal(err)
	}
	jwksPath = filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksPath, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	return dir, jwksPath, signer
}

func TestAuditVerifyCLI(t *testing.T) {
	dir, jwks, _ := auditTestLog(t, 100)
	out, errOut, err := auditTestRun(t, "verify", "--dir", dir, "--jwks", jwks)
	if err != nil {
		t.Fatalf("verify: %v\n%s%s", err, out, errOut)
	}
	if !strings.Contains(out, "OK:") || !strings.Contains(out, "100 events") || !strings.Contains(out, "4 signed checkpoints") {
		t.Fatalf("output: %s", out)
	}
	if strings.Contains(errOut, "warning") {
		t.Errorf("warning with --jwks: %s", errOut)
	}
	// Without keys: passes, and says what it could not check.
	if _, errOut, err := auditTestRun(t, "verify", "--dir", dir); err != nil || !strings.Contains(errOut, "not checked") {
		t.Fatalf("verify without --jwks: %v %s", err, errOut)
	}

	// Export, verify the export, then a tampered copy of it.
	exp := filepath.Join(t.TempDir(), "audit.ndjson")
	if _, _, err := auditTestRun(t, "export", "--dir", dir, "--out", exp); err != nil {
		t.Fatal(err)
	}
	if out, _, err := auditTestRun(t, "verify", "--file", exp, "--jwks", jwks); err != nil || !strings.Contains(out, "OK:") {
		t.Fatalf("verify export: %v %s", err, out)
	}
	raw, _ := os.ReadFile(exp)
	lines := bytes.SplitAfter(raw, []byte("\n"))
	lines[40] = bytes.Replace(lines[40], []byte(`"status":`), []byte(`"status":1`), 1)
	tampered := filepath.Join(t.TempDir(), "tampered.ndjson")
	_ = os.WriteFile(tampered, bytes.Join(lines, nil), 0o600)
	out, _, err = auditTestRun(t, "verify", "--file", tampered, "--jwks", jwks)
	if err == nil || errors.Is(err, errUsage) {
		t.Fatalf("tampered export: err %v", err)
	}
	// Line 40 is seq 40 plus one checkpoint line before it (after seq 25).
	if !strings.Contains(out, "FAIL") || !strings.Contains(out, "seq 40: hash mismatch") {
		t.Fatalf("tampered export output: %s", out)
	}
	if exitCode(err, os.Stderr) != 1 {
		t.Fatalf("exit code %d, want 1", exitCode(err, os.Stderr))
	}
}

// TestAuditVerifyTruncatedWithPublishedCheckpoints: a copy cut short along
// with its checkpoints still fails against checkpoints kept elsewhere.
func TestAuditVerifyTruncatedWithPublishedCheckpoints(t *testing.T) {
	dir, jwks, _ := auditTestLog(t, 100)
	st, err := audit.OpenFileStore(dir, audit.FileOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	cps, _ := st.Checkpoints(context.Background())
	st.Close()
	published, _ := json.Marshal(map[string]any{"head": audit.Head{Count: 100}, "checkpoints": cps})
	cpPath := filepath.Join(t.TempDir(), "checkpoints.json")
	_ = os.WriteFile(cpPath, published, 0o600)

	seg := filepath.Join(dir, "000001.log")
	raw, _ := os.ReadFile(seg)
	lines := bytes.SplitAfter(raw, []byte("\n"))
	_ = os.WriteFile(seg, bytes.Join(lines[:60], nil), 0o600)
	_ = os.Remove(filepath.Join(dir, "checkpoints.ndjson"))

	if _, _, err := auditTestRun(t, "verify", "--dir", dir, "--jwks", jwks); err != nil {
		t.Fatalf("without published checkpoints a clean cut is invisible, but got %v", err)
	}
	out, _, err := auditTestRun(t, "verify", "--dir", dir, "--jwks", jwks, "--checkpoints", cpPath)
	if err == nil || !strings.Contains(out, "seq 61") || !strings.Contains(out, "truncated") {
		t.Fatalf("truncation: %v %s", err, out)
	}
}

func TestAuditVerifyJWKSURL(t *testing.T) {
	dir, jwks, _ := auditTestLog(t, 30)
	raw, _ := os.ReadFile(jwks)
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(raw)
	}))
	defer srv.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	auditWritePEMCert(t, ca, srv.Certificate().Raw)
	out, _, err := auditTestRun(t, "verify", "--dir", dir, "--jwks", srv.URL+"/.well-known/jwks.json", "--cacert", ca)
	if err != nil || !strings.Contains(out, "OK:") {
		t.Fatalf("verify with JWKS URL: %v %s", err, out)
	}
	// Someone else's keys: the checkpoints do not verify.
	other := audittest.NewSigner(t, "ura-audit-test/1")
	b, _ := json.Marshal(other.KeySet())
	otherPath := filepath.Join(t.TempDir(), "other.json")
	_ = os.WriteFile(otherPath, b, 0o600)
	if out, _, err := auditTestRun(t, "verify", "--dir", dir, "--jwks", otherPath); err == nil || !strings.Contains(out, "bad signature") {
		t.Fatalf("verify with the wrong keys: %v %s", err, out)
	}
}

func TestAuditSummaryCLI(t *testing.T) {
	dir, _, _ := auditTestLog(t, 70)
	out, _, err := auditTestRun(t, "summary", "--dir", dir, "--top", "3")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"70 events", "allow", "deny", "withhold", "top denial reasons", "not_releasable", "denials by member", "top members"} {
		if !strings.Contains(out, want) {
			t.Errorf("summary lacks %q:\n%s", want, out)
		}
	}
	exp := filepath.Join(t.TempDir(), "a.ndjson")
	if _, _, err := auditTestRun(t, "export", "--dir", dir, "--out", exp); err != nil {
		t.Fatal(err)
	}
	js, _, err := auditTestRun(t, "summary", "--file", exp, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var s audit.Summary
	if err := json.Unmarshal([]byte(js), &s); err != nil || s.Events != 70 || s.ByDecision["allow"] != 30 {
		t.Fatalf("summary --json: %v %+v", err, s)
	}
}

func TestAuditCLIUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"frobnicate"},
		{"verify", "--dir", "a", "--file", "b"},
		{"verify", "extra"},
		{"summary", "--from", "yesterday"},
	} {
		if _, _, err := auditTestRun(t, args...); !errors.Is(err, errUsage) {
			t.Errorf("audit %v: %v, want a usage error", args, err)
		}
	}
	if _, _, err := auditTestRun(t, "verify", "--dir", filepath.Join(t.TempDir(), "missing")); err == nil || errors.Is(err, errUsage) {
		t.Errorf("verify of a missing directory: %v", err)
	}
	if out, _, err := auditTestRun(t, "--help"); !errors.Is(err, errHelp) || !strings.Contains(out, "verify") {
		t.Errorf("help: %v %s", err, out)
	}
}

func auditWritePEMCert(t *testing.T, path string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
}

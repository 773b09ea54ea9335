package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func policyTestRun(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = run(context.Background(), append([]string{"policy"}, args...), &out, &errOut)
	return out.String(), errOut.String(), err
}

const policyTestRecords = "../../gateway/policy/testdata/records/"

func TestPolicyTestCommand(t *testing.T) {
	out, _, err := policyTestRun(t, "test")
	if err != nil {
		t.Fatalf("the embedded policy's tests: %v\n%s", err, out)
	}
	if !strings.Contains(out, "0 failed") || !strings.Contains(out, "coverage ") || !strings.Contains(out, "policy embedded, revision ") {
		t.Errorf("report:\n%s", out)
	}

	// Every rule of the embedded policy is exercised by its tests: the
	// coverage may not fall to 95% or below.
	out, _, err = policyTestRun(t, "test", "--json")
	var own struct {
		Coverage float64 `json:"coverage_percent"`
	}
	if err != nil || json.Unmarshal([]byte(out), &own) != nil || own.Coverage <= 95 {
		t.Errorf("embedded policy coverage %.1f%% (err %v), want above 95%%", own.Coverage, err)
	}

	// A directory whose test fails: listed, and the command fails.
	dir := t.TempDir()
	_ = os.WriteFile(filepath.Join(dir, "p.rego"), []byte("package ura\n\ndecision := {\"allow\": false, \"redact\": [], \"reasons\": []}\n"), 0o600)
	_ = os.WriteFile(filepath.Join(dir, "p_test.rego"), []byte("package ura_test\n\ntest_allows if data.ura.decision.allow\n\ntest_shape if is_array(data.ura.decision.reasons)\n"), 0o600)
	out, _, err = policyTestRun(t, "test", dir)
	if err == nil || !strings.Contains(err.Error(), "1 of 2 tests failed") {
		t.Fatalf("err = %v", err)
	}
	if !strings.Contains(out, "FAIL  ura_test.test_allows") || strings.Contains(out, "test_shape") {
		t.Errorf("report lists failures only:\n%s", out)
	}
	out, _, _ = policyTestRun(t, "test", "--verbose", dir)
	if !strings.Contains(out, "PASS  ura_test.test_shape") {
		t.Errorf("verbose report:\n%s", out)
	}
	out, _, _ = policyTestRun(t, "test", "--json", dir)
	var rep struct {
		Passed, Failed int
		Coverage       float64 `json:"coverage_percent"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.Passed != 1 || rep.Failed != 1 || rep.Coverage != 100 {
		t.Errorf("json report %+v %v:\n%s", rep, err, out)
	}

	if _, _, err := policyTestRun(t, "test", filepath.Join(dir, "nope")); err == nil {
		t.Error("a missing directory was tested")
	}
	if _, _, err := policyTestRun(t, "test", dir, dir); !errors.Is(err, errUsage) {
		t.Errorf("two directories: %v", err)
	}
}

func TestPolicyEvalCommand(t *testing.T) {
	customs := []string{"eval", "--member", "AL/GOV/DPD", "--nation", "ALB", "--kind", "customs", "--clearance", "RESTRICTED"}
	decide := func(t *testing.T, args ...string) evalOutput {
		t.Helper()
		out, stderr, err := policyTestRun(t, args...)
		if err != nil {
			t.Fatalf("%v\n%s", err, stderr)
		}
		var d evalOutput
		if err := json.Unmarshal([]byte(out), &d); err != nil {
			t.Fatalf("output is not a decision: %v\n%s", err, out)
		}
		return d
	}

	// Why was this export denied? The licence is not in the registers.
	d := decide(t, append(customs, "--action", "push", "--record", policyTestRecords+"export.json")...)
	if d.Allow || len(d.Reasons) != 1 || d.Reasons[0].Code != "licence_unknown" || d.Reasons[0].Message == "" ||
		d.DecisionID == "" || len(d.Revision) != 64 || d.Record.ID != "DPD-EVT-2026-9000001" {
		t.Errorf("export without its licence: %+v", d)
	}
	// The licence, and the import authorisation and end-user certificate a
	// small-arms licence is issued against, as one JSON array.
	var regs [][]byte
	for _, name := range []string{"licence", "import_authorisation", "end_user_certificate"} {
		b, err := os.ReadFile(policyTestRecords + name + ".json")
		if err != nil {
			t.Fatal(err)
		}
		regs = append(regs, b)
	}
	regsFile := filepath.Join(t.TempDir(), "registers.json")
	if err := os.WriteFile(regsFile, append(append([]byte("["), bytes.Join(regs, []byte(","))...), ']'), 0o600); err != nil {
		t.Fatal(err)
	}
	d = decide(t, append(customs, "--action", "push", "--record", policyTestRecords+"export.json", "--registers", regsFile)...)
	if !d.Allow {
		t.Errorf("export with its licence: %+v", d)
	}
	d = decide(t, append(customs, "--action", "pull", "--record", policyTestRecords+"licence.json")...)
	if !d.Allow || strings.Join(d.Redact, ",") != "/licence/contract_value,/licence/end_user/contact" ||
		len(d.Redactions) != 2 || d.Redactions[0].Pointer != "/licence/contract_value" || d.Redactions[1].Rule != "redactions.customs.licence" {
		t.Errorf("customs pulls a licence: %+v", d)
	}

	// With a configuration: the registry decides who the member is.
	cfg := filepath.Join(t.TempDir(), "ura.yaml")
	_ = os.WriteFile(cfg, []byte("members:\n  - id: IT/GOV/MOD\n    name: Italy\n    nation: ITA\n    kind: partner\n    clearance: CONFIDENTIAL\n"+
		"tls:\n  client_cas:\n    - name: it\n      cert_file: missing.crt\n      prefixes: [\"IT/\"]\n"), 0o600)
	d = decide(t, "eval", "--config", cfg, "--member", "IT/GOV/MOD", "--action", "pull", "--record", policyTestRecords+"transfer_ita.json")
	if !d.Allow || !d.Registered {
		t.Errorf("registered partner: %+v", d)
	}
	d = decide(t, "eval", "--config", cfg, "--member", "IT/GOV/NOBODY", "--action", "pull", "--record", policyTestRecords+"transfer_ita.json")
	if d.Allow || d.Registered || d.Reasons[0].Code != "unregistered_member" {
		t.Errorf("unknown member: %+v", d)
	}

	for name, args := range map[string][]string{
		"no member":         {"eval", "--action", "pull", "--record", policyTestRecords + "licence.json"},
		"bad action":        append(customs, "--action", "delete", "--record", policyTestRecords+"licence.json"),
		"no record":         append(customs, "--action", "pull"),
		"no caller":         {"eval", "--member", "X/Y/Z", "--action", "pull", "--record", policyTestRecords + "licence.json"},
		"config and nation": {"eval", "--config", cfg, "--member", "IT/GOV/MOD", "--nation", "ITA", "--action", "pull", "--record", policyTestRecords + "licence.json"},
	} {
		if _, _, err := policyTestRun(t, args...); !errors.Is(err, errUsage) {
			t.Errorf("%s: err = %v, want a usage error", name, err)
		}
	}

	// An invalid record is refused before policy, as the gateway does.
	bad := filepath.Join(t.TempDir(), "bad.json")
	_ = os.WriteFile(bad, []byte(`{"kind":"licence","id":"X","version":1}`), 0o600)
	if _, _, err := policyTestRun(t, append(customs, "--action", "pull", "--record", bad)...); err == nil || !strings.Contains(err.Error(), "invalid") {
		t.Errorf("invalid record: %v", err)
	}
}

func TestPolicyHelp(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"test", "--help"}, {"eval", "--help"}} {
		out, stderr, err := policyTestRun(t, args...)
		if !errors.Is(err, errHelp) {
			t.Errorf("%v: err = %v", args, err)
		}
		if text := out + stderr; !strings.Contains(text, "ura policy") {
			t.Errorf("%v: help:\n%s", args, text)
		}
	}
	if _, _, err := policyTestRun(t); !errors.Is(err, errUsage) {
		t.Errorf("no subcommand: %v", err)
	}
}

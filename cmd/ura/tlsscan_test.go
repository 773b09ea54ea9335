package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestTLSScan points Debian's testssl.sh at a real gateway's mutual-TLS
// listener (the dev PKI, started like the crash test's gateway) and fails if
// it finds anything but TLS 1.3, or, where tls.min_version is "1.2", TLS 1.2
// with forward-secret AEAD suites; or a key-exchange group weaker than
// X25519 and the NIST P-curves; or finite-field DHE at all.
//
// testssl spends some 20 s of CPU starting up, so the scan is kept to two
// runs side by side. The gateway with min_version "1.2", which offers both
// versions, gets the protocol, cipher-category and forward-secrecy checks
// (testssl -p -s -f; -f lists the forward-secret suites and every group
// accepted); the default gateway gets the protocol check (-p): its TLS 1.3
// suites and groups are the same code path, scanned in the first. The JSON
// and text reports are kept in var/tlsscan/<case>/ for CI to archive.
//
// testssl.sh comes from deploy/dev/up.sh's apt list; URA_TESTSSL_BIN
// overrides where it is. Without it the test skips, except in CI.
func TestTLSScan(t *testing.T) {
	if testing.Short() {
		t.Skip("a real gateway and an external scanner: not in -short")
	}
	bin := tlsScanBinary(t)
	for _, tc := range []struct {
		name       string
		minVersion string
		full       bool            // cipher and group checks as well as protocols
		protocols  map[string]bool // testssl protocol id → offered
	}{
		{"tls12", "1.2", true, map[string]bool{"SSLv2": false, "SSLv3": false, "TLS1": false, "TLS1_1": false, "TLS1_2": true, "TLS1_3": true}},
		{"tls13", "", false, map[string]bool{"SSLv2": false, "SSLv3": false, "TLS1": false, "TLS1_1": false, "TLS1_2": false, "TLS1_3": true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			fx := newGatewayFixture(t, "", "")
			if tc.minVersion != "" {
				raw, err := os.ReadFile(fx.cfgPath)
				if err != nil {
					t.Fatal(err)
				}
				cfg := strings.Replace(string(raw), "\ntls:\n", "\ntls:\n  min_version: \""+tc.minVersion+"\"\n", 1)
				if err := os.WriteFile(fx.cfgPath, []byte(cfg), 0o600); err != nil {
					t.Fatal(err)
				}
			}
			g := fx.start(t, "tlsscan-"+tc.name, crashClient(t, fx.pki))
			defer func() { _ = g.stop(syscall.SIGTERM) }()

			checks := []string{"-p"}
			if tc.full {
				checks = append(checks, "-s", "-f")
			}
			findings := tlsScanRun(t, bin, tc.name, fx.port, checks)
			tlsScanCheck(t, findings, tc.protocols, tc.full)
		})
	}
}

// tlsScanFinding is one entry of testssl's flat JSON report.
type tlsScanFinding struct {
	ID       string `json:"id"`
	Severity string `json:"severity"`
	Finding  string `json:"finding"`
}

func tlsScanBinary(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("URA_TESTSSL_BIN"); p != "" {
		return p
	}
	for _, name := range []string{"testssl", "testssl.sh"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("testssl.sh is not installed (deploy/dev/up.sh installs it) and URA_TESTSSL_BIN is not set")
	}
	t.Skip("testssl.sh is not installed (apt-get install testssl.sh, or make up)")
	return ""
}

// tlsScanRun scans 127.0.0.1:port and returns testssl's findings. The
// reports go to var/tlsscan/<name>/ in the repository.
func tlsScanRun(t *testing.T, bin, name string, port int, checks []string) []tlsScanFinding {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join("..", "..", "var", "tlsscan", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	jsonPath, textPath := filepath.Join(dir, "testssl.json"), filepath.Join(dir, "testssl.txt")
	// About 45 s of CPU for the full scan; the deadline is generous because a
	// shared CI machine can stretch that several times over.
	ctx, cancel := context.WithTimeout(context.Background(), 8*time.Minute)
	defer cancel()
	// checks: -p protocols, -s cipher categories (NULL, export, LOW, 3DES,
	// CBC, AEAD), -f forward secrecy with its suites, ECDHE curves and DH
	// groups. Every suite one by one (-E) would take minutes; -s and -f
	// together leave nothing it would add here. No DNS: the target is an
	// address.
	args := []string{"--quiet", "--color", "0", "--warnings", "off", "--nodns", "none",
		"--connect-timeout", "10", "--openssl-timeout", "10", "--jsonfile", jsonPath, "--logfile", textPath}
	args = append(append(args, checks...), "127.0.0.1:"+strconv.Itoa(port))
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Dir = dir
	start := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("testssl finished in %s (exit %v); reports in %s", time.Since(start).Round(time.Second), err, dir)
	if ctx.Err() != nil {
		t.Fatalf("testssl did not finish within the deadline:\n%s", tlsScanTail(out))
	}
	// testssl's exit status counts findings, so it is not an error by
	// itself; a missing or unreadable report is.
	raw, rerr := os.ReadFile(jsonPath)
	if rerr != nil {
		t.Fatalf("no JSON report (%v; exit %v):\n%s", rerr, err, tlsScanTail(out))
	}
	var findings []tlsScanFinding
	if err := json.Unmarshal(raw, &findings); err != nil {
		t.Fatalf("JSON report: %v:\n%s", err, tlsScanTail(raw))
	}
	return findings
}

// tlsScanCheck fails on every finding that contradicts the gateway's TLS
// contract (gateway/ARCHITECTURE.md, "Request chain", step 1). testssl 3.0
// names the forward-secrecy findings PFS_*, later releases FS_*.
func tlsScanCheck(t *testing.T, findings []tlsScanFinding, protocols map[string]bool, full bool) {
	t.Helper()
	tlsScanCheckInto(t, findings, protocols, full)
}

// tlsScanReporter is the part of testing.T the checker uses.
type tlsScanReporter interface {
	Helper()
	Errorf(format string, args ...any)
	Error(args ...any)
}

func tlsScanCheckInto(t tlsScanReporter, findings []tlsScanFinding, protocols map[string]bool, full bool) {
	t.Helper()
	byID := map[string]tlsScanFinding{}
	for _, f := range findings {
		if strings.HasPrefix(f.ID, "PFS") {
			f.ID = f.ID[1:]
		}
		byID[f.ID] = f
		if f.ID == "scanProblem" || strings.HasPrefix(f.Severity, "FATAL") {
			t.Errorf("testssl could not scan: %s: %s", f.ID, f.Finding)
		}
	}
	for id, want := range protocols {
		f, ok := byID[id]
		if !ok {
			t.Errorf("protocol %s: no finding in the report", id)
			continue
		}
		offered := strings.HasPrefix(f.Finding, "offered")
		if offered != want {
			t.Errorf("protocol %s: %q, want offered=%v", id, f.Finding, want)
		}
	}
	if !full {
		return
	}
	// Cipher categories: only strong AEAD suites may be offered.
	for _, id := range []string{"cipherlist_NULL", "cipherlist_aNULL", "cipherlist_EXPORT", "cipherlist_LOW",
		"cipherlist_3DES_IDEA", "cipherlist_AVERAGE", "cipherlist_OBSOLETED"} {
		if f, ok := byID[id]; ok && f.Finding != "not offered" {
			t.Errorf("%s: %q, want not offered", id, f.Finding)
		}
	}
	if f := byID["cipherlist_STRONG"]; !strings.HasPrefix(f.Finding, "offered") {
		t.Errorf("cipherlist_STRONG: %q: the scan did not reach the listener", f.Finding)
	}
	if _, ok := byID["cipherlist_NULL"]; !ok {
		t.Error("no cipher category findings: the -s check did not run")
	}
	// Every forward-secret suite offered is AEAD; a TLS 1.2 one is ECDHE.
	suites := strings.Fields(byID["FS_ciphers"].Finding)
	if len(suites) == 0 {
		t.Error("no forward-secret suites listed: the -f check did not run")
	}
	for _, s := range suites {
		if !tlsScanAEAD(s) {
			t.Errorf("non-AEAD suite offered: %s", s)
		}
		if !strings.HasPrefix(s, "TLS_") && !strings.HasPrefix(s, "ECDHE-") {
			t.Errorf("TLS 1.2 suite without ECDHE offered: %s", s)
		}
	}
	if f, ok := byID["FS_ECDHE_curves"]; ok {
		for _, c := range strings.Fields(f.Finding) {
			if !tlsScanStrongGroups[c] {
				t.Errorf("weak or unexpected ECDHE group accepted: %s (all: %s)", c, f.Finding)
			}
		}
	} else {
		t.Error("no ECDHE curve finding: the group check did not run")
	}
	for _, id := range []string{"DH_groups", "FS_DH_groups", "DH_group_offered"} {
		if f, ok := byID[id]; ok && !strings.Contains(f.Finding, "not offered") {
			t.Errorf("finite-field DHE offered (%s): %s", id, f.Finding)
		}
	}
}

// tlsScanStrongGroups are the key-exchange groups the gateway may accept,
// by testssl's names.
var tlsScanStrongGroups = map[string]bool{
	"X25519": true, "X448": true, "prime256v1": true, "secp384r1": true, "secp521r1": true,
}

// tlsScanAEAD reports whether a testssl cipher line names an AEAD suite.
func tlsScanAEAD(line string) bool {
	for _, aead := range []string{"GCM", "CHACHA20", "CCM"} {
		if strings.Contains(line, aead) {
			return true
		}
	}
	return false
}

func tlsScanTail(b []byte) string {
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// The checker refuses what a weak listener would show: every case below
// is one finding away from the clean report, and each must fail. The clean
// report itself passes.
func TestTLSScanCheckRefusesWeakFindings(t *testing.T) {
	clean := []tlsScanFinding{
		{ID: "SSLv2", Finding: "not offered"}, {ID: "SSLv3", Finding: "not offered"},
		{ID: "TLS1", Finding: "not offered"}, {ID: "TLS1_1", Finding: "not offered"},
		{ID: "TLS1_2", Finding: "offered"}, {ID: "TLS1_3", Finding: "offered with final"},
		{ID: "cipherlist_NULL", Finding: "not offered"}, {ID: "cipherlist_aNULL", Finding: "not offered"},
		{ID: "cipherlist_EXPORT", Finding: "not offered"}, {ID: "cipherlist_LOW", Finding: "not offered"},
		{ID: "cipherlist_3DES_IDEA", Finding: "not offered"}, {ID: "cipherlist_AVERAGE", Finding: "not offered"},
		{ID: "cipherlist_STRONG", Finding: "offered"},
		{ID: "PFS_ciphers", Finding: "TLS_AES_256_GCM_SHA384 ECDHE-ECDSA-AES128-GCM-SHA256"},
		{ID: "PFS_ECDHE_curves", Finding: "prime256v1 secp384r1 X25519"},
	}
	protocols := map[string]bool{"SSLv2": false, "SSLv3": false, "TLS1": false, "TLS1_1": false, "TLS1_2": true, "TLS1_3": true}
	with := func(id, finding string) []tlsScanFinding {
		out := append([]tlsScanFinding{}, clean...)
		for i := range out {
			if out[i].ID == id {
				out[i].Finding = finding
				return out
			}
		}
		return append(out, tlsScanFinding{ID: id, Finding: finding})
	}
	without := func(id string) []tlsScanFinding {
		var out []tlsScanFinding
		for _, f := range clean {
			if f.ID != id {
				out = append(out, f)
			}
		}
		return out
	}
	rec := &tlsScanRecorder{}
	tlsScanCheckInto(rec, clean, protocols, true)
	if len(rec.errs) > 0 {
		t.Fatalf("the clean report was refused: %v", rec.errs)
	}
	for name, findings := range map[string][]tlsScanFinding{
		"TLS 1.1 offered":        with("TLS1_1", "offered (deprecated)"),
		"TLS 1.3 missing":        with("TLS1_3", "not offered"),
		"CBC suites":             with("cipherlist_AVERAGE", "offered"),
		"3DES":                   with("cipherlist_3DES_IDEA", "offered (NOT ok)"),
		"non-AEAD FS suite":      with("PFS_ciphers", "TLS_AES_256_GCM_SHA384 ECDHE-RSA-AES128-SHA"),
		"static RSA suite":       with("PFS_ciphers", "TLS_AES_256_GCM_SHA384 AES128-GCM-SHA256"),
		"weak curve":             with("PFS_ECDHE_curves", "prime256v1 secp192r1 X25519"),
		"binary curve":           with("PFS_ECDHE_curves", "sect163k1 prime256v1"),
		"finite-field DHE":       with("DH_groups", "ffdhe2048"),
		"scan problem":           with("scanProblem", "Can't connect"),
		"no group check":         without("PFS_ECDHE_curves"),
		"no cipher categories":   without("cipherlist_NULL"),
		"no strong suites found": with("cipherlist_STRONG", "not offered"),
	} {
		rec := &tlsScanRecorder{}
		tlsScanCheckInto(rec, findings, protocols, true)
		if len(rec.errs) == 0 {
			t.Errorf("%s: the checker accepted it", name)
		}
	}
}

// tlsScanRecorder collects what tlsScanCheck reports, for the test of the
// checker itself.
type tlsScanRecorder struct{ errs []string }

func (r *tlsScanRecorder) Helper() {}
func (r *tlsScanRecorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}
func (r *tlsScanRecorder) Error(args ...any) { r.errs = append(r.errs, fmt.Sprint(args...)) }

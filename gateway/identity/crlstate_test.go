package identity

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func openNumbers(t *testing.T, path string) *CRLNumbers {
	t.Helper()
	n, err := OpenCRLNumbers(path)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func (p *trustPKI) trustWith(prev *Trust, n *CRLNumbers, crls ...[]byte) *Trust {
	p.t.Helper()
	tr, err := NewTrustWith(p.anchors(crls...), TrustOptions{Grace: time.Minute, Prev: prev, Numbers: n})
	if err != nil {
		p.t.Fatal(err)
	}
	return tr
}

// recordedNumbers reads the state file as a reader would: issuer name →
// CRL number.
func recordedNumbers(t *testing.T, path string) map[string]string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f crlStateFile
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("state file: %v\n%s", err, raw)
	}
	out := map[string]string{}
	for _, e := range f.Issuers {
		out[e.Issuer] = e.CRLNumber
	}
	return out
}

func wantRecorded(t *testing.T, path string, want map[string]string) {
	t.Helper()
	got := recordedNumbers(t, path)
	if len(got) != len(want) {
		t.Fatalf("state file holds %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("state file holds %v, want %v", got, want)
		}
	}
}

// TestCRLNumberSurvivesRestart: the highest CRL number verified from an
// issuer is kept in the state file, so that after a restart an older CRL,
// still inside its validity and predating a revocation, is refused as a
// rollback (and the issuer's certificates fail closed, crl_missing, rather
// than being judged by it); a newer one is accepted and recorded.
func TestCRLNumberSurvivesRestart(t *testing.T) {
	p := newTrustPKI(t)
	victim := p.member("AL/GOV/MOD", time.Time{})
	good := p.member("AL/GOV/AIM", time.Time{})
	now := time.Now()
	path := filepath.Join(t.TempDir(), "state", "crl-numbers.json")
	issuer := p.inter.Cert.Subject.String()

	// First run: CRL 5, which revokes the victim, is verified and recorded.
	before := p.trustWith(nil, openNumbers(t, path), p.crl(p.inter, 5, victim[0].SerialNumber))
	if _, err := os.Stat(path); err == nil {
		t.Fatal("the state file was written before any CRL was verified")
	}
	if _, err := before.Verify(good, now); err != nil {
		t.Fatal(err)
	}
	wantReason(t, before, victim, now, ReasonRevoked)
	wantRecorded(t, path, map[string]string{issuer: "5"})

	// Restart with CRL 4, which predates the revocation: refused.
	numbers := openNumbers(t, path)
	after := p.trustWith(nil, numbers, p.crl(p.inter, 4))
	wantRollbacks(t, after, rollback(4, 5, false))
	if r := after.Rollbacks()[0]; !r.Recorded || r.Issuer != p.inter.Cert.Subject.CommonName {
		t.Fatalf("rollback %+v, want one recorded in the state file for %s", r, p.inter.Cert.Subject.CommonName)
	}
	wantReason(t, after, victim, now, ReasonCRLMissing)
	wantReason(t, after, good, now, ReasonCRLMissing)
	wantRecorded(t, path, map[string]string{issuer: "5"})

	// The same CRL 5 again is not a rollback.
	same := p.trustWith(after, numbers, p.crl(p.inter, 5, victim[0].SerialNumber))
	wantRollbacks(t, same)
	wantReason(t, same, victim, now, ReasonRevoked)

	// CRL 6 is accepted, and recorded once verified.
	newer := p.trustWith(same, numbers, p.crl(p.inter, 6, victim[0].SerialNumber))
	wantRollbacks(t, newer)
	if _, err := newer.Verify(good, now); err != nil {
		t.Fatal(err)
	}
	wantReason(t, newer, victim, now, ReasonRevoked)
	wantRecorded(t, path, map[string]string{issuer: "6"})

	// And the next restart starts from 6.
	wantRollbacks(t, p.trustWith(nil, openNumbers(t, path), p.crl(p.inter, 5, victim[0].SerialNumber)), rollback(5, 6, false))
}

// TestCRLNumberRollbackReportedOnce: a reload that replays an older CRL
// while the newer one is held in memory is one rollback, kept in memory
// (the newer list stays in force), not a second one from the state file.
func TestCRLNumberRollbackReportedOnce(t *testing.T) {
	p := newTrustPKI(t)
	victim := p.member("AL/GOV/MOD", time.Time{})
	now := time.Now()
	numbers := openNumbers(t, filepath.Join(t.TempDir(), "crl-numbers.json"))
	t1 := p.trustWith(nil, numbers, p.crl(p.inter, 2, victim[0].SerialNumber))
	wantReason(t, t1, victim, now, ReasonRevoked)
	t2 := p.trustWith(t1, numbers, p.crl(p.inter, 1))
	wantRollbacks(t, t2, rollback(1, 2, false))
	if t2.Rollbacks()[0].Recorded {
		t.Fatal("the rollback was reported from the state file although the newer CRL is held")
	}
	wantReason(t, t2, victim, now, ReasonRevoked)
}

// TestCRLNumberForgedNeverRecorded: a CRL that claims the issuer's name and
// key but is not signed by it, numbered far ahead, is never recorded, so
// it cannot lock the genuine lists out after a restart.
func TestCRLNumberForgedNeverRecorded(t *testing.T) {
	p := newTrustPKI(t)
	good := p.member("AL/GOV/AIM", time.Time{})
	now := time.Now()
	path := filepath.Join(t.TempDir(), "crl-numbers.json")
	tr := p.trustWith(nil, openNumbers(t, path), p.crl(p.inter, 3), forgeCRL(t, p.inter.Cert, p.inter.Cert.SubjectKeyId, 1000))
	if _, err := tr.Verify(good, now); err != nil {
		t.Fatal(err)
	}
	wantRecorded(t, path, map[string]string{p.inter.Cert.Subject.String(): "3"})
	restarted := p.trustWith(nil, openNumbers(t, path), p.crl(p.inter, 3))
	wantRollbacks(t, restarted)
	if _, err := restarted.Verify(good, now); err != nil {
		t.Fatal(err)
	}
}

// TestCRLNumberWriteFailure: a number that cannot be written is still
// enforced by the process, the failure is reported, and the write is tried
// again by the next Trust built.
func TestCRLNumberWriteFailure(t *testing.T) {
	p := newTrustPKI(t)
	good := p.member("AL/GOV/AIM", time.Time{})
	now := time.Now()
	dir := t.TempDir()
	blocker := filepath.Join(dir, "state")
	path := filepath.Join(blocker, "crl-numbers.json")
	numbers := openNumbers(t, path)
	if err := os.WriteFile(blocker, nil, 0o600); err != nil { // a file where the directory should be
		t.Fatal(err)
	}
	var failures []error
	numbers.OnWriteError = func(err error) { failures = append(failures, err) }
	t1 := p.trustWith(nil, numbers, p.crl(p.inter, 5))
	if _, err := t1.Verify(good, now); err != nil {
		t.Fatal(err)
	}
	if len(failures) != 1 || !strings.Contains(failures[0].Error(), path) {
		t.Fatalf("write failures reported: %v", failures)
	}
	// Still enforced; the reload tries the write again, and fails again.
	wantRollbacks(t, p.trustWith(t1, numbers, p.crl(p.inter, 4)), rollback(4, 5, false))
	if len(failures) != 2 {
		t.Fatalf("write failures reported: %v", failures)
	}
	if err := os.Remove(blocker); err != nil {
		t.Fatal(err)
	}
	p.trustWith(nil, numbers, p.crl(p.inter, 5))
	wantRecorded(t, path, map[string]string{p.inter.Cert.Subject.String(): "5"})
	if len(failures) != 2 {
		t.Fatalf("write failures reported: %v", failures)
	}
}

// TestCRLNumbersCorruptFile: a state file that does not parse whole stops
// start-up with an error naming it; a missing one is a first start.
func TestCRLNumbersCorruptFile(t *testing.T) {
	dir := t.TempDir()
	if _, err := OpenCRLNumbers(filepath.Join(dir, "missing.json")); err != nil {
		t.Fatalf("a missing state file: %v", err)
	}
	entry := `{"issuer":"CN=x","issuer_der":"MAsxCTAHBgNVBAMTAHg=","key_id":"0a0b","crl_number":"%s"}`
	for name, content := range map[string]string{
		"empty":           "",
		"not JSON":        "crl 5\n",
		"truncated":       `{"version":1,"issuers":[{"issuer":"CN=x"`,
		"no version":      `{"issuers":[]}`,
		"future version":  `{"version":2,"issuers":[]}`,
		"unknown key":     `{"version":1,"issuers":[],"extra":true}`,
		"negative number": `{"version":1,"issuers":[` + strings.Replace(entry, "%s", "-1", 1) + `]}`,
		"number as text":  `{"version":1,"issuers":[` + strings.Replace(entry, "%s", "five", 1) + `]}`,
		"bad name":        `{"version":1,"issuers":[{"issuer":"CN=x","issuer_der":"***","key_id":"","crl_number":"1"}]}`,
		"bad key id":      `{"version":1,"issuers":[{"issuer":"CN=x","issuer_der":"MAsxCTAHBgNVBAMTAHg=","key_id":"zz","crl_number":"1"}]}`,
		"listed twice": `{"version":1,"issuers":[` + strings.Replace(entry, "%s", "1", 1) + `,` +
			strings.Replace(entry, "%s", "2", 1) + `]}`,
		"two objects": `{"version":1,"issuers":[]}{"version":1,"issuers":[]}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(name, " ", "-")+".json")
			if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			_, err := OpenCRLNumbers(path)
			if err == nil || !strings.Contains(err.Error(), "crl state file "+path+": corrupt") {
				t.Fatalf("OpenCRLNumbers = %v, want a corrupt-file error naming %s", err, path)
			}
		})
	}
	if _, err := OpenCRLNumbers(dir); err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("a directory as the state file: %v", err)
	}
}

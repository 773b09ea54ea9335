package server

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ura-gateway/ura/certs"
	"github.com/ura-gateway/ura/gateway/identity"
)

// writeInterCRL writes the intermediate's CRL number n, revoking revoked,
// to crl.pem (where p.config() reads it).
func writeInterCRL(t *testing.T, p *testPKI, n int64, revoked ...certs.Revoked) {
	t.Helper()
	der, err := p.inter.CRL(n, revoked, time.Now().Add(-time.Minute), time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := certs.WriteCRLPEM(p.path("crl.pem"), der); err != nil {
		t.Fatal(err)
	}
}

// recordedCRLNumber is the number the state file holds for issuer.
func recordedCRLNumber(t *testing.T, path, issuer string) string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		Issuers []struct {
			Issuer    string `json:"issuer"`
			CRLNumber string `json:"crl_number"`
		} `json:"issuers"`
	}
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatalf("state file: %v\n%s", err, raw)
	}
	for _, e := range f.Issuers {
		if e.Issuer == issuer {
			return e.CRLNumber
		}
	}
	return ""
}

// TestCRLNumberSurvivesGatewayRestart: a gateway that has verified CRL 5
// is restarted with CRL 4 (still inside its validity, from before a
// revocation) put back in its place. The restarted gateway refuses it as a
// rollback, counted and logged like one, and fails closed for the
// certificates it would cover; CRL 6 is then accepted and recorded.
func TestCRLNumberSurvivesGatewayRestart(t *testing.T) {
	p := newTestPKI(t)
	victim := p.member(p.inter, "AL/GOV/MOD")
	aim := p.member(p.inter, "AL/GOV/AIM")
	revoked := certs.Revoked{Serial: victim.Cert.SerialNumber, At: time.Now().Add(-time.Minute)}
	cfg := p.config()
	state := filepath.Join(p.dir, "state", "crl-numbers.json")
	cfg.TLS.CRLStateFile = state
	issuer := p.inter.Cert.Subject.String()
	served := func(t *testing.T, leaf *certs.Leaf, addr string) bool {
		t.Helper()
		status, _, _, _, err := capWhoami(t, capClient(p, leaf, false), addr)
		return err == nil && status == http.StatusOK
	}

	writeInterCRL(t, p, 5, revoked)
	t.Run("first run records CRL 5", func(t *testing.T) {
		e := startGateway(t, withPKI(p), useConfig(cfg), withoutParts())
		srv, addr := e.srv, e.addr
		if !served(t, aim, addr) {
			t.Fatal("a valid member was refused")
		}
		if served(t, victim, addr) {
			t.Fatal("the certificate revoked by CRL 5 was accepted")
		}
		if got := recordedCRLNumber(t, state, issuer); got != "5" {
			t.Fatalf("state file records %q for %s, want 5", got, issuer)
		}
		if got := testutil.ToFloat64(srv.metrics.crlRollbacks); got != 0 {
			t.Fatalf("rollbacks = %v", got)
		}
	})

	writeInterCRL(t, p, 4)
	t.Run("restart refuses CRL 4, accepts CRL 6", func(t *testing.T) {
		e := startGateway(t, withPKI(p), useConfig(cfg), withoutParts())
		srv, addr := e.srv, e.addr
		if got := testutil.ToFloat64(srv.metrics.crlRollbacks); got != 1 {
			t.Fatalf("ura_crl_rollbacks_total = %v after the restart with CRL 4, want 1", got)
		}
		rb := srv.tls.current.Load().trust.Rollbacks()
		if len(rb) != 1 || rb[0].Number.Int64() != 4 || rb[0].Kept.Int64() != 5 || !rb[0].Recorded {
			t.Fatalf("rollbacks = %+v, want CRL 4 refused below the recorded 5", rb)
		}
		missing := srv.metrics.handshakeFailures.WithLabelValues(identity.ReasonCRLMissing)
		if served(t, victim, addr) {
			t.Fatal("CRL 4 un-revoked a certificate after the restart")
		}
		if served(t, aim, addr) {
			t.Fatal("a certificate was judged by the refused CRL 4")
		}
		if got := testutil.ToFloat64(missing); got != 2 {
			t.Fatalf("crl_missing refusals = %v, want 2", got)
		}
		if got := recordedCRLNumber(t, state, issuer); got != "5" {
			t.Fatalf("state file records %q, want 5", got)
		}

		writeInterCRL(t, p, 6, revoked)
		deadline := time.Now().Add(30 * time.Second)
		for !served(t, aim, addr) {
			if time.Now().After(deadline) {
				t.Fatal("CRL 6 was not taken up")
			}
			time.Sleep(20 * time.Millisecond)
		}
		if served(t, victim, addr) {
			t.Fatal("the certificate revoked by CRL 6 was accepted")
		}
		if got := recordedCRLNumber(t, state, issuer); got != "6" {
			t.Fatalf("state file records %q after CRL 6, want 6", got)
		}
		if got := testutil.ToFloat64(srv.metrics.crlRollbacks); got != 1 {
			t.Fatalf("ura_crl_rollbacks_total = %v after CRL 6, want still 1", got)
		}
	})
}

// TestCRLStateFileCorruptStopsStart: a state file that does not parse stops
// the gateway's start-up with an error naming it.
func TestCRLStateFileCorruptStopsStart(t *testing.T) {
	p := newTestPKI(t)
	cfg := p.config()
	cfg.TLS.CRLStateFile = p.path("corrupt-crl-numbers.json")
	if err := os.WriteFile(cfg.TLS.CRLStateFile, []byte(`{"version":1,"issuers":[{`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := New(cfg, Deps{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err == nil || !strings.Contains(err.Error(), cfg.TLS.CRLStateFile) {
		t.Fatalf("New = %v, want an error naming %s", err, cfg.TLS.CRLStateFile)
	}
}

// TestTestConfigKeepsCRLStateInTempDir: the tests' gateways write their CRL
// state under their own PKI directory, never into the source tree (the
// default, var/data/crl-numbers.json, is relative to the working directory
// when the config has no file).
func TestTestConfigKeepsCRLStateInTempDir(t *testing.T) {
	p := newTestPKI(t)
	if f := p.config().TLS.CRLStateFile; !strings.HasPrefix(f, p.dir+string(filepath.Separator)) {
		t.Fatalf("test config's tls.crl_state_file = %q, want a file under %s", f, p.dir)
	}
}

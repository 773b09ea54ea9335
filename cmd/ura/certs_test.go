package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ura-gateway/ura/certs"
)

func certsTestRun(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err = runCerts(context.Background(), args, &out, &errOut)
	return out.String(), errOut.String(), err
}

func certsTestCRLNumber(t *testing.T, dir string) int64 {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "crl.pem"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(data)
	if block == nil {
		t.Fatal("crl.pem: no PEM block")
	}
	crl, err := x509.ParseRevocationList(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return crl.Number.Int64()
}

func TestRunCertsWorkflow(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "pki")

	out, _, err := certsTestRun(t, "init", "--dir", dir)
	if err != nil {
		t.Fatalf("init: %v", err)
	}
	for _, want := range []string{"root CA", "member certificates", "crl.pem", "ca.crt"} {
		if !strings.Contains(out, want) {
			t.Errorf("init output lacks %q:\n%s", want, out)
		}
	}
	if _, _, err := certsTestRun(t, "init", "--dir", dir); err == nil || !strings.Contains(err.Error(), "--force") {
		t.Errorf("second init = %v, want a refusal naming --force", err)
	}
	if _, _, err := certsTestRun(t, "init", "--dir", dir, "--force"); err != nil {
		t.Errorf("init --force: %v", err)
	}

	out, _, err = certsTestRun(t, "issue", "--dir", dir, "--member", "XKX/GOV/MOD", "--validity", "720h")
	if err != nil {
		t.Fatalf("issue: %v", err)
	}
	certPath := filepath.Join(dir, "clients", "XKX_GOV_MOD.crt")
	if !strings.Contains(out, certPath) {
		t.Errorf("issue output does not name %s:\n%s", certPath, out)
	}
	chain, err := certs.ReadCertsPEM(certPath)
	if err != nil {
		t.Fatal(err)
	}
	if len(chain[0].URIs) != 1 || chain[0].URIs[0].String() != "urn:ura:member:XKX/GOV/MOD" {
		t.Errorf("issued URIs = %v", chain[0].URIs)
	}

	prefix := filepath.Join(t.TempDir(), "it")
	if _, _, err := certsTestRun(t, "issue", "--dir", dir, "--member", "IT/GOV/DIFESA", "--ca", "it", "--out", prefix); err != nil {
		t.Fatalf("issue --ca it: %v", err)
	}
	itChain, err := certs.ReadCertsPEM(prefix + ".crt")
	if err != nil {
		t.Fatal(err)
	}
	if got := itChain[0].Issuer.CommonName; got != "Italian partner CA (dev)" {
		t.Errorf("--ca it issuer = %q", got)
	}

	number := certsTestCRLNumber(t, dir)
	out, _, err = certsTestRun(t, "revoke", "--dir", dir, "--cert", certPath)
	if err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if !strings.Contains(out, "revoked") {
		t.Errorf("revoke output: %q", out)
	}
	if got := certsTestCRLNumber(t, dir); got != number+1 {
		t.Errorf("CRL number after revoke = %d, want %d", got, number+1)
	}
	out, _, err = certsTestRun(t, "revoke", "--dir", dir, "--cert", certPath)
	if err != nil || !strings.Contains(out, "already revoked") {
		t.Errorf("second revoke = %v, output %q", err, out)
	}
	if _, _, err := certsTestRun(t, "revoke", "--dir", dir, "--cert", prefix+".crt"); err == nil {
		t.Error("revoked a certificate the dev intermediate did not issue")
	}

	out, _, err = certsTestRun(t, "crl", "--dir", dir, "--next-update", "24h")
	if err != nil {
		t.Fatalf("crl: %v", err)
	}
	if got := certsTestCRLNumber(t, dir); got != number+2 || !strings.Contains(out, "CRL number") {
		t.Errorf("crl: number %d (want %d), output %q", got, number+2, out)
	}
}

func TestRunCertsErrors(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no command", nil, "init, issue, revoke, crl"},
		{"unknown command", []string{"sign"}, "init, issue, revoke, crl"},
		{"unknown flag", []string{"init", "--bogus"}, "bogus"},
		{"stray argument", []string{"init", "--dir", dir, "extra"}, "unexpected argument"},
		{"issue without member", []string{"issue", "--dir", dir}, "--member is required"},
		{"issue bad member", []string{"issue", "--dir", dir, "--member", "al/gov/aim"}, "INSTANCE/CLASS/CODE"},
		{"issue without PKI", []string{"issue", "--dir", dir, "--member", "AL/GOV/AIM"}, "intermediate.crt"},
		{"issue bad validity", []string{"issue", "--member", "AL/GOV/AIM", "--validity", "a year"}, "validity"},
		{"revoke without cert", []string{"revoke", "--dir", dir}, "--cert is required"},
		{"crl without PKI", []string{"crl", "--dir", dir}, "refresh CRL"},
		{"crl negative next update", []string{"crl", "--dir", dir, "--next-update", "-1h"}, "must be positive"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := certsTestRun(t, tt.args...)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("runCerts(%q) = %v, want an error containing %q", tt.args, err, tt.wantErr)
			}
		})
	}
}

func TestRunCertsHelp(t *testing.T) {
	tests := []struct {
		args []string
		want []string
	}{
		{[]string{"--help"}, []string{"init", "issue", "revoke", "crl"}},
		{[]string{"init", "--help"}, []string{"-dir", "-force", "Example:", "ura certs init"}},
		{[]string{"issue", "-h"}, []string{"-member", "-dir", "-ca", "-validity", "-out", "Example:", "ura certs issue"}},
		{[]string{"revoke", "--help"}, []string{"-cert", "-dir", "-next-update", "Example:", "ura certs revoke"}},
		{[]string{"crl", "--help"}, []string{"-dir", "-next-update", "Example:", "ura certs crl"}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			out, errOut, err := certsTestRun(t, tt.args...)
			if err != nil {
				t.Fatalf("help returned %v", err)
			}
			if errOut != "" {
				t.Errorf("help wrote to stderr: %q", errOut)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("help lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

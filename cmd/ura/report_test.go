package main

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ura-gateway/ura/adapters/store"
	storeopen "github.com/ura-gateway/ura/adapters/store/open"
	"github.com/ura-gateway/ura/deploy/dev/seed"
	"github.com/ura-gateway/ura/gateway/api/exchange"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/report"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// seedStore stores the demo register in the embedded store the fixture's
// configuration names, and returns the report built from it.
func seedStore(t *testing.T, cfgPath string, year int) *report.Report {
	t.Helper()
	ctx := context.Background()
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	st, err := storeopen.Open(ctx, cfg.Store, cfg.Path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = st.Close() }()
	lim := config.Default().Limits
	for _, p := range seed.Order {
		body, err := fs.ReadFile(seed.Files, p.File)
		if err != nil {
			t.Fatal(err)
		}
		checked, err := records.DecodeBatch(body, records.FormatNDJSON,
			records.Limits{MaxRecords: lim.MaxRecords, MaxDepth: lim.MaxDepth, MaxStringLength: lim.MaxStringLength})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range checked {
			if out, err := st.Put(ctx, c.Record, store.Check(records.LifecycleCheck(c.Record))); err != nil || out != store.Accepted {
				t.Fatalf("%s: %q %v", c.Record.ID, out, err)
			}
		}
	}
	r, err := report.Build(ctx, exchange.ReportSource(st), report.Options{Year: year, State: "ALB"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func reportRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := run(context.Background(), args, &out, &errb)
	return out.String(), err
}

// TestReportATTCommand: `ura report att` reads the store of --config and
// writes the same report as the route; signed with the gateway's Vault
// key, `ura verify` checks it and refuses it once a number changes.
func TestReportATTCommand(t *testing.T) {
	fx := newGatewayFixture(t, "", "")
	want := seedStore(t, fx.cfgPath, 2026)

	out, err := reportRun(t, "report", "att", "--year", "2026", "--format", "csv", "--config", fx.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	cr := csv.NewReader(strings.NewReader(out))
	cr.Comment = '#'
	lines, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	wantLines := report.Lines(want)
	if len(lines) != len(wantLines) || len(lines) < 10 {
		t.Fatalf("%d CSV lines, want %d:\n%s", len(lines), len(wantLines), out)
	}
	for i := range lines {
		if strings.Join(lines[i], "|") != strings.Join(wantLines[i], "|") {
			t.Errorf("line %d: %v, want %v", i, lines[i], wantLines[i])
		}
	}
	digest, _ := report.Digest(want)
	if !strings.Contains(out, "# digest "+digest) {
		t.Errorf("the CSV does not carry the digest %s", digest)
	}

	pdfPath := filepath.Join(fx.dir, "att.pdf")
	if _, err := reportRun(t, "report", "att", "--year", "2026", "--format", "pdf", "--config", fx.cfgPath, "--out", pdfPath); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(pdfPath); err != nil || !bytes.HasPrefix(b, []byte("%PDF-")) {
		t.Fatalf("pdf: %v", err)
	}

	jsonPath := filepath.Join(fx.dir, "att.json")
	if _, err := reportRun(t, "report", "att", "--year", "2026", "--format", "json", "--sign", "--config", fx.cfgPath, "--out", jsonPath); err != nil {
		t.Fatal(err)
	}
	jwksPath := filepath.Join(fx.dir, "jwks.json")
	writeJWKS(t, fx.cfgPath, jwksPath)
	out, err = reportRun(t, "verify", "--jwks", jwksPath, jsonPath)
	if err != nil || !strings.Contains(out, "valid (kid ura-signing:") || !strings.Contains(out, "ATT report ALB 2026, "+digest) {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	signed, _ := os.ReadFile(jsonPath)
	tampered := bytes.Replace(signed, []byte(`"authorised": 500`), []byte(`"authorised": 5000`), 1)
	if bytes.Equal(tampered, signed) {
		t.Fatal("nothing to tamper with")
	}
	_ = os.WriteFile(jsonPath, tampered, 0o600)
	out, err = reportRun(t, "verify", "--jwks", jwksPath, jsonPath)
	if !errors.Is(err, errInvalid) || !strings.Contains(out, "the report was changed") {
		t.Fatalf("a tampered report: %v\n%s", err, out)
	}

	for name, args := range map[string][]string{
		"no report":   {"report"},
		"unknown":     {"report", "sipri", "--year", "2026", "--config", fx.cfgPath},
		"no year":     {"report", "att", "--config", fx.cfgPath},
		"bad format":  {"report", "att", "--year", "2026", "--format", "xlsx", "--config", fx.cfgPath},
		"no config":   {"report", "att", "--year", "2026"},
		"early year":  {"report", "att", "--year", "2001", "--config", fx.cfgPath},
		"stray input": {"report", "att", "--year", "2026", "--config", fx.cfgPath, "extra"},
	} {
		if _, err := reportRun(t, args...); !errors.Is(err, errUsage) {
			t.Errorf("%s: %v, want a usage error", name, err)
		}
	}
}

// writeJWKS writes the public keys of the configuration's signing key, as
// the gateway publishes them.
func writeJWKS(t *testing.T, cfgPath, path string) {
	t.Helper()
	cfg, err := loadConfig(cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	addr, token := testenv.Vault(t)
	vc := cfg.Vault
	vc.Addr, vc.Token, vc.TokenFile = addr, token, ""
	c, err := sign.NewVaultClient(vc, cfg.Path)
	if err != nil {
		t.Fatal(err)
	}
	c.SetToken(token)
	s, err := sign.New(c, cfg.Sign, sign.Options{})
	if err != nil {
		t.Fatal(err)
	}
	keys, err := s.Keys(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	raw, err := json.Marshal(keys)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
}

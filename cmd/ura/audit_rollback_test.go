package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/audit/audittest"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// testKVPath is a Vault KV path of the test's own under the development
// Vault's kv/ mount; every version is removed when the test ends.
func testKVPath(t *testing.T) (path string, kv *audit.VaultKV) {
	t.Helper()
	addr, token := testenv.Vault(t)
	vc := config.Default().Vault
	vc.Addr, vc.Token, vc.Timeout = addr, token, 10*time.Second
	client, err := sign.NewVaultClient(vc, func(s string) string { return s })
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	path = "ura-audit/test-" + strings.ToLower(strings.ReplaceAll(t.Name(), "/", "-")) + "-" + hex.EncodeToString(b)
	t.Cleanup(func() { _ = client.KVv2("kv").DeleteMetadata(context.Background(), path) })
	return path, audit.NewVaultKV(client, "kv", path)
}

// TestAuditVerifyVaultKV: `ura audit verify --vault-kv` fails a log cut back
// behind the checkpoint kept in Vault, which verifies on its own, both when
// the last checkpoint went with its events and when the last ten did.
func TestAuditVerifyVaultKV(t *testing.T) {
	for _, tc := range []struct {
		name string
		keep int64
	}{{"last checkpoint and its events", 190}, {"last 10 checkpoints and 100 events", 100}} {
		t.Run(tc.name, func(t *testing.T) {
			path, kv := testKVPath(t)
			dir, jwks := auditWitnessedLog(t, kv, 200)
			out, _, err := auditTestRun(t, "verify", "--dir", dir, "--jwks", jwks, "--vault-kv", "kv/"+path)
			if err != nil || !strings.Contains(out, "contains the checkpoint kept in vault kv kv/"+path+" (200 events") {
				t.Fatalf("intact log: %v\n%s", err, out)
			}

			audittest.RollBackFileLog(t, dir, tc.keep)
			if _, _, err := auditTestRun(t, "verify", "--dir", dir, "--jwks", jwks); err != nil {
				t.Fatalf("without the off-host checkpoint the cut is invisible, but got %v", err)
			}
			out, _, err = auditTestRun(t, "verify", "--dir", dir, "--jwks", jwks, "--vault-kv", "kv/"+path)
			if err == nil || !strings.Contains(out, "FAIL") || !strings.Contains(out, "rolled back") ||
				!strings.Contains(out, fmt.Sprintf("ends at seq %d", tc.keep)) {
				t.Fatalf("verify after the rollback: %v\n%s", err, out)
			}
			// An export of the cut log fails the same way.
			export := filepath.Join(t.TempDir(), "audit.ndjson")
			if _, _, err := auditTestRun(t, "export", "--dir", dir, "--out", export); err != nil {
				t.Fatal(err)
			}
			out, _, err = auditTestRun(t, "verify", "--file", export, "--jwks", jwks, "--vault-kv", "kv/"+path)
			if err == nil || !strings.Contains(out, "truncated") {
				t.Fatalf("verify of the export: %v\n%s", err, out)
			}
		})
	}
	t.Run("usage", func(t *testing.T) {
		if _, _, err := auditTestRun(t, "verify", "--dir", t.TempDir(), "--vault-kv", "nomount"); !errors.Is(err, errUsage) {
			t.Fatalf("got %v", err)
		}
	})
}

// auditWitnessedLog writes n events with a checkpoint every 10, each copied
// to w, and returns the directory and a JWKS file.
func auditWitnessedLog(t *testing.T, w audit.Witness, n int) (dir, jwksPath string) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "audit")
	signer := audittest.NewSigner(t, "ura-audit-test/1")
	st, err := audit.OpenFileStore(dir, audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	c, err := audit.Open(ctx, audit.Options{Store: st, Signer: signer, Witness: w, CheckpointEvery: 1 << 40, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	evs := audittest.Events(n, time.Date(2026, 6, 2, 8, 0, 0, 0, time.UTC))
	for i := 0; i < n; i += 10 {
		if err := c.Append(ctx, evs[i:min(i+10, n)]...); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Checkpoint(ctx); err != nil {
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
	return dir, jwksPath
}

// withAuditVaultKV turns on audit.checkpoint.vault_kv in the fixture's
// configuration.
func (fx *gatewayFixture) withAuditVaultKV(t *testing.T, path, unreachable string) {
	t.Helper()
	raw, err := os.ReadFile(fx.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	const anchor = "  checkpoint:\n"
	if !strings.Contains(string(raw), anchor) {
		t.Fatal("fixture configuration has no audit.checkpoint section")
	}
	kv := fmt.Sprintf("  checkpoint:\n    vault_kv:\n      mount: kv\n      path: %s\n      unreachable: %s\n", path, unreachable)
	if err := os.WriteFile(fx.cfgPath, []byte(strings.Replace(string(raw), anchor, kv, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
}

// startFails runs the gateway expecting it to refuse to start, and returns
// its output.
func (fx *gatewayFixture) startFails(t *testing.T, name string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestGatewayCrashChild$", "-test.count=1")
	cmd.Env = fx.env
	done := make(chan struct{})
	var out []byte
	var err error
	go func() {
		out, err = cmd.CombinedOutput()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%s: gateway still running after 90s; it should have refused to start:\n%s", name, out)
	}
	if err == nil {
		t.Fatalf("%s: gateway exited 0", name)
	}
	return string(out)
}

// TestGatewayRefusesAuditRollback runs the real gateway with its
// checkpoints copied to Vault KV, kills it with SIGKILL under load, cuts the
// log back behind the checkpoint in Vault (the last checkpoints and their
// events, as an operator "repairing" a crash might), and checks that the
// gateway refuses to start and `ura audit verify --config` fails; the
// uncut log after the kill verifies and restarts.
func TestGatewayRefusesAuditRollback(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a real gateway")
	}
	path, kv := testKVPath(t)
	fx := newGatewayFixture(t, "", "")
	fx.withAuditVaultKV(t, path, config.AuditUnreachableRefuse)
	client := crashClient(t, fx.pki)
	base := fmt.Sprintf("https://127.0.0.1:%d", fx.port)
	ctx := context.Background()

	g := fx.start(t, "first", client)
	// Push until Vault holds a checkpoint that ten local ones precede.
	deadline := time.Now().Add(60 * time.Second)
	for n := 0; ; n++ {
		ids := []string{fmt.Sprintf("AIM-ENT-ROLLBACK-%05d-0", n), fmt.Sprintf("AIM-ENT-ROLLBACK-%05d-1", n)}
		if ack, bad := crashPush(client, base, ids); ack == nil {
			t.Fatalf("push %d not acknowledged (%s):\n%s", n, bad, g.log())
		}
		if cp, _, err := kv.Latest(ctx); err == nil && cp != nil && cp.Count >= 12*50 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint past %d events in Vault after 60s:\n%s", 12*50, g.log())
		}
	}
	if err := g.stop(syscall.SIGKILL); err == nil {
		t.Fatal("gateway ended on its own")
	}

	out, _, err := auditTestRun(t, "verify", "--config", fx.cfgPath)
	if err != nil || !strings.Contains(out, "contains the checkpoint kept in vault kv kv/"+path) {
		t.Fatalf("verify after the kill: %v\n%s", err, out)
	}
	g = fx.start(t, "after-kill", client)
	if err := g.stop(syscall.SIGKILL); err == nil {
		t.Fatal("gateway ended on its own")
	}

	// The last ten local checkpoints and their events go.
	st, err := audit.OpenFileStore(fx.auditDir, audit.FileOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	cps, err := st.Checkpoints(ctx)
	_ = st.Close()
	if err != nil || len(cps) < 11 {
		t.Fatalf("%d local checkpoints (%v), want at least 11", len(cps), err)
	}
	keep := cps[len(cps)-11].Count
	audittest.RollBackFileLog(t, fx.auditDir, keep)
	if _, _, err := auditTestRun(t, "verify", "--dir", fx.auditDir); err != nil {
		t.Fatalf("the cut log should verify on its own: %v", err)
	}

	out, _, err = auditTestRun(t, "verify", "--config", fx.cfgPath)
	if err == nil || !strings.Contains(out, "rolled back") {
		t.Fatalf("verify --config after the rollback: %v\n%s", err, out)
	}
	log := fx.startFails(t, "rolled-back")
	t.Logf("the gateway refused to start:\n%s", log)
	for _, want := range []string{"rolled back", fmt.Sprintf("ends at seq %d", keep), "vault kv kv/" + path, "refusing to open"} {
		if !strings.Contains(log, want) {
			t.Errorf("refusal does not say %q:\n%s", want, log)
		}
	}
	if resp, err := client.Get(base + "/v1/whoami"); err == nil {
		_ = resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			t.Fatal("something answers on the gateway's port")
		}
	}
}

// TestAuditVerifyVaultKVFake is TestAuditVerifyVaultKV's unit version: the
// Vault is a fake KV API, reached through URA_VAULT_ADDR and URA_VAULT_TOKEN.
func TestAuditVerifyVaultKVFake(t *testing.T) {
	fake := audittest.NewFakeVaultKV(t)
	t.Setenv("URA_VAULT_ADDR", fake.URL)
	t.Setenv("URA_VAULT_TOKEN", "test-token")
	vc := config.Default().Vault
	vc.Addr, vc.Token = fake.URL, "test-token"
	client, err := sign.NewVaultClient(vc, func(s string) string { return s })
	if err != nil {
		t.Fatal(err)
	}
	const path = "ura-audit/checkpoints/gw1"
	dir, jwks := auditWitnessedLog(t, audit.NewVaultKV(client, "kv", path), 50)
	out, _, err := auditTestRun(t, "verify", "--dir", dir, "--jwks", jwks, "--vault-kv", "kv/"+path)
	if err != nil || !strings.Contains(out, "contains the checkpoint kept in vault kv kv/"+path+" (50 events") {
		t.Fatalf("intact: %v\n%s", err, out)
	}
	audittest.RollBackFileLog(t, dir, 20)
	out, _, err = auditTestRun(t, "verify", "--dir", dir, "--jwks", jwks, "--vault-kv", "kv/"+path)
	if err == nil || !strings.Contains(out, "FAIL") || !strings.Contains(out, "ends at seq 20") || !strings.Contains(out, "30 events were removed") {
		t.Fatalf("rolled back: %v\n%s", err, out)
	}
	t.Setenv("URA_VAULT_ADDR", "http://127.0.0.1:1")
	if _, _, err := auditTestRun(t, "verify", "--dir", dir, "--vault-kv", "kv/"+path); err == nil || !strings.Contains(err.Error(), "off-host checkpoint") {
		t.Fatalf("unreachable Vault: %v", err)
	}
}

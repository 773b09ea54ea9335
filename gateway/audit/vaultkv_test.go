package audit_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/audit/audittest"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// vaultKVWitness is a witness on the development Vault's KV v2 mount at a
// path of its own, removed (all versions) when the test ends.
func vaultKVWitness(t *testing.T) (*audit.VaultKV, *vault.Client, string) {
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
	name := strings.NewReplacer("/", "-", " ", "-").Replace(strings.ToLower(t.Name()))
	path := "ura-audit/test-" + name[:min(len(name), 40)] + "-" + hex.EncodeToString(b)
	t.Cleanup(func() { _ = client.KVv2("kv").DeleteMetadata(context.Background(), path) })
	return audit.NewVaultKV(client, "kv", path), client, path
}

// TestVaultKVWitness: the KV entry starts empty, moves forward one version
// per checkpoint with check-and-set, and a deleted current version is not
// taken for an empty entry.
func TestVaultKVWitness(t *testing.T) {
	w, client, path := vaultKVWitness(t)
	ctx := context.Background()
	cp, ver, err := w.Latest(ctx)
	if err != nil || cp != nil || ver != 0 {
		t.Fatalf("new entry: %+v %d %v", cp, ver, err)
	}
	dir := t.TempDir()
	witnessedLog(t, dir, w, 30)
	cp, ver, err = w.Latest(ctx)
	if err != nil || cp == nil || cp.Count != 30 || ver != 3 {
		t.Fatalf("after three checkpoints: %+v version %d %v", cp, ver, err)
	}
	if _, err := w.Put(ctx, *cp, 1); !errors.Is(err, audit.ErrWitnessMoved) {
		t.Fatalf("stale check-and-set: %v", err)
	}
	if !strings.Contains(w.String(), "kv/"+path) {
		t.Fatalf("name %q", w)
	}
	// A replay of an older checkpoint as the newest version.
	st, err := audit.OpenFileStore(dir, audit.FileOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	cps, _ := st.Checkpoints(ctx)
	_ = st.Close()
	if _, err := w.Put(ctx, cps[0], 3); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Latest(ctx); !errors.Is(err, audit.ErrWitnessTampered) {
		t.Fatalf("replayed older checkpoint: %v", err)
	}
	if err := client.KVv2("kv").DeleteVersions(ctx, path, []int{4}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.Latest(ctx); err == nil || !strings.Contains(err.Error(), "deleted") {
		t.Fatalf("deleted current version: %v", err)
	}
	// Not an unreachable witness: even unreachable: start refuses.
	if _, err := openWitnessed(t, dir, w, true); !errors.Is(err, audit.ErrWitnessTampered) {
		t.Fatalf("open with the current version deleted: %v", err)
	}
}

// TestVaultKVRollback: a log whose checkpoints were copied to Vault, cut
// back as after a kill -9 and a cleanup, does not open and does not verify
// against the entry; the intact log does both.
func TestVaultKVRollback(t *testing.T) {
	cases := []struct {
		name string
		keep int64
	}{
		{"events after the last checkpoint kept off host removed, with that checkpoint", 190},
		{"last 10 checkpoints and their events removed", 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w, _, _ := vaultKVWitness(t)
			ctx := context.Background()
			dir := t.TempDir()
			witnessedLog(t, dir, w, 200)

			c, err := openWitnessed(t, dir, w, false)
			if err != nil {
				t.Fatalf("intact log: %v", err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}

			audittest.RollBackFileLog(t, dir, tc.keep)
			_, err = openWitnessed(t, dir, w, false)
			var rb *audit.RollbackError
			if !errors.As(err, &rb) || rb.Checkpoint.Count != 200 || rb.Head.Count != tc.keep {
				t.Fatalf("open after the rollback: %v", err)
			}
			if !strings.Contains(err.Error(), "vault kv kv/ura-audit/test-") {
				t.Fatalf("the error does not name the entry: %v", err)
			}
			st, err := audit.OpenFileStore(dir, audit.FileOptions{ReadOnly: true})
			if err != nil {
				t.Fatal(err)
			}
			defer st.Close()
			if _, err := audit.CheckStoreWitness(ctx, st, w); !errors.As(err, &rb) {
				t.Fatalf("comparison for verify: %v", err)
			}
		})
	}
}

// TestVaultKVPolicy: deploy/vault/ura.hcl lets the gateway keep its
// checkpoints in KV and read them back, but not delete or destroy a
// version, nor reset the entry.
func TestVaultKVPolicy(t *testing.T) {
	w, root, path := vaultKVWitness(t)
	ctx := context.Background()
	hcl, err := os.ReadFile(filepath.Join("..", "..", "deploy", "vault", "ura.hcl"))
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	policy := "ura-audit-test-" + hex.EncodeToString(b)
	if err := root.Sys().PutPolicyWithContext(ctx, policy, string(hcl)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = root.Sys().DeletePolicy(policy) })
	tok, err := root.Auth().Token().CreateWithContext(ctx, &vault.TokenCreateRequest{Policies: []string{policy}, NoDefaultPolicy: true, TTL: "5m"})
	if err != nil {
		t.Fatal(err)
	}
	client, err := root.Clone()
	if err != nil {
		t.Fatal(err)
	}
	client.SetToken(tok.Auth.ClientToken)
	gw := audit.NewVaultKV(client, "kv", path)

	witnessedLog(t, t.TempDir(), gw, 20)
	cp, _, err := w.Latest(ctx)
	if err != nil || cp == nil || cp.Count != 20 {
		t.Fatalf("written with policy ura, read as root: %+v %v", cp, err)
	}
	if _, _, err := gw.Latest(ctx); err != nil {
		t.Fatalf("read back with policy ura: %v", err)
	}
	kv := client.KVv2("kv")
	for name, op := range map[string]func() error{
		"delete latest":   func() error { return kv.Delete(ctx, path) },
		"delete version":  func() error { return kv.DeleteVersions(ctx, path, []int{1}) },
		"destroy version": func() error { return kv.Destroy(ctx, path, []int{1}) },
		"delete metadata": func() error { return kv.DeleteMetadata(ctx, path) },
		"write metadata":  func() error { return kv.PutMetadata(ctx, path, vault.KVMetadataPutInput{MaxVersions: 1}) },
		"signing key path": func() error {
			_, err := kv.Put(ctx, "ura/signing", map[string]any{"private_key": "x"})
			return err
		},
	} {
		var re *vault.ResponseError
		if err := op(); !errors.As(err, &re) || re.StatusCode != 403 {
			t.Errorf("%s with policy ura: %v, want 403", name, err)
		}
	}
}

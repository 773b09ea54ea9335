package audit_test

import (
	"context"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/audit/audittest"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// TestCheckpointsSignedInVault: checkpoints signed by the gateway's real
// signer (Vault Transit, the key never leaves Vault) verify against the
// JWKS it publishes, for both algorithms; a proof verifies too.
func TestCheckpointsSignedInVault(t *testing.T) {
	addr, token := testenv.Vault(t)
	vc := config.Default().Vault
	vc.Addr, vc.Token, vc.Timeout = addr, token, 10*time.Second
	client, err := sign.NewVaultClient(vc, func(s string) string { return s })
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ key, alg string }{{"ura-signing", config.AlgEd25519}, {"ura-signing-p256", config.AlgECDSAP256}} {
		t.Run(tc.alg, func(t *testing.T) {
			cfg := config.Default().Sign
			cfg.Mode, cfg.Key, cfg.Algorithm = config.SignModeTransit, tc.key, tc.alg
			signer, err := sign.New(client, cfg, sign.Options{})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			st, err := audit.OpenFileStore(t.TempDir(), audit.FileOptions{})
			if err != nil {
				t.Fatal(err)
			}
			c, err := audit.Open(ctx, audit.Options{Store: st, Signer: signer, CheckpointEvery: 10, CheckpointInterval: time.Hour})
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Append(ctx, audittest.Events(15, t0)...); err != nil {
				t.Fatal(err)
			}
			cp, err := c.Checkpoint(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if sign.KeyID(cp.JWS) == "" {
				t.Fatalf("checkpoint JWS names no kid: %s", cp.JWS)
			}
			keys, err := signer.Keys(ctx)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := audit.VerifyStore(ctx, st, audit.VerifyOptions{Keys: keys})
			if err != nil {
				t.Fatal(err)
			}
			if rep.Latest == nil || rep.Latest.Count != 15 || !rep.Signed {
				t.Fatalf("report %+v", rep)
			}
			p, err := c.Proof(ctx, 3)
			if err != nil {
				t.Fatal(err)
			}
			if err := audit.VerifyProof(p, keys); err != nil {
				t.Fatal(err)
			}
			if err := c.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

package exchange

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/ura-gateway/ura/adapters/store/bolt"
	"github.com/ura-gateway/ura/gateway/api/apitest"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/registers"
	"github.com/ura-gateway/ura/gateway/sign"
)

// BenchmarkPush1 is a push of one licence, as a lone client sends it, one
// request at a time, and reports the process's CPU per request
// (cpu-ns/req): what the push chain costs around a single record.
//
//   - fakes: the store, policy, signer and audit log of apitest, so only the
//     chain's own work is measured;
//   - real: the embedded store (bolt, fsynced), the audit chain on a file
//     store (fsynced), the embedded policy, and the dev stack's Vault
//     Transit key ura-signing when URA_VAULT_ADDR is set (else the fake
//     signer): the parts the gateway runs, without TLS, HTTP and the rate
//     limiter.
//
// Every request pushes a licence id never sent before, as deploy/bench's
// push1 does, so each is stored, signed and audited.
//
//	source /work/main/var/dev/stack.env
//	go test -run '^$' -bench BenchmarkPush1 -benchtime 2000x ./gateway/api/exchange/
func BenchmarkPush1(b *testing.B) {
	b.Run("fakes", func(b *testing.B) {
		benchPushes(b, Deps{Store: noRegisters{apitest.NewStore()}, Policy: &apitest.Policy{}, Signer: &apitest.Signer{},
			Audit: &apitest.Audit{Discard: true}}, 1, "cpu-ns/req")
	})
	b.Run("real", func(b *testing.B) { benchPushes(b, realDeps(b), 1, "cpu-ns/req") })
}

// noRegisters is the fake store with empty registers: it would derive
// them from every record it holds on each push, a cost no real store has.
type noRegisters struct{ *apitest.Store }

func (noRegisters) Registers(context.Context, registers.Refs) (*registers.Snapshot, error) {
	return registers.NewSnapshot(), nil
}

// benchLicence appends the licence deploy/bench's push1 sends
// (deploy/bench/internal/synth.Licence), with id.
func benchLicence(dst []byte, id string) []byte {
	dst = append(dst, `{"kind":"licence","id":"`...)
	dst = append(dst, id...)
	return append(dst, `","version":1,"label":{"classification":"RESTRICTED","releasable_to":["ALB","NATO"],"originator":"AL/GOV/AIM","created":"2026-05-01T10:00:00Z"},`+
		`"licence":{"type":"export","status":"issued",`+
		`"holder":{"entity_id":"L61234567A","name":"KAYO sh.a."},`+
		`"valid_from":"2026-05-01","valid_until":"2027-04-30",`+
		`"items":[{"ml_category":"ML3","description":"7.62x39mm cartridges","quantity":200000,"unit":"rounds"}],`+
		`"end_user":{"name":"Ministry of Defence","country":"CZE","contact":{"name":"Jana Novakova","email":"jana.novakova@example.cz"}},`+
		`"destination":"CZE","transit":["HRV"],"conditions":["no re-export without consent"],`+
		`"contract_value":{"amount":1840000,"currency":"EUR"}}}`...)
}

// realDeps are the gateway's own store, audit chain and policy in b's
// temporary directory, and Vault Transit when the dev stack is there.
func realDeps(b testing.TB) Deps {
	b.Helper()
	ctx := context.Background()
	dir := b.TempDir()
	st, err := bolt.Open(filepath.Join(dir, "ura.db"), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = st.Close() })
	fs, err := audit.OpenFileStore(filepath.Join(dir, "audit"), audit.FileOptions{})
	if err != nil {
		b.Fatal(err)
	}
	log, err := audit.Open(ctx, audit.Options{Store: fs, CheckpointEvery: 1 << 40, CheckpointInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = log.Close() })
	engine, err := policy.New(ctx, policy.Options{Timeout: 10 * time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(engine.Close)
	var signer sign.Signer = &apitest.Signer{}
	if addr, token := os.Getenv("URA_VAULT_ADDR"), os.Getenv("URA_VAULT_TOKEN"); addr != "" && token != "" {
		cfg := config.Default()
		cfg.Vault.Addr, cfg.Vault.Token = addr, token
		cfg.Sign.Mode, cfg.Sign.Key, cfg.Sign.Algorithm = config.SignModeTransit, "ura-signing", config.AlgEd25519
		client, err := sign.NewVaultClient(cfg.Vault, func(s string) string { return s })
		if err != nil {
			b.Fatal(err)
		}
		vs, err := sign.New(client, cfg.Sign, sign.Options{})
		if err != nil {
			b.Fatal(err)
		}
		signer = vs
	}
	return Deps{Store: st, Policy: engine, Signer: signer, Audit: log}
}

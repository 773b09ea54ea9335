package sign

import (
	"context"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// Benchmarks against the real dev Vault. Run with -cpu 1 for signatures per
// second per core of the gateway process (Vault's own CPU is not counted):
//
//	source var/dev/stack.env
//	go test -run '^$' -bench Vault -benchtime 5s -cpu 1 ./gateway/sign/
//
// Each reports sigs/s and vault_calls/op.

func benchSigner(b *testing.B, mode, alg string) (*VaultSigner, *atomic.Int64) {
	b.Helper()
	addr, token := testenv.Vault(b)
	root := rootClient(b, addr, token)
	var name string
	if mode == config.SignModeTransit {
		name = transitKeyForTest(b, root, alg)
	} else {
		name = kvKeyForTest(b, root, alg)
	}
	calls := new(atomic.Int64)
	c := rootClient(b, addr, token, WithTransport(countCalls(calls)))
	s := itSigner(b, c, mode, alg, name, Options{})
	if _, err := s.Sign(context.Background(), payloads(1)); err != nil {
		b.Fatal(err)
	}
	calls.Store(0)
	return s, calls
}

func benchBatches(b *testing.B, s *VaultSigner, calls *atomic.Int64, perOp int) {
	in := payloads(perOp)
	ctx := context.Background()
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.Sign(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*perOp)/b.Elapsed().Seconds(), "sigs/s")
	b.ReportMetric(float64(calls.Load())/float64(b.N), "vault_calls/op")
}

// BenchmarkVaultTransitBatched signs 256 payloads per op in one Transit call
// (sign.batch_size 256).
func BenchmarkVaultTransitBatched(b *testing.B) {
	for _, alg := range []string{config.AlgEd25519, config.AlgECDSAP256} {
		b.Run(alg, func(b *testing.B) {
			s, calls := benchSigner(b, config.SignModeTransit, alg)
			benchBatches(b, s, calls, 256)
		})
	}
}

// BenchmarkVaultTransitSingle signs one payload per op through jwx with the
// Transit key as a crypto.Signer: one Vault call per signature.
func BenchmarkVaultTransitSingle(b *testing.B) {
	for _, alg := range []string{config.AlgEd25519, config.AlgECDSAP256} {
		b.Run(alg, func(b *testing.B) {
			s, calls := benchSigner(b, config.SignModeTransit, alg)
			in := payloads(1)
			b.ResetTimer()
			for b.Loop() {
				_ = signSingle(b, s, in)
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sigs/s")
			b.ReportMetric(float64(calls.Load())/float64(b.N), "vault_calls/op")
		})
	}
}

// BenchmarkVaultKV signs 256 payloads per op in memory with a key read from KV.
func BenchmarkVaultKV(b *testing.B) {
	for _, alg := range []string{config.AlgEd25519, config.AlgECDSAP256} {
		b.Run(alg, func(b *testing.B) {
			s, calls := benchSigner(b, config.SignModeKV, alg)
			benchBatches(b, s, calls, 256)
		})
	}
}

// BenchmarkVaultTransitConcurrent is what a busy gateway asks of Transit:
// 32 requests at a time, each signing one push result. "coalesced" is the
// gateway's path (concurrent requests share calls); "baseline_call_each"
// sends one call per request, as the gateway did before, in the same run.
func BenchmarkVaultTransitConcurrent(b *testing.B) {
	for _, coalesce := range []bool{true, false} {
		name := "coalesced"
		if !coalesce {
			name = "baseline_call_each"
		}
		b.Run(name, func(b *testing.B) {
			s, calls := benchSigner(b, config.SignModeTransit, config.AlgEd25519)
			if !coalesce {
				s.b.(*transit).co = nil
			}
			in := payloads(1)
			b.SetParallelism(16) // × GOMAXPROCS goroutines
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := s.SignTyped(context.Background(), TypResult, in); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "sigs/s")
			b.ReportMetric(float64(calls.Load())/float64(b.N), "vault_calls/op")
		})
	}
}

// BenchmarkVaultTransitOneCPU signs one payload per op, as a lone push
// does, and reports the gateway's own CPU per call (Vault's is not
// counted): what the client side of a Transit call costs.
func BenchmarkVaultTransitOneCPU(b *testing.B) {
	s, calls := benchSigner(b, config.SignModeTransit, config.AlgEd25519)
	in := payloads(1)
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		if _, err := s.SignTyped(ctx, TypResult, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
	b.ReportMetric(float64(calls.Load())/float64(b.N), "vault_calls/op")
}

// cpuTime is the CPU time this process has used: on a shared machine
// wall-clock ns/op measures the neighbours.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

//go:build unix

package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/registers"
)

// cpuTime is the CPU time this process has used: on a machine shared with
// other work, wall-clock ns/op says more about the neighbours than about
// the policy.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkDecide measures one per-record decision of the embedded policy on
// realistic records: a licence pulled by Customs (two fields redacted) and
// a tracking event pulled by the Italian partner (no redaction), an export
// declaration pushed against the licence registers, and a licence pushed by
// the agency, whose holder and end user are checked against the register of
// excluded entities. Run with -cpu 1 for evaluations per second per core.
func BenchmarkDecide(b *testing.B) {
	e := newEngine(b, Options{Logger: discard})
	lic := record(b, "licence", nil)
	// The licence's conditions need the importing state's authorisation
	// and the end-user certificate on the registers, before the licence.
	licRegs := registers.NewOverlay(nil)
	licRegs.Apply(record(b, "import_authorisation", nil))
	licRegs.Apply(record(b, "end_user_certificate", nil))
	licRegs.Apply(lic)
	export := record(b, "export", nil)
	cases := []struct {
		name   string
		in     Input
		redact int
	}{
		{"licence_pull_customs_redacted", Input{Caller: memberDPD, Action: Pull, Record: lic, Now: time.Now()}, 2},
		{"event_pull_partner", Input{Caller: memberITA, Action: Pull, Record: record(b, "transfer_ita", nil), Now: time.Now()}, 0},
		{"export_push_customs_registers", Input{Caller: memberDPD, Action: Push, Record: export, Registers: licRegs.For(export)}, 0},
		{"licence_push_agency_parties", Input{Caller: memberAIM, Action: Push, Record: lic, Registers: licRegs.For(lic)}, 0},
	}
	for _, tc := range cases {
		b.Run(tc.name, func(b *testing.B) {
			ctx := context.Background()
			if d := e.Decide(ctx, tc.in); !d.Allow || len(d.Redact) != tc.redact {
				b.Fatalf("decision %+v", d)
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for b.Loop() {
				if d := e.Decide(ctx, tc.in); !d.Allow {
					b.Fatalf("decision %+v", d)
				}
			}
			cpu := cpuTime() - cpu0
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
			b.ReportMetric(float64(b.N)/cpu.Seconds(), "decisions/cpu-s")
		})
	}
}

// BenchmarkDecideChunk measures DecideChunk on a chunk of 256 licences
// pulled by Customs (two fields redacted from each), as a bulk pull decides
// them: all alike but for their ids (what deploy/bench generates), with
// contract values and contacts that differ from licence to licence (the
// redaction only asks whether they are there), and with review dates that
// all differ (a field the policy reads: nothing shared, the cost of keying
// on top of one evaluation per record). cpu-ns/record is the figure to
// compare with BenchmarkDecide's cpu-ns/op. Records are read back as a
// store reads them (storedRecord), but for licences_alike_pushed, the
// same licences as a push decodes them; licences_alike_decoded reads them
// back from their bytes in every round, which a pull pays too.
func BenchmarkDecideChunk(b *testing.B) {
	e := newEngine(b, Options{Logger: discard})
	const n = 256
	variants := []struct {
		name   string
		edits  func(i int) map[string]any
		pushed bool
		decode bool
	}{
		{"licences_alike", func(i int) map[string]any {
			return map[string]any{"id": fmt.Sprintf("AIM-LIC-2026-%06d", i)}
		}, false, false},
		{"licences_alike_pushed", func(i int) map[string]any {
			return map[string]any{"id": fmt.Sprintf("AIM-LIC-2026-%06d", i)}
		}, true, false},
		{"licences_alike_decoded", func(i int) map[string]any {
			return map[string]any{"id": fmt.Sprintf("AIM-LIC-2026-%06d", i)}
		}, false, true},
		{"licences_values_differ", func(i int) map[string]any {
			return map[string]any{"id": fmt.Sprintf("AIM-LIC-2026-%06d", i),
				"licence.contract_value":   map[string]any{"amount": json.Number(fmt.Sprint(1000 + i)), "currency": "EUR"},
				"licence.end_user.contact": map[string]any{"name": fmt.Sprintf("Officer %d", i), "email": fmt.Sprintf("o%d@example.cz", i)}}
		}, false, false},
		{"licences_reviews_differ", func(i int) map[string]any {
			return map[string]any{"id": fmt.Sprintf("AIM-LIC-2026-%06d", i),
				"label.review": time.Date(2090, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, i).Format("2006-01-02")}
		}, false, false},
	}
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			ctx := context.Background()
			in := make([]Input, n)
			now := time.Now() // one time for the chunk, as release.DecideChunk asks
			for i := range in {
				rec := record(b, "licence", v.edits(i))
				if !v.pushed {
					rec = storedRecord(b, rec)
				}
				in[i] = Input{Caller: memberDPD, Action: Pull, Record: rec, Now: now}
			}
			for i, d := range e.DecideChunk(ctx, in) {
				if !d.Allow || len(d.Redact) != 2 {
					b.Fatalf("decision %d: %+v", i, d)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for b.Loop() {
				if v.decode {
					for i := range in {
						in[i].Record = storedRecord(b, in[i].Record)
					}
				}
				if d := e.DecideChunk(ctx, in); !d[n-1].Allow {
					b.Fatalf("decision %+v", d[n-1])
				}
			}
			cpu := cpuTime() - cpu0
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "cpu-ns/record")
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "decisions/s")
		})
	}
}

// BenchmarkDecidePushChunk measures a push of 100 licences by the agency,
// alike but for their ids (what deploy/bench's push100 sends), each with
// the registers its conditions and parties are checked against, decided
// three ways in the same run: one at a time (Decide, the single path), as
// one chunk (DecideChunk), and one after the other through a Batch, as the
// push handler decides them. cpu-ns/record compares them.
func BenchmarkDecidePushChunk(b *testing.B) {
	e := newEngine(b, Options{Logger: discard})
	const n = 100
	o := registers.NewOverlay(nil)
	o.Apply(record(b, "import_authorisation", nil))
	o.Apply(record(b, "end_user_certificate", nil))
	now := time.Now() // one time for the push, as the handler asks
	in := make([]Input, n)
	for i := range in {
		rec := record(b, "licence", map[string]any{"id": fmt.Sprintf("AIM-LIC-2026-%06d", i)})
		in[i] = Input{Caller: memberAIM, Action: Push, Record: rec, Registers: o.For(rec), Now: now}
	}
	ways := []struct {
		name   string
		decide func(ctx context.Context) []Decision
	}{
		{"single", func(ctx context.Context) []Decision { return DecideEach(ctx, e, in) }},
		{"chunk", func(ctx context.Context) []Decision { return e.DecideChunk(ctx, in) }},
		{"batch", func(ctx context.Context) []Decision {
			bt := NewBatch(e)
			out := make([]Decision, len(in))
			for i := range in {
				out[i] = bt.Decide(ctx, in[i])
			}
			return out
		}},
	}
	for _, w := range ways {
		b.Run(w.name, func(b *testing.B) {
			ctx := context.Background()
			for i, d := range w.decide(ctx) {
				if !d.Allow {
					b.Fatalf("decision %d: %+v", i, d)
				}
			}
			b.ReportAllocs()
			b.ResetTimer()
			cpu0 := cpuTime()
			for b.Loop() {
				if d := w.decide(ctx); !d[n-1].Allow {
					b.Fatalf("decision %+v", d[n-1])
				}
			}
			cpu := cpuTime() - cpu0
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N*n), "cpu-ns/record")
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "decisions/s")
		})
	}
}

//go:build unix

package policy

import (
	"context"
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
	licRegs := registers.NewOverlay(nil)
	licRegs.Apply(lic)
	export := record(b, "export", nil)
	cases := []struct {
		name   string
		in     Input
		redact int
	}{
		{"licence_pull_customs_redacted", Input{Caller: memberDPD, Action: Pull, Record: lic}, 2},
		{"event_pull_partner", Input{Caller: memberITA, Action: Pull, Record: record(b, "transfer_ita", nil)}, 0},
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

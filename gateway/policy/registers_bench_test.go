package policy

import (
	"context"
	"fmt"
	"runtime"
	"testing"
)

// BenchmarkRegisterLicence reports what one licence on the register costs
// in heap, the Go copy and OPA's store together: with a national register
// of every licence ever issued, this is what the gateway's memory grows by.
func BenchmarkRegisterLicence(b *testing.B) {
	base := record(b, "licence", nil)
	ctx := context.Background()
	var perLicence float64
	for b.Loop() {
		b.StopTimer()
		e, err := New(ctx, Options{Logger: discard})
		if err != nil {
			b.Fatal(err)
		}
		runtime.GC()
		var m0, m1 runtime.MemStats
		runtime.ReadMemStats(&m0)
		b.StartTimer()
		const n = 20_000
		for i := range n {
			r := *base
			r.ID = fmt.Sprintf("BENCH-LIC-%07d", i)
			e.regs.Observe(&r)
			if i%100 == 99 {
				e.flush(ctx)
			}
		}
		e.flush(ctx)
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&m1)
		perLicence = float64(m1.HeapAlloc-m0.HeapAlloc) / n
		e.Close()
		b.StartTimer()
	}
	b.ReportMetric(perLicence, "heap-B/licence")
}

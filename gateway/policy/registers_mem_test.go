package policy

import (
	"context"
	"fmt"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/store/bolt"
)

// BenchmarkRegistersMemory shows that the gateway's memory does not grow
// with the registers: it seeds an embedded store with 1,000 and then
// 100,000 licences, decides an export against one of them as a push does
// (one store read for the record's entries), and reports the live heap
// after each (heap-MiB-1k, heap-MiB-100k). The registers stay in the
// store; a decision holds only the entries its record refers to.
//
//	go test -run '^$' -bench BenchmarkRegistersMemory -benchtime 1x ./gateway/policy/
func BenchmarkRegistersMemory(b *testing.B) {
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(b.TempDir(), "ura.db"), bolt.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	e := newEngine(b, Options{Logger: discard})
	seeded := 0
	seed := func(n int) {
		for seeded < n {
			var items []store.Item
			for ; seeded < n && len(items) < 5000; seeded++ {
				items = append(items, store.Item{Record: record(b, "licence", map[string]any{"id": fmt.Sprintf("AIM-LIC-2026-%07d", seeded)})})
			}
			for _, r := range st.PutBatch(ctx, items) {
				if r.Err != nil {
					b.Fatal(r.Err)
				}
			}
		}
	}
	heap := func() float64 {
		var ms runtime.MemStats
		runtime.GC()
		runtime.GC()
		runtime.ReadMemStats(&ms)
		return float64(ms.HeapAlloc) / (1 << 20)
	}
	decide := func() {
		// Ammunition (ML3): no import authorisation or certificate to seed.
		exp := record(b, "export", map[string]any{"event.licence_id": "AIM-LIC-2026-0000007", "event.quantity": 1,
			"event.item.ml_category": "ML3"})
		if d := decideFromStore(b, e, st, Input{Caller: memberDPD, Action: Push, Record: exp}); !d.Allow {
			b.Fatalf("decision %+v", d)
		}
	}
	var small, large float64
	for b.Loop() {
		seed(1000)
		decide()
		small = heap()
		seed(100_000)
		decide()
		large = heap()
	}
	b.ReportMetric(small, "heap-MiB-1k")
	b.ReportMetric(large, "heap-MiB-100k")
}

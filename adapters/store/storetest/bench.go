package storetest

import (
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/records"
)

// Bench measures a store: single Puts one after another (one commit each),
// Puts from parallel pushers, batches of 100, and streaming Query. Each
// reports records/s.
func Bench(b *testing.B, newStore NewStore) {
	b.Run("Put", func(b *testing.B) {
		s := newStore(b)
		recs := smalls(b, 0, b.N)
		b.ResetTimer()
		for i := range b.N {
			if _, err := s.Put(ctx, recs[i], nil); err != nil {
				b.Fatal(err)
			}
		}
		reportRate(b, b.N)
	})
	b.Run("PutParallel", func(b *testing.B) {
		s := newStore(b)
		var next atomic.Int64
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Put(ctx, Small(b, int(next.Add(1))), nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
		reportRate(b, b.N)
	})
	b.Run("PutBatch100", func(b *testing.B) {
		s := newStore(b)
		b.ResetTimer()
		for i := range b.N {
			b.StopTimer()
			items := items(b, i*100, 100)
			b.StartTimer()
			for _, r := range s.PutBatch(ctx, items) {
				if r.Err != nil {
					b.Fatal(r.Err)
				}
			}
		}
		reportRate(b, b.N*100)
	})
	b.Run("QueryStream", func(b *testing.B) {
		const n = 20000
		s := newStore(b)
		Load(b, s, n)
		b.ResetTimer()
		for range b.N {
			got := 0
			err := s.Query(ctx, store.Query{}, func(*records.Record, string) error { got++; return nil })
			if err != nil {
				b.Fatal(err)
			}
			if got != n {
				b.Fatalf("streamed %d of %d", got, n)
			}
		}
		reportRate(b, b.N*n)
	})
}

func reportRate(b *testing.B, n int) {
	if s := b.Elapsed().Seconds(); s > 0 {
		b.ReportMetric(float64(n)/s, "records/s")
	}
}

func smalls(tb testing.TB, from, n int) []*records.Record {
	out := make([]*records.Record, n)
	for i := range out {
		out[i] = Small(tb, from+i)
	}
	return out
}

func items(tb testing.TB, from, n int) []store.Item {
	out := make([]store.Item, n)
	for i := range out {
		out[i] = store.Item{Record: Small(tb, from+i)}
	}
	return out
}

// Load stores n small records, in batches.
func Load(tb testing.TB, s store.Store, n int) {
	tb.Helper()
	const chunk = 5000
	for from := 0; from < n; from += chunk {
		size := min(chunk, n-from)
		for i, r := range s.PutBatch(ctx, items(tb, from, size)) {
			if r.Err != nil || r.Outcome != store.Accepted {
				tb.Fatalf("record %d: %q %v", from+i, r.Outcome, r.Err)
			}
		}
	}
}

// Large stores n small records, streams them all back and reports the load
// and stream rates and the peak Go heap seen while streaming: a streaming
// Query must keep memory flat however many records it returns.
func Large(t *testing.T, s store.Store, n int) {
	start := time.Now()
	Load(t, s, n)
	loaded := time.Since(start)

	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	baseHeap := ms.HeapAlloc
	var peakHeap, peakSys uint64
	got := 0
	start = time.Now()
	err := s.Query(ctx, store.Query{}, func(r *records.Record, _ string) error {
		got++
		if got%10000 == 0 {
			runtime.ReadMemStats(&ms)
			peakHeap = max(peakHeap, ms.HeapAlloc)
			peakSys = max(peakSys, ms.Sys)
		}
		return nil
	})
	streamed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if got != n {
		t.Fatalf("streamed %d of %d records", got, n)
	}
	t.Logf("loaded %d records in %s (%.0f records/s)", n, loaded.Round(time.Millisecond), float64(n)/loaded.Seconds())
	t.Logf("streamed %d records in %s (%.0f records/s)", n, streamed.Round(time.Millisecond), float64(n)/streamed.Seconds())
	t.Logf("Go heap: %s after loading (GC'd), peak %s while streaming (sampled every 10,000 records); Go runtime memory (Sys) peak %s",
		mib(baseHeap), mib(peakHeap), mib(peakSys))
	// On Linux, RssAnon is the process's own memory; RssFile counts pages of
	// files it maps (the embedded store's file), which the kernel reclaims.
	if st, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, line := range strings.Split(string(st), "\n") {
			for _, k := range []string{"VmHWM:", "VmRSS:", "RssAnon:", "RssFile:"} {
				if strings.HasPrefix(line, k) {
					t.Logf("after streaming: %s", strings.Join(strings.Fields(line), " "))
				}
			}
		}
	}
}

func mib(b uint64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

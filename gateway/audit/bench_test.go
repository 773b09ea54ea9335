package audit_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/audit/audittest"
)

// BenchmarkAppend measures durable audit events per second: every Append
// returns only after fsync. Group commit with 1, 8 and 64 concurrent
// appenders, against a baseline of one write and one fsync per event.
//
//	go test -run '^$' -bench BenchmarkAppend -benchtime 3s ./gateway/audit/
func BenchmarkAppend(b *testing.B) {
	type variant struct {
		appenders int
		wait      time.Duration
	}
	for _, v := range []variant{{1, 0}, {8, 0}, {64, 0}, {8, time.Millisecond}, {64, time.Millisecond}} {
		p := v.appenders
		name := fmt.Sprintf("group_commit/appenders=%d", p)
		if v.wait > 0 {
			name = fmt.Sprintf("group_commit_wait=%s/appenders=%d", v.wait, p)
		}
		b.Run(name, func(b *testing.B) {
			st, err := audit.OpenFileStore(b.TempDir(), audit.FileOptions{})
			if err != nil {
				b.Fatal(err)
			}
			c, err := audit.Open(context.Background(), audit.Options{Store: st, MaxWait: v.wait})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			evs := audittest.Events(1024, time.Now())
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range p {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > int64(b.N) {
							return
						}
						if err := c.Append(context.Background(), evs[i%1024]); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
		})
	}
	b.Run("baseline_fsync_per_event", func(b *testing.B) {
		f, err := os.OpenFile(filepath.Join(b.TempDir(), "000001.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
		if err != nil {
			b.Fatal(err)
		}
		defer f.Close()
		evs := audittest.Events(1024, time.Now())
		prev := audit.ZeroHash
		b.ResetTimer()
		start := time.Now()
		for i := 0; i < b.N; i++ {
			e := evs[i%1024]
			e.Seq, e.Prev, e.Time = int64(i+1), prev, e.Time.UTC().Truncate(time.Microsecond)
			c, err := audit.Canonical(e)
			if err != nil {
				b.Fatal(err)
			}
			e.Hash = audit.HashBytes(c)
			prev = e.Hash
			line := bytes.Replace(c, []byte(`,"member":`), []byte(`,"hash":"`+e.Hash+`","member":`), 1)
			if _, err := f.Write(append(line, '\n')); err != nil {
				b.Fatal(err)
			}
			if err := f.Sync(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
	})
}

// BenchmarkVerify measures verification speed over a file log.
func BenchmarkVerify(b *testing.B) {
	dir := b.TempDir()
	st, err := audit.OpenFileStore(dir, audit.FileOptions{})
	if err != nil {
		b.Fatal(err)
	}
	c, err := audit.Open(context.Background(), audit.Options{Store: st})
	if err != nil {
		b.Fatal(err)
	}
	const n = 20000
	evs := audittest.Events(n, time.Now())
	for i := 0; i < n; i += 1000 {
		if err := c.Append(context.Background(), evs[i:i+1000]...); err != nil {
			b.Fatal(err)
		}
	}
	c.Close()
	ro, err := audit.OpenFileStore(dir, audit.FileOptions{ReadOnly: true})
	if err != nil {
		b.Fatal(err)
	}
	defer ro.Close()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		if _, err := audit.VerifyStore(context.Background(), ro, audit.VerifyOptions{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(n*b.N)/time.Since(start).Seconds(), "events/s")
}

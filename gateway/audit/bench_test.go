package audit_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/audit/audittest"
)

// BenchmarkAppend measures durable audit events per second: every Append
// returns only after fsync. Group commit with 1, 8 and 64 concurrent
// appenders of one event each, and one appender of 256 events per Append:
// varied events (chunk=256), and a pull's chunk (pull=256: one request's
// decisions, made microseconds apart, audittest.PullChunk); against a
// baseline of one write and one fsync per event. Besides events/s it reports the process's CPU time per event
// (user and system, all goroutines) and the events and time per commit.
//
//	go test -run '^$' -bench BenchmarkAppend -benchtime 3s ./gateway/audit/
//
// SYNCS=n runs the file store with n fsyncs in flight instead of two.
func BenchmarkAppend(b *testing.B) {
	if n, err := strconv.Atoi(os.Getenv("SYNCS")); err == nil {
		defer audit.SetSyncsInFlight(audit.SetSyncsInFlight(n))
	}
	file := func(b *testing.B) audit.Store {
		st, err := audit.OpenFileStore(b.TempDir(), audit.FileOptions{})
		if err != nil {
			b.Fatal(err)
		}
		return st
	}
	for _, v := range []appendVariant{{1, 1, 0, false}, {8, 1, 0, false}, {64, 1, 0, false}, {8, 1, time.Millisecond, false},
		{64, 1, time.Millisecond, false}, {1, 256, 0, false}, {1, 256, 0, true}} {
		b.Run(v.name(), func(b *testing.B) { benchAppend(b, file(b), v) })
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

// BenchmarkAppendPostgres is BenchmarkAppend against the PostgreSQL store
// (URA_TEST_POSTGRES_DSN), where a group commit is one transaction.
//
//	go test -run '^$' -bench BenchmarkAppendPostgres -benchtime 3s ./gateway/audit/
func BenchmarkAppendPostgres(b *testing.B) {
	for _, v := range []appendVariant{{1, 1, 0, false}, {64, 1, 0, false}, {1, 256, 0, false}} {
		b.Run(v.name(), func(b *testing.B) {
			dsn, schema := pgSchema(b)
			st, err := audit.OpenPostgres(context.Background(), dsn, audit.PostgresOptions{Schema: schema})
			if err != nil {
				b.Fatal(err)
			}
			benchAppend(b, st, v)
		})
	}
}

type appendVariant struct {
	appenders int
	chunk     int // events per Append
	wait      time.Duration
	pull      bool // events as a pull's chunks, not varied ones
}

func (v appendVariant) name() string {
	switch {
	case v.pull:
		return fmt.Sprintf("pull=%d/appenders=%d", v.chunk, v.appenders)
	case v.chunk > 1:
		return fmt.Sprintf("chunk=%d/appenders=%d", v.chunk, v.appenders)
	case v.wait > 0:
		return fmt.Sprintf("group_commit_wait=%s/appenders=%d", v.wait, v.appenders)
	}
	return fmt.Sprintf("group_commit/appenders=%d", v.appenders)
}

// benchAppend runs v's appenders against a chain over st until b.N events
// (whole chunks) are durable.
func benchAppend(b *testing.B, st audit.Store, v appendVariant) {
	reg := prometheus.NewRegistry()
	c, err := audit.Open(context.Background(), audit.Options{Store: st, MaxWait: v.wait, Registerer: reg})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	evs := audittest.Events(1024, time.Now())
	if v.pull {
		evs = slices.Concat(audittest.PullChunk(v.chunk, time.Now()), audittest.PullChunk(v.chunk, time.Now()),
			audittest.PullChunk(v.chunk, time.Now()), audittest.PullChunk(v.chunk, time.Now()))
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime(b)
	for range v.appenders {
		wg.Go(func() {
			for {
				i := next.Add(int64(v.chunk))
				if i > int64(b.N)+int64(v.chunk)-1 {
					return
				}
				k := int(i-int64(v.chunk)) % 1024
				if err := c.Append(context.Background(), evs[k:min(k+v.chunk, 1024)]...); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), cpuTime(b)-cpu0
	n := b.N
	if v.chunk > 1 {
		// Whole chunks were appended; count what was.
		n = int(c.Head().Count)
	}
	b.ReportMetric(float64(n)/elapsed.Seconds(), "events/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/event")
	reportCommits(b, reg)
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCommits reports the mean events and seconds per group commit.
func reportCommits(b *testing.B, reg *prometheus.Registry) {
	mfs, err := reg.Gather()
	if err != nil {
		b.Fatal(err)
	}
	var events, secs, n float64
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			if h == nil {
				continue
			}
			switch mf.GetName() {
			case "ura_audit_commit_batch_events":
				events, n = h.GetSampleSum(), float64(h.GetSampleCount())
			case "ura_audit_commit_seconds":
				secs = h.GetSampleSum()
			}
		}
	}
	if n > 0 {
		b.ReportMetric(events/n, "events/commit")
		b.ReportMetric(secs/n*1e6, "µs/commit")
	}
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

// slowSigner and slowWitness add the round trip to Vault that signing a
// checkpoint (Transit) and copying it (KV v2) cost, so that the benchmark
// below weighs checkpoints as the gateway pays for them.
type slowSigner struct {
	*audittest.Signer
	rtt time.Duration
}

func (s slowSigner) SignTyped(ctx context.Context, typ string, payloads [][]byte) ([]string, error) {
	time.Sleep(s.rtt)
	return s.Signer.SignTyped(ctx, typ, payloads)
}

type slowWitness struct {
	*audittest.Witness
	rtt time.Duration
}

func (w slowWitness) Put(ctx context.Context, cp audit.SignedCheckpoint, version int) (int, error) {
	time.Sleep(w.rtt)
	return w.Witness.Put(ctx, cp, version)
}

// BenchmarkCheckpointInterval measures durable events per second under 8
// concurrent appenders with the checkpoint settings before (every 1000
// events or 30s) and after (every 1000 or 5s) the interval was shortened,
// and, for scale, with checkpoints far more often than either. Each
// checkpoint is signed and copied off the host with a simulated 2ms Vault
// round trip each. Run long enough for several intervals to pass:
//
//	go test -run '^$' -bench BenchmarkCheckpointInterval -benchtime 20s ./gateway/audit/
func BenchmarkCheckpointInterval(b *testing.B) {
	for _, v := range []struct {
		name     string
		every    int64
		interval time.Duration
	}{
		{"old/every=1000,interval=30s", 1000, 30 * time.Second},
		{"new/every=1000,interval=5s", 1000, 5 * time.Second},
		{"stress/every=100,interval=100ms", 100, 100 * time.Millisecond},
	} {
		b.Run(v.name, func(b *testing.B) {
			st, err := audit.OpenFileStore(b.TempDir(), audit.FileOptions{})
			if err != nil {
				b.Fatal(err)
			}
			w := &audittest.Witness{}
			c, err := audit.Open(context.Background(), audit.Options{Store: st,
				Signer:  slowSigner{audittest.NewSigner(b, "bench/1"), 2 * time.Millisecond},
				Witness: slowWitness{w, 2 * time.Millisecond}, CheckpointEvery: v.every, CheckpointInterval: v.interval})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			evs := audittest.Events(1024, time.Now())
			var next atomic.Int64
			var wg sync.WaitGroup
			b.ResetTimer()
			start := time.Now()
			for range 8 {
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
			elapsed := time.Since(start)
			b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
			b.ReportMetric(float64(w.Puts())/elapsed.Seconds(), "checkpoints/s")
		})
	}
}

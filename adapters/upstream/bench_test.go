package upstream

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ura-gateway/ura/adapters/store/storetest"
	"github.com/ura-gateway/ura/gateway/api/apitest"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/records"
)

// BenchmarkOutboxForward measures entries forwarded to a back office per
// second, and the process's CPU time per entry (user and system, every
// goroutine: the outbox, the audit log, and the back office's TLS server
// in this process too), with workers that take one entry at a time
// (batch_1: a decision, an audit append and a commit per entry) and
// batches of deliverBatch. The entries are queued as pushes of 100 records
// queue them; the policy is the real embedded one, the audit log the real
// file log (each append durable), the outbox a bbolt file, the back office
// HTTPS with mutual TLS answering 201.
//
//	go test -run '^$' -bench BenchmarkOutboxForward -benchtime 3000x ./adapters/upstream/
func BenchmarkOutboxForward(b *testing.B) {
	for _, n := range []int{1, deliverBatch} {
		b.Run(fmt.Sprintf("batch_%d", n), func(b *testing.B) { benchForward(b, n) })
	}
}

func benchForward(b *testing.B, batch int) {
	p := newPKI(b)
	office := newBackOffice()
	office.respond = func(delivery, int) (int, http.Header, string) { return http.StatusCreated, nil, "" }
	up := newUpstream(b, p.serverTLS(p.inter, p.root), office)
	up.start()
	st, err := audit.OpenFileStore(b.TempDir(), audit.FileOptions{})
	if err != nil {
		b.Fatal(err)
	}
	chain, err := audit.Open(context.Background(), audit.Options{Store: st, CheckpointEvery: 1 << 40, CheckpointInterval: time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = chain.Close() })
	recs := apitest.NewStore()
	dest := p.destination("bo", "http", up.url(), records.KindLicence)
	o, err := open(config.Upstream{Destinations: []config.Destination{dest},
		Outbox: config.Outbox{Path: filepath.Join(b.TempDir(), "outbox.db")}}, nil,
		Options{Registry: testRegistry, Store: recs, Policy: embeddedPolicy(b), Audit: chain}, batch)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = o.Close() })
	all := make([]Decided, b.N)
	for i := range all {
		r := storetest.Licence(b, fmt.Sprintf("AIM-LIC-2026-%07d", i+1), 1, "issued", base)
		if _, err := recs.Put(context.Background(), r, nil); err != nil {
			b.Fatal(err)
		}
		all[i].Record = r
	}
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime(b)
	for i := 0; i < len(all); i += 100 {
		if err := o.EnqueueDecided(context.Background(), all[i:min(i+100, len(all))]); err != nil {
			b.Fatal(err)
		}
	}
	for testutil.ToFloat64(o.m.delivered.WithLabelValues("bo")) < float64(b.N) {
		time.Sleep(time.Millisecond)
	}
	elapsed, cpu := time.Since(start), cpuTime(b)-cpu0
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "entries/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/entry")
}

// cpuTime is the user and system CPU time this process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

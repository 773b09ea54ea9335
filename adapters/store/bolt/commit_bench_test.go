package bolt

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/store/storetest"
)

// BenchmarkCommit is the write path as a push meets it: a file already
// holding records (so every bucket is a tree of some depth), then commits
// of n new licences each, with the real fsyncs of the disk under the test's
// temporary directory. Besides ns/op it reports the process's CPU per record
// and the pages each commit writes (bbolt's write count: one write per dirty
// page run, then the meta page), the figures the store can change; each
// commit also pays bbolt's two fdatasyncs, which it cannot.
//
//	go test -run '^$' -bench BenchmarkCommit -cpu 1 ./adapters/store/bolt/
func BenchmarkCommit(b *testing.B) {
	// The preloaded file is made once and copied for each run, so that
	// neither its loading nor a profile of it counts.
	template := filepath.Join(b.TempDir(), "template.db")
	s, err := Open(template, Options{})
	if err != nil {
		b.Fatal(err)
	}
	storetest.Load(b, s, preload)
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	for _, n := range []int{1, 100} {
		b.Run("records="+strconv.Itoa(n), func(b *testing.B) { benchCommit(b, template, n) })
	}
}

// preload is how many records the file holds before the timed commits.
const preload = 20000

func benchCommit(b *testing.B, template string, n int) {
	path := filepath.Join(b.TempDir(), "ura.db")
	if err := copyFile(path, template); err != nil {
		b.Fatal(err)
	}
	s, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	batches := make([][]store.Item, b.N)
	for i := range batches {
		batches[i] = make([]store.Item, n)
		for j := range batches[i] {
			batches[i][j].Record = storetest.Small(b, preload+i*n+j)
		}
	}
	before := s.db.Stats()
	user0, sys0 := cpuTime()
	b.ResetTimer()
	for i := range b.N {
		for j, r := range s.PutBatch(context.Background(), batches[i]) {
			if r.Err != nil || r.Outcome != store.Accepted {
				b.Fatalf("record %d: %q %v", j, r.Outcome, r.Err)
			}
		}
	}
	b.StopTimer()
	user, sys := cpuTime()
	user, sys = user-user0, sys-sys0
	after := s.db.Stats()
	d := after.Sub(&before)
	b.ReportMetric(float64((user+sys).Nanoseconds())/float64(b.N*n), "cpu-ns/record")
	b.ReportMetric(float64(user.Nanoseconds())/float64(b.N*n), "user-ns/record")
	b.ReportMetric(float64(d.TxStats.GetWrite())/float64(b.N), "writes/commit")
	b.ReportMetric(float64(d.TxStats.GetSpill())/float64(b.N), "spills/commit")
	b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
}

// cpuTime is the CPU time this process has used, in user space and in the
// kernel (writes, fsyncs): on a shared machine, wall-clock time says more
// about the neighbours than about the commit.
func cpuTime() (user, sys time.Duration) {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

func copyFile(dst, src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

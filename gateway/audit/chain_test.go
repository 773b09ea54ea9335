package audit_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/audit/audittest"
)

// gateStore wraps a store: Write blocks while gate is held, and fails while
// fail is set. It records the size of every write.
type gateStore struct {
	audit.Store
	mu     sync.Mutex
	gate   chan struct{}
	fail   error
	writes []int
	// entered is signalled when a Write starts.
	entered chan struct{}
}

func (g *gateStore) Write(ctx context.Context, entries []audit.Entry) error {
	g.mu.Lock()
	gate, fail := g.gate, g.fail
	g.writes = append(g.writes, len(entries))
	g.mu.Unlock()
	if g.entered != nil {
		g.entered <- struct{}{}
	}
	if gate != nil {
		<-gate
	}
	if fail != nil {
		return fail
	}
	return g.Store.Write(ctx, entries)
}

func newGateStore(t *testing.T) *gateStore {
	st, err := audit.OpenFileStore(t.TempDir(), audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return &gateStore{Store: st}
}

// TestGroupCommit: appends that arrive while a commit is in progress are
// committed together in the next single write.
func TestGroupCommit(t *testing.T) {
	g := newGateStore(t)
	g.gate = make(chan struct{})
	g.entered = make(chan struct{}, 100)
	reg := prometheus.NewRegistry()
	c, err := audit.Open(context.Background(), audit.Options{Store: g, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	evs := audittest.Events(11, t0)
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := c.Append(ctx, evs[0]); err != nil {
			t.Error(err)
		}
	})
	<-g.entered // the first commit is in its write
	for i := 1; i <= 10; i++ {
		wg.Go(func() {
			if err := c.Append(ctx, evs[i]); err != nil {
				t.Error(err)
			}
		})
	}
	// All eleven wait: one in the blocked write, ten queued behind it.
	waitFor(t, func() bool { return metricValue(t, reg, "ura_audit_appends_waiting") == 11 })
	close(g.gate)
	wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.writes) != 2 || g.writes[0] != 1 || g.writes[1] != 10 {
		t.Fatalf("writes %v; want [1 10]: ten appends waiting on one fsync share the next", g.writes)
	}
	if c.Head().Count != 11 {
		t.Fatalf("head %d", c.Head().Count)
	}
}

func metricValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		var sum float64
		for _, m := range mf.GetMetric() {
			switch {
			case m.Gauge != nil:
				sum += m.GetGauge().GetValue()
			case m.Counter != nil:
				sum += m.GetCounter().GetValue()
			}
		}
		return sum
	}
	return 0
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestWriteFailureFailsClosed: a failed write answers every waiting
// appender with ErrUnavailable, and every later one too.
func TestWriteFailureFailsClosed(t *testing.T) {
	g := newGateStore(t)
	reg := prometheus.NewRegistry()
	c, err := audit.Open(context.Background(), audit.Options{Store: g, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	if err := c.Append(ctx, audittest.Events(3, t0)...); err != nil {
		t.Fatal(err)
	}
	g.mu.Lock()
	g.fail = errors.New("fsync: input/output error")
	g.mu.Unlock()
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if err := c.Append(ctx, audittest.Events(1, t0)...); !errors.Is(err, audit.ErrUnavailable) {
				t.Errorf("append during failure: %v", err)
			}
		})
	}
	wg.Wait()
	g.mu.Lock()
	g.fail = nil // the disk comes back: the log stays failed until reopened
	g.mu.Unlock()
	if err := c.Append(ctx, audittest.Events(1, t0)...); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("append after failure: %v", err)
	}
	if err := c.Check(ctx); err == nil {
		t.Fatal("readiness check passes on a failed log")
	}
	if v := metricValue(t, reg, "ura_audit_failed"); v != 1 {
		t.Fatalf("ura_audit_failed = %v", v)
	}
	if c.Head().Count != 3 {
		t.Fatalf("head %d", c.Head().Count)
	}
}

func TestAppendContextCancelled(t *testing.T) {
	g := newGateStore(t)
	g.gate = make(chan struct{})
	c, err := audit.Open(context.Background(), audit.Options{Store: g})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	defer close(g.gate)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := c.Append(ctx, audittest.Events(1, t0)...); !errors.Is(err, audit.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("append with an expiring context on a stuck disk: %v", err)
	}
}

// TestCheckpointsAutomatic: every N events a checkpoint is signed without
// anyone asking; a failing signer does not fail appends.
func TestCheckpointsAutomatic(t *testing.T) {
	st, err := audit.OpenFileStore(t.TempDir(), audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	signer := audittest.NewSigner(t, "k1")
	c, err := audit.Open(context.Background(), audit.Options{Store: st, Signer: signer, CheckpointEvery: 10, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := c.Append(ctx, audittest.Events(25, t0)...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		cps, _ := c.Checkpoints(ctx)
		return len(cps) == 1 && cps[0].Count == 25
	})
	signer.Fail.Store(true)
	if err := c.Append(ctx, audittest.Events(15, t0)...); err != nil {
		t.Fatalf("append with the signer down: %v", err)
	}
	if _, err := c.Checkpoint(ctx); err == nil {
		t.Fatal("checkpoint signed by a failing signer")
	}
	signer.Fail.Store(false)
	if err := c.Close(); err != nil { // a last checkpoint at 40
		t.Fatal(err)
	}
	cps, _ := st.Checkpoints(ctx)
	if len(cps) != 2 || cps[1].Count != 40 {
		t.Fatalf("checkpoints %+v", cps)
	}
}

// TestIntervalCheckpoint: with few events, the interval still signs one.
func TestIntervalCheckpoint(t *testing.T) {
	st, err := audit.OpenFileStore(t.TempDir(), audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := audit.Open(context.Background(), audit.Options{Store: st, Signer: audittest.NewSigner(t, "k1"), CheckpointEvery: 1000, CheckpointInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Append(context.Background(), audittest.Events(3, t0)...); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		cps, _ := c.Checkpoints(context.Background())
		return len(cps) == 1 && cps[0].Count == 3
	})
}

func TestAppendAfterClose(t *testing.T) {
	st, err := audit.OpenFileStore(t.TempDir(), audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := audit.Open(context.Background(), audit.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if err := c.Append(context.Background(), audittest.Events(1, t0)...); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("append after close: %v", err)
	}
}

// TestAppendSeqs: concurrent appenders sharing commits each learn the seqs
// their own events got, and those are the events stored there.
func TestAppendSeqs(t *testing.T) {
	g := newGateStore(t)
	c, err := audit.Open(context.Background(), audit.Options{Store: g})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := context.Background()
	evs := audittest.Events(40, t0)
	got := make([][]int64, 10)
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Go(func() {
			seqs, err := audit.AppendSeqs(ctx, c, evs[4*i:4*i+4]...)
			if err != nil {
				t.Error(err)
			}
			got[i] = seqs
		})
	}
	wg.Wait()
	seen := map[int64]bool{}
	for i, seqs := range got {
		if len(seqs) != 4 {
			t.Fatalf("appender %d: seqs %v", i, seqs)
		}
		for j, seq := range seqs {
			if seen[seq] || (j > 0 && seq != seqs[j-1]+1) {
				t.Errorf("appender %d: seqs %v", i, seqs)
			}
			seen[seq] = true
			e, err := g.Get(ctx, seq)
			if err != nil {
				t.Fatal(err)
			}
			if e.Event.DecisionID != evs[4*i+j].DecisionID {
				t.Errorf("seq %d holds %s, want event %d", seq, e.Event.DecisionID, 4*i+j)
			}
		}
	}
	// A Log that does not report seqs still appends.
	var plain plainLog
	if seqs, err := audit.AppendSeqs(ctx, &plain, evs[0]); err != nil || seqs != nil || plain.n != 1 {
		t.Errorf("plain log: seqs %v, err %v, appended %d", seqs, err, plain.n)
	}
}

type plainLog struct{ n int }

func (p *plainLog) Append(_ context.Context, events ...audit.Event) error {
	p.n += len(events)
	return nil
}

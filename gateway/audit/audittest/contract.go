package audittest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/audit"
)

// Opener opens one store: the same underlying storage every time it is
// called, as a restarted gateway would.
type Opener func() (audit.Store, error)

// Run runs the contract every audit.Store must satisfy. fresh returns an
// opener for new, empty storage private to the test.
func Run(t *testing.T, fresh func(t *testing.T) Opener) {
	t.Run("Empty", func(t *testing.T) { testEmpty(t, fresh(t)) })
	t.Run("AppendReopenContinue", func(t *testing.T) { testAppendReopen(t, fresh(t)) })
	t.Run("ConcurrentAppendersGapFree", func(t *testing.T) { testConcurrent(t, fresh(t)) })
	t.Run("GetAndSearch", func(t *testing.T) { testSearch(t, fresh(t)) })
	t.Run("Summary", func(t *testing.T) { testSummary(t, fresh(t)) })
	t.Run("CheckpointsProofsExport", func(t *testing.T) { testCheckpoints(t, fresh(t)) })
	t.Run("RefusesBrokenContinuation", func(t *testing.T) { testContinuation(t, fresh(t)) })
	t.Run("Writers", func(t *testing.T) {
		o := fresh(t)
		st := open(t, o)
		_, shared := st.(audit.Shared)
		closeOK(t, st)
		if shared {
			testSeveralWriters(t, o)
		} else {
			testSingleWriter(t, o)
		}
	})
}

var t0 = time.Date(2026, 6, 2, 8, 0, 0, 0, time.UTC)

func open(t *testing.T, o Opener) audit.Store {
	t.Helper()
	st, err := o()
	if err != nil {
		t.Fatalf("open store: %v", err)
	}
	return st
}

// closeOK closes a store or chain and fails the test if that fails: Close
// flushes, signs a last checkpoint and releases the lock, all part of the
// contract.
func closeOK(t *testing.T, c io.Closer) {
	t.Helper()
	if err := c.Close(); err != nil {
		t.Errorf("close: %v", err)
	}
}

// appended opens a store with n events from Events appended to it; it is
// closed when the test ends.
func appended(t *testing.T, o Opener, n int) (audit.Store, []audit.Event) {
	t.Helper()
	st := open(t, o)
	c := chain(t, st, nil)
	t.Cleanup(func() { closeOK(t, c) })
	evs := Events(n, t0)
	if err := c.Append(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	return st, evs
}

func chain(t *testing.T, st audit.Store, signer *Signer) *audit.Chain {
	t.Helper()
	opts := audit.Options{Store: st, CheckpointEvery: 1 << 40, CheckpointInterval: time.Hour}
	if signer != nil {
		opts.Signer = signer
	}
	c, err := audit.Open(context.Background(), opts)
	if err != nil {
		t.Fatalf("open chain: %v", err)
	}
	return c
}

func testEmpty(t *testing.T, o Opener) {
	ctx := context.Background()
	st := open(t, o)
	defer closeOK(t, st)
	if h := st.Head(); h.Count != 0 || h.Hash != audit.ZeroHash {
		t.Fatalf("empty head = %+v", h)
	}
	if _, err := st.Get(ctx, 1); !errors.Is(err, audit.ErrNotFound) {
		t.Fatalf("Get(1) on empty: %v, want ErrNotFound", err)
	}
	cps, err := st.Checkpoints(ctx)
	if err != nil || len(cps) != 0 {
		t.Fatalf("checkpoints on empty: %v %v", cps, err)
	}
	p, err := st.Search(ctx, audit.Query{})
	if err != nil || len(p.Events) != 0 || p.Next != 0 {
		t.Fatalf("search on empty: %+v %v", p, err)
	}
	n := 0
	if err := st.Scan(ctx, 1, func([]byte) error { n++; return nil }); err != nil || n != 0 {
		t.Fatalf("scan on empty: %d lines, %v", n, err)
	}
	rep, err := audit.VerifyStore(ctx, st, audit.VerifyOptions{})
	if err != nil || rep.Events != 0 {
		t.Fatalf("verify empty: %+v %v", rep, err)
	}
}

func testAppendReopen(t *testing.T, o Opener) {
	ctx := context.Background()
	evs := Events(120, t0)
	c := chain(t, open(t, o), nil)
	for i := 0; i < 100; i += 10 {
		if err := c.Append(ctx, evs[i:i+10]...); err != nil {
			t.Fatal(err)
		}
	}
	head := c.Head()
	if head.Count != 100 {
		t.Fatalf("head after 100 events = %d", head.Count)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}

	st := open(t, o)
	if got := st.Head(); got != head {
		t.Fatalf("reopened head %+v, want %+v", got, head)
	}
	c = chain(t, st, nil)
	defer closeOK(t, c)
	if err := c.Append(ctx, evs[100:]...); err != nil {
		t.Fatal(err)
	}
	first, err := st.Get(ctx, 101)
	if err != nil {
		t.Fatal(err)
	}
	if first.Event.Prev != head.Hash {
		t.Fatalf("seq 101 prev %s does not continue head %s", first.Event.Prev, head.Hash)
	}
	rep, err := audit.VerifyStore(ctx, st, audit.VerifyOptions{})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if rep.Events != 120 || rep.Head != st.Head() {
		t.Fatalf("verify report %+v, head %+v", rep, st.Head())
	}
	// Every line is what was appended, field for field.
	seq := int64(0)
	err = st.Scan(ctx, 1, func(line []byte) error {
		e, err := audit.ParseLine(line)
		if err != nil {
			return err
		}
		want := evs[seq]
		seq++
		want.Seq, want.Prev, want.Hash = e.Event.Seq, e.Event.Prev, e.Event.Hash
		want.Time = want.Time.UTC()
		if !reflect.DeepEqual(e.Event, want) {
			return fmt.Errorf("seq %d: stored %+v, appended %+v", seq, e.Event, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// Scan from the middle starts at that seq.
	var got []int64
	_ = st.Scan(ctx, 118, func(line []byte) error {
		e, _ := audit.ParseLine(line)
		got = append(got, e.Event.Seq)
		return nil
	})
	if !reflect.DeepEqual(got, []int64{118, 119, 120}) {
		t.Fatalf("Scan(118) gave %v", got)
	}
}

func testConcurrent(t *testing.T, o Opener) {
	ctx := context.Background()
	st := open(t, o)
	c := chain(t, st, nil)
	defer closeOK(t, c)
	const workers, each = 16, 40
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			evs := Events(each, t0)
			for i := range evs {
				evs[i].RequestID = fmt.Sprintf("w%02d-%03d", w, i)
				if err := c.Append(ctx, evs[i]); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rep, err := audit.VerifyStore(ctx, st, audit.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Events != workers*each {
		t.Fatalf("%d events, want %d", rep.Events, workers*each)
	}
	seen := map[string]bool{}
	_ = st.Scan(ctx, 1, func(line []byte) error {
		e, _ := audit.ParseLine(line)
		seen[e.Event.RequestID] = true
		return nil
	})
	if len(seen) != workers*each {
		t.Fatalf("%d distinct appends stored, want %d", len(seen), workers*each)
	}
}

func testSearch(t *testing.T, o Opener) {
	ctx := context.Background()
	st, evs := appended(t, o, 300)
	e, err := st.Get(ctx, 42)
	if err != nil {
		t.Fatal(err)
	}
	if e.Event.Seq != 42 || e.Event.DecisionID != evs[41].DecisionID {
		t.Fatalf("Get(42) = %+v", e.Event)
	}
	if _, err := audit.ParseLine(e.Line); err != nil {
		t.Fatalf("Get(42) line: %v", err)
	}
	for _, seq := range []int64{0, -1, 301} {
		if _, err := st.Get(ctx, seq); !errors.Is(err, audit.ErrNotFound) {
			t.Errorf("Get(%d): %v, want ErrNotFound", seq, err)
		}
	}
	cases := []struct {
		name string
		q    audit.Query
	}{
		{"all", audit.Query{}},
		{"member", audit.Query{Member: "AL/GOV/DPD"}},
		{"record", audit.Query{RecordID: "AIM-LIC-2026-000005"}},
		{"decision", audit.Query{Decision: audit.DecisionDeny}},
		{"reason", audit.Query{Reason: "clearance"}},
		{"time range", audit.Query{From: t0.Add(50 * time.Second), To: t0.Add(120 * time.Second)}},
		{"combined", audit.Query{Member: "IT/GOV/MOD", Decision: audit.DecisionDeny, Reason: "not_releasable"}},
		{"no match", audit.Query{Member: "XX/NOBODY"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var want []int64
			for i := len(evs) - 1; i >= 0; i-- {
				ev := evs[i]
				ev.Time = ev.Time.UTC()
				if tc.q.Match(&ev) {
					want = append(want, int64(i+1))
				}
			}
			for _, limit := range []int{7, 1000} {
				q := tc.q
				q.Limit = limit
				var got []int64
				for pages := 0; ; pages++ {
					if pages > 100 {
						t.Fatal("pagination does not end")
					}
					p, err := st.Search(ctx, q)
					if err != nil {
						t.Fatal(err)
					}
					if len(p.Events) > limit {
						t.Fatalf("page of %d > limit %d", len(p.Events), limit)
					}
					for _, e := range p.Events {
						got = append(got, e.Seq)
					}
					if p.Next == 0 {
						break
					}
					q.Before = p.Next
				}
				if !reflect.DeepEqual(got, want) && (len(got) > 0 || len(want) > 0) {
					t.Fatalf("limit %d: got seqs %v, want %v", limit, got, want)
				}
			}
		})
	}
	p, err := st.Search(ctx, audit.Query{Limit: 100000})
	if err != nil || len(p.Events) != audit.MaxLimit && len(p.Events) != 300 {
		t.Fatalf("limit cap: %d events, %v", len(p.Events), err)
	}
}

func testSummary(t *testing.T, o Opener) {
	ctx := context.Background()
	st, evs := appended(t, o, 500)
	for _, q := range []audit.SummaryQuery{
		{},
		{Bucket: time.Minute, Top: 3},
		{From: t0.Add(100 * time.Second), To: t0.Add(400 * time.Second), Bucket: 5 * time.Minute},
	} {
		z := audit.NewSummarizer(q)
		for i := range evs {
			e := evs[i]
			e.Time = e.Time.UTC()
			z.Add(&e)
		}
		want, err := z.Result()
		if err != nil {
			t.Fatal(err)
		}
		got, err := audit.Summarize(ctx, st, q)
		if err != nil {
			t.Fatal(err)
		}
		wj, _ := json.Marshal(want)
		gj, _ := json.Marshal(got)
		if !bytes.Equal(wj, gj) {
			t.Errorf("summary %+v:\n got %s\nwant %s", q, gj, wj)
		}
	}
	if _, err := audit.Summarize(ctx, st, audit.SummaryQuery{Bucket: time.Second, From: t0, To: t0.Add(24 * time.Hour)}); err != nil {
		t.Fatalf("500 one-second buckets refused: %v", err)
	}
}

func testCheckpoints(t *testing.T, o Opener) {
	ctx := context.Background()
	signer := NewSigner(t, "test-key-1")
	st := open(t, o)
	c := chain(t, st, signer)
	evs := Events(60, t0)
	if err := c.Append(ctx, evs[:25]...); err != nil {
		t.Fatal(err)
	}
	cp1, err := c.Checkpoint(ctx)
	if err != nil || cp1 == nil || cp1.Count != 25 {
		t.Fatalf("checkpoint: %+v %v", cp1, err)
	}
	if err := c.Append(ctx, evs[25:50]...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.Append(ctx, evs[50:]...); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil { // signs a last checkpoint at 60
		t.Fatal(err)
	}

	st = open(t, o)
	c = chain(t, st, signer)
	defer closeOK(t, c)
	cps, err := c.Checkpoints(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var counts []int64
	for _, cp := range cps {
		counts = append(counts, cp.Count)
		if _, err := audit.VerifyCheckpoint(cp, signer.KeySet()); err != nil {
			t.Errorf("checkpoint %d: %v", cp.Count, err)
		}
	}
	if !reflect.DeepEqual(counts, []int64{25, 50, 60}) {
		t.Fatalf("checkpoint counts %v, want [25 50 60]", counts)
	}
	rep, err := audit.VerifyStore(ctx, st, audit.VerifyOptions{Keys: signer.KeySet()})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Checkpoints != 3 || !rep.Signed || rep.Latest == nil || rep.Latest.Count != 60 {
		t.Fatalf("report %+v", rep)
	}
	for _, seq := range []int64{1, 25, 26, 49, 60} {
		p, err := c.Proof(ctx, seq)
		if err != nil {
			t.Fatalf("proof %d: %v", seq, err)
		}
		if err := audit.VerifyProof(p, signer.KeySet()); err != nil {
			t.Fatalf("proof %d: %v", seq, err)
		}
		if int64(len(p.Following)) != p.Checkpoint.Count-seq {
			t.Fatalf("proof %d: %d following events up to checkpoint %d", seq, len(p.Following), p.Checkpoint.Count)
		}
	}
	if err := c.Append(ctx, Events(1, t0)...); err != nil {
		t.Fatal(err)
	}
	if p, err := c.Proof(ctx, 61); err != nil || !p.Pending {
		t.Fatalf("proof of an event past the last checkpoint: %+v %v", p, err)
	}
	var buf bytes.Buffer
	if err := c.Export(ctx, &buf, 1); err != nil {
		t.Fatal(err)
	}
	rep, err = audit.VerifyExport(bytes.NewReader(buf.Bytes()), audit.VerifyOptions{Keys: signer.KeySet()})
	if err != nil {
		t.Fatalf("verify export: %v", err)
	}
	if rep.Events != 61 || rep.Checkpoints != 3 {
		t.Fatalf("export report %+v", rep)
	}
}

func testContinuation(t *testing.T, o Opener) {
	ctx := context.Background()
	st := open(t, o)
	defer closeOK(t, st)
	ev := Events(2, t0)
	ev[0].Seq, ev[0].Prev, ev[0].Hash = 2, audit.ZeroHash, "00"
	if err := st.Write(ctx, []audit.Entry{{Event: ev[0], Line: []byte(`{}`)}}); err == nil {
		t.Fatal("a write that skips seq 1 was accepted")
	}
	if st.Head().Count != 0 {
		t.Fatalf("head moved to %d", st.Head().Count)
	}
}

func testSingleWriter(t *testing.T, o Opener) {
	st := open(t, o)
	defer closeOK(t, st)
	second, err := o()
	if err == nil {
		closeOK(t, second)
		t.Fatal("a second writer opened the same log")
	}
	if !errors.Is(err, audit.ErrInUse) {
		t.Fatalf("second writer: %v, want ErrInUse", err)
	}
}

// testSeveralWriters: three chains on one Shared store, as three replicas
// would hold it, append and checkpoint concurrently; the result is one
// gap-free chain holding every event once, every checkpoint on it, and a
// witness none of them could move back.
func testSeveralWriters(t *testing.T, o Opener) {
	ctx := context.Background()
	signer := NewSigner(t, "k1")
	witness := &Witness{}
	const writers, workers, each = 3, 4, 20
	chains := make([]*audit.Chain, writers)
	for i := range chains {
		st := open(t, o)
		c, err := audit.Open(ctx, audit.Options{Store: st, Signer: signer, Witness: witness,
			CheckpointEvery: 7, CheckpointInterval: time.Hour})
		if err != nil {
			t.Fatalf("writer %d: %v", i, err)
		}
		chains[i] = c
	}
	var wg sync.WaitGroup
	errs := make(chan error, writers*workers)
	for ci, c := range chains {
		for w := range workers {
			wg.Go(func() {
				evs := Events(each, t0)
				for i := range evs {
					evs[i].RequestID = fmt.Sprintf("c%d-w%d-%03d", ci, w, i)
					if err := c.Append(ctx, evs[i]); err != nil {
						errs <- err
						return
					}
					if i%5 == 0 {
						if _, err := c.Checkpoint(ctx); err != nil {
							errs <- fmt.Errorf("checkpoint: %w", err)
							return
						}
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for _, c := range chains {
		closeOK(t, c)
	}
	st := open(t, o)
	defer closeOK(t, st)
	rep, err := audit.VerifyStore(ctx, st, audit.VerifyOptions{Keys: signer.KeySet()})
	if err != nil {
		t.Fatalf("verify: %v", err)
	}
	if want := int64(writers * workers * each); rep.Events != want || rep.Head.Count != want {
		t.Fatalf("report %+v, want %d events", rep, want)
	}
	if rep.Latest == nil || rep.Latest.Count != rep.Events {
		t.Fatalf("latest checkpoint %+v does not cover the %d events (each writer signs one on close)", rep.Latest, rep.Events)
	}
	seen := map[string]bool{}
	err = st.Scan(ctx, 1, func(line []byte) error {
		var e struct {
			RequestID string `json:"request_id"`
		}
		if err := json.Unmarshal(line, &e); err != nil {
			return err
		}
		if seen[e.RequestID] {
			return fmt.Errorf("%s twice", e.RequestID)
		}
		seen[e.RequestID] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if cp, _, _ := witness.Latest(ctx); cp == nil || cp.Count != rep.Events {
		t.Fatalf("witness holds %+v, want the last checkpoint at %d", cp, rep.Events)
	}
	if n := witness.Backwards(); n > 0 {
		t.Fatalf("the witness was moved back %d times", n)
	}
}

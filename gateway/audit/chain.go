package audit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ura-gateway/ura/gateway/groupcommit"
	"github.com/ura-gateway/ura/gateway/sign"
)

// Options configure a Chain.
type Options struct {
	Store Store
	// Signer signs checkpoints. Without one no checkpoints are made, and
	// truncation of the log's tail cannot be detected.
	Signer sign.Signer
	// CheckpointEvery and CheckpointInterval: a checkpoint is signed when
	// this many events have been appended since the last one, or when the
	// interval passes with any new event.
	CheckpointEvery    int64
	CheckpointInterval time.Duration
	// MaxBatch bounds the events committed with one write and fsync.
	MaxBatch int
	// MaxWait is how long the writer lingers for more appenders before it
	// commits; zero commits what is queued at once (appenders that arrive
	// during an fsync still share the next one).
	MaxWait time.Duration
	// CommitTimeout bounds one store write; past it the log is failed.
	CommitTimeout time.Duration
	// Forwarder, if set, receives every committed event and checkpoint
	// (a SIEM feed); it must not block.
	Forwarder Forwarder
	// Witness, if set, keeps each checkpoint off the host as soon as it is
	// signed. Open refuses a log that no longer contains the witness's
	// checkpoint, and a later checkpoint that finds it so fails the log.
	Witness Witness
	// WitnessOptional lets Open proceed when the witness cannot be read;
	// the comparison then happens at the next checkpoint. By default an
	// unreachable witness refuses the open (fail closed).
	WitnessOptional bool
	Logger          *slog.Logger
	// Registerer, if set, gets the chain's metrics. A Chain is also a
	// prometheus.Collector, for registries created after it.
	Registerer prometheus.Registerer
}

// Forwarder receives copies of committed events and checkpoints. The durable
// log is the source of truth; a forwarder may drop.
type Forwarder interface {
	Forward(events []Event)
	ForwardCheckpoint(cp SignedCheckpoint)
}

// Defaults for Options.
const (
	DefaultCheckpointEvery    = 1000
	DefaultCheckpointInterval = 5 * time.Second
	DefaultMaxBatch           = 1024
	DefaultCommitTimeout      = 10 * time.Second
)

// Reader is what the security officers' API reads. Chain implements it; a
// Log that is not a Reader offers no audit API.
type Reader interface {
	Head() Head
	Search(ctx context.Context, q Query) (Page, error)
	Proof(ctx context.Context, seq int64) (*Proof, error)
	Export(ctx context.Context, w io.Writer, from int64) error
	Checkpoints(ctx context.Context) ([]SignedCheckpoint, error)
	Summary(ctx context.Context, q SummaryQuery) (*Summary, error)
}

// Chain is the audit log: it seals events into the hash chain, commits them
// in groups with one fsync, signs checkpoints, and serves reads.
type Chain struct {
	store  Store
	signer sign.Signer
	sealer *sealer // the writer's
	opts   Options
	log    *slog.Logger
	m      *chainMetrics

	// keepEvents: appenders keep a copy of their events, for a store
	// written entries (not pipelined, or Shared) or for the forwarder.
	// Otherwise the writer deals in lines only.
	keepEvents bool

	// reqs queues appends for the writer. It is buffered so that an
	// appender does not park until the writer takes its request, and the
	// writer takes a group without waking each appender in turn: one wake
	// per append (its answer) instead of two.
	reqs       chan *appendReq
	closing    chan struct{}
	closeOnce  sync.Once
	writerDone chan struct{}
	cpDone     chan struct{}
	cpKick     chan struct{}

	failed atomic.Pointer[error]

	// Group commits on a pipelinedStore; syncs counts the fsyncs under way.
	pipe  pipeline
	syncs sync.WaitGroup

	mu     sync.RWMutex
	head   Head
	lastCP *SignedCheckpoint
	cpMu   sync.Mutex // one signing at a time

	// The witness's latest checkpoint and version as last read or written;
	// guarded by cpMu. wKnown is false until read.
	wcp    *SignedCheckpoint
	wver   int
	wKnown bool
}

type appendReq struct {
	drafts *drafts
	done   chan error
	// first is the seq of the first event once committed.
	first int64
}

var (
	_ Log                  = (*Chain)(nil)
	_ Sequencer            = (*Chain)(nil)
	_ Reader               = (*Chain)(nil)
	_ prometheus.Collector = (*Chain)(nil)
)

// Open starts a chain over an opened store. It refuses a store whose tail
// does not reach its own latest checkpoint, or whose event at that count
// does not hash to the checkpoint's head: the log was truncated or rewritten.
func Open(ctx context.Context, opts Options) (*Chain, error) {
	if opts.Store == nil {
		return nil, errors.New("audit: no store")
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = DefaultCheckpointEvery
	}
	if opts.CheckpointInterval <= 0 {
		opts.CheckpointInterval = DefaultCheckpointInterval
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = DefaultMaxBatch
	}
	if opts.CommitTimeout <= 0 {
		opts.CommitTimeout = DefaultCommitTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	c := &Chain{
		store:      opts.Store,
		signer:     opts.Signer,
		sealer:     newSealer(),
		opts:       opts,
		log:        opts.Logger,
		m:          newChainMetrics(),
		reqs:       make(chan *appendReq, opts.MaxBatch),
		closing:    make(chan struct{}),
		writerDone: make(chan struct{}),
		cpDone:     make(chan struct{}),
		cpKick:     make(chan struct{}, 1),
		pipe:       pipeline{slots: make(chan struct{}, syncsInFlight)},
		head:       opts.Store.Head(),
	}
	_, pipelined := opts.Store.(pipelinedStore)
	_, shared := opts.Store.(Shared)
	c.keepEvents = !pipelined || shared || opts.Forwarder != nil
	cps, err := c.store.Checkpoints(ctx)
	if err != nil {
		return nil, fmt.Errorf("audit: read checkpoints: %w", err)
	}
	if sh, ok := c.store.(Shared); ok {
		// Other replicas may have appended and checkpointed since the store
		// was opened; read after the checkpoints, the head covers them all.
		if c.head, err = sh.CurrentHead(ctx); err != nil {
			return nil, fmt.Errorf("audit: read head: %w", err)
		}
	}
	if n := len(cps); n > 0 {
		last := cps[n-1]
		if last.Count > c.head.Count {
			return nil, fmt.Errorf("audit: the log ends at seq %d but checkpoint signed at %s covers %d events: the log was truncated; refusing to open",
				c.head.Count, last.Time.Format(time.RFC3339), last.Count)
		}
		e, err := c.store.Get(ctx, last.Count)
		if err != nil {
			return nil, fmt.Errorf("audit: read seq %d for the latest checkpoint: %w", last.Count, err)
		}
		if e.Event.Hash != last.HeadHash {
			return nil, fmt.Errorf("audit: seq %d does not match the checkpoint signed at %s: the log was rewritten; refusing to open",
				last.Count, last.Time.Format(time.RFC3339))
		}
		c.lastCP = &last
	}
	if err := c.openWitness(ctx); err != nil {
		return nil, err
	}
	if opts.Registerer != nil {
		if err := opts.Registerer.Register(c); err != nil {
			return nil, fmt.Errorf("audit: register metrics: %w", err)
		}
	}
	c.m.head.Set(float64(c.head.Count))
	// Read before the goroutines start: with a shared store the
	// checkpointer moves the head forward to what other replicas wrote.
	headSeq := c.head.Count
	go c.writer()
	if c.signer != nil {
		go c.checkpointer()
	} else {
		close(c.cpDone)
		c.log.Warn("audit: no signer configured; checkpoints are not signed, so truncation of the log's tail is not detectable")
	}
	c.log.Info("audit log open", "head_seq", headSeq, "checkpoints", len(cps))
	return c, nil
}

// Append seals and commits events; it returns once they are durable. Every
// error wraps ErrUnavailable.
func (c *Chain) Append(ctx context.Context, events ...Event) error {
	_, err := c.AppendSeq(ctx, events...)
	return err
}

// AppendSeq is Append that also returns the seq of the first event; the
// rest follow it without gaps.
func (c *Chain) AppendSeq(ctx context.Context, events ...Event) (int64, error) {
	if len(events) == 0 {
		return 0, nil
	}
	if err := c.failure(); err != nil {
		return 0, err
	}
	// Each appender encodes its own events, in parallel with the others,
	// so that the one writer only places and hashes them.
	ds, err := newDrafts(events, c.keepEvents)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	c.m.waiting.Inc()
	defer c.m.waiting.Dec()
	r := &appendReq{drafts: ds, done: make(chan error, 1)}
	// Once queued, the request is the writer's, buffer included, even if
	// this appender stops waiting.
	select {
	case c.reqs <- r:
	case <-c.closing:
		ds.release()
		return 0, fmt.Errorf("%w: the log is closed", ErrUnavailable)
	case <-ctx.Done():
		ds.release()
		return 0, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
	select {
	case err := <-r.done:
		if err != nil {
			return 0, err
		}
		return r.first, nil
	case <-c.writerDone:
		// The writer answers every request it took before it stops; one
		// still queued when it stopped was never written.
		select {
		case err := <-r.done:
			if err != nil {
				return 0, err
			}
			return r.first, nil
		default:
			return 0, fmt.Errorf("%w: the log is closed", ErrUnavailable)
		}
	case <-ctx.Done():
		// The events may still become durable; the caller must not
		// acknowledge what it cannot prove, so this is a failure.
		return 0, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	}
}

// failure is the sticky error once a commit failed.
func (c *Chain) failure() error {
	if p := c.failed.Load(); p != nil {
		return *p
	}
	return nil
}

func (c *Chain) setFailed(err error) {
	wrapped := fmt.Errorf("%w: %w", ErrUnavailable, err)
	if c.failed.CompareAndSwap(nil, &wrapped) {
		c.m.failed.Set(1)
		c.log.Error("audit log failed: refusing every append until the gateway is restarted and the log verified", "error", err)
	}
}

// Name and Check make the chain a readiness check: a failed log is not ready.
func (c *Chain) Name() string { return "audit" }

// Check reports the sticky failure, if any.
func (c *Chain) Check(context.Context) error { return c.failure() }

func (c *Chain) writer() {
	defer close(c.writerDone)
	ps, pipelined := c.store.(pipelinedStore)
	if _, shared := c.store.(Shared); shared {
		pipelined = false
	}
	// Runs before writerDone closes: every group written is settled.
	defer c.syncs.Wait()
	c.pipe.written = c.Head()
	for {
		if pipelined {
			// Wait for a free fsync before taking requests: what queues
			// meanwhile joins this group instead of waiting behind it.
			select {
			case c.pipe.slots <- struct{}{}:
			default:
				ps.PrepareNext()
				c.pipe.slots <- struct{}{}
			}
			// The fsync that freed the slot has just answered its group,
			// and those appenders are runnable behind this goroutine; let
			// them queue their next appends first, so that they join this
			// group rather than the next (64 appenders: about 24 events a
			// group instead of 15, for less CPU per event).
			runtime.Gosched()
		}
		var first *appendReq
		if pipelined && len(c.reqs) == 0 {
			ps.PrepareNext()
		}
		select {
		case first = <-c.reqs:
		case <-c.closing:
			if pipelined {
				<-c.pipe.slots
			}
			return
		}
		batch := groupcommit.Gather(first, c.reqs, c.opts.MaxBatch, func(r *appendReq) int { return len(r.drafts.at) }, c.opts.MaxWait)
		if pipelined {
			c.writeNext(ps, batch)
			continue
		}
		errs := c.commit(batch)
		for i, r := range batch {
			r.done <- errs[i]
		}
	}
}

// sealed is a batch placed in the chain.
type sealed struct {
	// lines are the events' lines, each followed by a newline.
	lines []byte
	// pooled, if not nil, holds lines, from bufs: nothing else refers to
	// them, and it goes back once they are written.
	pooled *[]byte
	// n is how many events; entries are they, when the chain keeps events
	// (their Lines are slices of lines, without the newline).
	n       int
	entries []Entry
	// head is the chain's head after them.
	head Head
}

// sealBatch seals the batch after h0; a bad event fails only its own
// request (errs[i]). keep: build the entries, from the drafts' events.
func (s *sealer) sealBatch(batch []*appendReq, errs []error, h0 Head, keep bool) sealed {
	n, size := 0, 0
	for _, r := range batch {
		size += r.drafts.linesSize()
		n += len(r.drafts.at)
	}
	var out sealed
	var buf []byte
	if keep {
		out.entries = make([]Entry, 0, n)
		buf = make([]byte, 0, size)
	} else {
		// Only the store's write reads the lines.
		out.pooled = bufs.get(size)
		buf = *out.pooled
	}
	// The head is carried as hex bytes, its string made once per batch:
	// prev is each event's hash as it goes between quotes, first the
	// head's, then the one just computed.
	head := h0
	var headHex [64]byte
	sealedHere := false
	var scratch [64]byte
	for i, r := range batch {
		errs[i] = nil
		mark, bmark := len(out.entries), len(buf)
		var prev []byte
		if sealedHere {
			prev = headHex[:]
		} else {
			prev = prevValue(scratch[:0], head.Hash)
		}
		count, prevStr := head.Count, head.Hash
		var last [64]byte
		for j := range r.drafts.at {
			json, m := r.drafts.json(j)
			start := len(buf)
			var err error
			if buf, last, err = s.seal(buf, json, m, count+1, prev); err != nil {
				errs[i] = fmt.Errorf("%w: %w", ErrUnavailable, err)
				out.entries, buf = out.entries[:mark], buf[:bmark]
				break
			}
			count++
			prev = last[:]
			if keep {
				ev := r.drafts.events[j]
				ev.Seq, ev.Prev, ev.Hash = count, prevStr, string(last[:])
				prevStr = ev.Hash
				out.entries = append(out.entries, Entry{Event: ev, Line: buf[start:len(buf):len(buf)]})
			}
			buf = append(buf, '\n')
		}
		if errs[i] == nil {
			r.first = head.Count + 1
			head.Count, headHex, sealedHere = count, last, true
			if keep {
				head.Hash = prevStr
			}
		}
	}
	if sealedHere && !keep {
		head.Hash = string(headHex[:])
	}
	if out.pooled != nil {
		*out.pooled = buf
	}
	out.lines, out.n, out.head = buf, int(head.Count-h0.Count), head
	return out
}

// releaseDrafts gives back the buffers of the batch's drafts, once sealed.
func releaseDrafts(batch []*appendReq) {
	for _, r := range batch {
		r.drafts.release()
	}
}

// commit seals and writes one batch with one durable store write; errs[i]
// is request i's result.
func (c *Chain) commit(batch []*appendReq) []error {
	errs := make([]error, len(batch))
	if err := c.failure(); err != nil {
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.CommitTimeout)
	start := time.Now()
	var s sealed
	var err error
	if sh, ok := c.store.(Shared); ok {
		// Several processes write this store: the head is the one found
		// under the store's write lock, not the one this chain last wrote.
		// seal may be called again from scratch.
		_, err = sh.WriteSealed(ctx, func(h Head) ([]Entry, error) {
			s = c.sealer.sealBatch(batch, errs, h, c.keepEvents)
			return s.entries, nil
		})
	} else {
		s = c.sealer.sealBatch(batch, errs, c.Head(), c.keepEvents)
		if s.n > 0 {
			err = c.store.Write(ctx, s.entries)
		}
	}
	cancel()
	releaseDrafts(batch)
	if s.n == 0 && err == nil {
		return errs
	}
	if err != nil {
		c.setFailed(err)
		c.m.appendFailures.Add(float64(s.n))
		for i := range errs {
			if errs[i] == nil {
				errs[i] = c.failure()
			}
		}
		return errs
	}
	c.committed(s.n, s.entries, s.head, start)
	return errs
}

// committed records that n entries, ending at head, are durable: the head
// moves, the forwarder gets them (entries, kept for it), and a checkpoint
// is asked for when due.
func (c *Chain) committed(n int, entries []Entry, head Head, start time.Time) {
	c.mu.Lock()
	c.head = head
	lastCP := int64(0)
	if c.lastCP != nil {
		lastCP = c.lastCP.Count
	}
	c.mu.Unlock()
	c.m.commitSeconds.Observe(time.Since(start).Seconds())
	c.m.events.Add(float64(n))
	c.m.batchEvents.Observe(float64(n))
	c.m.head.Set(float64(head.Count))
	if c.opts.Forwarder != nil {
		events := make([]Event, len(entries))
		for i := range entries {
			events[i] = entries[i].Event
		}
		c.opts.Forwarder.Forward(events)
	}
	if c.signer != nil && head.Count-lastCP >= c.opts.CheckpointEvery {
		select {
		case c.cpKick <- struct{}{}:
		default:
		}
	}
}

// syncsInFlight bounds the fsyncs under way at once on a pipelined store.
// Concurrent fsyncs of one file overlap on the device: two in flight made
// three times as many durable per second as one at a time. Three or four
// gave 64 appenders no more events per second than two, for more CPU per
// event (each fsync costs CPU, and carried fewer events).
var syncsInFlight = 2

// pipeline is the state of a pipelined store's group commits: groups
// written and not yet durable, and their fsyncs, in the order they
// started. slots holds a token per fsync under way. Guarded by mu.
type pipeline struct {
	slots chan struct{}
	mu    sync.Mutex
	// written is the last entry the writer wrote (only the writer uses it).
	written Head
	groups  []*writtenGroup
	syncs   []*syncOp
}

// writtenGroup is one write, answered once an fsync covers it.
type writtenGroup struct {
	reqs []*appendReq
	n    int
	// entries are its events, when the chain keeps them.
	entries []Entry
	head    Head
	start   time.Time
}

// syncOp is one fsync under way; done once it returned.
type syncOp struct {
	done bool
	head Head
	err  error
}

// writeNext seals and writes one batch and starts its fsync, holding the
// slot the writer took, without waiting for it: the requests are answered
// when the fsync returns (settle). Meanwhile the writer takes the next
// batch as soon as another slot is free.
func (c *Chain) writeNext(ps pipelinedStore, batch []*appendReq) {
	p := &c.pipe
	if err := c.failure(); err != nil {
		for _, r := range batch {
			r.done <- err
		}
		<-p.slots
		return
	}
	errs := make([]error, len(batch))
	after := p.written
	s := c.sealer.sealBatch(batch, errs, after, c.keepEvents)
	releaseDrafts(batch)
	head := s.head
	g := &writtenGroup{n: s.n, entries: s.entries, head: head, start: time.Now()}
	for i, r := range batch {
		if errs[i] != nil {
			r.done <- errs[i]
		} else {
			g.reqs = append(g.reqs, r)
		}
	}
	if s.n == 0 {
		<-p.slots
		return
	}
	err := ps.WriteNext(after, head, s.lines)
	if s.pooled != nil {
		bufs.put(s.pooled)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.groups = append(p.groups, g)
	if err != nil {
		c.setFailed(err)
		c.m.appendFailures.Add(float64(s.n))
		c.failGroupsLocked()
		<-p.slots
		return
	}
	p.written = head
	op := &syncOp{}
	p.syncs = append(p.syncs, op)
	c.syncs.Add(1)
	go c.runSync(ps, op)
}

// runSync runs op's fsync, settles what it made durable and frees its slot.
func (c *Chain) runSync(ps pipelinedStore, op *syncOp) {
	defer c.syncs.Done()
	h, err := ps.Sync()
	p := &c.pipe
	p.mu.Lock()
	op.done, op.head, op.err = true, h, err
	c.settleLocked(ps)
	p.mu.Unlock()
	<-p.slots
}

// settleLocked answers the groups that the finished fsyncs made durable.
// fsyncs are settled in the order they began, each only once every
// earlier one succeeded: a write-back error is reported to one fsync of
// the file only, and a later one that returned first must not answer
// for entries the failing one covered.
func (c *Chain) settleLocked(ps pipelinedStore) {
	p := &c.pipe
	for len(p.syncs) > 0 && p.syncs[0].done {
		op := p.syncs[0]
		p.syncs = p.syncs[1:]
		if op.err != nil {
			c.setFailed(op.err)
		}
		if c.failure() != nil {
			c.failGroupsLocked()
			continue
		}
		n := 0
		for n < len(p.groups) && p.groups[n].head.Count <= op.head.Count {
			n++
		}
		if n == 0 {
			continue
		}
		done := p.groups[:n]
		p.groups = p.groups[n:]
		last := done[n-1].head
		ps.Publish(last)
		var entries []Entry
		events := 0
		if n == 1 {
			entries, events = done[0].entries, done[0].n
		} else {
			for _, g := range done {
				entries = append(entries, g.entries...)
				events += g.n
			}
		}
		c.committed(events, entries, last, done[0].start)
		for _, g := range done {
			for _, r := range g.reqs {
				r.done <- nil
			}
		}
	}
}

// failGroupsLocked answers every group not yet durable with the failure:
// some of their entries may be durable, none is acknowledged.
func (c *Chain) failGroupsLocked() {
	p := &c.pipe
	err := c.failure()
	for _, g := range p.groups {
		for _, r := range g.reqs {
			r.done <- err
		}
	}
	p.groups = nil
}

func (c *Chain) checkpointer() {
	defer close(c.cpDone)
	t := time.NewTicker(c.opts.CheckpointInterval)
	defer t.Stop()
	for {
		select {
		case <-c.cpKick:
			// A kick that was queued while the previous checkpoint was
			// being signed is stale once that checkpoint landed.
			if !c.checkpointDue() {
				continue
			}
		case <-t.C:
		case <-c.closing:
			// A last checkpoint on a clean stop covers the final events.
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			<-c.writerDone
			_, _ = c.Checkpoint(ctx)
			cancel()
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, _ = c.Checkpoint(ctx)
		cancel()
	}
}

// checkpointDue reports whether CheckpointEvery events came since the latest
// checkpoint, or that checkpoint has still to reach the witness.
func (c *Chain) checkpointDue() bool {
	c.mu.RLock()
	head, last := c.head, c.lastCP
	c.mu.RUnlock()
	if last == nil || head.Count-last.Count >= c.opts.CheckpointEvery {
		return true
	}
	if c.opts.Witness == nil {
		return false
	}
	c.cpMu.Lock()
	defer c.cpMu.Unlock()
	return !c.wKnown || c.wcp == nil || c.wcp.Count < last.Count
}

// Checkpoint signs and stores a checkpoint of the current head now, unless
// the latest checkpoint already covers it; it returns the latest checkpoint.
func (c *Chain) Checkpoint(ctx context.Context) (*SignedCheckpoint, error) {
	if c.signer == nil {
		return nil, errors.New("audit: no signer for checkpoints")
	}
	c.cpMu.Lock()
	defer c.cpMu.Unlock()
	if err := c.failure(); err != nil {
		return nil, err
	}
	head, last, err := c.checkpointHead(ctx)
	if err != nil {
		return nil, err
	}
	if head.Count == 0 || (last != nil && last.Count >= head.Count) {
		if last != nil {
			// The latest checkpoint may not have reached the witness yet.
			if err := c.witnessPut(ctx, *last); err != nil {
				return nil, err
			}
		}
		return last, nil
	}
	cp, err := SignCheckpoint(ctx, c.signer, head, time.Now())
	if err != nil {
		c.m.checkpoints.WithLabelValues("sign_error").Inc()
		c.log.Warn("audit checkpoint not signed; will retry", "count", head.Count, "error", err)
		return nil, err
	}
	if err := c.store.AddCheckpoint(ctx, cp); err != nil {
		c.m.checkpoints.WithLabelValues("store_error").Inc()
		c.log.Warn("audit checkpoint not stored; will retry", "count", head.Count, "error", err)
		return nil, err
	}
	c.mu.Lock()
	c.lastCP = &cp
	c.mu.Unlock()
	c.m.checkpoints.WithLabelValues("ok").Inc()
	if c.opts.Forwarder != nil {
		c.opts.Forwarder.ForwardCheckpoint(cp)
	}
	c.log.Debug("audit checkpoint signed", "count", cp.Count)
	if err := c.witnessPut(ctx, cp); err != nil {
		return nil, err
	}
	return &cp, nil
}

// checkpointHead is what a checkpoint would cover and the latest one
// made. With a Shared store both are the store's, whichever replica
// appended or signed them: a checkpoint another replica stored is not
// signed again, and one signed here covers every replica's events.
func (c *Chain) checkpointHead(ctx context.Context) (Head, *SignedCheckpoint, error) {
	c.mu.RLock()
	head, last := c.head, c.lastCP
	c.mu.RUnlock()
	sh, ok := c.store.(Shared)
	if !ok {
		return head, last, nil
	}
	cur, err := sh.CurrentHead(ctx)
	if err != nil {
		return Head{}, nil, fmt.Errorf("%w: read head: %w", ErrUnavailable, err)
	}
	stored, err := sh.LatestCheckpoint(ctx)
	if err != nil {
		return Head{}, nil, fmt.Errorf("read the latest checkpoint: %w", err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if cur.Count > c.head.Count {
		c.head = cur
	}
	if stored != nil && (c.lastCP == nil || stored.Count > c.lastCP.Count) {
		c.lastCP = stored
	}
	return c.head, c.lastCP, nil
}

// Close stops accepting appends, commits those already taken, signs a last
// checkpoint and closes the store.
func (c *Chain) Close() error {
	c.closeOnce.Do(func() { close(c.closing) })
	<-c.writerDone
	<-c.cpDone
	var errs []error
	if f, ok := c.opts.Forwarder.(io.Closer); ok {
		errs = append(errs, f.Close())
	}
	errs = append(errs, c.store.Close())
	return errors.Join(errs...)
}

// Head is the last committed event.
func (c *Chain) Head() Head {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.head
}

// Search finds events, newest first.
func (c *Chain) Search(ctx context.Context, q Query) (Page, error) {
	return c.store.Search(ctx, q)
}

// Export streams the log as NDJSON with its checkpoints.
func (c *Chain) Export(ctx context.Context, w io.Writer, from int64) error {
	return Export(ctx, c.store, w, from)
}

// Checkpoints returns every checkpoint, oldest first.
func (c *Chain) Checkpoints(ctx context.Context) ([]SignedCheckpoint, error) {
	cps, err := c.store.Checkpoints(ctx)
	if err != nil {
		return nil, err
	}
	sort.Slice(cps, func(i, j int) bool { return cps[i].Count < cps[j].Count })
	return cps, nil
}

// Proof returns the event at seq with what proves it is in the signed chain.
func (c *Chain) Proof(ctx context.Context, seq int64) (*Proof, error) {
	cps, err := c.Checkpoints(ctx)
	if err != nil {
		return nil, err
	}
	return BuildProof(ctx, c.store, cps, seq)
}

// Summary counts events for the console and `ura audit summary`.
func (c *Chain) Summary(ctx context.Context, q SummaryQuery) (*Summary, error) {
	return Summarize(ctx, c.store, q)
}

// Describe implements prometheus.Collector, including the forwarder's
// metrics when it has any.
func (c *Chain) Describe(ch chan<- *prometheus.Desc) {
	c.m.describe(ch)
	if f, ok := c.opts.Forwarder.(prometheus.Collector); ok {
		f.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (c *Chain) Collect(ch chan<- prometheus.Metric) {
	c.m.collect(ch)
	if f, ok := c.opts.Forwarder.(prometheus.Collector); ok {
		f.Collect(ch)
	}
}

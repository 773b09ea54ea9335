package sign

import (
	"context"
	"fmt"
	"sync"
)

// coalescedCalls is how many merged Transit calls may be in flight at once.
// A request that finds a call slot free is sent at once, so a lone request
// waits for nothing; requests that arrive while every slot is busy queue and
// leave together in the next call. Two keeps both of Vault's likely cores
// busy while making the queue, and so the batches, as large as possible.
const coalescedCalls = 2

// coalesceMax is the largest request that is merged with others. Merging
// pays where a call would carry one or a few signatures (a push of one
// record); a request of a hundred already amortises its call, and queueing
// it behind the shared call slots would only add latency: measured with
// make bench, merging 100-record pushes at 32 in flight cost 0.70x their
// throughput.
const coalesceMax = 16

// callFunc is one Vault call: a signature or an error per input, or an error
// for the whole call.
type callFunc func(ctx context.Context, st *keyState, inputs [][]byte) ([][]byte, []error, error)

// coalescer merges the signing inputs of concurrent requests into shared
// Transit calls. One Transit call costs Vault and the gateway about the
// same whether it signs one input or a hundred, so a busy gateway that made
// one call per push would spend most of its signing time on call overhead.
type coalescer struct {
	limit int // inputs per call
	call  callFunc

	mu      sync.Mutex
	queue   []*signJob
	running int
}

type signJob struct {
	ctx    context.Context
	st     *keyState
	inputs [][]byte
	sigs   [][]byte
	err    error
	done   chan struct{}
}

// sign queues inputs and waits for their signatures.
func (c *coalescer) sign(ctx context.Context, st *keyState, inputs [][]byte) ([][]byte, error) {
	j := &signJob{ctx: ctx, st: st, inputs: inputs, done: make(chan struct{})}
	c.mu.Lock()
	c.queue = append(c.queue, j)
	start := c.running < coalescedCalls
	if start {
		c.running++
	}
	c.mu.Unlock()
	if start {
		go c.drain()
	}
	select {
	case <-j.done:
		return j.sigs, j.err
	case <-ctx.Done():
		// A job already in a call is signed and its signatures dropped;
		// one still queued is skipped.
		return nil, ctx.Err()
	}
}

// drain makes calls until the queue is empty.
func (c *coalescer) drain() {
	for {
		c.mu.Lock()
		jobs := c.takeLocked()
		if len(jobs) == 0 {
			c.running--
			c.mu.Unlock()
			return
		}
		c.mu.Unlock()
		c.run(jobs)
	}
}

// takeLocked removes the oldest jobs that fit one call: signed with the same
// key version, at most limit inputs together.
func (c *coalescer) takeLocked() []*signJob {
	var (
		take []*signJob
		rest = make([]*signJob, 0, len(c.queue))
		n    int
	)
	for _, j := range c.queue {
		switch {
		case j.ctx.Err() != nil:
			// Its caller has gone.
		case len(take) == 0 || (j.st == take[0].st && n+len(j.inputs) <= c.limit):
			take = append(take, j)
			n += len(j.inputs)
		default:
			rest = append(rest, j)
		}
	}
	c.queue = rest
	return take
}

// run makes one call for jobs and hands each its own signatures. A call
// that fails fails every job in it; an input Vault refused fails only its
// own job.
func (c *coalescer) run(jobs []*signJob) {
	var all [][]byte
	for _, j := range jobs {
		all = append(all, j.inputs...)
	}
	// The call serves several requests: one caller giving up must not
	// cancel it for the others. The Vault client's timeout still bounds it.
	ctx := context.WithoutCancel(jobs[0].ctx)
	sigs, errs, err := c.call(ctx, jobs[0].st, all)
	off := 0
	for _, j := range jobs {
		n := len(j.inputs)
		switch {
		case err != nil:
			j.err = err
		case len(sigs) != len(all) || len(errs) != len(all):
			j.err = fmt.Errorf("%d signatures for %d inputs", len(sigs), len(all))
		default:
			j.sigs = sigs[off : off+n : off+n]
			for i, e := range errs[off : off+n] {
				if e != nil {
					j.sigs, j.err = nil, fmt.Errorf("input %d: %w", i, e)
					break
				}
			}
		}
		off += n
		close(j.done)
	}
}

package sign

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// echoCall signs an input by prefixing it; an input "bad" is refused. It
// blocks until release is closed, so tests can make requests queue.
type echoCall struct {
	calls   atomic.Int64
	inputs  atomic.Int64
	maxSize atomic.Int64
	release chan struct{}
}

func (e *echoCall) call(_ context.Context, _ *keyState, inputs [][]byte) ([][]byte, []error, error) {
	e.calls.Add(1)
	e.inputs.Add(int64(len(inputs)))
	if n := int64(len(inputs)); n > e.maxSize.Load() {
		e.maxSize.Store(n)
	}
	<-e.release
	sigs := make([][]byte, len(inputs))
	errs := make([]error, len(inputs))
	for i, in := range inputs {
		if string(in) == "bad" {
			errs[i] = errors.New("refused")
			continue
		}
		sigs[i] = append([]byte("sig:"), in...)
	}
	return sigs, errs, nil
}

func TestCoalescerMergesConcurrentRequests(t *testing.T) {
	e := &echoCall{release: make(chan struct{})}
	c := &coalescer{limit: 256, call: e.call}
	st := &keyState{}
	const requests = 40
	var wg sync.WaitGroup
	errs := make(chan error, requests)
	for i := range requests {
		wg.Add(1)
		go func() {
			defer wg.Done()
			in := [][]byte{fmt.Appendf(nil, "r%d-a", i), fmt.Appendf(nil, "r%d-b", i)}
			sigs, err := c.sign(context.Background(), st, in)
			if err != nil {
				errs <- err
				return
			}
			// Each request gets its own signatures, in its own order.
			for k := range in {
				if want := "sig:" + string(in[k]); string(sigs[k]) != want {
					errs <- fmt.Errorf("request %d input %d: got %q, want %q", i, k, sigs[k], want)
				}
			}
		}()
	}
	// Let every request queue behind the first calls, then let them go.
	waitFor(t, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		return e.inputs.Load()+2*int64(len(c.queue)) == 2*requests
	})
	close(e.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := e.calls.Load(); n >= requests {
		t.Errorf("%d calls for %d requests: nothing was merged", n, requests)
	}
	if e.maxSize.Load() > 256 {
		t.Errorf("a call carried %d inputs, more than the limit", e.maxSize.Load())
	}
}

func TestCoalescerRespectsLimit(t *testing.T) {
	e := &echoCall{release: make(chan struct{})}
	c := &coalescer{limit: 5, call: e.call}
	st := &keyState{}
	var wg sync.WaitGroup
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := c.sign(context.Background(), st, [][]byte{fmt.Appendf(nil, "%d-x", i), fmt.Appendf(nil, "%d-y", i)}); err != nil {
				t.Error(err)
			}
		}()
	}
	waitFor(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return e.inputs.Load()+2*int64(len(c.queue)) == 40 })
	close(e.release)
	wg.Wait()
	if e.maxSize.Load() > 5 {
		t.Errorf("a call carried %d inputs, limit 5", e.maxSize.Load())
	}
}

// An input Vault refuses fails the request it came from, not the others
// that shared its call.
func TestCoalescerRefusalStaysWithItsRequest(t *testing.T) {
	e := &echoCall{release: make(chan struct{})}
	c := &coalescer{limit: 256, call: e.call}
	st := &keyState{}
	// Occupy both call slots, one at a time, so the next two requests
	// queue and share one call.
	var wg sync.WaitGroup
	for i := range coalescedCalls {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = c.sign(context.Background(), st, [][]byte{[]byte("first")})
		}()
		waitFor(t, func() bool { return e.calls.Load() == int64(i+1) })
	}
	var goodErr, badErr error
	wg.Add(2)
	go func() { defer wg.Done(); _, goodErr = c.sign(context.Background(), st, [][]byte{[]byte("good")}) }()
	go func() {
		defer wg.Done()
		_, badErr = c.sign(context.Background(), st, [][]byte{[]byte("ok"), []byte("bad")})
	}()
	waitFor(t, func() bool { c.mu.Lock(); defer c.mu.Unlock(); return len(c.queue) == 2 })
	close(e.release)
	wg.Wait()
	if goodErr != nil {
		t.Errorf("the good request failed with its neighbour: %v", goodErr)
	}
	if badErr == nil {
		t.Error("the request with a refused input succeeded")
	}
}

// A caller that gives up gets its context's error at once, and a call it
// shared still serves the others.
func TestCoalescerCallerGivesUp(t *testing.T) {
	e := &echoCall{release: make(chan struct{})}
	c := &coalescer{limit: 256, call: e.call}
	st := &keyState{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := c.sign(ctx, st, [][]byte{[]byte("x")}); done <- err }()
	waitFor(t, func() bool { return e.calls.Load() == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	close(e.release)
	sigs, err := c.sign(context.Background(), st, [][]byte{[]byte("y")})
	if err != nil || string(sigs[0]) != "sig:y" {
		t.Fatalf("after a caller gave up: %q, %v", sigs, err)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

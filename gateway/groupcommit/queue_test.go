package groupcommit

import (
	"sync"
	"testing"
)

// TestQueueClosesOnce: sends after Close are refused, never a panic on a
// closed channel, however the calls race; the writer drains what was sent.
func TestQueueClosesOnce(t *testing.T) {
	q := NewQueue[int](4)
	var drained int
	done := make(chan struct{})
	go func() {
		for range q.C() {
			drained++
		}
		close(done)
	}()
	var sent, refused sync.WaitGroup
	var mu sync.Mutex
	ok := 0
	for i := range 64 {
		sent.Go(func() {
			if q.Send(i) {
				mu.Lock()
				ok++
				mu.Unlock()
			}
		})
	}
	closes := 0
	for range 3 {
		refused.Go(func() {
			if q.Close() {
				mu.Lock()
				closes++
				mu.Unlock()
			}
		})
	}
	sent.Wait()
	refused.Wait()
	<-done
	if closes != 1 || drained != ok || q.Send(1) || !q.Closed() {
		t.Fatalf("closes %d, drained %d of %d sent, Closed %v", closes, drained, ok, q.Closed())
	}
	if full, closed := q.TrySend(1); full || !closed {
		t.Fatalf("TrySend after Close = full %v, closed %v", full, closed)
	}
}

func TestQueueTrySendFull(t *testing.T) {
	q := NewQueue[int](1)
	if full, closed := q.TrySend(1); full || closed {
		t.Fatal("first TrySend refused")
	}
	if full, _ := q.TrySend(2); !full || q.Len() != 1 {
		t.Fatalf("a full queue took more: full %v, len %d", full, q.Len())
	}
}

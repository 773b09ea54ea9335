package groupcommit

import "sync"

// Queue is the channel a writer goroutine reads its requests from, closed
// exactly once: a Send after Close is refused instead of panicking, and
// Close waits for sends already under way, which the writer drains.
type Queue[T any] struct {
	mu     sync.RWMutex
	closed bool
	ch     chan T
}

// NewQueue makes a queue that holds up to size requests before Send waits.
func NewQueue[T any](size int) *Queue[T] { return &Queue[T]{ch: make(chan T, size)} }

// C is what the writer ranges over; it is closed by Close.
func (q *Queue[T]) C() <-chan T { return q.ch }

// Send queues v, waiting while the queue is full; false when it is closed.
func (q *Queue[T]) Send(v T) bool {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return false
	}
	q.ch <- v
	return true
}

// TrySend queues v unless the queue is full (full) or closed (closed).
func (q *Queue[T]) TrySend(v T) (full, closed bool) {
	q.mu.RLock()
	defer q.mu.RUnlock()
	if q.closed {
		return false, true
	}
	select {
	case q.ch <- v:
		return false, false
	default:
		return true, false
	}
}

// Closed reports whether Close was called.
func (q *Queue[T]) Closed() bool {
	q.mu.RLock()
	defer q.mu.RUnlock()
	return q.closed
}

// Close closes the queue; only the first call does, and reports true.
func (q *Queue[T]) Close() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return false
	}
	q.closed = true
	close(q.ch)
	return true
}

// Len is how many requests are queued.
func (q *Queue[T]) Len() int { return len(q.ch) }

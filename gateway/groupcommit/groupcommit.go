// Package groupcommit forms the groups that a single writer goroutine
// commits together, so that concurrent writers share one durable commit
// (one fsync) instead of paying one each. The embedded record store, the
// outbox and the audit log each commit a group their own way; they share
// how a group is formed.
package groupcommit

import "time"

// Gather returns first and the requests queued behind it on ch, in order,
// until their total size reaches limit. size says how much one request counts
// (records, events; nil: 1 each). With linger zero it takes only what is
// queued already, so a lone request pays no extra latency; otherwise it
// waits up to linger for more. A closed ch ends the group; the writer sees
// the close on its next receive.
func Gather[T any](first T, ch <-chan T, limit int, size func(T) int, linger time.Duration) []T {
	if size == nil {
		size = func(T) int { return 1 }
	}
	group := []T{first}
	n := size(first)
	var deadline <-chan time.Time
	if linger > 0 {
		t := time.NewTimer(linger)
		defer t.Stop()
		deadline = t.C
	}
	for n < limit {
		select {
		case r, ok := <-ch:
			if !ok {
				return group
			}
			group = append(group, r)
			n += size(r)
			continue
		default:
		}
		if deadline == nil {
			return group
		}
		select {
		case r, ok := <-ch:
			if !ok {
				return group
			}
			group = append(group, r)
			n += size(r)
		case <-deadline:
			return group
		}
	}
	return group
}

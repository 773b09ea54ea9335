package ratelimit

import (
	"sync"
	"time"
)

// gcraLimit is a limit as GCRA sees it: one record per interval, at most
// burst records at once.
type gcraLimit struct {
	interval time.Duration
	burst    int
}

// decision is one GCRA answer, from Redis or from the local limiter.
type decision struct {
	allowed    bool
	remaining  int
	retryAfter time.Duration
	resetAfter time.Duration
}

// localGCRA is the in-process limiter used while Redis cannot be reached
// (fail: local) or when no Redis is configured. It runs the same algorithm
// as the Lua script redis_rate runs in Redis, so a decision means the same
// thing in either mode.
type localGCRA struct {
	mu  sync.Mutex
	tat map[string]time.Time
	now func() time.Time
	// sweepAt bounds the map: past this size, entries whose arrival time has
	// passed (a full bucket, the same as no entry) are dropped.
	sweepAt int
}

func newLocalGCRA(now func() time.Time) *localGCRA {
	return &localGCRA{tat: map[string]time.Time{}, now: now, sweepAt: 4096}
}

// allowN charges n records when they fit, else changes nothing. n = 0 reads
// the state without charging.
func (l *localGCRA) allowN(key string, lim gcraLimit, n int) decision {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	tat := l.tat[key]
	if tat.Before(now) {
		tat = now
	}
	burstOffset := lim.interval * time.Duration(lim.burst)
	newTAT := tat.Add(lim.interval * time.Duration(n))
	allowAt := newTAT.Add(-burstOffset)
	if diff := now.Sub(allowAt); diff < 0 {
		return decision{
			remaining:  remainingAt(burstOffset, tat.Sub(now), lim.interval),
			retryAfter: -diff,
			resetAfter: tat.Sub(now),
		}
	}
	if newTAT.After(now) {
		l.tat[key] = newTAT
		l.sweep(now)
	}
	return decision{
		allowed:    true,
		remaining:  remainingAt(burstOffset, newTAT.Sub(now), lim.interval),
		resetAfter: newTAT.Sub(now),
	}
}

func (l *localGCRA) sweep(now time.Time) {
	if len(l.tat) < l.sweepAt {
		return
	}
	for k, t := range l.tat {
		if !t.After(now) {
			delete(l.tat, k)
		}
	}
	if len(l.tat) >= l.sweepAt {
		l.sweepAt *= 2
	}
}

// remainingAt is how many records fit now, given how far the arrival time
// is ahead of now.
func remainingAt(burstOffset, ahead, interval time.Duration) int {
	if interval <= 0 {
		return 0
	}
	r := int((burstOffset - ahead) / interval)
	return max(r, 0)
}

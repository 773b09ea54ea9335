package ratelimit

import (
	"testing"
	"time"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestLocalGCRA(t *testing.T) {
	// 10 records per second, burst 5: one record every 100ms.
	lim := gcraLimit{interval: 100 * time.Millisecond, burst: 5}
	type step struct {
		advance   time.Duration
		take      int
		allowed   bool
		remaining int
		retry     time.Duration
	}
	cases := []struct {
		name  string
		steps []step
	}{
		{"burst then refused", []step{
			{take: 5, allowed: true, remaining: 0},
			{take: 1, allowed: false, remaining: 0, retry: 100 * time.Millisecond},
		}},
		{"weighted by records", []step{
			{take: 3, allowed: true, remaining: 2},
			{take: 3, allowed: false, remaining: 2, retry: 100 * time.Millisecond},
			{take: 2, allowed: true, remaining: 0},
		}},
		{"refills at the rate", []step{
			{take: 5, allowed: true, remaining: 0},
			{advance: 250 * time.Millisecond, take: 2, allowed: true, remaining: 0},
			{take: 1, allowed: false, remaining: 0, retry: 50 * time.Millisecond},
		}},
		{"cost over burst never fits", []step{
			{take: 6, allowed: false, remaining: 5, retry: 100 * time.Millisecond},
		}},
		{"read without charge", []step{
			{take: 2, allowed: true, remaining: 3},
			{take: 0, allowed: true, remaining: 3},
			{take: 0, allowed: true, remaining: 3},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
			l := newLocalGCRA(clk.now)
			for i, s := range tc.steps {
				clk.advance(s.advance)
				d := l.allowN("k", lim, s.take)
				if d.allowed != s.allowed {
					t.Fatalf("step %d: allowed = %v, want %v (%+v)", i, d.allowed, s.allowed, d)
				}
				if s.allowed || s.remaining > 0 {
					if d.remaining != s.remaining {
						t.Errorf("step %d: remaining = %d, want %d", i, d.remaining, s.remaining)
					}
				}
				if s.retry > 0 && d.retryAfter != s.retry {
					t.Errorf("step %d: retryAfter = %s, want %s", i, d.retryAfter, s.retry)
				}
			}
		})
	}
}

func TestLocalGCRAKeysAreSeparate(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	l := newLocalGCRA(clk.now)
	lim := gcraLimit{interval: time.Second, burst: 1}
	if !l.allowN("a", lim, 1).allowed || l.allowN("a", lim, 1).allowed {
		t.Fatal("a: want one allowed then refused")
	}
	if !l.allowN("b", lim, 1).allowed {
		t.Fatal("b was limited by a's use")
	}
}

func TestLocalGCRASweepBoundsMemory(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	l := newLocalGCRA(clk.now)
	l.sweepAt = 8
	lim := gcraLimit{interval: time.Millisecond, burst: 10}
	for i := range 100 {
		l.allowN(string(rune('a'+i%26))+string(rune('A'+i/26)), lim, 1)
		clk.advance(2 * time.Millisecond)
	}
	if len(l.tat) > 16 {
		t.Fatalf("%d entries kept; expired ones must be swept", len(l.tat))
	}
}

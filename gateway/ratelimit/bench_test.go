package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/config"
)

// BenchmarkDecision measures what the limiter adds to a request against the
// real Redis, next to a plain PING on the same client as the floor one round
// trip costs. Run with -cpu 1 and compare take with redis-ping.
func BenchmarkDecision(b *testing.B) {
	rdb := sharedRedis(b)
	ctx := context.Background()
	m := testMember("agency")
	// A limit that never refuses: every decision takes the path that writes.
	rl := limits(config.Rate{Rate: 1_000_000, Burst: 1_000_000, Period: time.Second}, m)
	g, _ := newTestGCRA(b, rdb, rl)
	local, _ := newTestGCRA(b, nil, rl)
	if err := rdb.Ping(ctx).Err(); err != nil {
		b.Fatal(err)
	}

	b.Run("redis-ping", func(b *testing.B) {
		for b.Loop() {
			if err := rdb.Ping(ctx).Err(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("take", func(b *testing.B) {
		for b.Loop() {
			if res, err := g.Take(ctx, m, ClassPush, 1); err != nil || !res.Allowed {
				b.Fatal(res, err)
			}
		}
	})
	// paired alternates a PING and a decision so both see the same load on
	// a shared machine; take/ping is the ratio to report.
	b.Run("paired", func(b *testing.B) {
		var ping, dec time.Duration
		for b.Loop() {
			t0 := time.Now()
			if err := rdb.Ping(ctx).Err(); err != nil {
				b.Fatal(err)
			}
			t1 := time.Now()
			if _, err := g.Take(ctx, m, ClassPush, 1); err != nil {
				b.Fatal(err)
			}
			dec += time.Since(t1)
			ping += t1.Sub(t0)
		}
		b.ReportMetric(float64(ping.Nanoseconds())/float64(b.N), "ping-ns/op")
		b.ReportMetric(float64(dec.Nanoseconds())/float64(b.N), "take-ns/op")
		b.ReportMetric(float64(dec)/float64(ping), "take/ping")
	})
	b.Run("local", func(b *testing.B) {
		for b.Loop() {
			if _, err := local.Take(ctx, m, ClassPush, 1); err != nil {
				b.Fatal(err)
			}
		}
	})
}

package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/identity"
)

// GCRA is the gateway's limiter: a generic cell rate algorithm kept in Redis
// (redis_rate, one script call per decision, Redis' own clock), so every
// replica charges the same counters. When Redis cannot be reached each
// member's failure mode applies: closed refuses, local limits in-process at
// limit/replicas. It is never unlimited.
type GCRA struct {
	rdb     redis.UniversalClient
	shared  *redis_rate.Limiter
	cfg     config.RateLimit
	table   *Table
	local   *localGCRA
	metrics *metrics
	log     *slog.Logger

	// state counts switches between modes: even is redis, odd is local. A
	// decision remembers the state it started in, so a slow answer from
	// before a switch cannot switch back again.
	state atomic.Uint64
	// nextProbe (unix nanoseconds) is when, while in local mode, the next
	// request may try Redis again.
	nextProbe atomic.Int64

	keys sync.Map // memberID+class → key, validated once
}

var (
	_ Limiter              = (*GCRA)(nil)
	_ prometheus.Collector = (*GCRA)(nil)
)

// NewGCRA builds the limiter over rdb. With rdb nil (no Redis configured)
// every process limits on its own at limit/replicas, and says so once.
func NewGCRA(rdb redis.UniversalClient, cfg config.RateLimit, logger *slog.Logger) *GCRA {
	if cfg.Replicas < 1 {
		cfg.Replicas = 1
	}
	if cfg.ProbeInterval <= 0 {
		cfg.ProbeInterval = time.Second
	}
	g := &GCRA{
		rdb:     rdb,
		cfg:     cfg,
		table:   NewTable(cfg),
		local:   newLocalGCRA(time.Now),
		metrics: newMetrics(),
		log:     logger.With("component", "ratelimit"),
	}
	if rdb == nil {
		g.state.Store(1)
		g.metrics.setMode(modeLocal)
		g.log.Warn("rate limits are kept in this process only: no redis configured", "replicas", cfg.Replicas)
		return g
	}
	g.shared = redis_rate.NewLimiter(unprefixed{rdb})
	// go-redis has one logger per process; the gateway has one limiter.
	redis.SetLogger(redisLogger{g.log})
	g.metrics.setMode(modeRedis)
	return g
}

// Describe implements prometheus.Collector.
func (g *GCRA) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range g.metrics.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (g *GCRA) Collect(ch chan<- prometheus.Metric) {
	for _, c := range g.metrics.collectors() {
		c.Collect(ch)
	}
}

// Local reports whether decisions are currently made in-process.
func (g *GCRA) Local() bool { return g.state.Load()%2 == 1 }

// Take charges cost records of class to m. A cost over the burst is refused
// without charging anything (the state is read so the headers are right).
func (g *GCRA) Take(ctx context.Context, m identity.Member, class Class, cost int) (Result, error) {
	if cost < 0 {
		return Result{}, fmt.Errorf("rate limit: negative cost %d", cost)
	}
	key, err := g.key(m.ID, class)
	if err != nil {
		// The ID is not a member ID: it must not become a label either.
		g.metrics.requests.WithLabelValues("invalid", "invalid", resultError).Inc()
		return Result{}, err
	}
	rate := g.table.Limit(m.ID, m.Kind, class)
	n := cost
	if cost > rate.Burst {
		n = 0
	}
	d, local, err := g.decide(ctx, m, key, rate, n)
	if err != nil {
		g.metrics.requests.WithLabelValues(m.ID, string(class), resultError).Inc()
		return Result{}, err
	}
	lim := g.effective(rate, local)
	res := Result{
		Allowed:    d.allowed && cost <= lim.burst,
		Limit:      lim.rate,
		Burst:      lim.burst,
		Window:     rate.Period,
		Remaining:  d.remaining,
		ResetAfter: d.resetAfter,
		Policy:     policyHeader(class, lim.rate, rate.Period),
		Local:      local,
	}
	switch {
	case res.Allowed:
		g.metrics.requests.WithLabelValues(m.ID, string(class), resultAllowed).Inc()
		g.metrics.records.WithLabelValues(m.ID, string(class)).Add(float64(cost))
	case cost > lim.burst:
		// Waiting cannot make this cost fit: no retry time.
		g.metrics.requests.WithLabelValues(m.ID, string(class), resultLimited).Inc()
	default:
		res.RetryAfter = d.retryAfter
		g.metrics.requests.WithLabelValues(m.ID, string(class), resultLimited).Inc()
	}
	return res, nil
}

// decide asks Redis, or the local limiter when Redis is failing and m's
// failure mode is local. n = 0 reads the state without charging.
func (g *GCRA) decide(ctx context.Context, m identity.Member, key string, rate Rate, n int) (decision, bool, error) {
	state := g.state.Load()
	redisErr := errors.New("redis unavailable")
	if g.rdb != nil && (state%2 == 0 || g.probeDue()) {
		start := time.Now()
		r, err := g.shared.AllowN(ctx, key, redis_rate.Limit{Rate: rate.Rate, Burst: rate.Burst, Period: rate.Period}, n)
		g.metrics.seconds.WithLabelValues(modeRedis).Observe(time.Since(start).Seconds())
		if err == nil {
			g.toRedis(state)
			return fromRedis(r, rate), false, nil
		}
		if ctx.Err() != nil {
			// The caller went away; that says nothing about Redis.
			return decision{}, false, fmt.Errorf("rate limit: %w", ctx.Err())
		}
		g.toLocal(state, err)
		redisErr = err
	}
	if g.rdb != nil && g.table.FailMode(m.ID, m.Kind) != FailLocal {
		return decision{}, false, fmt.Errorf("%w: %w", ErrUnavailable, redisErr)
	}
	start := time.Now()
	lim := g.effective(rate, true)
	d := g.local.allowN(key, gcraLimit{interval: lim.interval, burst: lim.burst}, n)
	g.metrics.seconds.WithLabelValues(modeLocal).Observe(time.Since(start).Seconds())
	return d, true, nil
}

// probeDue lets one request per probe interval try Redis while in local
// mode; the others decide without waiting on a Redis that is likely down.
func (g *GCRA) probeDue() bool {
	now := time.Now().UnixNano()
	next := g.nextProbe.Load()
	return now >= next && g.nextProbe.CompareAndSwap(next, now+int64(g.cfg.ProbeInterval))
}

// toLocal switches to local mode, once, if the failed call started in redis mode.
func (g *GCRA) toLocal(started uint64, err error) {
	g.nextProbe.Store(time.Now().Add(g.cfg.ProbeInterval).UnixNano())
	if started%2 != 0 || !g.state.CompareAndSwap(started, started+1) {
		return
	}
	g.metrics.setMode(modeLocal)
	g.metrics.switches.WithLabelValues(modeLocal).Inc()
	g.log.Error("rate limiter switched to local mode: redis unavailable; members with fail: local are limited in-process at limit/replicas, members with fail: closed are refused",
		"error", err.Error(), "replicas", g.cfg.Replicas)
}

// toRedis switches back, once, when a probe started in local mode succeeded.
func (g *GCRA) toRedis(started uint64) {
	if started%2 != 1 || !g.state.CompareAndSwap(started, started+1) {
		return
	}
	g.metrics.setMode(modeRedis)
	g.metrics.switches.WithLabelValues(modeRedis).Inc()
	g.log.Info("rate limiter switched back to redis mode: redis answers again")
}

// effectiveLimit is a limit as one decision applies it.
type effectiveLimit struct {
	rate     int
	burst    int
	interval time.Duration
}

// effective is the limit itself, or in local mode this process's share:
// limit/replicas, rounded down so that replicas together never exceed it.
func (g *GCRA) effective(rate Rate, local bool) effectiveLimit {
	if !local {
		return effectiveLimit{rate: rate.Rate, burst: rate.Burst, interval: rate.Period / time.Duration(rate.Rate)}
	}
	r := g.cfg.Replicas
	return effectiveLimit{
		rate:     max(rate.Rate/r, 1),
		burst:    max(rate.Burst/r, 1),
		interval: time.Duration(float64(rate.Period) * float64(r) / float64(rate.Rate)),
	}
}

func (g *GCRA) key(memberID string, class Class) (string, error) {
	ck := memberID + "\x00" + string(class)
	if k, ok := g.keys.Load(ck); ok {
		return k.(string), nil
	}
	k, err := Key(memberID, class)
	if err != nil {
		return "", err
	}
	g.keys.Store(ck, k)
	return k, nil
}

func fromRedis(r *redis_rate.Result, rate Rate) decision {
	// redis_rate answers RetryAfter -1 when allowed (also for a zero-cost
	// read), and the time until the cost fits when refused.
	d := decision{allowed: r.RetryAfter < 0, remaining: r.Remaining, resetAfter: r.ResetAfter}
	if !d.allowed {
		d.retryAfter = r.RetryAfter
		// redis_rate reports 0 remaining on a refusal; what still fits is
		// what the headers should say.
		interval := rate.Period / time.Duration(rate.Rate)
		d.remaining = remainingAt(interval*time.Duration(rate.Burst), r.ResetAfter, interval)
	}
	if d.resetAfter < 0 {
		d.resetAfter = 0
	}
	return d
}

// policyHeader is the RateLimit-Policy item for one class: q records per w seconds.
func policyHeader(class Class, quota int, window time.Duration) string {
	return fmt.Sprintf("%q;q=%d;w=%d", string(class), quota, int(window.Seconds()))
}

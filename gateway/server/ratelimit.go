package server

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/ratelimit"
)

// take charges the caller cost records of class. When the charge is refused
// it has already answered (429, or 503 when the limiter cannot decide) and
// returns false; the handler must then return. Without a limiter configured
// every charge is allowed.
func (s *Server) take(c *gin.Context, class ratelimit.Class, cost int) bool {
	res, decided, p := s.rlCharge(c, class, cost)
	if decided {
		rlHeaders(c, class, res)
	}
	if p == nil {
		return true
	}
	if ra, ok := p.Extra["retry_after"].(int); ok {
		c.Header("Retry-After", strconv.Itoa(ra))
	}
	s.fail(c, p)
	return false
}

// rlCharge charges like take but writes nothing, for a stream whose status
// line has already been sent and can no longer become a 429. It returns the
// decision (decided is false when there was none to report in headers) and,
// when the charge is refused, the problem take would have answered with;
// a rate-limit refusal carries retry_after (whole seconds) in Extra unless
// waiting cannot help.
func (s *Server) rlCharge(c *gin.Context, class ratelimit.Class, cost int) (res ratelimit.Result, decided bool, p *problem.Error) {
	if s.deps.Limiter == nil {
		return ratelimit.Result{}, false, nil
	}
	m, ok := identity.FromContext(c.Request.Context())
	if !ok {
		// Limited routes sit behind identify; reaching here without a member
		// is a wiring mistake, and it must not turn into an unlimited call.
		return ratelimit.Result{}, false, problem.Internal(errors.New("rate limit: no member in request context"))
	}
	res, err := s.deps.Limiter.Take(c.Request.Context(), m, class, cost)
	if err != nil {
		switch {
		case errors.Is(err, ratelimit.ErrUnavailable), errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
			// fail: closed — no decision means no request, never an unlimited one.
			return res, false, problem.Unavailable("the rate limiter is unavailable; the request was not processed, retry later", err)
		default:
			return res, false, problem.From(err)
		}
	}
	if res.Allowed {
		return res, true, nil
	}
	if res.OverBurst(cost) {
		p := problem.New(http.StatusTooManyRequests, problem.TypeRateLimited,
			fmt.Sprintf("this request costs %d records but the %s limit allows at most %d per request; send batches of at most %d",
				cost, class, res.Burst, res.Burst))
		p.Extra = map[string]any{"class": string(class), "cost": cost, "max_batch": res.Burst}
		return res, true, p
	}
	retry := max(rlSeconds(res.RetryAfter), 1)
	p = problem.New(http.StatusTooManyRequests, problem.TypeRateLimited,
		fmt.Sprintf("the %s limit of %d records per %s is exhausted; retry after %d s", class, res.Limit, rlWindow(res.Window), retry))
	p.Extra = map[string]any{"class": string(class), "cost": cost, "retry_after": retry}
	return res, true, p
}

// rlHeaders writes the IETF RateLimit-Policy and RateLimit fields
// (draft-ietf-httpapi-ratelimit-headers) on allowed and refused answers alike.
func rlHeaders(c *gin.Context, class ratelimit.Class, res ratelimit.Result) {
	if res.Policy != "" {
		c.Header("RateLimit-Policy", res.Policy)
	}
	c.Header("RateLimit", fmt.Sprintf("%q;r=%d;t=%d", string(class), max(res.Remaining, 0), rlSeconds(res.ResetAfter)))
}

// rlSeconds rounds up, so a client that waits the advertised time is not
// refused again for a fraction of a second.
func rlSeconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(math.Ceil(d.Seconds()))
}

func rlWindow(d time.Duration) string {
	switch d {
	case time.Second:
		return "second"
	case time.Minute:
		return "minute"
	case time.Hour:
		return "hour"
	}
	return d.String()
}

// rlRegisterMetrics puts the limiter's series on the server's registry when
// the limiter keeps any.
func rlRegisterMetrics(reg prometheus.Registerer, l ratelimit.Limiter) error {
	if _, err := registerIfCollector(reg, l); err != nil {
		return fmt.Errorf("rate limit metrics: %w", err)
	}
	return nil
}

// pushBytesPerRecord is what one record of push cost buys in body bytes:
// a push is charged for its declared size before its body is read, so a
// flood of large bodies meets 429 rather than costing the gateway their
// transfer and decoding. Real records are a few KiB.
const pushBytesPerRecord = 16 << 10

// ginPrecharged is how much of its class a request has already paid.
const ginPrecharged = "ura.precharged"

// charge is the first step of every limited route: the request pays the
// minimum of its class (one) before anything else happens, so that even a
// request refused with a 4xx costs its caller. A push also pays for its
// declared Content-Length here, before its body is read. What a handler
// charges after this never depends on records the caller may not see
// (exchange_pull.go), and nothing is refunded for records policy withheld:
// a withheld record costs the gateway a decision and an audit event.
func (s *Server) charge(class ratelimit.Class) gin.HandlerFunc {
	return func(c *gin.Context) {
		cost := 1
		if class == ratelimit.ClassPush && c.Request.ContentLength > 0 {
			cost += int(min(c.Request.ContentLength, 1<<40) / pushBytesPerRecord)
		}
		if !s.take(c, class, cost) {
			c.Abort()
			return
		}
		c.Set(ginPrecharged, cost)
		c.Next()
	}
}

// takeMore charges what a handler finds it costs beyond what charge
// already took: total is the request's whole cost in its class.
func (s *Server) takeMore(c *gin.Context, class ratelimit.Class, total int) bool {
	more := total - c.GetInt(ginPrecharged)
	if more <= 0 {
		return true
	}
	if !s.take(c, class, more) {
		return false
	}
	c.Set(ginPrecharged, total)
	return true
}

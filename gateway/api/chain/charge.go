package chain

import (
	"context"
	"errors"
	"fmt"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/ratelimit"
	"github.com/ura-gateway/ura/gateway/tracing"
)

// PushBytesPerRecord is what one record of push cost buys in body bytes:
// a push is charged for its declared size before its body is read, so a
// flood of large bodies meets 429 rather than costing the gateway their
// transfer and decoding. Real records are a few KiB.
const PushBytesPerRecord = 16 << 10

// ginPrecharged is how much of its class a request has already paid.
const ginPrecharged = "ura.precharged"

// Charge is the first step of every limited route: the request pays the
// minimum of its class (one) before anything else happens, so that even a
// request refused with a 4xx costs its caller. A push also pays for its
// declared Content-Length here, before its body is read. What a handler
// charges after this never depends on records the caller may not see, and
// nothing is refunded for records policy withheld: a withheld record costs
// the gateway a decision and an audit event.
func (k *Kit) Charge(class ratelimit.Class) gin.HandlerFunc {
	return k.Wrap(func(c *gin.Context) error {
		cost := 1
		if class == ratelimit.ClassPush && c.Request.ContentLength > 0 {
			cost += int(min(c.Request.ContentLength, 1<<40) / PushBytesPerRecord)
		}
		if err := k.Take(c, class, cost); err != nil {
			return err
		}
		c.Set(ginPrecharged, cost)
		return nil
	})
}

// ChargeMore charges what a handler finds a request costs beyond what
// Charge already took: total is the request's whole cost in its class.
func (k *Kit) ChargeMore(c *gin.Context, class ratelimit.Class, total int) error {
	more := total - c.GetInt(ginPrecharged)
	if more <= 0 {
		return nil
	}
	if err := k.Take(c, class, more); err != nil {
		return err
	}
	c.Set(ginPrecharged, total)
	return nil
}

// Take charges the caller cost records of class and writes the IETF
// RateLimit-Policy and RateLimit fields (draft-ietf-httpapi-ratelimit-headers)
// for the decision, allowed or refused; once a stream's status line is sent
// they are no longer written. A refusal is a *ratelimit.RefusedError; no
// decision (the limiter down and failing closed) wraps
// ratelimit.ErrUnavailable. Without a limiter every charge is allowed.
func (k *Kit) Take(c *gin.Context, class ratelimit.Class, cost int) error {
	if k.Limiter == nil {
		return nil
	}
	m, ok := identity.FromContext(c.Request.Context())
	if !ok {
		// Limited routes sit behind identification; reaching here without a
		// member is a wiring mistake, and it must not turn into an
		// unlimited call.
		return problem.Internal(errors.New("rate limit: no member in request context"))
	}
	ctx, sp := k.Tracer.Start(c.Request.Context(), "ratelimit")
	sp.Str(tracing.KeyClass, string(class))
	sp.Int(tracing.KeyCost, cost)
	res, err := k.Limiter.Take(ctx, m, class, cost)
	sp.Outcome(takeOutcome(res.Allowed, err))
	sp.End(err)
	if err != nil {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			// A limiter that gave up on a cancelled or late request made no
			// decision either.
			return fmt.Errorf("%w: %w", ratelimit.ErrUnavailable, err)
		}
		if errors.Is(err, ratelimit.ErrUnavailable) {
			return err
		}
		// Anything else is a fault of the gateway's own (a bad key, a
		// script error): internal, whatever route it happens on.
		return problem.Internal(fmt.Errorf("rate limit: %w", err))
	}
	if res.Policy != "" {
		c.Header("RateLimit-Policy", res.Policy)
	}
	c.Header("RateLimit", fmt.Sprintf("%q;r=%d;t=%d", string(class), max(res.Remaining, 0), ratelimit.Seconds(res.ResetAfter)))
	if !res.Allowed {
		return &ratelimit.RefusedError{Class: class, Cost: cost, Result: res}
	}
	return nil
}

// takeOutcome is what a charge came to, for its span.
func takeOutcome(allowed bool, err error) string {
	switch {
	case err != nil:
		return "undecided"
	case allowed:
		return "allowed"
	}
	return "refused"
}

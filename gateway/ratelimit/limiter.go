package ratelimit

import (
	"context"
	"time"

	"github.com/ura-gateway/ura/gateway/identity"
)

// Class is the route class a limit applies to.
type Class string

// Route classes.
const (
	ClassPush  Class = "push"
	ClassPull  Class = "pull"
	ClassTrace Class = "trace"
	ClassAudit Class = "audit"
)

// Result is one limiter decision, with what the RateLimit headers need.
type Result struct {
	Allowed    bool
	Limit      int
	Remaining  int
	RetryAfter time.Duration
	ResetAfter time.Duration
	// Policy is the RateLimit-Policy header value for this member and class.
	Policy string
}

// Limiter charges a member for the records a request moves.
type Limiter interface {
	// Take charges cost records; a cost over the burst is refused up front.
	Take(ctx context.Context, m identity.Member, class Class, cost int) (Result, error)
	// Refund returns n records reserved but not sent (a short pull).
	Refund(ctx context.Context, m identity.Member, class Class, n int) error
}

package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"math"
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

// Classes lists every route class, in a stable order.
var Classes = []Class{ClassPush, ClassPull, ClassTrace, ClassAudit}

// Result is one limiter decision, with what the RateLimit headers need.
type Result struct {
	Allowed bool
	// Limit is the quota: records per Window.
	Limit int
	// Burst is the most records one request may cost under this limit.
	Burst int
	// Window is the period Limit is counted over.
	Window time.Duration
	// Remaining is how many records could be charged right now.
	Remaining int
	// RetryAfter is how long until this request's cost would be allowed;
	// zero when allowed or when waiting cannot help (cost over Burst).
	RetryAfter time.Duration
	// ResetAfter is how long until Remaining is back to Burst.
	ResetAfter time.Duration
	// Policy is the RateLimit-Policy header value for this member and class.
	Policy string
	// Local is true when the decision was made in-process because Redis was
	// unavailable (fail: local).
	Local bool
}

// OverBurst reports whether cost can never be allowed under this limit:
// such a request is refused up front, and waiting does not help.
func (r Result) OverBurst(cost int) bool { return cost > r.Burst }

// ErrUnavailable is returned (wrapped) when no decision can be made: Redis is
// unreachable and the member's failure mode is closed.
var ErrUnavailable = errors.New("rate limiter unavailable")

// Limiter charges a member for the records a request moves.
type Limiter interface {
	// Take charges cost records; a cost over the burst is refused up front.
	Take(ctx context.Context, m identity.Member, class Class, cost int) (Result, error)
}

// RefusedError is a charge the limiter decided against: the request must
// not go on. The HTTP layer answers it as 429 with Retry-After.
type RefusedError struct {
	Class  Class
	Cost   int
	Result Result
}

func (e *RefusedError) Error() string {
	if e.Result.OverBurst(e.Cost) {
		return fmt.Sprintf("%s: cost %d is over the burst of %d", e.Class, e.Cost, e.Result.Burst)
	}
	return fmt.Sprintf("%s: limit of %d per %s exhausted", e.Class, e.Result.Limit, e.Result.Window)
}

// RetryAfter is how long the caller should wait, in whole seconds rounded
// up so that a client that waits the advertised time is not refused again
// for a fraction of a second; 0 when waiting cannot help (the cost is over
// the burst).
func (e *RefusedError) RetryAfter() int {
	if e.Result.OverBurst(e.Cost) {
		return 0
	}
	return max(Seconds(e.Result.RetryAfter), 1)
}

// Seconds rounds d up to whole seconds, as the RateLimit headers carry it.
func Seconds(d time.Duration) int {
	if d <= 0 {
		return 0
	}
	return int(math.Ceil(d.Seconds()))
}

// Package chain holds the steps every API of the gateway shares: a handler
// that returns its error, the one place an error becomes a response, the
// rate-limit charge, the auditor check, the audit event of a request, and
// the collapsed audit of the requests a limit refuses (refusals.go).
// The APIs themselves (exchange, auditapi, consoleapi, ops) are mounted from
// one composition root, gateway/server; gateway/ARCHITECTURE.md draws the
// whole chain.
package chain

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/adapters/upstream"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/ratelimit"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/tracing"
)

// Handler serves one route, or one step in front of it: it either answers
// (or lets the next step answer) and returns nil, or returns the error that
// Kit.Wrap turns into the response. A handler never writes an error itself.
type Handler func(c *gin.Context) error

// Kit is what the shared steps need. One Kit serves every API of a process.
type Kit struct {
	Log *slog.Logger
	// Audit records refusals and accesses; nil: the gateway keeps no log
	// (tests of one API), and refusals are only answered.
	Audit audit.Log
	// Limiter charges requests; nil: every charge is allowed.
	Limiter ratelimit.Limiter
	// Refusals audits the 429s of the limits, collapsed per member and
	// limit (refusals.go); nil: they are only answered and counted.
	Refusals *Refusals
	// Tracer gives each stage of the chain its span; nil: tracing is off.
	Tracer *tracing.Tracer
}

// Wrap adapts h to gin: a returned error is answered by Fail, and nothing
// after this step runs.
func (k *Kit) Wrap(h Handler) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := h(c); err != nil {
			k.Fail(c, err)
		}
	}
}

// Fail answers err: the one place an error reaches a caller. Internal
// causes are logged here, once, and never written to the response. A
// browser on a route that renders HTML errors (UseHTML) gets a page; anyone
// else gets RFC 9457 problem+json. A refused charge (*ratelimit.RefusedError)
// is also counted for the audit log (Kit.Limited), which never holds up or
// changes its 429.
func (k *Kit) Fail(c *gin.Context, err error) {
	p := Problem(err)
	k.Tracer.Current(c.Request.Context()).Str(tracing.KeyProblem, p.Type)
	if refused := (*ratelimit.RefusedError)(nil); errors.As(err, &refused) {
		k.Limited(c, string(refused.Class), ReasonRateLimited, p.Detail)
	}
	if ra, ok := p.Extra["retry_after"].(int); ok {
		c.Header("Retry-After", strconv.Itoa(ra))
	}
	rid := RequestID(c)
	if p.Cause != nil || p.Status >= 500 {
		attrs := []any{"request_id", rid, "status", p.Status, "type", p.Type}
		if p.Cause != nil {
			attrs = append(attrs, "error", p.Cause.Error())
		}
		if m, ok := identity.FromContext(c.Request.Context()); ok {
			attrs = append(attrs, "member", m.ID)
		}
		k.Log.Warn("request failed", attrs...)
	}
	if page, ok := c.Get(ginHTML); ok {
		c.Data(p.Status, "text/html; charset=utf-8", page.(HTMLError)(p, rid))
		c.Abort()
		return
	}
	c.Header("Content-Type", problem.ContentType)
	c.Header("Cache-Control", "no-store")
	c.AbortWithStatusJSON(p.Status, p.Body("urn:ura:request:"+rid))
}

// HTMLError renders a problem as a page.
type HTMLError func(p *problem.Error, requestID string) []byte

const ginHTML = "ura.html_error"

// UseHTML makes Fail answer this request's errors with page.
func UseHTML(c *gin.Context, page HTMLError) { c.Set(ginHTML, page) }

// Problem maps an error to what the caller is told. The dependencies'
// sentinels are mapped here, and only here, so that no package below the
// HTTP layer builds a response; anything unknown is internal.
func Problem(err error) *problem.Error {
	var (
		p       *problem.Error
		refused *ratelimit.RefusedError
	)
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &refused):
		return refusal(refused)
	case errors.Is(err, ratelimit.ErrUnavailable):
		// Fail closed: no decision means no request, never an unlimited one.
		return problem.Unavailable("the rate limiter is unavailable; the request was not processed, retry later", err)
	case errors.Is(err, sign.ErrUnavailable):
		return problem.Unavailable("signing is unavailable; nothing was sent", err)
	case errors.Is(err, audit.ErrUnavailable):
		return problem.Unavailable("the audit log is unavailable", err)
	case errors.Is(err, upstream.ErrUnavailable):
		return problem.Unavailable("records could not be queued for forwarding; retry", err)
	}
	return problem.Internal(err)
}

// refusal is the 429 of a refused charge.
func refusal(e *ratelimit.RefusedError) *problem.Error {
	res := e.Result
	if res.OverBurst(e.Cost) {
		p := problem.New(http.StatusTooManyRequests, problem.TypeRateLimited,
			fmt.Sprintf("this request costs %d records but the %s limit allows at most %d per request; send batches of at most %d",
				e.Cost, e.Class, res.Burst, res.Burst))
		p.Extra = map[string]any{"class": string(e.Class), "cost": e.Cost, "max_batch": res.Burst}
		return p
	}
	retry := e.RetryAfter()
	p := problem.New(http.StatusTooManyRequests, problem.TypeRateLimited,
		fmt.Sprintf("the %s limit of %d records per %s is exhausted; retry after %d s", e.Class, res.Limit, window(res.Window), retry))
	p.Extra = map[string]any{"class": string(e.Class), "cost": e.Cost, "retry_after": retry}
	return p
}

func window(d time.Duration) string {
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

// NotFound answers a path no route serves.
func (k *Kit) NotFound(c *gin.Context) {
	k.Fail(c, problem.New(http.StatusNotFound, problem.TypeNotFound, "no such resource"))
}

// MethodNotAllowed answers a method the path's route does not serve.
func (k *Kit) MethodNotAllowed(c *gin.Context) {
	k.Fail(c, problem.New(http.StatusMethodNotAllowed, problem.TypeMethodNotAllowed, "method not allowed on this resource"))
}

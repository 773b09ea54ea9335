package chain

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/verdict"
)

const ginRequestID = "ura.request_id"

// SetRequestID names the request, for its log lines, its audit events and
// the instance of its problems.
func SetRequestID(c *gin.Context, id string) { c.Set(ginRequestID, id) }

// RequestID is the request's name (SetRequestID).
func RequestID(c *gin.Context) string { return c.GetString(ginRequestID) }

// Caller is the member the request was identified as; the zero Member on
// routes in front of identification.
func Caller(c *gin.Context) identity.Member {
	m, _ := identity.FromContext(c.Request.Context())
	return m
}

// Request is what every audit event of one request shares: the one
// builder of access and decision events, for every API.
type Request struct {
	Member identity.Member
	ID     string
	Route  string
	Action string
	// Digest identifies what was asked (the body of a push, the query of a
	// pull, the method and URI of an audit read); empty: none.
	Digest string
}

// NewRequest starts the audit record of the request c, as action on route
// (c's route pattern when route is empty).
func NewRequest(c *gin.Context, action, route string) *Request {
	if route == "" {
		route = c.FullPath()
	}
	return &Request{Member: Caller(c), ID: RequestID(c), Route: route, Action: action}
}

// DigestOf sets the request's digest to the SHA-256 of b.
func (r *Request) DigestOf(b []byte) *Request {
	sum := sha256.Sum256(b)
	r.Digest = "sha256:" + hex.EncodeToString(sum[:])
	return r
}

// DigestURI sets the request's digest to that of its method and URI: what
// an officer's read asked for.
func (r *Request) DigestURI(req *http.Request) *Request {
	return r.DigestOf([]byte(req.Method + " " + req.URL.RequestURI()))
}

// Event starts an audit event of this request.
func (r *Request) Event(decision string, status int) audit.Event {
	return audit.Event{Time: time.Now().UTC(), RequestID: r.ID, Member: r.Member.ID, Action: r.Action,
		Route: r.Route, Decision: decision, RequestDigest: r.Digest, Status: status}
}

// Record makes events durable before anything is answered; its error is
// the 503 to answer instead.
func (k *Kit) Record(c *gin.Context, events ...audit.Event) error {
	if k.Audit == nil {
		return problem.Unavailable("the audit log is not available on this gateway", audit.ErrUnavailable)
	}
	if err := k.Audit.Append(c.Request.Context(), events...); err != nil {
		return problem.Unavailable("the audit log is unavailable", err)
	}
	return nil
}

// Refuse records a refused request (deny, with its status and the reason)
// and returns the refusal to answer, or the 503 when the log cannot take
// it: a refused request is a request too, and the log shows it before the
// caller does. Without an audit log (tests of one API) it only answers.
func (k *Kit) Refuse(c *gin.Context, req *Request, refusal *problem.Error, reasons ...verdict.Reason) error {
	if k.Audit == nil {
		return refusal
	}
	ev := req.Event(audit.DecisionDeny, refusal.Status)
	if refusal.Status >= 500 {
		ev.Decision = audit.DecisionError
	}
	ev.Reasons = reasons
	if err := k.Audit.Append(c.Request.Context(), ev); err != nil {
		return problem.Unavailable("the audit log is unavailable; nothing was processed", err)
	}
	return refusal
}

// ReasonNotAuditor is the audit reason of a member who is not a security
// officer asking for what only officers may see.
const ReasonNotAuditor = "not_auditor"

// RequireAuditor admits members of kind auditor. Anyone else is refused
// with 403, audited first as req(c) with reason not_auditor; what names what
// was asked for ("the audit log"), and use what a member does with it
// ("read").
func (k *Kit) RequireAuditor(what, use string, req func(*gin.Context) *Request) Handler {
	return func(c *gin.Context) error {
		m := Caller(c)
		if m.Kind == identity.KindAuditor {
			return nil
		}
		return k.Refuse(c, req(c), problem.New(http.StatusForbidden, problem.TypeForbidden, what+" is for security officers"),
			verdict.Reason{Code: ReasonNotAuditor, Message: "member kind " + m.Kind + " may not " + use + " " + what})
	}
}

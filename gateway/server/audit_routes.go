package server

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/ratelimit"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// auditRoutes are the security officers' API, for members of kind auditor
// only. Reading the audit log is itself audited: who searched, exported or
// looked at which decision, and every refused attempt, is an event before
// the answer is sent.
func (s *Server) auditRoutes(g *gin.RouterGroup) {
	s.audRegisterMetrics()
	a := g.Group("/v1/audit", s.charge(ratelimit.ClassAudit), s.audRequireAuditor)
	a.GET("/events", s.audSearch)
	a.GET("/events/:seq", s.audEvent)
	a.GET("/export", s.audExport)
	a.GET("/checkpoints", s.audCheckpoints)
	a.GET("/summary", s.audSummary)
}

// audRegisterMetrics puts the audit log's metrics on the server's registry:
// the log is built before the server, so it cannot register them itself.
func (s *Server) audRegisterMetrics() {
	if _, err := registerIfCollector(s.metrics.registry, s.deps.Audit); err != nil {
		s.log.Warn("audit metrics not registered", "component", "audit", "error", err)
	}
}

const audReasonNotAuditor = "not_auditor"

func (s *Server) audRequireAuditor(c *gin.Context) {
	m, _ := identity.FromContext(c.Request.Context())
	if m.Kind == identity.KindAuditor {
		c.Next()
		return
	}
	refusal := problem.New(http.StatusForbidden, problem.TypeForbidden, "the audit log is for security officers")
	if s.deps.Audit != nil {
		ev := s.audAccessEvent(c, audit.DecisionDeny, http.StatusForbidden)
		ev.Reasons = []verdict.Reason{{Code: audReasonNotAuditor, Message: "member kind " + m.Kind + " may not read the audit log"}}
		if err := s.deps.Audit.Append(c.Request.Context(), ev); err != nil {
			s.fail(c, problem.Unavailable("the audit log is unavailable", err))
			return
		}
	}
	s.fail(c, refusal)
}

// audAccessEvent is the audit event of one request to the audit API.
func (s *Server) audAccessEvent(c *gin.Context, decision string, status int) audit.Event {
	m, _ := identity.FromContext(c.Request.Context())
	sum := sha256.Sum256([]byte(c.Request.Method + " " + c.Request.URL.RequestURI()))
	return audit.Event{
		Time:          time.Now().UTC(),
		RequestID:     c.GetString(ginRequestID),
		Member:        m.ID,
		Action:        "audit." + audAction(c.FullPath()),
		Route:         c.FullPath(),
		Decision:      decision,
		RequestDigest: "sha256:" + hex.EncodeToString(sum[:]),
		Status:        status,
	}
}

func audAction(route string) string {
	switch route {
	case "/v1/audit/events":
		return "search"
	case "/v1/audit/events/:seq":
		return "event"
	case "/v1/audit/export":
		return "export"
	case "/v1/audit/checkpoints":
		return "checkpoints"
	case "/v1/audit/summary":
		return "summary"
	}
	return "unknown"
}

// audReader is the log's read side, or a 503 when the gateway has none.
func (s *Server) audReader(c *gin.Context) (audit.Reader, bool) {
	r, ok := s.deps.Audit.(audit.Reader)
	if !ok {
		s.fail(c, problem.Unavailable("the audit log is not available on this gateway", errors.New("audit: no reader configured")))
		return nil, false
	}
	return r, true
}

// audGrant records the auditor's access; nothing is sent unless it is durable.
func (s *Server) audGrant(c *gin.Context, ev audit.Event) bool {
	if err := s.deps.Audit.Append(c.Request.Context(), ev); err != nil {
		s.fail(c, problem.Unavailable("the audit log is unavailable", err))
		return false
	}
	c.Header("Cache-Control", "no-store")
	return true
}

func audBadParam(name, detail string) *problem.Error {
	p := problem.New(http.StatusBadRequest, problem.TypeBadRequest, "invalid query parameter "+name)
	p.Errors = []problem.FieldError{{Pointer: "/query/" + name, Detail: detail}}
	return p
}

func audTimeParam(c *gin.Context, name string) (time.Time, error) {
	v := c.Query(name)
	if v == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return time.Time{}, audBadParam(name, "must be an RFC 3339 time such as 2026-06-02T08:00:00Z")
	}
	return t, nil
}

func audIntParam(c *gin.Context, name string, lo, hi int64) (int64, error) {
	v := c.Query(name)
	if v == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi {
		return 0, audBadParam(name, "must be an integer from "+strconv.FormatInt(lo, 10)+" to "+strconv.FormatInt(hi, 10))
	}
	return n, nil
}

func audStringParam(c *gin.Context, name string) (string, error) {
	v := c.Query(name)
	if len(v) > 256 {
		return "", audBadParam(name, "must be at most 256 bytes")
	}
	return v, nil
}

// audSearchResponse is a page of events, newest first. NextCursor, when
// present, is the cursor= of the next (older) page.
type audSearchResponse struct {
	Events     []audit.Event `json:"events"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

func (s *Server) audSearch(c *gin.Context) {
	r, ok := s.audReader(c)
	if !ok {
		return
	}
	var q audit.Query
	var err error
	errs := []error{}
	collect := func(e error) {
		if e != nil {
			errs = append(errs, e)
		}
	}
	q.Member, err = audStringParam(c, "member")
	collect(err)
	q.RecordID, err = audStringParam(c, "record_id")
	collect(err)
	q.Decision, err = audStringParam(c, "decision")
	collect(err)
	q.Reason, err = audStringParam(c, "reason")
	collect(err)
	q.From, err = audTimeParam(c, "from")
	collect(err)
	q.To, err = audTimeParam(c, "to")
	collect(err)
	q.Before, err = audIntParam(c, "cursor", 1, 1<<62)
	collect(err)
	limit, err := audIntParam(c, "limit", 1, audit.MaxLimit)
	collect(err)
	q.Limit = int(limit)
	if len(errs) > 0 {
		s.fail(c, errs[0])
		return
	}
	page, err := r.Search(c.Request.Context(), q)
	if err != nil {
		s.fail(c, problem.Unavailable("the audit log cannot be searched now", err))
		return
	}
	ev := s.audAccessEvent(c, audit.DecisionAllow, http.StatusOK)
	ev.RecordID, ev.Records = q.RecordID, len(page.Events)
	if !s.audGrant(c, ev) {
		return
	}
	resp := audSearchResponse{Events: page.Events}
	if page.Next != 0 {
		resp.NextCursor = strconv.FormatInt(page.Next, 10)
	}
	c.JSON(http.StatusOK, resp)
}

// audEvent answers one decision in full with its chain proof; see
// audit.Proof for how a security officer verifies it offline.
func (s *Server) audEvent(c *gin.Context) {
	r, ok := s.audReader(c)
	if !ok {
		return
	}
	seq, err := strconv.ParseInt(c.Param("seq"), 10, 64)
	if err != nil || seq < 1 {
		s.fail(c, problem.New(http.StatusBadRequest, problem.TypeBadRequest, "seq must be a positive integer"))
		return
	}
	p, err := r.Proof(c.Request.Context(), seq)
	switch {
	case errors.Is(err, audit.ErrNotFound):
		s.fail(c, problem.New(http.StatusNotFound, problem.TypeNotFound, "no audit event with this seq"))
		return
	case err != nil:
		s.fail(c, problem.Unavailable("the audit log cannot be read now", err))
		return
	}
	ev := s.audAccessEvent(c, audit.DecisionAllow, http.StatusOK)
	ev.RecordID = p.Event.RecordID
	if !s.audGrant(c, ev) {
		return
	}
	c.JSON(http.StatusOK, p)
}

// audExport streams the log as NDJSON (events, each checkpoint after the
// event it covers); memory stays flat however long the log is.
func (s *Server) audExport(c *gin.Context) {
	r, ok := s.audReader(c)
	if !ok {
		return
	}
	from, err := audIntParam(c, "from", 1, 1<<62)
	if err != nil {
		s.fail(c, err)
		return
	}
	if !s.audGrant(c, s.audAccessEvent(c, audit.DecisionAllow, http.StatusOK)) {
		return
	}
	c.Header("Content-Type", "application/x-ndjson")
	c.Header("Content-Disposition", `attachment; filename="ura-audit.ndjson"`)
	c.Status(http.StatusOK)
	if err := r.Export(c.Request.Context(), c.Writer, max(from, 1)); err != nil {
		// Headers are gone: the stream just ends short, which the verifier
		// reports as a truncation against the published checkpoints.
		s.log.Warn("audit export ended early", "component", "audit", "request_id", c.GetString(ginRequestID), "error", err)
	}
}

type audCheckpointsResponse struct {
	// Head is the current, unsigned head; checkpoints are the signed ones.
	Head        audit.Head               `json:"head"`
	Checkpoints []audit.SignedCheckpoint `json:"checkpoints"`
}

func (s *Server) audCheckpoints(c *gin.Context) {
	r, ok := s.audReader(c)
	if !ok {
		return
	}
	cps, err := r.Checkpoints(c.Request.Context())
	if err != nil {
		s.fail(c, problem.Unavailable("the audit log cannot be read now", err))
		return
	}
	if cps == nil {
		cps = []audit.SignedCheckpoint{}
	}
	if !s.audGrant(c, s.audAccessEvent(c, audit.DecisionAllow, http.StatusOK)) {
		return
	}
	c.JSON(http.StatusOK, audCheckpointsResponse{Head: r.Head(), Checkpoints: cps})
}

func (s *Server) audSummary(c *gin.Context) {
	r, ok := s.audReader(c)
	if !ok {
		return
	}
	var q audit.SummaryQuery
	var err error
	if q.From, err = audTimeParam(c, "from"); err != nil {
		s.fail(c, err)
		return
	}
	if q.To, err = audTimeParam(c, "to"); err != nil {
		s.fail(c, err)
		return
	}
	if v := c.Query("bucket"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute || d > 31*24*time.Hour {
			s.fail(c, audBadParam("bucket", "must be a duration from 1m to 744h, such as 5m or 1h"))
			return
		}
		q.Bucket = d
	}
	top, err := audIntParam(c, "top", 1, 100)
	if err != nil {
		s.fail(c, err)
		return
	}
	q.Top = int(top)
	sum, err := r.Summary(c.Request.Context(), q)
	switch {
	case errors.Is(err, audit.ErrTooManyBuckets):
		s.fail(c, audBadParam("bucket", "too many buckets for this range; choose a wider bucket or a shorter range"))
		return
	case err != nil:
		s.fail(c, problem.Unavailable("the audit log cannot be read now", err))
		return
	}
	if !s.audGrant(c, s.audAccessEvent(c, audit.DecisionAllow, http.StatusOK)) {
		return
	}
	c.JSON(http.StatusOK, sum)
}

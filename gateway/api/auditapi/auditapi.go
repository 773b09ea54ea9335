// Package auditapi is the security officers' API over the audit log, for
// members of kind auditor only. Reading the audit log is itself audited:
// who searched, exported or looked at which decision, and every refused
// attempt, is an event before the answer is sent.
package auditapi

import (
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/problem"
)

// Handlers serve /v1/audit/*.
type Handlers struct {
	kit    *chain.Kit
	reader audit.Reader // nil: the gateway's log cannot be read
}

// New serves the log kit records into; its read side is what log reads.
func New(kit *chain.Kit, log audit.Log) *Handlers {
	r, _ := log.(audit.Reader)
	return &Handlers{kit: kit, reader: r}
}

// RequireAuditor is the first step of every route here.
func (h *Handlers) RequireAuditor() chain.Handler {
	return h.kit.RequireAuditor("the audit log", "read", access)
}

// access starts the audit event of one request to the audit API.
func access(c *gin.Context) *chain.Request {
	return chain.NewRequest(c, "audit."+action(c.FullPath()), "").DigestURI(c.Request)
}

func action(route string) string {
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

// read is the log's read side, or a 503 when the gateway has none.
func (h *Handlers) read() (audit.Reader, error) {
	if h.reader == nil {
		return nil, problem.Unavailable("the audit log is not available on this gateway", errors.New("audit: no reader configured"))
	}
	return h.reader, nil
}

// grant records the officer's access with what it returned; nothing is
// sent unless that is durable.
func (h *Handlers) grant(c *gin.Context, recordID string, events int) error {
	ev := access(c).Event(audit.DecisionAllow, http.StatusOK)
	ev.RecordID, ev.Records = recordID, events
	if err := h.kit.Record(c, ev); err != nil {
		return err
	}
	c.Header("Cache-Control", "no-store")
	return nil
}

// params checks a route's parameters with the one parser of audit
// searches, and answers every invalid one at once.
func params(c *gin.Context, maxLimit int) (audit.Query, error) {
	q, errs := audit.ParseQuery(c.Request.URL.Query(), 0, maxLimit)
	var bad chain.Params
	for name, detail := range errs {
		bad.Bad(name, detail)
	}
	return q, bad.Err()
}

// SearchResponse is a page of events, newest first. NextCursor, when
// present, is the cursor= of the next (older) page.
type SearchResponse struct {
	Events     []audit.Event `json:"events"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// Search is GET /v1/audit/events.
func (h *Handlers) Search(c *gin.Context) error {
	r, err := h.read()
	if err != nil {
		return err
	}
	q, err := params(c, audit.MaxLimit)
	if err != nil {
		return err
	}
	page, err := r.Search(c.Request.Context(), q)
	if err != nil {
		return problem.Unavailable("the audit log cannot be searched now", err)
	}
	if err := h.grant(c, q.RecordID, len(page.Events)); err != nil {
		return err
	}
	resp := SearchResponse{Events: page.Events}
	if page.Next != 0 {
		resp.NextCursor = strconv.FormatInt(page.Next, 10)
	}
	c.JSON(http.StatusOK, resp)
	return nil
}

// Event answers one decision in full with its chain proof; see
// audit.Proof for how a security officer verifies it offline.
func (h *Handlers) Event(c *gin.Context) error {
	r, err := h.read()
	if err != nil {
		return err
	}
	seq, err := strconv.ParseInt(c.Param("seq"), 10, 64)
	if err != nil || seq < 1 {
		return chain.ParamError("seq", "must be a positive integer")
	}
	p, err := r.Proof(c.Request.Context(), seq)
	switch {
	case errors.Is(err, audit.ErrNotFound):
		return problem.New(http.StatusNotFound, problem.TypeNotFound, "no audit event with this seq")
	case err != nil:
		return problem.Unavailable("the audit log cannot be read now", err)
	}
	if err := h.grant(c, p.Event.RecordID, 0); err != nil {
		return err
	}
	c.JSON(http.StatusOK, p)
	return nil
}

// Export streams the log as NDJSON (events, each checkpoint after the event
// it covers) from seq from on; memory stays flat however long the log is.
func (h *Handlers) Export(c *gin.Context) error {
	r, err := h.read()
	if err != nil {
		return err
	}
	from := int64(1)
	if v := c.Query("from"); v != "" {
		if from, err = strconv.ParseInt(v, 10, 64); err != nil || from < 1 {
			return chain.ParamError("from", "must be a positive integer")
		}
	}
	if err := h.grant(c, "", 0); err != nil {
		return err
	}
	c.Header("Content-Type", "application/x-ndjson")
	c.Header("Content-Disposition", `attachment; filename="ura-audit.ndjson"`)
	c.Status(http.StatusOK)
	if err := r.Export(c.Request.Context(), c.Writer, from); err != nil {
		// Headers are gone: the stream just ends short, which the verifier
		// reports as a truncation against the published checkpoints.
		h.kit.Log.Warn("audit export ended early", "component", "audit", "request_id", chain.RequestID(c), "error", err)
	}
	return nil
}

// CheckpointsResponse is GET /v1/audit/checkpoints.
type CheckpointsResponse struct {
	// Head is the current, unsigned head; checkpoints are the signed ones.
	Head        audit.Head               `json:"head"`
	Checkpoints []audit.SignedCheckpoint `json:"checkpoints"`
}

// Checkpoints is GET /v1/audit/checkpoints.
func (h *Handlers) Checkpoints(c *gin.Context) error {
	r, err := h.read()
	if err != nil {
		return err
	}
	cps, err := r.Checkpoints(c.Request.Context())
	if err != nil {
		return problem.Unavailable("the audit log cannot be read now", err)
	}
	if cps == nil {
		cps = []audit.SignedCheckpoint{}
	}
	if err := h.grant(c, "", 0); err != nil {
		return err
	}
	c.JSON(http.StatusOK, CheckpointsResponse{Head: r.Head(), Checkpoints: cps})
	return nil
}

// Summary is GET /v1/audit/summary: counts over time, for the console's
// overview and for scripts.
func (h *Handlers) Summary(c *gin.Context) error {
	r, err := h.read()
	if err != nil {
		return err
	}
	var (
		sq  audit.SummaryQuery
		bad chain.Params
	)
	q, errs := audit.ParseQuery(c.Request.URL.Query(), 0, 1)
	for _, name := range []string{"from", "to"} {
		if detail, ok := errs[name]; ok {
			bad.Bad(name, detail)
		}
	}
	sq.From, sq.To = q.From, q.To
	if v := c.Query("bucket"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < time.Minute || d > 31*24*time.Hour {
			bad.Bad("bucket", "must be a duration from 1m to 744h, such as 5m or 1h")
		}
		sq.Bucket = d
	}
	if v := c.Query("top"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			bad.Bad("top", "must be an integer from 1 to 100")
		}
		sq.Top = n
	}
	if err := bad.Err(); err != nil {
		return err
	}
	sum, err := r.Summary(c.Request.Context(), sq)
	switch {
	case errors.Is(err, audit.ErrTooManyBuckets):
		return chain.ParamError("bucket", "too many buckets for this range; choose a wider bucket or a shorter range")
	case err != nil:
		return problem.Unavailable("the audit log cannot be read now", err)
	}
	if err := h.grant(c, "", 0); err != nil {
		return err
	}
	c.JSON(http.StatusOK, sum)
	return nil
}

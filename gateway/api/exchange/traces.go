package exchange

import (
	"cmp"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/ratelimit"
	"github.com/ura-gateway/ura/gateway/records"
)

// OpenTrace is one trace request no answer has named yet: a TRACE_REQUEST
// with no TRACE_RESPONSE of the same event.trace.request_id stored.
type OpenTrace struct {
	ID        string          `json:"id"`
	Version   int             `json:"version"`
	RequestID string          `json:"request_id"`
	Requester string          `json:"requester"`
	Authority string          `json:"requesting_authority"`
	Marking   records.Marking `json:"marking"`
	// Requested is the request's event.at; WaitingSeconds how long it has
	// waited since, at the time of the answer.
	Requested      time.Time `json:"requested"`
	WaitingSeconds int64     `json:"waiting_seconds"`
}

// OpenTraces lists the trace requests still waiting for an answer, oldest
// first, for the answering agency and security officers (GET
// /v1/traces/open): what they are asked and how long each has waited.
// Charged in class trace; audited as one request event.
func (h *Handlers) OpenTraces(c *gin.Context) error {
	if err := h.Ready(c); err != nil {
		return err
	}
	req := chain.NewRequest(c, "traces_open", "")
	if k := req.Member.Kind; k != identity.KindAgency && k != identity.KindAuditor {
		return h.kit.Refuse(c, req, problem.New(http.StatusForbidden, problem.TypeForbidden,
			"open trace requests are listed for the agency that answers them and for security officers"))
	}
	var (
		requests []*records.Record
		answered = map[string]bool{}
	)
	err := h.deps.Store.Query(c.Request.Context(), store.Query{Kind: records.KindTrackingEvent}, func(rec *records.Record, _ string) error {
		body := rec.Body()
		trace, _ := body["trace"].(map[string]any)
		id, _ := trace["request_id"].(string)
		switch body["type"] {
		case "TRACE_REQUEST":
			requests = append(requests, rec)
		case "TRACE_RESPONSE":
			answered[id] = true
		}
		return nil
	})
	if err != nil {
		return queryProblem(err)
	}
	now := time.Now().UTC()
	out := []OpenTrace{}
	for _, rec := range requests {
		trace, _ := rec.Body()["trace"].(map[string]any)
		id, _ := trace["request_id"].(string)
		if answered[id] {
			continue
		}
		o := OpenTrace{ID: rec.ID, Version: rec.Version, RequestID: id, Requester: rec.Label.Originator}
		o.Authority, _ = trace["requesting_authority"].(string)
		o.Marking, _ = rec.ItemMarking()
		if at, ok := rec.EventTime(); ok {
			o.Requested = at.UTC()
			o.WaitingSeconds = max(0, int64(now.Sub(at)/time.Second))
		}
		out = append(out, o)
	}
	slices.SortStableFunc(out, func(a, b OpenTrace) int {
		return cmp.Or(a.Requested.Compare(b.Requested), cmp.Compare(a.ID, b.ID))
	})
	p := h.pipeline(c, req, ratelimit.ClassTrace)
	p.answered(audit.DecisionAllow, http.StatusOK, len(out))
	if err := p.commit(nil); err != nil {
		return err
	}
	ok(c, gin.H{"as_of": now, "open": out})
	return nil
}

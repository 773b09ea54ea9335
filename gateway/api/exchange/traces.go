package exchange

import (
	"cmp"
	"fmt"
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

// openTracesMax bounds the tracking events one listing scans, like an
// item's trace (traceMax). Paid by the scan (scanMeter), it costs
// 6,256 of class pull: a caller reaches it only with a pull burst raised
// that far.
const openTracesMax = 100000

// firstParam names one query parameter of c, in sorted order.
func firstParam(c *gin.Context) string {
	names := make([]string, 0, len(c.Request.URL.Query()))
	for n := range c.Request.URL.Query() {
		names = append(names, n)
	}
	slices.Sort(names)
	return names[0]
}

// OpenTraces lists the trace requests still waiting for an answer, oldest
// first, for the answering agency and security officers (GET
// /v1/traces/open): what they are asked and how long each has waited.
// Audited as one request event, and one decision per open request.
//
// Charged in class pull by the scan of the stored tracking events it
// reads (scanMeter), the first scan before the store is read: the listing
// walks exactly the records a stream of kind tracking_event walks for the
// same caller, whose charge already shows it their number by the scan of
// 256, so a charge by the same scans tells it nothing more about the
// events policy withholds from it (gateway/ARCHITECTURE.md, "Work lists").
func (h *Handlers) OpenTraces(c *gin.Context) error {
	if err := h.Ready(c); err != nil {
		return err
	}
	req := chain.NewRequest(c, "traces_open", "")
	if k := req.Member.Kind; k != identity.KindAgency && k != identity.KindAuditor {
		return h.kit.Refuse(c, req, problem.New(http.StatusForbidden, problem.TypeForbidden,
			"open trace requests are listed for the agency that answers them and for security officers"))
	}
	if len(c.Request.URL.Query()) > 0 {
		return h.kit.Refuse(c, req, chain.ParamError(firstParam(c), "is not a parameter of this route (it takes none)"))
	}
	p := h.pipeline(c, req, ratelimit.ClassPull)
	meter := h.newScanMeter(c)
	if err := meter.start(); err != nil {
		return err
	}
	type open struct {
		rec   *records.Record
		id    string
		trace map[string]any
	}
	var (
		requests  []open
		responses = map[string][]*records.Record{}
		scanned   int
	)
	err := h.query(c.Request.Context(), store.Query{Kind: records.KindTrackingEvent}, func(rec *records.Record, _ string) error {
		if err := meter.next(); err != nil {
			return err
		}
		if scanned++; scanned > openTracesMax {
			return problem.New(http.StatusUnprocessableEntity, problem.TypeTooManyRecords,
				fmt.Sprintf("more than %d tracking events are stored; the open trace requests cannot be listed in one answer", openTracesMax))
		}
		body := rec.Body()
		trace, _ := body["trace"].(map[string]any)
		id, _ := trace["request_id"].(string)
		switch body["type"] {
		case "TRACE_REQUEST":
			requests = append(requests, open{rec, id, trace})
		case "TRACE_RESPONSE":
			responses[id] = append(responses[id], rec)
		}
		return nil
	})
	if err != nil {
		return queryProblem(err)
	}
	now := time.Now().UTC()
	out := []OpenTrace{}
	var events []audit.Event
	// released decides rec for the caller, audited like a pull's decision.
	released := func(rec *records.Record) bool {
		x := p.decide(rec)
		ev := p.req.Event(x.Verdict, 0)
		x.Annotate(&ev)
		events = append(events, ev)
		return x.Released()
	}
	for _, r := range requests {
		// A request is answered for the caller only by an answer it could
		// pull, and listed only if it could pull the request itself: the
		// list says no more of a request, or of its answers, than the
		// records would, so an answer withheld from the caller reads as
		// one not stored.
		if slices.ContainsFunc(responses[r.id], released) || !released(r.rec) {
			continue
		}
		o := OpenTrace{ID: r.rec.ID, Version: r.rec.Version, RequestID: r.id, Requester: r.rec.Label.Originator}
		o.Authority, _ = r.trace["requesting_authority"].(string)
		o.Marking, _ = r.rec.ItemMarking()
		if at, ok := r.rec.EventTime(); ok {
			o.Requested = at.UTC()
			o.WaitingSeconds = max(0, int64(now.Sub(at)/time.Second))
		}
		out = append(out, o)
	}
	slices.SortStableFunc(out, func(a, b OpenTrace) int {
		return cmp.Or(a.Requested.Compare(b.Requested), cmp.Compare(a.ID, b.ID))
	})
	p.answered(audit.DecisionAllow, http.StatusOK, len(out))
	if err := p.commit(events); err != nil {
		return err
	}
	ok(c, gin.H{"as_of": now, "open": out})
	return nil
}

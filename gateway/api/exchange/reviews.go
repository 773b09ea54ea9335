package exchange

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/ratelimit"
	"github.com/ura-gateway/ura/gateway/reviews"
)

// reviewers are the member kinds that may list reviews: this gateway's
// institutions, each its own records, and security officers, all of them.
var reviewers = map[string]bool{
	identity.KindAgency: true, identity.KindMinistry: true, identity.KindCustoms: true, identity.KindAuditor: true,
}

// Reviews lists the caller's records whose label review date falls on or
// before due_before (default: today + 30 days), soonest first, overdue ones
// included (GET /v1/reviews): what its originator must review before the
// policy withholds a record from partners (review_overdue). A security
// officer sees every originator's. Audited as one request event.
//
// Charged in class pull by the scan of the stored records it reads
// (scanMeter), the first scan before the store is read: an institution's
// listing reads only the records it originated (the store's index by
// originator), an officer's every record, and each caller is listed
// every record read that is due, so the charge follows nothing the caller
// may not know of (gateway/ARCHITECTURE.md, "Work lists").
func (h *Handlers) Reviews(c *gin.Context) error {
	if err := h.Ready(c); err != nil {
		return err
	}
	req := chain.NewRequest(c, "reviews_due", "")
	if !reviewers[req.Member.Kind] {
		return h.kit.Refuse(c, req, problem.New(http.StatusForbidden, problem.TypeForbidden,
			"review dates are listed for this gateway's institutions, each its own records, and for security officers"))
	}
	now := time.Now().UTC()
	dueBefore := now.Add(reviews.DefaultWindow)
	q := c.Request.URL.Query()
	for _, name := range slices.Sorted(maps.Keys(q)) {
		if name != "due_before" {
			return h.kit.Refuse(c, req, chain.ParamError(name, "is not a parameter of this route (it takes due_before)"))
		}
	}
	if vals, ok := q["due_before"]; ok {
		d, err := time.Parse(time.DateOnly, vals[0])
		if len(vals) != 1 || err != nil {
			return h.kit.Refuse(c, req, chain.ParamError("due_before", "must be one date, YYYY-MM-DD"))
		}
		dueBefore = d
	}
	p := h.pipeline(c, req, ratelimit.ClassPull)
	originator := req.Member.ID
	if req.Member.Kind == identity.KindAuditor {
		originator = ""
	}
	meter := h.newScanMeter(c)
	if err := meter.start(); err != nil {
		return err
	}
	items, err := reviews.Due(c.Request.Context(), meteredQuerier{queryFunc(h.query), meter}, originator, dueBefore, now)
	if errors.Is(err, reviews.ErrTooMany) {
		err = problem.New(http.StatusUnprocessableEntity, problem.TypeTooManyRecords,
			fmt.Sprintf("more than %d records are stored; the records due for review cannot be listed in one answer", reviews.MaxScanned))
	}
	if err != nil {
		return queryProblem(err)
	}
	p.answered(audit.DecisionAllow, http.StatusOK, len(items))
	if err := p.commit(nil); err != nil {
		return err
	}
	ok(c, gin.H{"as_of": now, "due_before": dueBefore.Format(time.DateOnly), "reviews": items})
	return nil
}

package exchange

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/deliveries"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/ratelimit"
)

// UnconfirmedDeliveries is GET /v1/deliveries/unconfirmed: the exports
// declared here longer than deliveries.confirm_within_days ago that no
// DELIVERY_CONFIRMED from the importing state closes, oldest first, with
// how long each has waited (gateway/ARCHITECTURE.md, "Deliveries"). For
// the agency and security officers; charged in class trace; audited as one
// request event (action deliveries_unconfirmed) and, for the agency, one
// decision per declaration.
//
// The list carries what the register of declarations holds, never the
// record. The agency is listed only the declarations it could pull itself
// (each decided and audited as a pull), so the list says no more than the
// records would; a security officer, who may pull no record, is listed
// every one, as the console shows them.
func (h *Handlers) UnconfirmedDeliveries(c *gin.Context) error {
	if err := h.Ready(c); err != nil {
		return err
	}
	req := chain.NewRequest(c, "deliveries_unconfirmed", "")
	k := req.Member.Kind
	if k != identity.KindAgency && k != identity.KindAuditor {
		return h.kit.Refuse(c, req, problem.New(http.StatusForbidden, problem.TypeForbidden,
			"unconfirmed deliveries are listed for the agency and for security officers"))
	}
	if len(c.Request.URL.Query()) > 0 {
		return h.kit.Refuse(c, req, chain.ParamError(firstParam(c), "is not a parameter of this route (it takes none)"))
	}
	ctx := c.Request.Context()
	now := time.Now().UTC()
	days := h.cfg.Deliveries.ConfirmWithinDays
	list, err := deliveries.List(ctx, h.deps.Store.ScanKeyed, now, deliveries.Within(days))
	switch {
	case errors.Is(err, deliveries.ErrTooMany):
		return problem.New(http.StatusUnprocessableEntity, problem.TypeTooManyRecords,
			fmt.Sprintf("more than %d declarations are registered; the unconfirmed deliveries cannot be listed in one answer", deliveries.MaxEntries))
	case err != nil:
		return problem.Unavailable("the record store is unavailable", err)
	}
	p := h.pipeline(c, req, ratelimit.ClassTrace)
	out := []deliveries.Unconfirmed{}
	var events []audit.Event
	for _, u := range list {
		if k == identity.KindAuditor {
			out = append(out, u)
			continue
		}
		rec, err := h.get(ctx, u.ID)
		if errors.Is(err, store.ErrNotFound) {
			continue
		}
		if err != nil {
			return problem.Unavailable("the record store is unavailable", err)
		}
		x := p.decide(rec)
		ev := p.req.Event(x.Verdict, 0)
		x.Annotate(&ev)
		events = append(events, ev)
		if x.Released() {
			out = append(out, u)
		}
	}
	p.answered(audit.DecisionAllow, http.StatusOK, len(out))
	if err := p.commit(events); err != nil {
		return err
	}
	ok(c, gin.H{"as_of": now, "confirm_within_days": days, "unconfirmed": out})
	return nil
}

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

// AgencyDeliveriesMax bounds the register entries the agency's listing
// reads: beyond it the agency is answered 422. AgencyDeliveriesCost is
// what the agency pays for every listing, in class pull, before the
// register is read: the largest read the bound allows, at a report's price
// per scan of Chunk (ReportScanCost), 64 scans: 1,024, so a listing
// needs half the agency's default pull burst of 2,000.
const (
	AgencyDeliveriesMax  = 64 * Chunk
	AgencyDeliveriesCost = AgencyDeliveriesMax / Chunk * ReportScanCost
)

// UnconfirmedDeliveries is GET /v1/deliveries/unconfirmed: the exports
// declared here longer than deliveries.confirm_within_days ago that no
// DELIVERY_CONFIRMED from the importing state closes, oldest first, with
// how long each has waited (gateway/ARCHITECTURE.md, "Deliveries"). For
// the agency and security officers; audited as one request event (action
// deliveries_unconfirmed) and, for the agency, one decision per
// declaration.
//
// The list carries what the register of declarations holds, never the
// record. The agency is listed only the declarations it could pull itself
// (each decided and audited as a pull), so the list says no more than the
// records would; a security officer, who may pull no record, is listed
// every one, as the console shows them.
//
// Charged in class pull before the register is read (gateway/ARCHITECTURE.md,
// "Work lists"). A security officer, listed every entry read, pays by the
// scan (scanMeter). The agency pays AgencyDeliveriesCost whatever the
// register holds, for a read of at most AgencyDeliveriesMax entries: the
// register holds declarations it may not pull, and a charge that followed
// their number would count them for it.
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
	scan, limit := deliveries.Scan(h.deps.Store.ScanKeyed), AgencyDeliveriesMax
	if k == identity.KindAuditor {
		meter := h.newScanMeter(c)
		if err := meter.start(); err != nil {
			return err
		}
		scan, limit = meteredScan(scan, meter), deliveries.MaxEntries
	} else if err := h.kit.ChargeMore(c, ratelimit.ClassPull, AgencyDeliveriesCost); err != nil {
		return err
	}
	list, err := deliveries.ListAtMost(ctx, scan, now, deliveries.Within(days), limit)
	switch {
	case errors.Is(err, deliveries.ErrTooMany):
		return problem.New(http.StatusUnprocessableEntity, problem.TypeTooManyRecords,
			fmt.Sprintf("more than %d declarations are registered; the unconfirmed deliveries cannot be listed in one answer", limit))
	case err != nil:
		return queryProblem(err)
	}
	p := h.pipeline(c, req, ratelimit.ClassPull)
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

package exchange

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/ratelimit"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// traceMax bounds one item's history: a trace is sorted in memory, and no
// real item has anywhere near this many events.
const traceMax = 10000

// Get is GET /v1/records/{id}: one record as the caller may see it. A
// withheld record is answered exactly like a missing one, and costs the same
// work: a missing id is decided too (on a stand-in that no rule releases)
// and audited with the same two events, so neither the answer nor its
// timing tells whether the record exists. The request's one charge was paid
// before (chain.Kit.Charge), and nothing is refunded.
func (h *Handlers) Get(c *gin.Context) error {
	if err := h.Ready(c); err != nil {
		return err
	}
	req := chain.NewRequest(c, "pull", "")
	notFound := problem.New(http.StatusNotFound, problem.TypeNotFound, "no such record")
	id := c.Param("id")
	if !records.ValidID(id) {
		return h.kit.Refuse(c, req, notFound)
	}
	// A get answers JSON only; Accept may still name the proof profile.
	proof, err := jsonProfile(c.GetHeader("Accept"), h.cfg.Sign.Proof)
	if err != nil {
		return h.kit.Refuse(c, req, problem.From(err))
	}
	rec, err := h.get(c.Request.Context(), id)
	missing := errors.Is(err, store.ErrNotFound)
	if err != nil && !missing {
		return problem.Unavailable("the record store is unavailable", err)
	}
	p := h.pipeline(c, req, ratelimit.ClassPull)
	p.proof = proof
	var (
		d      []Delivery
		events []audit.Event
	)
	if missing {
		// Decided and audited like a withheld record; the decision itself
		// is not used.
		x := p.decide(standIn(id))
		h.sameReads(c.Request.Context(), req.Member.ID, &x, id, 1)
		ev := recordEvent(req, nil, audit.DecisionWithhold, policy.Decision{})
		ev.RecordID, ev.Reasons = id, []verdict.Reason{{Code: "not_found", Message: "no record with this id is stored"}}
		events = []audit.Event{ev}
	} else {
		x := p.decide(rec)
		h.sameReads(c.Request.Context(), req.Member.ID, &x, rec.ID, rec.Version)
		if d, events, err = p.release([]decided{x}); err != nil {
			return err
		}
	}
	if len(d) == 0 {
		p.answered(audit.DecisionWithhold, http.StatusNotFound, 0)
	} else {
		p.answered(audit.DecisionAllow, http.StatusOK, len(d))
	}
	if err := p.commit(events); err != nil {
		return err
	}
	if len(d) == 0 {
		return notFound
	}
	c.Header("Content-Type", contentType("application/json; charset=utf-8", p.proof))
	ok(c, d[0])
	return nil
}

// jsonProfile reads Accept for a route that answers JSON whatever is asked
// (get, trace, push): only the media ranges' profiles count, so an Accept
// naming NDJSON, or nothing JSON, keeps its answer as before; a range
// without a profile takes def (sign.proof), as it does for a pull. When
// every range names only profiles this gateway does not know, it is a 406
// naming the one media type and the profiles there are.
func jsonProfile(accept, def string) (string, error) {
	var kept []string
	for _, part := range strings.Split(accept, ",") {
		if _, params, err := mime.ParseMediaType(strings.TrimSpace(part)); err == nil && !qZero(params["q"]) {
			if prof, ok := params["profile"]; ok {
				kept = append(kept, `application/json; profile="`+prof+`"`)
			} else {
				kept = append(kept, "application/json")
			}
		}
	}
	_, proof, err := negotiate(strings.Join(kept, ", "), def)
	if err != nil {
		p := problem.New(http.StatusNotAcceptable, problem.TypeNotAcceptable,
			`this answers application/json, with no profile or profile "`+ProfileChunk+`" or "`+ProfileJWS+`"`)
		p.Extra = map[string]any{"available": []string{"application/json"}, "profiles": []string{ProfileChunk, ProfileJWS}}
		return "", p
	}
	return proof, nil
}

// sameReads reads the releases of id for the caller when a withheld
// decision did not (the policy did not say releasable_by_authority), its
// answer unused: every withheld or missing record then costs a get one
// such read, so the work done does not tell a record releasable by
// authority from another withheld one, or from a missing one.
func (h *Handlers) sameReads(ctx context.Context, caller string, x *decided, id string, version int) {
	if x.Released() || x.Consulted || h.deps.Store == nil {
		return
	}
	_, _ = h.deps.Store.ReleasesFor(ctx, id, version, caller)
}

// standIn is what a get decides for an id that is not stored: a record of
// the most guarded shape, which the policy withholds from every member (no
// nation is named in releasable_to), so that a missing id costs one
// decision like a stored one.
func standIn(id string) *records.Record {
	created := time.Unix(0, 0).UTC()
	lbl := map[string]any{"classification": "SECRET", "releasable_to": []any{}, "originator": "NONE/NONE/NONE", "created": created.Format(time.RFC3339)}
	doc := map[string]any{"kind": records.KindLicence, "id": id, "version": json.Number("1"), "label": lbl, "licence": map[string]any{}}
	return &records.Record{Kind: records.KindLicence, ID: id, Version: 1, Doc: doc, Raw: json.RawMessage(`{}`),
		Label: records.Label{Classification: "SECRET", ReleasableTo: []string{}, Originator: "NONE/NONE/NONE", Created: created}}
}

// Trace is GET /v1/items/{country}/{manufacturer}/{serial}/trace: an item's
// tracking events in the order they happened, each decided, signed and
// audited like a pull (class trace). A trace costs its one charge of its
// class, paid before, however many events the item has: a charge per event
// found would count the events policy withholds.
func (h *Handlers) Trace(c *gin.Context) error {
	if err := h.Ready(c); err != nil {
		return err
	}
	req := chain.NewRequest(c, "trace", "")
	mk := store.Marking{Country: c.Param("country"), Manufacturer: c.Param("manufacturer"), Serial: c.Param("serial")}
	if err := checkMarking(mk.Country, mk.Manufacturer, mk.Serial, false); err != nil {
		return h.kit.Refuse(c, req, err)
	}
	proof, err := jsonProfile(c.GetHeader("Accept"), h.cfg.Sign.Proof)
	if err != nil {
		return h.kit.Refuse(c, req, problem.From(err))
	}
	var found []*records.Record
	err = h.query(c.Request.Context(), store.Query{Kind: records.KindTrackingEvent, Marking: &mk}, func(rec *records.Record, _ string) error {
		if len(found) == traceMax {
			return problem.New(http.StatusUnprocessableEntity, problem.TypeTooManyRecords,
				fmt.Sprintf("this item has more than %d events; pull them with GET /v1/records and the marking filters", traceMax))
		}
		found = append(found, rec)
		return nil
	})
	if err != nil {
		return queryProblem(err)
	}
	slices.SortStableFunc(found, func(a, b *records.Record) int {
		ta, _ := a.EventTime()
		tb, _ := b.EventTime()
		return cmp.Or(ta.Compare(tb), strings.Compare(a.ID, b.ID))
	})
	p := h.pipeline(c, req, ratelimit.ClassTrace)
	p.proof = proof
	out, events, err := p.deliver(found)
	if err != nil {
		return err
	}
	if out == nil {
		out = []Delivery{}
	}
	brokering, bev, err := h.brokering(c, p, found, out)
	if err != nil {
		return err
	}
	events = append(events, bev...)
	p.answered(audit.DecisionAllow, http.StatusOK, len(out)+len(brokering))
	if err := p.commit(events); err != nil {
		return err
	}
	c.Header("Content-Type", contentType("application/json; charset=utf-8", p.proof))
	ok(c, gin.H{"item": gin.H{"country": mk.Country, "manufacturer": mk.Manufacturer, "serial": mk.Serial},
		"events": out, "brokering": brokering})
	return nil
}

// brokering is the trace's brokering activity: the brokering licence each
// released event of the item names (a brokered export declaration's
// event.broker.brokering_licence_id), each decided for the caller like any
// record (gateway/ARCHITECTURE.md, "Traces"). Only events the caller was
// given count, so a withheld event reveals nothing through its broker; a
// brokering licence withheld and one not stored are answered alike (absent)
// and cost the same decision, as in Get.
func (h *Handlers) brokering(c *gin.Context, p *pipeline, found []*records.Record, released []Delivery) ([]Delivery, []audit.Event, error) {
	given := make(map[string]bool, len(released))
	for _, d := range released {
		given[d.ID] = true
	}
	var ids []string
	for _, rec := range found {
		if !given[rec.ID] {
			continue
		}
		broker, _ := rec.Body()["broker"].(map[string]any)
		if id, _ := broker["brokering_licence_id"].(string); records.ValidID(id) && !slices.Contains(ids, id) {
			ids = append(ids, id)
		}
	}
	out := []Delivery{}
	var events []audit.Event
	for _, id := range ids {
		rec, err := h.get(c.Request.Context(), id)
		if err == nil && rec.Kind != records.KindBrokeringLicence {
			// Named as a brokering licence, it is none: as if not stored.
			err = store.ErrNotFound
		}
		switch {
		case errors.Is(err, store.ErrNotFound):
			_ = p.decide(standIn(id))
			ev := recordEvent(p.req, nil, audit.DecisionWithhold, policy.Decision{})
			ev.RecordID, ev.Reasons = id, []verdict.Reason{{Code: "not_found", Message: "no record with this id is stored"}}
			events = append(events, ev)
			continue
		case err != nil:
			return nil, nil, problem.Unavailable("the record store is unavailable", err)
		}
		d, ev, err := p.deliver([]*records.Record{rec})
		if err != nil {
			return nil, nil, err
		}
		out, events = append(out, d...), append(events, ev...)
	}
	return out, events, nil
}

package exchange

import (
	"fmt"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/federation"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// The audit events of a push: its decisions, written before any effect,
// and its outcome, written before the answer.

// ReasonOvertaken leads the reasons of the outcome event of a record the
// policy allowed and the store refused (gateway/ARCHITECTURE.md, "Audit").
const ReasonOvertaken = "overtaken_by_store"

// ReasonLicenceWithheld is added to the decision event of a declaration
// citing a licence its pusher may not see (licenceView): the event says
// why its result is licence_unknown; the result never does.
const ReasonLicenceWithheld = "licence_withheld"

// pushLead is a push's request-level event; status 0 means decided but not
// yet answered.
func pushLead(req *chain.Request, records, status int, kid string) audit.Event {
	lead := req.Event(audit.DecisionAllow, 0)
	if status >= 400 {
		lead.Decision = audit.DecisionError
	}
	lead.Status, lead.Records, lead.SigningKID = status, records, kid
	return lead
}

// decisionEvents are the events written before any effect: the request's
// event (status 0) and one per record with its decision. Invalid and denied
// records are final here; an allowed one is "allow" unless the store then
// finds it unchanged or in conflict (outcomeEvents).
func (ps *pusher) decisionEvents(items []pushItem) []audit.Event {
	events := make([]audit.Event, 0, len(items)+1)
	events = append(events, pushLead(ps.req, len(items), 0, ""))
	// The reasons this adds to records' own go into one array sized once.
	size := 0
	for i := range items {
		if k := ps.addedReasons(&items[i], nil); k > 0 {
			size += len(items[i].res.Reasons) + k
		}
	}
	arena := make(reasons, 0, size)
	for i := range items {
		it := &items[i]
		decision := audit.DecisionAllow
		if s := it.res.Status; s != StatusAccepted && s != StatusUnchanged {
			decision = audit.DecisionDeny
		}
		ev := recordEvent(ps.req, it.rec, decision, it.d)
		if it.rec == nil {
			ev.RecordID, ev.RecordVersion = it.res.ID, it.res.Version
		}
		ev.Reasons = it.res.Reasons
		var added [3]verdict.Reason
		if k := ps.addedReasons(it, &added); k > 0 {
			ev.Reasons = arena.join(it.res.Reasons, added[:k]...)
		}
		events = append(events, ev)
	}
	return events
}

// addedReasons is how many reasons a record's decision event has beyond its
// result's: why it was invalid, the peer key that signed it when relayed,
// and the licence withheld from its pusher; into added, in that order, when
// added is not nil.
func (ps *pusher) addedReasons(it *pushItem, added *[3]verdict.Reason) int {
	k := 0
	if it.res.Status == StatusInvalid {
		if added != nil {
			added[k] = verdict.Reason{Code: "invalid_record", Message: fmt.Sprintf("%d invalid fields", len(it.res.Errors))}
		}
		k++
	}
	if it.kid != "" {
		if added != nil {
			added[k] = federation.AuditReason(ps.req.Member.ID, it.kid)
		}
		k++
	}
	if it.withheld != nil {
		if added != nil {
			added[k] = *it.withheld
		}
		k++
	}
	return k
}

// reasons hands out the reasons of a push's events from one array, each
// event's capped at its end, so that appending to one never reaches the
// next. Sized too small, it grows: the reasons handed out before keep the
// old array, which nothing writes again.
type reasons []verdict.Reason

func (a *reasons) join(head []verdict.Reason, tail ...verdict.Reason) []verdict.Reason {
	start := len(*a)
	*a = append(append(*a, head...), tail...)
	return (*a)[start:len(*a):len(*a)]
}

// outcomeEvents close a push whose decisions are already in the log: the
// request's final event (its status, and the key that signed its results)
// and an event for every allowed record the store did not take as decided
// (unchanged, a version conflict, or an export the store refused: a deny
// whose first reason is overtaken_by_store, then the store's own).
func (ps *pusher) outcomeEvents(items []pushItem, status int, kid string) []audit.Event {
	// Sized once: the events, and the reasons of those that bring their own.
	n, size := 1, 0
	for i := range items {
		switch it := &items[i]; {
		case it.res.Status == StatusUnchanged:
			n, size = n+1, size+1
		case it.res.Status == StatusConflict:
			n++
		case it.res.Status == StatusDenied && it.overtaken:
			n, size = n+1, size+1+len(it.res.Reasons)
		}
	}
	events := make([]audit.Event, 0, n)
	events = append(events, pushLead(ps.req, len(items), status, kid))
	if n == 1 {
		return events
	}
	arena := make(reasons, 0, size)
	for i := range items {
		it := &items[i]
		var ev audit.Event
		switch it.res.Status {
		case StatusUnchanged:
			ev = recordEvent(ps.req, it.rec, audit.DecisionAllow, it.d)
			ev.Reasons = arena.join(nil, verdict.Reason{Code: "unchanged", Message: "this version was already stored with the same content"})
		case StatusConflict:
			ev = recordEvent(ps.req, it.rec, audit.DecisionDeny, it.d)
			ev.Reasons = it.res.Reasons
		case StatusDenied:
			if !it.overtaken {
				continue
			}
			ev = recordEvent(ps.req, it.rec, audit.DecisionDeny, it.d)
			ev.Reasons = arena.join([]verdict.Reason{{Code: ReasonOvertaken,
				Message: "the policy allowed this record; the store, reading its licence where the record was to be stored, refused it"}},
				it.res.Reasons...)
		default:
			continue
		}
		ev.SigningKID = kid
		events = append(events, ev)
	}
	return events
}

// failStored answers a push that failed after its decisions were logged
// (store, outbox or signer down). The answer is a 503 with no result; the
// log gets the request's final event with that status. The pusher retries
// and gets unchanged for what is already stored.
func (ps *pusher) failStored(c *gin.Context, items []pushItem, err error) error {
	p := chain.Problem(err)
	if aerr := ps.deps.Audit.Append(c.Request.Context(), ps.outcomeEvents(items, p.Status, "")...); aerr != nil {
		ps.log.Error("audit append failed for a push that failed after its decisions were logged",
			"request_id", ps.req.ID, "member", ps.req.Member.ID, "error", aerr)
	}
	return p
}

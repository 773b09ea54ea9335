package exchange

import (
	"fmt"
	"slices"

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
		if it.res.Status == StatusInvalid {
			ev.Reasons = append(slices.Clip(it.res.Reasons), verdict.Reason{Code: "invalid_record", Message: fmt.Sprintf("%d invalid fields", len(it.res.Errors))})
		}
		if it.kid != "" {
			ev.Reasons = append(slices.Clip(ev.Reasons), federation.AuditReason(ps.req.Member.ID, it.kid))
		}
		events = append(events, ev)
	}
	return events
}

// outcomeEvents close a push whose decisions are already in the log: the
// request's final event (its status, and the key that signed its results)
// and an event for every allowed record the store did not take as decided
// (unchanged, a version conflict, or an export the store refused: a deny
// whose first reason is overtaken_by_store, then the store's own).
func (ps *pusher) outcomeEvents(items []pushItem, status int, kid string) []audit.Event {
	events := []audit.Event{pushLead(ps.req, len(items), status, kid)}
	for i := range items {
		it := &items[i]
		var ev audit.Event
		switch it.res.Status {
		case StatusUnchanged:
			ev = recordEvent(ps.req, it.rec, audit.DecisionAllow, it.d)
			ev.Reasons = []verdict.Reason{{Code: "unchanged", Message: "this version was already stored with the same content"}}
		case StatusConflict:
			ev = recordEvent(ps.req, it.rec, audit.DecisionDeny, it.d)
			ev.Reasons = it.res.Reasons
		case StatusDenied:
			if !it.overtaken {
				continue
			}
			ev = recordEvent(ps.req, it.rec, audit.DecisionDeny, it.d)
			ev.Reasons = append([]verdict.Reason{{Code: ReasonOvertaken,
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

package exchange

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/federation"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// The events a push built one record at a time, each reason slice
// allocated on its own: what decisionEvents and outcomeEvents must still
// write, event for event.

func decisionEventsBefore(ps *pusher, items []pushItem) []audit.Event {
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

func outcomeEventsBefore(ps *pusher, items []pushItem, status int, kid string) []audit.Event {
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

// randItems are decided records of every status, relayed or not, with
// reasons or none.
func randItems(r *rand.Rand, n int) []pushItem {
	statuses := []string{StatusAccepted, StatusUnchanged, StatusDenied, StatusInvalid, StatusConflict}
	items := make([]pushItem, n)
	for i := range items {
		it := &items[i]
		it.res = randResult(r, i)
		it.res.Status = statuses[r.IntN(len(statuses))]
		if it.res.Status != StatusInvalid && r.IntN(4) != 0 {
			it.rec = &records.Record{Kind: "licence", ID: "LIC-" + strconv.Itoa(i), Version: 1 + r.IntN(3)}
			it.d = policy.Decision{ID: "dec-" + strconv.Itoa(i), Revision: "rev", Allow: r.IntN(2) == 0, Reasons: it.res.Reasons}
		}
		if r.IntN(3) == 0 {
			it.kid = "peer-key-" + strconv.Itoa(r.IntN(3))
		}
		it.overtaken = it.res.Status == StatusDenied && r.IntN(2) == 0
	}
	return items
}

// sameEvents compares events as the log encodes them, times aside (each
// event takes the time it is built).
func sameEvents(t *testing.T, what string, got, want []audit.Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		g.Time, w.Time = time.Time{}, time.Time{}
		gb, err := json.Marshal(g)
		if err != nil {
			t.Fatal(err)
		}
		wb, err := json.Marshal(w)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(gb, wb) {
			t.Fatalf("%s: event %d:\n got %s\nwant %s", what, i, gb, wb)
		}
	}
}

// TestPushEventsAsBefore: a push's decision and outcome events, their
// reasons drawn from one array, are the events it wrote before, and
// appending to one event's reasons never changes another's.
func TestPushEventsAsBefore(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 10))
	ps := &pusher{req: &chain.Request{Member: identity.Member{ID: "AL/GOV/AIM"}, ID: "req-1", Route: "/v1/records",
		Action: string(policy.Push), Digest: "sha256:00"}}
	for _, n := range []int{0, 1, 2, 10, 100, 500} {
		items := randItems(r, n)
		got, want := ps.decisionEvents(items), decisionEventsBefore(ps, items)
		sameEvents(t, "decisions", got, want)
		for _, status := range []int{200, 503} {
			out := ps.outcomeEvents(items, status, "kid-1")
			sameEvents(t, "outcome", out, outcomeEventsBefore(ps, items, status, "kid-1"))
			got = append(got, out...)
		}
		snapshot, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got {
			_ = append(got[i].Reasons, verdict.Reason{Code: "x", Message: "x"})
		}
		if after, _ := json.Marshal(got); !bytes.Equal(after, snapshot) {
			t.Fatalf("%d records: appending to one event's reasons changed another's", n)
		}
	}
}

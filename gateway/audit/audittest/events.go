package audittest

import (
	"fmt"
	"time"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// Members used in generated events.
var Members = []string{"AL/GOV/AIM", "AL/GOV/MOD", "AL/GOV/DPD", "IT/GOV/MOD", "NATO/ORG/LIAISON"}

// Events returns n realistic events starting at t0, one second apart: a mix
// of pushes and pulls, allowed, redacted, denied and withheld decisions.
func Events(n int, t0 time.Time) []audit.Event {
	out := make([]audit.Event, n)
	for i := range out {
		member := Members[i%len(Members)]
		e := audit.Event{
			Time:           t0.Add(time.Duration(i) * time.Second),
			RequestID:      fmt.Sprintf("req-%06d", i/3),
			Member:         member,
			Action:         []string{"push", "pull", "pull", "trace"}[i%4],
			Route:          "/v1/records",
			RecordKind:     "licence",
			RecordID:       fmt.Sprintf("AIM-LIC-2026-%06d", i%17),
			RecordVersion:  1 + i%3,
			PolicyRevision: "sha256:4f2a9c",
			DecisionID:     fmt.Sprintf("dec-%08d", i),
			SigningKID:     "ura-signing/1",
			RequestDigest:  fmt.Sprintf("sha256:%064x", i),
			Status:         200,
		}
		switch i % 7 {
		case 0, 1, 2:
			e.Decision = audit.DecisionAllow
		case 3:
			e.Decision = audit.DecisionRedact
			e.Redactions = []verdict.Redaction{{Pointer: "/licence/contract_value", Rule: "redactions.customs.licence"},
				{Pointer: "/licence/end_user/contact", Rule: "redactions.customs.licence"}}
			e.Reasons = []verdict.Reason{{Code: "redact_commercial", Message: "contract values are not released to customs"}}
		case 4, 5:
			e.Decision = audit.DecisionDeny
			e.Status = 403
			e.Reasons = []verdict.Reason{{Code: "not_releasable", Message: "record is not releasable to " + member}}
			if i%2 == 0 {
				e.Reasons = append(e.Reasons, verdict.Reason{Code: "clearance", Message: "classification above the caller's clearance"})
			}
		case 6:
			e.Decision = audit.DecisionWithhold
			e.Reasons = []verdict.Reason{{Code: "clearance", Message: "classification above the caller's clearance"}}
		}
		out[i] = e
	}
	return out
}

// PullChunk returns n events as one pull appends them for one chunk: one
// request's per-record decisions, made microseconds apart from t0, each
// with its own record and policy decision, most released (some redacted),
// some withheld with the same reason.
func PullChunk(n int, t0 time.Time) []audit.Event {
	out := make([]audit.Event, n)
	redactions := []verdict.Redaction{{Pointer: "/licence/contract_value", Rule: "redactions.customs.licence"}}
	withheld := []verdict.Reason{{Code: "clearance", Message: "classification above the caller's clearance"}}
	for i := range out {
		e := audit.Event{
			Time:           t0.Add(time.Duration(i) * 3 * time.Microsecond),
			RequestID:      "01JZ8Q4K7M3N5P6R7S8T9V0W1X",
			Member:         "AL/GOV/DPD",
			Action:         "pull",
			Route:          "/v1/records",
			RecordKind:     "licence",
			RecordID:       fmt.Sprintf("AIM-LIC-2026-%06d", i),
			RecordVersion:  1 + i%3,
			PolicyRevision: "sha256:4f2a9c",
			DecisionID:     fmt.Sprintf("0197c0de-%04x-7000-8000-%012x", i, i),
			RequestDigest:  "sha256:" + fmt.Sprintf("%064x", 7),
			Decision:       audit.DecisionAllow,
			SigningKID:     "ura-signing/1",
		}
		switch i % 8 {
		case 1, 2:
			e.Decision, e.Redactions = audit.DecisionRedact, redactions
		case 7:
			e.Decision, e.Reasons, e.SigningKID = audit.DecisionWithhold, withheld, ""
		}
		out[i] = e
	}
	return out
}

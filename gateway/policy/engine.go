// Package policy decides, for each record, whether a member may push or
// pull it, and which fields must be redacted first. Decide asks about one
// record; DecideChunk about a chunk of them, where the embedded engine
// decides once for all the pulls that agree on every input path the
// policy revision can read (its read set, computed when the revision is
// compiled: readset.go), so that a bulk pull costs one evaluation per
// distinct question rather than one per record.
package policy

import (
	"context"
	"encoding/json"
	"strconv"
	"time"

	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/registers"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// Action is what the caller does with the record.
type Action string

// Actions.
const (
	Push Action = "push"
	Pull Action = "pull"
)

// Input is one per-record question.
type Input struct {
	Caller identity.Member
	Action Action
	Record *records.Record
	// Previous is the stored version the push would replace, if any, so that
	// policy can refuse a silent downgrade of the label.
	Previous *records.Record
	// Registers are the register entries the record refers to
	// (input.registers): a push reads them from the store for its batch
	// (registers.Overlay.For). Nil on a pull, which reads none.
	Registers *registers.Snapshot
	// Release is the two-person release in force for this record version
	// and this caller (input.release), set only on a pull the policy said
	// was releasable by authority (gateway/ARCHITECTURE.md, "Release
	// authority"). Nil otherwise.
	Release *Release
	// Now is the time of the decision (input.now, RFC 3339 in UTC): what a
	// review date or a licence's validity is compared with. Zero leaves it
	// out, and the policy reads OPA's clock.
	Now time.Time
}

// Release names a release in force, as the policy reads it.
type Release struct {
	ID        string
	RecordID  string
	Version   int
	Recipient string
}

func (r *Release) doc() map[string]any {
	return map[string]any{"id": r.ID, "record_id": r.RecordID, "version": json.Number(strconv.Itoa(r.Version)), "recipient": r.Recipient}
}

// nowDoc is Now as input.now.
func (in Input) nowDoc() (string, bool) {
	if in.Now.IsZero() {
		return "", false
	}
	return in.Now.UTC().Format(time.RFC3339Nano), true
}

// Decision is the answer for one record.
type Decision struct {
	Allow bool
	// Redact lists JSON pointers removed before the record is serialized.
	Redact []string
	// Redactions are Redact again, in its order, each pointer with the ID
	// of the policy rule that removed it: what the signed delivery and the
	// audit event say about a removed field (never its value).
	Redactions []verdict.Redaction
	Reasons    []verdict.Reason
	// ReleasableByAuthority is true on a refusal every one of whose reasons
	// two security officers may release (releasable_by_authority in the
	// policy's result; absent is false).
	ReleasableByAuthority bool
	// ID identifies this decision in the audit log and the signed output.
	ID string
	// Revision is the policy bundle hash that decided.
	Revision string
	// Translations are the steps by which the released record's label is
	// translated into the recipient's security policy, in order (empty
	// when it is delivered as stored). Only on an allow.
	Translations []verdict.Translation
}

// Engine answers per-record questions. It never returns an error: an
// undefined result, an evaluation error or a timeout is a deny with a reason.
type Engine interface {
	Decide(ctx context.Context, in Input) Decision
	// DecideChunk answers several questions at once, in their order, each
	// as Decide would, each decision with its own ID: an engine may decide
	// equal questions once (OPA.DecideChunk).
	DecideChunk(ctx context.Context, in []Input) []Decision
}

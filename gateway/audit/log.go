// Package audit keeps the tamper-evident log of every request and every
// per-record policy decision.
//
// Each appended event gets a gap-free sequence number, the hash of the event
// before it, and its own hash: SHA-256 over the event's RFC 8785 (JCS)
// canonical JSON without the "hash" member. Each appender encodes its own
// events in that form (encode.go: one pass, members in RFC 8785 order, byte
// for byte what encoding/json followed by the jcs library gives), so the
// single writer only places each event in the chain and hashes it.
// Append returns only once the events are durable; concurrent appenders
// share one write and one fsync (group commit), and on the file store the
// writer writes the next group while the previous one's fsync is under way
// (two fsyncs at most), answering each group once an fsync begun after its
// write returned (gateway/ARCHITECTURE.md, Audit). Signed checkpoints (count, head hash, time) bind the chain
// to a key held outside the gateway host, so that a rewrite of the log, even
// by the gateway's administrator, is detectable by anyone holding the JWKS.
package audit

import (
	"context"
	"time"

	"github.com/ura-gateway/ura/gateway/verdict"
)

// Event is one audit entry: a request, or one per-record decision in it.
// Secrets, tokens and redacted field values never enter it.
type Event struct {
	// Seq, Prev and Hash are set by the log when the event is appended;
	// whatever a caller puts there is overwritten.
	Seq  int64  `json:"seq"`
	Prev string `json:"prev"`
	Hash string `json:"hash,omitempty"`

	Time          time.Time        `json:"time"`
	RequestID     string           `json:"request_id"`
	Member        string           `json:"member"`
	Action        string           `json:"action"`
	Route         string           `json:"route,omitempty"`
	RecordKind    string           `json:"record_kind,omitempty"`
	RecordID      string           `json:"record_id,omitempty"`
	RecordVersion int              `json:"record_version,omitempty"`
	Decision      string           `json:"decision"`
	Reasons       []verdict.Reason `json:"reasons,omitempty"`
	// Redactions are the fields a redact decision removed, each with the
	// rule that removed it; an event written before rules were recorded
	// carries bare pointers, and re-encodes to them (verdict.Redaction).
	Redactions []verdict.Redaction `json:"redactions,omitempty"`
	// Translations are the steps by which a released record's label was
	// translated into its recipient's security policy (none when it left
	// as stored).
	Translations   []verdict.Translation `json:"translations,omitempty"`
	PolicyRevision string                `json:"policy_revision,omitempty"`
	DecisionID     string                `json:"decision_id,omitempty"`
	SigningKID     string                `json:"signing_kid,omitempty"`
	RequestDigest  string                `json:"request_digest,omitempty"`
	Status         int                   `json:"status,omitempty"`
	// Records is how many records a request-level event covers.
	Records int `json:"records,omitempty"`
	// Collapsed is how many refusals a summary event stands for: refusals of
	// one member by one limit, counted in one window after the first, which
	// has an event of its own (ARCHITECTURE.md, Audit). Zero (absent) on
	// every other event, so logs written before the field verify unchanged.
	Collapsed int `json:"collapsed,omitempty"`
	// Shadow is what a candidate (shadow) policy would have decided, when it
	// differs from the enforced decision.
	Shadow *Shadow `json:"shadow,omitempty"`
}

// Shadow is a shadow policy's divergent answer for the same input.
type Shadow struct {
	Decision string           `json:"decision"`
	Reasons  []verdict.Reason `json:"reasons,omitempty"`
	Revision string           `json:"revision,omitempty"`
}

// Decisions recorded in Event.Decision. Request-level events carry the
// outcome of the request as a whole.
const (
	DecisionAllow    = "allow"
	DecisionRedact   = "redact"
	DecisionDeny     = "deny"
	DecisionWithhold = "withhold"
	DecisionError    = "error"
)

// Denied reports whether a decision kept a record (or a request) from the
// caller: what security officers count as a denial.
func Denied(decision string) bool {
	return decision == DecisionDeny || decision == DecisionWithhold
}

// Log appends events. Append returns only once the events are durable, so
// a response is acknowledged only after the entry describing it. An error
// wrapping ErrUnavailable means the events may not be durable: the caller
// must answer 503 and send nothing.
type Log interface {
	Append(ctx context.Context, events ...Event) error
}

// Sequencer is a Log that says where appended events landed. AppendSeq is
// Append returning the seq of the first event; the others follow it in
// order, without gaps (one call's events are never interleaved with
// another's). It is optional: a Log that does not implement it appends
// through AppendSeqs all the same, and reports no seqs.
type Sequencer interface {
	AppendSeq(ctx context.Context, events ...Event) (first int64, err error)
}

// AppendSeqs appends events to l and returns each one's seq, in order: what
// a push result and a forwarded record's receipt cite. The seqs are nil
// when l is not a Sequencer (the events are appended all the same).
func AppendSeqs(ctx context.Context, l Log, events ...Event) ([]int64, error) {
	s, ok := l.(Sequencer)
	if !ok {
		return nil, l.Append(ctx, events...)
	}
	first, err := s.AppendSeq(ctx, events...)
	if err != nil || len(events) == 0 {
		return nil, err
	}
	seqs := make([]int64, len(events))
	for i := range seqs {
		seqs[i] = first + int64(i)
	}
	return seqs, nil
}

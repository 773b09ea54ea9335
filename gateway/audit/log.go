// Package audit keeps the tamper-evident log of every request and every
// per-record policy decision.
package audit

import (
	"context"
	"time"

	"github.com/ura-gateway/ura/gateway/policy"
)

// Event is one audit entry: a request, or one per-record decision in it.
// Secrets, tokens and redacted field values never enter it.
type Event struct {
	Time           time.Time       `json:"time"`
	RequestID      string          `json:"request_id"`
	Member         string          `json:"member"`
	Action         string          `json:"action"`
	Route          string          `json:"route,omitempty"`
	RecordID       string          `json:"record_id,omitempty"`
	RecordVersion  int             `json:"record_version,omitempty"`
	Decision       string          `json:"decision"`
	Reasons        []policy.Reason `json:"reasons,omitempty"`
	Redactions     []string        `json:"redactions,omitempty"`
	PolicyRevision string          `json:"policy_revision,omitempty"`
	DecisionID     string          `json:"decision_id,omitempty"`
	SigningKID     string          `json:"signing_kid,omitempty"`
	RequestDigest  string          `json:"request_digest,omitempty"`
	Status         int             `json:"status,omitempty"`
}

// Log appends events. Append returns only once the events are durable, so
// a response is acknowledged only after the entry describing it.
type Log interface {
	Append(ctx context.Context, events ...Event) error
}

// Package records is the record model that crosses the gateway: kinds,
// labels, JSON Schemas, strict decoding and validation.
package records

import (
	"encoding/json"
	"time"
)

// Kinds of record, as DESIGN.md names them.
const (
	KindLicence            = "licence"
	KindTrackingEvent      = "tracking_event"
	KindEntity             = "entity"
	KindExcludedEntity     = "excluded_entity"
	KindEndUserCertificate = "end_user_certificate"
)

// Label is the record's confidentiality label (STANAG 4774 in spirit).
type Label struct {
	Classification string    `json:"classification"`
	ReleasableTo   []string  `json:"releasable_to"`
	Originator     string    `json:"originator"`
	Created        time.Time `json:"created"`
	// Review is an optional review date (YYYY-MM-DD).
	Review string `json:"review,omitempty"`
}

// Record is one validated record. Raw is what is stored and what policy,
// redaction and signing start from; Doc is the same record decoded (numbers
// as json.Number) for policy input and redaction.
type Record struct {
	Kind    string
	ID      string
	Version int
	Label   Label
	Doc     map[string]any
	Raw     json.RawMessage
}

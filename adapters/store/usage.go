package store

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"slices"
)

// ErrIdempotencyMismatch: a usage batch under an idempotency key already
// applied with another body.
var ErrIdempotencyMismatch = errors.New("idempotency key already used with another body")

// UsageLine is one line of a customs usage batch (ATT art. 8(1)): so much
// of one ML category of a licence used under one customs declaration on
// one date (YYYY-MM-DD).
type UsageLine struct {
	LicenceID   string `json:"licence_id"`
	Category    string `json:"ml_category"`
	Quantity    int64  `json:"quantity"`
	Declaration string `json:"declaration"`
	Date        string `json:"date"`
}

// UsageBatch is what customs returns under one idempotency key. Keys are
// per member: Member and Key together name the batch.
type UsageBatch struct {
	Member string
	Key    string
	// Digest identifies the body: the same key with another digest is
	// ErrIdempotencyMismatch.
	Digest string
	Lines  []UsageLine
	// Rejected lists lines refused before the store (malformed): they are
	// part of the answer kept for a replay, and never applied.
	Rejected []UsageRejection
}

// UsageRejection is one line of a batch not applied, and why: Code is the
// reason code (licence_unknown, licence_suspended, licence_revoked,
// licence_expired, licence_not_yet_valid, licence_not_in_force,
// licence_category_not_covered, licence_quantity_exceeded, invalid_line).
type UsageRejection struct {
	Line    int    `json:"line"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// UsageOutcome is a batch's answer: the lines applied (by index) and those
// rejected. A replay returns the first answer with Replayed set, and
// applies nothing.
type UsageOutcome struct {
	Applied  []int            `json:"applied"`
	Rejected []UsageRejection `json:"rejected"`
	Replayed bool             `json:"-"`
}

// CategoryUsage is one ML category of a licence: licensed, used by the
// usage customs confirmed, and what remains (licensed − used).
type CategoryUsage struct {
	Category  string `json:"ml_category"`
	Licensed  int64  `json:"licensed"`
	Used      int64  `json:"used"`
	Remaining int64  `json:"remaining"`
}

// LicenceUsage is a licence's usage per ML category, in category order.
type LicenceUsage struct {
	LicenceID  string          `json:"licence_id"`
	Categories []CategoryUsage `json:"categories"`
}

// UsageStore keeps customs usage batches: each batch's lines and its
// idempotency record in one transaction, the licences it uses locked.
type UsageStore interface {
	// ApplyUsage applies a batch once: the lines that pass against their
	// licence (as locked and stored now, and the batch's earlier lines)
	// are counted, the others rejected. A batch whose key was applied
	// before answers as it did then (Replayed), or ErrIdempotencyMismatch
	// when its digest differs.
	ApplyUsage(ctx context.Context, b UsageBatch) (UsageOutcome, error)
	// Usage is a licence's usage per ML category; ErrNotFound when the
	// licence is not stored.
	Usage(ctx context.Context, licenceID string) (LicenceUsage, error)
}

// MarshalOutcome is how stores keep a batch's answer for its replays.
func MarshalOutcome(o UsageOutcome) ([]byte, error) { return json.Marshal(o) }

// SortRejections orders a batch's rejected lines by line.
func SortRejections(r []UsageRejection) {
	slices.SortFunc(r, func(a, b UsageRejection) int { return cmp.Compare(a.Line, b.Line) })
}

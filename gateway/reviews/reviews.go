// Package reviews lists the records whose label review date is near or
// past (gateway/ARCHITECTURE.md, Records: "Review dates"): what an
// originator must review before the policy withholds the record from
// partners, liaison offices and peer gateways (review_overdue).
package reviews

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"time"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/records"
)

// DefaultWindow is how far ahead a listing looks when it names no date.
const DefaultWindow = 30 * 24 * time.Hour

// MaxScanned bounds the records one listing reads.
const MaxScanned = 100000

// ErrTooMany is Due's error when more than MaxScanned records would be read.
var ErrTooMany = errors.New("too many records to list in one answer")

// Item is one record due for review.
type Item struct {
	ID             string `json:"id"`
	Kind           string `json:"kind"`
	Version        int    `json:"version"`
	Originator     string `json:"originator"`
	PolicyID       string `json:"policy_id"`
	Classification string `json:"classification"`
	// Review is the label's review date (YYYY-MM-DD).
	Review string `json:"review"`
	// Overdue is true once the review date has passed (after its last
	// instant, UTC), as the policy reads it.
	Overdue bool `json:"overdue"`
	// Days is whole days from today (UTC) to the review date: how many are
	// left, or, negative, how many it is over.
	Days int `json:"days"`
}

// Querier is the store's read the listing needs.
type Querier interface {
	Query(ctx context.Context, q store.Query, fn func(*records.Record, string) error) error
}

// Due lists the latest stored version of every record originated by
// originator ("" for every originator) whose review date is on or before
// dueBefore, soonest first (then by id), as of now.
func Due(ctx context.Context, q Querier, originator string, dueBefore, now time.Time) ([]Item, error) {
	limit := dueBefore.UTC().Format(time.DateOnly)
	today := now.UTC().Truncate(24 * time.Hour)
	out := []Item{}
	scanned := 0
	err := q.Query(ctx, store.Query{Originator: originator}, func(rec *records.Record, _ string) error {
		if scanned++; scanned > MaxScanned {
			return ErrTooMany
		}
		review := rec.Label.Review
		if review == "" || review > limit {
			return nil
		}
		day, err := time.Parse(time.DateOnly, review)
		if err != nil {
			return nil // the schema admits no other date
		}
		out = append(out, Item{ID: rec.ID, Kind: rec.Kind, Version: rec.Version, Originator: rec.Label.Originator,
			PolicyID: rec.Label.PolicyID, Classification: rec.Label.Classification, Review: review,
			Overdue: today.After(day), Days: int(day.Sub(today) / (24 * time.Hour))})
		return nil
	})
	if err != nil {
		return nil, err
	}
	slices.SortFunc(out, func(a, b Item) int { return cmp.Or(cmp.Compare(a.Review, b.Review), cmp.Compare(a.ID, b.ID)) })
	return out, nil
}

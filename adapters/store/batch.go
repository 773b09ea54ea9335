package store

import (
	"context"

	"github.com/ura-gateway/ura/gateway/records"
)

// Batcher is implemented by stores that can commit several records in one
// transaction: a pushed batch then costs one durable commit instead of one per
// record. Both built-in stores implement it.
type Batcher interface {
	// PutBatch stores items in order, each decided exactly as Put would
	// decide it after the ones before it: one item's conflict or failed
	// Check does not affect the others. Results[i] answers items[i]; every
	// accepted record is durable when PutBatch returns.
	PutBatch(ctx context.Context, items []Item) []Result
}

// Item is one record of a PutBatch with its lifecycle Check (may be nil).
type Item struct {
	Record *records.Record
	Check  Check
}

// Result is the answer to one Item: an Outcome, or the error Put would have
// returned.
type Result struct {
	Outcome Outcome
	Err     error
}

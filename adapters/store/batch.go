package store

import "github.com/ura-gateway/ura/gateway/records"

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

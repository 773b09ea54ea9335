package store

import "github.com/ura-gateway/ura/gateway/records"

// Item is one record of a PutBatch with its lifecycle Check (may be nil).
type Item struct {
	Record *records.Record
	Check  Check
	// Follow is written in the transaction that stores the record, when
	// the record is stored or found unchanged, and never otherwise: an
	// outbox's entries for it, durable exactly when the record is
	// (gateway/ARCHITECTURE.md, "Outbound"). A store that cannot write
	// them in its own transaction fails the item (ErrNoFollow).
	Follow []Follow
}

// Follow is one write a PutBatch makes beside a record. The store does not
// read it: Queue names where it goes (in the embedded store, a bucket of its
// file, which the queue's owner created), and Value is kept there under the
// queue's next sequence number (8 bytes, big-endian), after everything
// already queued.
type Follow struct {
	Queue string
	Value []byte
}

// Result is the answer to one Item: an Outcome, or the error Put would have
// returned.
type Result struct {
	Outcome Outcome
	Err     error
}

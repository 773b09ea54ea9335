// Package upstream forwards accepted records to where an institution keeps
// them: its HTTP back office, or a peer ura gateway. Every destination is a
// registry member and is sent only what that member's pull would deliver
// (gateway/ARCHITECTURE.md, "Outbound").
package upstream

import (
	"context"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/records"
)

// Forwarder hands accepted records to the durable outbox, each with the
// push decision that accepted it (kept for the log). EnqueueDecided returns
// once the records are durable there (one write for the batch), so a record
// acknowledged to the pusher reaches its destinations even if they, or the
// gateway, are down for a while. What each destination is sent is decided
// later, at delivery, as a pull by the destination's member.
type Forwarder interface {
	EnqueueDecided(ctx context.Context, recs []Decided) error
}

// Decided is an accepted record with the policy decision that accepted it.
type Decided struct {
	Record         *records.Record
	DecisionID     string
	PolicyRevision string
	// Recipient, when set, queues the record only for the destinations
	// whose member it names: a release by two-person authority is for one
	// member alone (gateway/ARCHITECTURE.md, "Release authority").
	Recipient string
}

// Queues is a Forwarder whose queues may be in the embedded store's own
// file (Outbox with Options.DB). When InStore, a push writes its entries
// through the store: Follows are the writes for one record
// (store.Item.Follow), which PutBatch commits in the transaction that
// stores the record, and Queued is told afterwards, so one durable commit
// makes the records and their entries.
type Queues interface {
	Forwarder
	InStore() bool
	Follows(d Decided) ([]store.Follow, error)
	Queued(fs []store.Follow)
}

var _ Queues = (*Outbox)(nil)

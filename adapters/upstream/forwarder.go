// Package upstream forwards accepted records to where an institution keeps
// them: its HTTP back office, or a peer ura gateway.
package upstream

import (
	"context"

	"github.com/ura-gateway/ura/gateway/records"
)

// Forwarder hands accepted records to the durable outbox, each with the
// decision that accepted it, which a peer destination binds into its
// signature. EnqueueDecided returns once the records are durable there (one
// write for the batch), so a record acknowledged to the pusher reaches its
// destinations even if they, or the gateway, are down for a while.
type Forwarder interface {
	EnqueueDecided(ctx context.Context, recs []Decided) error
}

// Decided is an accepted record with the policy decision that accepted it.
type Decided struct {
	Record         *records.Record
	DecisionID     string
	PolicyRevision string
}

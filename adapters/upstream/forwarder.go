// Package upstream forwards accepted records to where an institution keeps
// them: its HTTP back office, or a peer ura gateway.
package upstream

import (
	"context"

	"github.com/ura-gateway/ura/gateway/records"
)

// Forwarder hands an accepted record to the durable outbox. Enqueue returns
// once the record is durable there, so a record acknowledged to the pusher
// reaches its destinations even if they, or the gateway, are down for a while.
type Forwarder interface {
	Enqueue(ctx context.Context, rec *records.Record) error
}

package store

import (
	"context"

	"github.com/ura-gateway/ura/gateway/records"
)

// History is implemented by stores that keep every version of a record, as
// the UN Firearms Protocol (art. 7) and the ATT (art. 12) ask registers to do
// for at least ten years. Both built-in stores implement it.
type History interface {
	// Versions returns every stored version of id, oldest first, or
	// ErrNotFound when the id was never stored.
	Versions(ctx context.Context, id string) ([]*records.Record, error)
}

// Health reports a store to /readyz.
type Health struct{ Store Store }

// Name is how /readyz lists the store.
func (Health) Name() string { return "store" }

// Check pings the store.
func (h Health) Check(ctx context.Context) error { return h.Store.Ping(ctx) }

package store

import "context"

// Health reports a store to /readyz.
type Health struct{ Store Store }

// Name is how /readyz lists the store.
func (Health) Name() string { return "store" }

// Check pings the store.
func (h Health) Check(ctx context.Context) error { return h.Store.Ping(ctx) }

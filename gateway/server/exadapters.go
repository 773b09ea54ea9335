package server

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// exRegisterAdapterMetrics puts the store's and the outbox's own series
// (ura_outbox_*) on the server's registry when they have any.
func exRegisterAdapterMetrics(reg prometheus.Registerer, deps Deps) error {
	for _, dep := range []any{deps.Store, deps.Forwarder} {
		if _, err := registerIfCollector(reg, dep); err != nil {
			return fmt.Errorf("adapter metrics: %w", err)
		}
	}
	return nil
}

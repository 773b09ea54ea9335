// Package open builds the register store a configuration names. It is the
// one package that knows every driver, so the rest of the gateway depends on
// the store.Store interface only.
package open

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/store/bolt"
	"github.com/ura-gateway/ura/adapters/store/postgres"
	"github.com/ura-gateway/ura/gateway/config"
)

// Open opens the configured store. resolve turns a config-relative path into
// a usable one (config.Config.Path); nil leaves paths as they are.
func Open(ctx context.Context, cfg config.Store, resolve func(string) string, opts ...Option) (store.Store, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	if resolve == nil {
		resolve = func(p string) string { return p }
	}
	switch cfg.Driver {
	case "embedded":
		s, err := bolt.Open(resolve(cfg.Path), bolt.Options{Timeout: cfg.Timeout})
		if err != nil {
			return nil, err
		}
		return s, nil
	case "postgres":
		s, err := postgres.Open(ctx, postgres.Options{
			DSN: cfg.DSN, Schema: cfg.Schema, MaxConns: int32(min(cfg.MaxConns, 1<<16)), ConnectTimeout: cfg.Timeout,
			Tracer: o.tracer,
		})
		if err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("store: unknown driver %q (embedded or postgres)", cfg.Driver)
}

// Option adjusts the store Open builds.
type Option func(*options)

type options struct{ tracer pgx.QueryTracer }

// WithQueryTracer traces a PostgreSQL store's queries; the embedded store
// has none to trace.
func WithQueryTracer(t pgx.QueryTracer) Option {
	return func(o *options) { o.tracer = t }
}

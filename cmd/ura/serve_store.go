package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/store/bolt"
	storeopen "github.com/ura-gateway/ura/adapters/store/open"
	"github.com/ura-gateway/ura/adapters/upstream"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/server"
)

// addStore opens the register store. The returned function closes it once
// the server has stopped.
func addStore(ctx context.Context, cfg *config.Config, logger *slog.Logger, deps *server.Deps) (func(), error) {
	st, err := storeopen.Open(ctx, cfg.Store, cfg.Path, storeopen.WithQueryTracer(deps.Tracer.QueryTracer()))
	if err != nil {
		return nil, err
	}
	deps.Store = st
	deps.Checks = append(deps.Checks, store.Health{Store: st})
	logger.Info("register store open", "component", "store", "driver", cfg.Store.Driver)
	return func() { closeLogged(logger, "store", st.Close) }, nil
}

// addOutbox opens, when destinations are configured, the outbox that
// forwards accepted records. It comes after the store, the policy, the
// signer and the audit log: every record it sends is read from the store,
// decided as a pull by the destination's member, audited, and for a peer
// gateway signed at delivery time, and a peer's receipt is verified against
// its JWKS (sign.peers). Its close function runs before the audit log's and
// the store's, so nothing is decided or queued behind a closed one.
func addOutbox(cfg *config.Config, logger *slog.Logger, deps *server.Deps) (func(), error) {
	if !cfg.Upstream.Configured() {
		return func() {}, nil
	}
	opts := upstream.Options{Logger: logger, Registry: cfg.Registry(),
		Store: deps.Store, Policy: deps.Policy, Audit: deps.Audit, Signer: deps.Signer, Issuer: cfg.Sign.Issuer,
		Peers: deps.Peers, Self: cfg.Sign.Member, Tracer: deps.Tracer}
	// With the embedded store the queues live in its file, so a push's
	// records and their outbox entries are one durable commit; on
	// PostgreSQL each replica keeps its own outbox file.
	if bs, ok := deps.Store.(*bolt.Store); ok {
		opts.DB = bs.DB()
	}
	ob, err := upstream.Open(cfg.Upstream, cfg.Path, opts)
	if err != nil {
		return nil, err
	}
	deps.Forwarder = ob
	return func() { closeLogged(logger, "outbox", ob.Close) }, nil
}

func closeLogged(logger *slog.Logger, component string, closeFn func() error) {
	if err := closeFn(); err != nil && !errors.Is(err, context.Canceled) {
		logger.Error("close failed", "component", component, "err", err)
	}
}

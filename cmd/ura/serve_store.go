package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/ura-gateway/ura/adapters/store"
	storeopen "github.com/ura-gateway/ura/adapters/store/open"
	"github.com/ura-gateway/ura/adapters/upstream"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/server"
)

// addStore opens the register store. The returned function closes it once
// the server has stopped.
func addStore(ctx context.Context, cfg *config.Config, logger *slog.Logger, deps *server.Deps) (func(), error) {
	st, err := storeopen.Open(ctx, cfg.Store, cfg.Path)
	if err != nil {
		return nil, err
	}
	deps.Store = st
	deps.Checks = append(deps.Checks, store.Health{Store: st})
	logger.Info("register store open", "component", "store", "driver", cfg.Store.Driver)
	return func() { closeLogged(logger, "store", st.Close) }, nil
}

// addOutbox opens, when destinations are configured, the outbox that
// forwards accepted records. It comes after the signer: a peer gateway
// receives only records signed at delivery time. Its close function runs
// before the store's, so nothing is queued behind a closed store.
func addOutbox(cfg *config.Config, logger *slog.Logger, deps *server.Deps) (func(), error) {
	if !cfg.Upstream.Configured() {
		return func() {}, nil
	}
	ob, err := upstream.Open(cfg.Upstream, cfg.Path, upstream.Options{Logger: logger, Signer: deps.Signer, Issuer: cfg.Sign.Issuer})
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

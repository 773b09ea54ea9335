package main

import (
	"context"
	"log/slog"

	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/server"
)

// addHTTPPolicy asks a separate OPA server for every decision
// (policy.mode: http). The server loads and reloads its own policy; the
// gateway keeps its registers current, as it does for the embedded engine.
func addHTTPPolicy(ctx context.Context, cfg *config.Config, logger *slog.Logger, deps *server.Deps) error {
	engine, err := policy.HTTPFromConfig(ctx, cfg.Policy, logger)
	if err != nil {
		return err
	}
	deps.Policy = engine
	return nil
}

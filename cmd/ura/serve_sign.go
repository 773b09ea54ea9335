package main

import (
	"context"
	"log/slog"

	vault "github.com/hashicorp/vault/api"

	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/server"
	"github.com/ura-gateway/ura/gateway/sign"
)

// addSigning builds what signs and verifies: the Vault client and its login
// loop (which runs until ctx ends), the signer, the peer verifiers, and the
// Vault readiness check. A Vault that is down at start-up is not fatal: the
// gateway starts not ready, answers 503 for data, and recovers by itself.
//
// It returns the Vault client it logged in with (nil without Vault), which
// the audit log's off-host checkpoint uses too: one client, one login.
func addSigning(ctx context.Context, cfg *config.Config, logger *slog.Logger, deps *server.Deps) (*vault.Client, error) {
	m := sign.NewMetrics()
	if len(cfg.Sign.Peers) > 0 {
		peers, err := sign.NewPeers(cfg.Sign, cfg.Path, logger, m)
		if err != nil {
			return nil, err
		}
		deps.Peers = peers
	}
	log := logger.With("component", "sign")
	if !cfg.Vault.Configured() {
		log.Warn("vault is not configured: nothing can be signed, so data endpoints answer 503")
		return nil, nil
	}
	var opts []sign.ClientOption
	if deps.Tracer != nil {
		opts = append(opts, sign.WithTransport(deps.Tracer.Transport))
	}
	vc, err := sign.NewVaultClient(cfg.Vault, cfg.Path, opts...)
	if err != nil {
		return nil, err
	}
	auth, err := sign.NewAuth(vc, cfg.Vault, cfg.Path, logger, m)
	if err != nil {
		return nil, err
	}
	signer, err := sign.New(vc, cfg.Sign, sign.Options{Logger: logger, Metrics: m, OnDenied: auth.Invalidate})
	if err != nil {
		return nil, err
	}
	startCtx, cancel := context.WithTimeout(ctx, 2*cfg.Vault.Timeout)
	if err := auth.Login(startCtx); err != nil {
		log.Warn("vault login failed at start-up; retrying in the background", "error", err)
	} else if err := signer.Refresh(startCtx); err != nil {
		log.Warn("signing key not readable at start-up", "error", err)
	}
	cancel()
	go auth.Run(ctx)
	deps.Signer = signer
	deps.Checks = append(deps.Checks, sign.Health{Client: vc, Signer: signer})
	return vc, nil
}

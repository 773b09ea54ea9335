// Package sign signs what the gateway delivers with keys held in Vault.
package sign

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	vault "github.com/hashicorp/vault/api"

	"github.com/ura-gateway/ura/gateway/config"
)

// NewVaultClient builds a Vault API client with the configured address, CA,
// timeout and token.
func NewVaultClient(cfg config.Vault, resolve func(string) string) (*vault.Client, error) {
	vc := vault.DefaultConfig()
	vc.Address = cfg.Addr
	vc.Timeout = cfg.Timeout
	vc.MaxRetries = 2
	if cfg.CAFile != "" {
		if err := vc.ConfigureTLS(&vault.TLSConfig{CACert: resolve(cfg.CAFile)}); err != nil {
			return nil, fmt.Errorf("vault ca_file: %w", err)
		}
	}
	if vc.Error != nil {
		return nil, fmt.Errorf("vault config: %w", vc.Error)
	}
	client, err := vault.NewClient(vc)
	if err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	token := cfg.Token
	if cfg.TokenFile != "" {
		raw, err := os.ReadFile(resolve(cfg.TokenFile))
		if err != nil {
			return nil, fmt.Errorf("vault token_file: %w", err)
		}
		token = strings.TrimSpace(string(raw))
	}
	// The API client also reads VAULT_TOKEN from the environment; only the
	// configured token may authenticate the gateway.
	client.ClearToken()
	if token != "" {
		client.SetToken(token)
	}
	return client, nil
}

// Health adapts a Vault client to a readiness check: Vault must be
// initialized and unsealed for the gateway to sign anything.
type Health struct{ Client *vault.Client }

// Name is the readiness check's name.
func (Health) Name() string { return "vault" }

// Check asks Vault's health endpoint.
func (h Health) Check(ctx context.Context) error {
	resp, err := h.Client.Sys().HealthWithContext(ctx)
	if err != nil {
		return err
	}
	switch {
	case !resp.Initialized:
		return errors.New("vault is not initialized")
	case resp.Sealed:
		return errors.New("vault is sealed")
	}
	return nil
}

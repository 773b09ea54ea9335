package policy

import (
	"context"
	"log/slog"

	"github.com/open-policy-agent/opa/v1/bundle"

	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/policies"
)

// FromConfig builds the engine a validated policy section describes; resolve turns the section's relative paths into paths
// (config.Config.Path).
func FromConfig(ctx context.Context, pc config.Policy, resolve func(string) string, logger *slog.Logger) (*OPA, error) {
	var vc *bundle.VerificationConfig
	if pc.VerificationKey != "" {
		key, err := pc.LoadVerificationKey(resolve)
		if err != nil {
			return nil, err
		}
		vc = VerificationConfig(pc.VerificationKeyID, key.PEM, key.Algorithm)
	}
	opts := Options{Source: EmbeddedSource(policies.FS), Timeout: pc.Timeout, ShadowKeep: pc.Shadow.Keep, Logger: logger}
	switch {
	case pc.Dir != "":
		opts.Source = DirSource(resolve(pc.Dir))
	case pc.Bundle != "":
		opts.Source = BundleSource(resolve(pc.Bundle), vc)
	}
	switch {
	case pc.Shadow.Dir != "":
		s := DirSource(resolve(pc.Shadow.Dir))
		opts.Shadow = &s
	case pc.Shadow.Bundle != "":
		s := BundleSource(resolve(pc.Shadow.Bundle), vc)
		opts.Shadow = &s
	}
	return New(ctx, opts)
}

// VerificationConfig is OPA's bundle verification with one public key: a
// bundle must carry a signature by it, over every file.
func VerificationConfig(keyID, publicKeyPEM, algorithm string) *bundle.VerificationConfig {
	return bundle.NewVerificationConfig(map[string]*bundle.KeyConfig{
		keyID: {Key: publicKeyPEM, Algorithm: algorithm},
	}, keyID, "", nil)
}

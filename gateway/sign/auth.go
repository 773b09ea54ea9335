package sign

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	vault "github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
	"github.com/hashicorp/vault/api/auth/kubernetes"

	"github.com/ura-gateway/ura/gateway/config"
)

// Auth keeps the gateway logged in to Vault: it logs in with the configured
// method, keeps the token alive with the API's LifetimeWatcher, and logs in
// again when renewal fails, the token reaches its maximum TTL, or Vault
// refuses it. It never logs a token or a secret_id.
type Auth struct {
	client *vault.Client
	method string
	login  func(ctx context.Context) (*vault.Secret, error)
	log    *slog.Logger
	m      *Metrics

	kick chan struct{}

	mu        sync.Mutex
	secret    *vault.Secret
	lastLogin time.Time

	// MinBackoff and MaxBackoff bound the wait between failed logins.
	MinBackoff, MaxBackoff time.Duration
}

// NewAuth prepares logging in with cfg.Auth.Method. Nothing is sent to Vault
// until Login or Run.
func NewAuth(client *vault.Client, cfg config.Vault, resolve func(string) string, logger *slog.Logger, m *Metrics) (*Auth, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	a := &Auth{
		client:     client,
		method:     cfg.Auth.Method,
		log:        logger.With("component", "vault_auth", "method", cfg.Auth.Method),
		kick:       make(chan struct{}, 1),
		m:          orNew(m),
		MinBackoff: time.Second,
		MaxBackoff: 30 * time.Second,
	}
	mount := cfg.AuthMount()
	switch cfg.Auth.Method {
	case config.VaultAuthToken, "":
		a.method = config.VaultAuthToken
		a.login = func(ctx context.Context) (*vault.Secret, error) { return a.tokenLogin(ctx, cfg, resolve) }
	case config.VaultAuthAppRole:
		roleFile, secretFile := resolve(cfg.Auth.RoleIDFile), resolve(cfg.Auth.SecretIDFile)
		a.login = func(ctx context.Context) (*vault.Secret, error) {
			// Both files are read at every login: a rotated secret_id is
			// picked up without a restart.
			roleID, err := readSecretFile(roleFile)
			if err != nil {
				return nil, fmt.Errorf("vault auth.role_id_file: %w", err)
			}
			m, err := approle.NewAppRoleAuth(roleID, &approle.SecretID{FromFile: secretFile}, approle.WithMountPath(mount))
			if err != nil {
				return nil, err
			}
			return a.methodLogin(ctx, m)
		}
	case config.VaultAuthKubernetes:
		tokenFile := resolve(cfg.ServiceAccountTokenPath())
		a.login = func(ctx context.Context) (*vault.Secret, error) {
			// Projected service-account tokens rotate: read it every time.
			m, err := kubernetes.NewKubernetesAuth(cfg.Auth.Role,
				kubernetes.WithServiceAccountTokenPath(tokenFile), kubernetes.WithMountPath(mount))
			if err != nil {
				return nil, err
			}
			return a.methodLogin(ctx, m)
		}
	default:
		return nil, fmt.Errorf("vault auth.method %q: want token, approle or kubernetes", cfg.Auth.Method)
	}
	return a, nil
}

// configuredToken is the token from vault.token or vault.token_file.
func configuredToken(cfg config.Vault, resolve func(string) string) (string, error) {
	if cfg.TokenFile != "" {
		tok, err := readSecretFile(resolve(cfg.TokenFile))
		if err != nil {
			return "", fmt.Errorf("vault token_file: %w", err)
		}
		return tok, nil
	}
	return cfg.Token, nil
}

func readSecretFile(path string) (string, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(raw))
	if s == "" {
		return "", fmt.Errorf("%s is empty", path)
	}
	return s, nil
}

// tokenLogin "logs in" with a configured token: it re-reads the token file
// (a sidecar may have written a new token there) and asks Vault about it.
func (a *Auth) tokenLogin(ctx context.Context, cfg config.Vault, resolve func(string) string) (*vault.Secret, error) {
	tok, err := configuredToken(cfg, resolve)
	if err != nil {
		return nil, err
	}
	if tok == "" {
		return nil, errors.New("vault auth.method token: no token configured")
	}
	c, err := a.client.Clone()
	if err != nil {
		return nil, err
	}
	c.SetToken(tok)
	info, err := c.Auth().Token().LookupSelfWithContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("vault token lookup: %w", err)
	}
	ttl, err := info.TokenTTL()
	if err != nil {
		return nil, err
	}
	renewable, err := info.TokenIsRenewable()
	if err != nil {
		return nil, err
	}
	a.client.SetToken(tok)
	return &vault.Secret{Auth: &vault.SecretAuth{ClientToken: tok, Renewable: renewable, LeaseDuration: int(ttl.Seconds())}}, nil
}

// methodLogin logs in from a token-less clone: a login request must not
// carry the expired token it replaces.
func (a *Auth) methodLogin(ctx context.Context, m vault.AuthMethod) (*vault.Secret, error) {
	c, err := a.client.Clone()
	if err != nil {
		return nil, err
	}
	c.ClearToken()
	sec, err := m.Login(ctx, c)
	if err != nil {
		return nil, err
	}
	if sec == nil || sec.Auth == nil || sec.Auth.ClientToken == "" {
		return nil, errors.New("vault login returned no token")
	}
	a.client.SetToken(sec.Auth.ClientToken)
	return sec, nil
}

// Login logs in once and makes the client use the new token.
func (a *Auth) Login(ctx context.Context) error {
	sec, err := a.login(ctx)
	if err != nil {
		a.m.logins.WithLabelValues(a.method, "error").Inc()
		return fmt.Errorf("vault login (%s): %w", a.method, err)
	}
	a.m.logins.WithLabelValues(a.method, "ok").Inc()
	a.mu.Lock()
	a.secret, a.lastLogin = sec, time.Now()
	a.mu.Unlock()
	a.log.Info("logged in to vault", "ttl", time.Duration(sec.Auth.LeaseDuration)*time.Second, "renewable", sec.Auth.Renewable)
	return nil
}

// Invalidate asks Run to log in again now, e.g. after Vault refused the
// token. Requests within a few seconds of a login are ignored: a token that
// lacks a policy is not fixed by logging in again and again.
func (a *Auth) Invalidate() {
	a.mu.Lock()
	recent := time.Since(a.lastLogin) < 5*time.Second
	a.mu.Unlock()
	if recent {
		return
	}
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

// Run keeps the token alive until ctx ends. It logs in first if Login has
// not succeeded yet, and retries failed logins with capped backoff forever:
// the gateway recovers by itself when Vault comes back.
func (a *Auth) Run(ctx context.Context) {
	backoff := a.MinBackoff
	for ctx.Err() == nil {
		a.mu.Lock()
		sec := a.secret
		a.mu.Unlock()
		if sec == nil {
			if err := a.Login(ctx); err != nil {
				a.log.Warn("vault login failed; retrying", "in", backoff.String(), "error", err)
				select {
				case <-ctx.Done():
				case <-time.After(backoff):
				}
				backoff = min(backoff*2, a.MaxBackoff)
				continue
			}
			continue
		}
		started := time.Now()
		a.watch(ctx, sec)
		a.mu.Lock()
		a.secret = nil
		a.mu.Unlock()
		// A token that ends as soon as it is watched (a configured token
		// close to its expiry, read again unchanged) must not turn this
		// loop into a busy one.
		if time.Since(started) < backoff {
			select {
			case <-ctx.Done():
			case <-time.After(backoff):
			}
			backoff = min(backoff*2, a.MaxBackoff)
		} else {
			backoff = a.MinBackoff
		}
	}
}

// watch renews sec until it cannot be renewed any more, then returns so that
// Run logs in again.
func (a *Auth) watch(ctx context.Context, sec *vault.Secret) {
	if sec.Auth.LeaseDuration == 0 {
		// A token without a TTL (root, or a non-expiring service token)
		// needs no renewal; wait to be told it stopped working.
		select {
		case <-ctx.Done():
		case <-a.kick:
			a.log.Info("vault refused the token; logging in again")
		}
		return
	}
	w, err := a.client.NewLifetimeWatcher(&vault.LifetimeWatcherInput{
		Secret:        sec,
		RenewBehavior: vault.RenewBehaviorIgnoreErrors,
	})
	if err != nil {
		a.log.Warn("cannot watch the vault token; logging in again", "error", err)
		return
	}
	go w.Start()
	defer w.Stop()
	for {
		select {
		case err := <-w.DoneCh():
			a.m.renewals.WithLabelValues("ended").Inc()
			if err != nil {
				a.log.Warn("vault token renewal failed; logging in again", "error", err)
			} else {
				a.log.Info("vault token reached its maximum TTL; logging in again")
			}
			return
		case r := <-w.RenewCh():
			a.m.renewals.WithLabelValues("ok").Inc()
			ttl := 0
			if r != nil && r.Secret != nil && r.Secret.Auth != nil {
				ttl = r.Secret.Auth.LeaseDuration
			}
			a.log.Debug("vault token renewed", "ttl", time.Duration(ttl)*time.Second)
		case <-a.kick:
			a.log.Info("vault refused the token; logging in again")
			return
		case <-ctx.Done():
			return
		}
	}
}

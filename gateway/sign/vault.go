// Package sign signs what the gateway delivers with keys held in Vault, and
// verifies what peer gateways signed.
//
// Producing signatures: New builds a VaultSigner in transit mode (Vault signs;
// the private key never leaves it) or kv mode (the key is read from KV v2 and
// used in memory). Both emit compact JWS, alg EdDSA or ES256, kid
// "<key>:<version>", and publish every version still in use through Keys for
// /.well-known/jwks.json. When Vault cannot sign, every error wraps
// ErrUnavailable and nothing is returned.
//
// Checking signatures: a Verifier holds a JWKS (file or URL over mutual TLS)
// and accepts only EdDSA and ES256 JWS whose kid it knows. Peers holds one
// Verifier per peer gateway member.
package sign

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"os"
	"time"

	vault "github.com/hashicorp/vault/api"

	"github.com/ura-gateway/ura/gateway/config"
)

// ClientOption adjusts the Vault client NewVaultClient builds.
type ClientOption func(*clientOptions)

type clientOptions struct {
	wrap func(http.RoundTripper) http.RoundTripper
}

// WithTransport wraps the client's HTTP transport, e.g. to count requests.
func WithTransport(wrap func(http.RoundTripper) http.RoundTripper) ClientOption {
	return func(o *clientOptions) { o.wrap = wrap }
}

// NewVaultClient builds a Vault API client from the configuration alone.
// Vault's own VAULT_* environment variables are ignored on purpose: one of
// them (VAULT_SKIP_VERIFY) turns off TLS verification, another
// (VAULT_TOKEN) would authenticate the gateway behind the config's back.
//
// For auth.method token it sets the configured token; for approle and
// kubernetes the client has no token until an Auth logs in.
func NewVaultClient(cfg config.Vault, resolve func(string) string, opts ...ClientOption) (*vault.Client, error) {
	var o clientOptions
	for _, opt := range opts {
		opt(&o)
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.ServerName}
	if cfg.CAFile != "" {
		pem, err := os.ReadFile(resolve(cfg.CAFile))
		if err != nil {
			return nil, fmt.Errorf("vault ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("vault ca_file %s: no PEM certificate found", cfg.CAFile)
		}
		tc.RootCAs = pool
	}
	var rt http.RoundTripper = &http.Transport{
		// No proxy from the environment: the path to Vault is configured.
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: cfg.Timeout, KeepAlive: 30 * time.Second}).DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   cfg.Timeout,
		ResponseHeaderTimeout: cfg.Timeout,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          64,
		MaxIdleConnsPerHost:   32,
		IdleConnTimeout:       90 * time.Second,
	}
	if o.wrap != nil {
		rt = o.wrap(rt)
	}
	vc := &vault.Config{
		Address: cfg.Addr,
		HttpClient: &http.Client{
			Transport: rt,
			// The API client follows Vault's redirects itself (and refuses
			// an https → http downgrade).
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Timeout:      cfg.Timeout,
		MaxRetries:   cfg.MaxRetries,
		MinRetryWait: 200 * time.Millisecond,
		MaxRetryWait: time.Second,
	}
	client, err := vault.NewClient(vc)
	if err != nil {
		return nil, fmt.Errorf("vault client: %w", err)
	}
	client.ClearToken()
	client.ClearNamespace()
	client.SetHeaders(http.Header{vault.RequestHeaderName: []string{"true"}})
	if cfg.Auth.Method == config.VaultAuthToken || cfg.Auth.Method == "" {
		token, err := configuredToken(cfg, resolve)
		if err != nil {
			return nil, err
		}
		if token != "" {
			client.SetToken(token)
		}
	}
	return client, nil
}

// Health adapts a Vault client to a readiness check: Vault must be
// initialized and unsealed, and the gateway's token still accepted, for the
// gateway to sign anything. Signer, when set, must also be able to read its
// key.
type Health struct {
	Client *vault.Client
	Signer *VaultSigner
}

// Name is the readiness check's name.
func (Health) Name() string { return "vault" }

// Check asks Vault's health endpoint, then whether the token is still valid.
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
	if h.Client.Token() == "" {
		return errors.New("not logged in to vault")
	}
	if _, err := h.Client.Auth().Token().LookupSelfWithContext(ctx); err != nil {
		return fmt.Errorf("vault token: %w", err)
	}
	if h.Signer != nil {
		if err := h.Signer.Check(ctx); err != nil {
			return fmt.Errorf("signing key: %w", err)
		}
	}
	return nil
}

// errNotFound is a 404 from Vault: no such key, secret or version.
var errNotFound = errors.New("not found in vault")

// vaultDo sends one request to Vault's HTTP API and decodes the response's
// data object into out. The client's retries and timeout apply.
func vaultDo(ctx context.Context, c *vault.Client, method, path string, params url.Values, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.ClientTimeout())
	defer cancel()
	var (
		sec *vault.Secret
		err error
	)
	switch method {
	case http.MethodGet:
		sec, err = c.Logical().ReadWithDataWithContext(ctx, path, params)
	default:
		var raw []byte
		if raw, err = json.Marshal(body); err != nil {
			return err
		}
		sec, err = c.Logical().WriteBytesWithContext(ctx, path, raw)
	}
	if err != nil {
		var re *vault.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusNotFound {
			return fmt.Errorf("%s: %w", path, errNotFound)
		}
		return err
	}
	if out == nil {
		return nil
	}
	if sec == nil || sec.Data == nil {
		return fmt.Errorf("%s: %w", path, errNotFound)
	}
	// The API client decodes into a generic map; one more round through
	// JSON gives typed results without a second copy of its parser.
	raw, err := json.Marshal(sec.Data)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, out)
}

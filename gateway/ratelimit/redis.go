// Package ratelimit charges every institution for the records it moves,
// against limits shared by every gateway replica through Redis.
package ratelimit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/ura-gateway/ura/gateway/config"
)

// NewClient connects to a single Redis, a Sentinel group (master_name) or a
// Cluster (several addresses) through go-redis' universal client.
func NewClient(cfg config.Redis, resolve func(string) string) (redis.UniversalClient, error) {
	password, err := secret(cfg.Password, cfg.PasswordFile, resolve)
	if err != nil {
		return nil, fmt.Errorf("redis password_file: %w", err)
	}
	sentinelPassword, err := secret(cfg.SentinelPassword, cfg.SentinelPasswordFile, resolve)
	if err != nil {
		return nil, fmt.Errorf("redis sentinel_password_file: %w", err)
	}
	opts := &redis.UniversalOptions{
		Addrs:            cfg.Addrs,
		Username:         cfg.Username,
		Password:         password,
		DB:               cfg.DB,
		MasterName:       cfg.MasterName,
		SentinelUsername: cfg.SentinelUsername,
		SentinelPassword: sentinelPassword,
		DialTimeout:      cfg.Timeout,
		ReadTimeout:      cfg.Timeout,
		WriteTimeout:     cfg.Timeout,
		// Bounded retries: a limiter decision must not hang a request. One
		// command retry replaces a pooled connection that died with a
		// restarted Redis; go-redis would otherwise dial five times with
		// back-off (~0.8 s against a refused port) before the failure mode
		// can apply.
		MaxRetries:    1,
		DialerRetries: 1,
	}
	if cfg.TLS.Enabled {
		tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: cfg.TLS.ServerName}
		if cfg.TLS.CAFile != "" {
			pem, err := os.ReadFile(resolve(cfg.TLS.CAFile))
			if err != nil {
				return nil, fmt.Errorf("redis tls.ca_file: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("redis tls.ca_file: no PEM certificate")
			}
			tc.RootCAs = pool
		}
		opts.TLSConfig = tc
	}
	return redis.NewUniversalClient(opts), nil
}

// secret is value, or the trimmed content of file when one is named.
func secret(value, file string, resolve func(string) string) (string, error) {
	if file == "" {
		return value, nil
	}
	raw, err := os.ReadFile(resolve(file))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(raw)), nil
}

// Pinger adapts a client to a readiness check.
type Pinger struct{ Client redis.UniversalClient }

// Name is the readiness check's name.
func (Pinger) Name() string { return "redis" }

// Check pings Redis.
func (p Pinger) Check(ctx context.Context) error { return p.Client.Ping(ctx).Err() }

// redisLogger takes go-redis' own messages (such as a pool that cannot dial)
// into the gateway's structured log. They repeat on every probe while Redis
// is down, and the switch to local mode has already been logged once with
// its cause, so they are debug lines.
type redisLogger struct{ log *slog.Logger }

func (l redisLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...))
}

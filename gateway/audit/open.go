package audit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"

	"github.com/jackc/pgx/v5"

	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/sign"
)

// OpenStore opens the configured store; resolve maps config-relative paths.
// tracer traces a PostgreSQL store's queries (nil: none).
func OpenStore(ctx context.Context, ac config.Audit, resolve func(string) string, readOnly bool, logger *slog.Logger, tracer pgx.QueryTracer) (Store, error) {
	switch ac.Driver {
	case "file":
		return OpenFileStore(resolve(ac.Dir), FileOptions{SegmentBytes: ac.SegmentBytes, ReadOnly: readOnly, Logger: logger})
	case "postgres":
		return OpenPostgres(ctx, ac.DSN, PostgresOptions{Schema: ac.Schema, ReadOnly: readOnly, Logger: logger, Tracer: tracer})
	default:
		return nil, fmt.Errorf("audit: unknown driver %q", ac.Driver)
	}
}

// FromConfig opens the configured store, forwarder and chain for a gateway.
// signer may be nil (no checkpoints; a warning is logged). witness, when
// not nil, is where audit.checkpoint.vault_kv keeps the latest checkpoint
// (NewVaultKV); the log is compared with it before it opens. tracer traces
// a PostgreSQL store's queries (nil: none).
func FromConfig(ctx context.Context, ac config.Audit, resolve func(string) string, signer sign.Signer, witness Witness, logger *slog.Logger, tracer pgx.QueryTracer) (*Chain, error) {
	logger = logger.With("component", "audit")
	st, err := OpenStore(ctx, ac, resolve, false, logger, tracer)
	if err != nil {
		return nil, err
	}
	var fwd Forwarder
	if ac.Syslog.Network != "" {
		opts := SyslogOptions{Network: ac.Syslog.Network, Addr: ac.Syslog.Addr, Format: ac.Syslog.Format,
			Queue: ac.Syslog.Queue, Logger: logger}
		if ac.Syslog.Network == "tls" {
			if opts.TLS, err = syslogTLS(ac.Syslog, resolve); err != nil {
				_ = st.Close()
				return nil, err
			}
		}
		s, err := NewSyslog(opts)
		if err != nil {
			_ = st.Close()
			return nil, err
		}
		fwd = s
	}
	c, err := Open(ctx, Options{
		Store:              st,
		Signer:             signer,
		CheckpointEvery:    ac.Checkpoint.Every,
		CheckpointInterval: ac.Checkpoint.Interval,
		MaxBatch:           ac.GroupCommit.MaxBatch,
		MaxWait:            ac.GroupCommit.MaxWait,
		CommitTimeout:      ac.GroupCommit.Timeout,
		Forwarder:          fwd,
		Witness:            witness,
		WitnessOptional:    ac.Checkpoint.VaultKV.Unreachable == config.AuditUnreachableStart,
		Logger:             logger,
	})
	if err != nil {
		_ = st.Close()
		if s, ok := fwd.(*Syslog); ok {
			_ = s.Close()
		}
		return nil, err
	}
	return c, nil
}

func syslogTLS(sc config.AuditSyslog, resolve func(string) string) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: sc.ServerName}
	if sc.CAFile != "" {
		pem, err := os.ReadFile(resolve(sc.CAFile))
		if err != nil {
			return nil, fmt.Errorf("audit.syslog.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("audit.syslog.ca_file: no certificates")
		}
		tc.RootCAs = pool
	}
	if sc.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(resolve(sc.CertFile), resolve(sc.KeyFile))
		if err != nil {
			return nil, fmt.Errorf("audit.syslog.cert_file: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

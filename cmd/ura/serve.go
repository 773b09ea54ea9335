package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"strings"

	"github.com/redis/go-redis/v9"

	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/cursor"
	"github.com/ura-gateway/ura/gateway/ratelimit"
	"github.com/ura-gateway/ura/gateway/server"
	"github.com/ura-gateway/ura/gateway/tracing"
)

func runServe(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("serve", "ura serve --config FILE [--check]",
		"ura serve --config deploy/dev/ura.yaml", stderr)
	path := fs.String("config", "", "path to the YAML configuration (see deploy/ura.example.yaml)")
	check := fs.Bool("check", false, "validate the configuration and exit")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *path == "" {
		return fmt.Errorf("%w: serve: --config is required", errUsage)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if *check {
		_, err := fmt.Fprintf(stdout, "%s: configuration is valid (%d members, %d trust anchors)\n", *path, len(cfg.Members), len(cfg.TLS.ClientCAs))
		return err
	}
	logger := newLogger(cfg.Log, stderr)
	applyRuntime(cfg.Runtime, logger)

	var deps server.Deps
	// [deps: tracing] first, so that every client built below is traced;
	// off (the default), no exporter exists and Tracer is nil.
	tracer, shutdownTracing, err := tracing.Setup(ctx, cfg.Tracing, cfg.Path, versionString(), logger)
	if err != nil {
		return err
	}
	defer tracing.Shutdown(shutdownTracing, logger)
	deps.Tracer = tracer
	var rdb redis.UniversalClient // stays nil without redis: limits are then per process
	if cfg.Redis.Configured() {
		rc, err := ratelimit.NewClient(cfg.Redis, cfg.Path)
		if err != nil {
			return err
		}
		rdb = rc
		if err := tracer.InstrumentRedis(rc); err != nil {
			return fmt.Errorf("tracing redis: %w", err)
		}
		defer func() {
			if err := rc.Close(); err != nil {
				logger.Error("closing the redis client", "component", "ratelimit", "error", err)
			}
		}()
		deps.Checks = append(deps.Checks, ratelimit.Pinger{Client: rc})
	}
	// Each part of the chain is built here from its config section, in the
	// order the request chain uses them.
	// [deps: store]
	closeStore, err := addStore(ctx, cfg, logger, &deps)
	if err != nil {
		return err
	}
	defer closeStore()
	// [deps: policy]
	if err := addPolicy(ctx, cfg, logger, &deps); err != nil {
		return err
	}
	// [deps: signer]
	vc, err := addSigning(ctx, cfg, logger, &deps)
	if err != nil {
		return err
	}
	// [deps: limiter]
	deps.Limiter = ratelimit.NewGCRA(rdb, cfg.RateLimit, logger)
	// [deps: audit]
	closeAudit, err := addAudit(ctx, cfg, logger, vc, &deps)
	if err != nil {
		return err
	}
	defer closeAudit()
	// [deps: outbox] after the audit log: every record it sends is
	// decided and audited first. Deferred after it, so it closes first.
	closeOutbox, err := addOutbox(cfg, logger, &deps)
	if err != nil {
		return err
	}
	defer closeOutbox()
	if deps.Cursors, err = cursorSealer(cfg); err != nil {
		return err
	}
	srv, err := server.New(cfg, deps, logger)
	if err != nil {
		return err
	}
	return srv.Run(ctx)
}

// loadConfig loads and validates, listing every problem at once.
func loadConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, indentErrors("invalid configuration", err)
	}
	if err := cfg.Validate(); err != nil {
		return nil, indentErrors("invalid configuration "+path, err)
	}
	return cfg, nil
}

// indentErrors formats a joined error as one problem per line.
func indentErrors(title string, err error) error {
	var b strings.Builder
	b.WriteString(title + ":")
	for _, line := range strings.Split(err.Error(), "\n") {
		b.WriteString("\n  - " + line)
	}
	return errors.New(b.String())
}

func newLogger(lc config.Log, w io.Writer) *slog.Logger {
	opts := &slog.HandlerOptions{Level: lc.SlogLevel()}
	var h slog.Handler = slog.NewJSONHandler(w, opts)
	if lc.Format == "text" {
		h = slog.NewTextHandler(w, opts)
	}
	return slog.New(h)
}

// cursorSealer reads cursors.key_file; without one the server makes a key
// of its own (and says what that costs).
func cursorSealer(cfg *config.Config) (*cursor.Sealer, error) {
	if cfg.Cursors.KeyFile == "" {
		return nil, nil
	}
	secret, err := os.ReadFile(cfg.Path(cfg.Cursors.KeyFile))
	if err != nil {
		return nil, fmt.Errorf("cursors.key_file: %w", err)
	}
	s, err := cursor.New(bytes.TrimSpace(secret))
	if err != nil {
		return nil, fmt.Errorf("cursors.key_file: %w", err)
	}
	return s, nil
}

// applyRuntime sets the garbage collector as runtime.* says, where the
// environment's GOGC and GOMEMLIMIT do not already.
func applyRuntime(r config.Runtime, logger *slog.Logger) {
	gc, gcOK, limit, limitOK := r.Settings(os.Getenv)
	if gcOK {
		debug.SetGCPercent(gc)
	}
	if limitOK {
		debug.SetMemoryLimit(limit)
	}
	logger.Debug("garbage collector", "component", "runtime", "gc_percent", gc, "from_config", gcOK,
		"memory_limit_bytes", limit, "limit_from_config", limitOK)
}

package config

import (
	"log/slog"
	"path/filepath"
	"strings"
	"time"
)

// Limits bound what one request may carry; every limit is answered with a clear 4xx.
type Limits struct {
	MaxBodyBytes    int64 `yaml:"max_body_bytes"`
	MaxRecords      int   `yaml:"max_records"`
	MaxDepth        int   `yaml:"max_depth"`
	MaxStringLength int   `yaml:"max_string_length"`
	// MaxPageSize caps the limit= of a paged pull.
	MaxPageSize int `yaml:"max_page_size"`
}

func defaultLimits() Limits {
	return Limits{MaxBodyBytes: 8 << 20, MaxRecords: 1000, MaxDepth: 16, MaxStringLength: 8192, MaxPageSize: 1000}
}

func (l *Limits) validate(v *validator) {
	if l.MaxBodyBytes < 1024 {
		v.add("max_body_bytes", "must be at least 1024")
	}
	if l.MaxRecords < 1 {
		v.add("max_records", "must be at least 1")
	}
	if l.MaxDepth < 4 || l.MaxDepth > 128 {
		v.add("max_depth", "must be between 4 and 128")
	}
	if l.MaxStringLength < 64 {
		v.add("max_string_length", "must be at least 64")
	}
	if l.MaxPageSize < 1 {
		v.add("max_page_size", "must be at least 1")
	}
}

// Log configures structured logging.
type Log struct {
	Level  string `yaml:"level"`
	Format string `yaml:"format"`
}

// SlogLevel returns the parsed level; Validate has already rejected bad ones.
func (l *Log) SlogLevel() slog.Level {
	var lv slog.Level
	_ = lv.UnmarshalText([]byte(l.Level))
	return lv
}

func (l *Log) validate(v *validator) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(l.Level)); err != nil {
		v.add("level", "must be debug, info, warn or error; got %q", l.Level)
	}
	if l.Format != "json" && l.Format != "text" {
		v.add("format", "must be json or text; got %q", l.Format)
	}
}

// Shutdown is how a stop (SIGTERM, SIGINT) proceeds: /readyz answers 503
// at once; for DrainDelay the listeners still take requests, so that a load
// balancer that probes /readyz stops sending new ones; then the listeners
// close, in-flight requests finish (an NDJSON stream at its next chunk,
// with its signed trailer) and the process exits. Timeout bounds the whole
// stop from the signal, drain delay included.
type Shutdown struct {
	Timeout    time.Duration `yaml:"timeout"`
	DrainDelay time.Duration `yaml:"drain_delay"`
}

const defaultShutdownTimeout = 15 * time.Second

func (s *Shutdown) validate(v *validator) {
	v.positive("timeout", s.Timeout)
	switch {
	case s.DrainDelay < 0:
		v.add("drain_delay", "must not be negative")
	case s.DrainDelay >= s.Timeout && s.Timeout > 0:
		v.add("drain_delay", "must be shorter than shutdown.timeout (%s), which includes it", s.Timeout)
	}
}

// applyEnv lets deployment secrets and addresses come from the environment
// instead of the file. Only these keys are overridable, on purpose.
func (c *Config) applyEnv(lookup func(string) (string, bool)) {
	set := func(name string, dst *string) {
		if val, ok := lookup(name); ok && val != "" {
			*dst = val
		}
	}
	set("URA_LISTEN", &c.Listen)
	set("URA_OPS_LISTEN", &c.OpsListen)
	if val, ok := lookup("URA_REDIS_ADDR"); ok && val != "" {
		c.Redis.Addrs = strings.Split(val, ",")
	}
	if val, ok := lookup("URA_REDIS_PASSWORD"); ok && val != "" {
		c.Redis.Password, c.Redis.PasswordFile = val, ""
	}
	set("URA_VAULT_ADDR", &c.Vault.Addr)
	if val, ok := lookup("URA_VAULT_TOKEN"); ok && val != "" {
		c.Vault.Token, c.Vault.TokenFile = val, ""
	}
	set("URA_POSTGRES_DSN", &c.Store.DSN)
	set("URA_AUDIT_DSN", &c.Audit.DSN)
	set("URA_LOG_LEVEL", &c.Log.Level)
	// Each replica has its own outbox file and CRL state, and may share
	// everything else of one file: the directory is swapped, the names kept.
	if dir, ok := lookup("URA_DATA_DIR"); ok && dir != "" {
		if c.Upstream.Outbox.Path != "" {
			c.Upstream.Outbox.Path = filepath.Join(dir, filepath.Base(c.Upstream.Outbox.Path))
		}
		if c.TLS.CRLStateFile != "" {
			c.TLS.CRLStateFile = filepath.Join(dir, filepath.Base(c.TLS.CRLStateFile))
		}
	}
	set("URA_TRACING_ENDPOINT", &c.Tracing.Endpoint)
}

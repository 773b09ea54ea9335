package config

import (
	"log/slog"
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

// Redis is the rate limiter's shared state. Addrs empty means not configured.
type Redis struct {
	// Addrs is one address, several for Cluster, or Sentinel addresses with MasterName.
	Addrs        []string `yaml:"addrs"`
	Username     string   `yaml:"username"`
	Password     string   `yaml:"password"`
	PasswordFile string   `yaml:"password_file"`
	DB           int      `yaml:"db"`
	MasterName   string   `yaml:"master_name"`
	TLS          struct {
		Enabled    bool   `yaml:"enabled"`
		CAFile     string `yaml:"ca_file"`
		ServerName string `yaml:"server_name"`
	} `yaml:"tls"`
	Timeout time.Duration `yaml:"timeout"`
}

func defaultRedis() Redis { return Redis{Timeout: 500 * time.Millisecond} }

// Configured reports whether a Redis is set up at all.
func (r *Redis) Configured() bool { return len(r.Addrs) > 0 }

func (r *Redis) validate(v *validator, resolve func(string) string) {
	for i, a := range r.Addrs {
		v.hostPort(indexPath("addrs", i), a)
	}
	if r.Password != "" && r.PasswordFile != "" {
		v.add("password_file", "set password or password_file, not both")
	} else if r.PasswordFile != "" {
		v.file("password_file", resolve(r.PasswordFile), true)
	}
	if r.DB < 0 {
		v.add("db", "must not be negative")
	}
	v.positive("timeout", r.Timeout)
}

// Store is where records are kept: the embedded default or PostgreSQL.
type Store struct {
	Driver string `yaml:"driver"`
	Path   string `yaml:"path"`
	DSN    string `yaml:"dsn"`
}

func defaultStore() Store { return Store{Driver: "embedded", Path: "var/data/ura.db"} }

func (s *Store) validate(v *validator, _ *Config) {
	switch s.Driver {
	case "embedded":
		if s.Path == "" {
			v.add("path", "must be set for the embedded store")
		}
	case "postgres":
		if s.DSN == "" {
			v.add("dsn", "must be set for the postgres store (or URA_POSTGRES_DSN)")
		}
	default:
		v.add("driver", "must be embedded or postgres; got %q", s.Driver)
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

// Shutdown bounds how long in-flight requests may finish on stop.
type Shutdown struct {
	Timeout time.Duration `yaml:"timeout"`
}

const defaultShutdownTimeout = 15 * time.Second

func (s *Shutdown) validate(v *validator) { v.positive("timeout", s.Timeout) }

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
	set("URA_LOG_LEVEL", &c.Log.Level)
}

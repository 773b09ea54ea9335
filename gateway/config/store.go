package config

import (
	"regexp"
	"time"
)

// Store is where records are kept: the embedded default or PostgreSQL.
type Store struct {
	// Driver is embedded (one file, no server) or postgres.
	Driver string `yaml:"driver"`
	// Path is the embedded store's file.
	Path string `yaml:"path"`
	// DSN is the PostgreSQL connection string; URA_POSTGRES_DSN overrides
	// it so that the password need not be in the file.
	DSN string `yaml:"dsn"`
	// Schema holds the PostgreSQL tables (created if missing); empty is the
	// connection's default (public).
	Schema string `yaml:"schema"`
	// MaxConns caps the PostgreSQL pool; 0 = max(4, CPUs).
	MaxConns int `yaml:"max_conns"`
	// Timeout bounds opening the store at start: waiting for the embedded
	// file's lock (another process holds it), or each PostgreSQL connection.
	Timeout time.Duration `yaml:"timeout"`
}

func defaultStore() Store {
	return Store{Driver: "embedded", Path: "var/data/ura.db", Timeout: 10 * time.Second}
}

// pgIdentifier is what the schema may be: an unquoted PostgreSQL identifier,
// so the name in the config is the name psql shows.
var pgIdentifier = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

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
		if s.Schema != "" && !pgIdentifier.MatchString(s.Schema) {
			v.add("schema", "must be a lower-case identifier (a-z, 0-9, _; at most 63); got %q", s.Schema)
		}
	default:
		v.add("driver", "must be embedded or postgres; got %q", s.Driver)
	}
	if s.MaxConns < 0 {
		v.add("max_conns", "must not be negative")
	}
	v.positive("timeout", s.Timeout)
}

// Package config loads and validates the gateway's single YAML configuration file.
//
// Everything that can be parsed once (durations, certificates, member IDs) is
// checked here at start-up so that a bad file is refused with every problem listed,
// each named by its field path, instead of failing one request at a time later.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"
)

// Config is the whole gateway configuration. Each section lives in its own file.
type Config struct {
	// Listen is the address of the mutual-TLS API listener.
	Listen string `yaml:"listen"`
	// OpsListen is an optional plain-HTTP address for /healthz and /readyz,
	// for probes that cannot present a client certificate.
	OpsListen string `yaml:"ops_listen"`
	// OpsMetrics also serves /metrics on the ops listener. Off by default:
	// the series name members, and the ops listener asks nobody who they are.
	OpsMetrics bool `yaml:"ops_metrics"`
	// OpsProfiling serves Go's CPU and heap profiles (/debug/pprof/) on the
	// ops listener, which must then be a loopback address. Off by default
	// (ARCHITECTURE.md, "Profiling").
	OpsProfiling bool `yaml:"ops_profiling"`
	// Development marks a local development stack: it allows plain-http
	// addresses for Vault and the OPA server. Never set it in production.
	Development bool       `yaml:"development"`
	HTTP        HTTP       `yaml:"http"`
	TLS         TLS        `yaml:"tls"`
	Members     []Member   `yaml:"members"`
	Limits      Limits     `yaml:"limits"`
	Redis       Redis      `yaml:"redis"`
	RateLimit   RateLimit  `yaml:"ratelimit"`
	Vault       Vault      `yaml:"vault"`
	Sign        Sign       `yaml:"sign"`
	Policy      Policy     `yaml:"policy"`
	Store       Store      `yaml:"store"`
	Upstream    Upstream   `yaml:"upstream"`
	Log         Log        `yaml:"log"`
	Shutdown    Shutdown   `yaml:"shutdown"`
	Audit       Audit      `yaml:"audit"`
	Console     Console    `yaml:"console"`
	Release     Release    `yaml:"release"`
	Cursors     Cursors    `yaml:"cursors"`
	Tracing     Tracing    `yaml:"tracing"`
	Screening   Screening  `yaml:"screening"`
	Deliveries  Deliveries `yaml:"deliveries"`
	Runtime     Runtime    `yaml:"runtime"`

	// dir is the directory of the loaded file; relative paths resolve against it.
	dir string
}

// Load reads the file at path, applies URA_* environment overrides and fills
// defaults. It does not validate: call Validate, which reports every problem.
func Load(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	return Parse(raw, filepath.Dir(path))
}

// Parse decodes YAML bytes; dir is where relative file paths are resolved.
// Unknown keys are errors: a misspelt security setting must never be ignored.
func Parse(raw []byte, dir string) (*Config, error) {
	cfg := Default()
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(cfg); err != nil && !errors.Is(err, io.EOF) {
		return nil, yamlErrors(err)
	}
	cfg.dir = dir
	cfg.applyEnv(os.LookupEnv)
	return cfg, nil
}

// yamlErrors turns yaml.v3's type errors into one error per line.
func yamlErrors(err error) error {
	var te *yaml.TypeError
	if errors.As(err, &te) {
		errs := make([]error, 0, len(te.Errors))
		for _, e := range te.Errors {
			e = strings.TrimPrefix(e, "yaml: ")
			// "line 2: field bogus not found in type config.Config" names a
			// Go type; say what the user did instead.
			if m := unknownField.FindStringSubmatch(e); m != nil {
				e = fmt.Sprintf("%s: unknown key %q", m[1], m[2])
			}
			errs = append(errs, errors.New(e))
		}
		return errors.Join(errs...)
	}
	return err
}

var unknownField = regexp.MustCompile(`^(line \d+): field (\S+) not found in type `)

// Default returns the configuration used for every key the file leaves out.
func Default() *Config {
	return &Config{
		Listen:     "127.0.0.1:8443",
		HTTP:       defaultHTTP(),
		TLS:        defaultTLS(),
		Limits:     defaultLimits(),
		Redis:      defaultRedis(),
		RateLimit:  defaultRateLimit(),
		Vault:      defaultVault(),
		Sign:       defaultSign(),
		Policy:     defaultPolicy(),
		Store:      defaultStore(),
		Upstream:   defaultUpstream(),
		Log:        Log{Level: "info", Format: "json"},
		Audit:      defaultAudit(),
		Console:    defaultConsole(),
		Release:    defaultRelease(),
		Tracing:    defaultTracing(),
		Screening:  defaultScreening(),
		Deliveries: defaultDeliveries(),
		Runtime:    defaultRuntime(),
		Shutdown: Shutdown{
			Timeout: defaultShutdownTimeout,
		},
	}
}

// Path resolves a file path from the config against the config file's directory.
func (c *Config) Path(p string) string {
	if p == "" || filepath.IsAbs(p) || c.dir == "" {
		return p
	}
	return filepath.Join(c.dir, p)
}

// Validate checks the whole configuration and returns every problem found, each
// as a *FieldError naming its path, joined with errors.Join.
func (c *Config) Validate() error {
	v := &validator{}
	if c.Listen == "" {
		v.add("listen", "must be set")
	} else {
		v.hostPort("listen", c.Listen)
	}
	if c.OpsListen != "" {
		v.hostPort("ops_listen", c.OpsListen)
	} else if c.OpsMetrics {
		v.add("ops_metrics", "needs ops_listen")
	}
	validateOpsProfiling(v, c.OpsProfiling, c.OpsListen)
	c.Runtime.validate(v.at("runtime"))
	c.HTTP.validate(v.at("http"))
	c.TLS.validate(v.at("tls"), c)
	validateMembers(v, c.Members, c.TLS.ClientCAs, c.Sign)
	c.Limits.validate(v.at("limits"))
	c.Redis.validate(v.at("redis"), c.Path)
	c.RateLimit.validate(v.at("ratelimit"), c)
	c.Vault.validate(v.at("vault"), c.Path)
	c.Sign.validate(v.at("sign"), c)
	c.Store.validate(v.at("store"), c)
	c.Upstream.validate(v.at("upstream"), c)
	c.Policy.validate(v.at("policy"), c.Path)
	c.Log.validate(v.at("log"))
	c.Shutdown.validate(v.at("shutdown"))
	c.Audit.validate(v.at("audit"), c)
	c.Console.validate(v.at("console"), c.Path)
	c.Cursors.validate(v.at("cursors"), c.Path)
	c.Release.validate(v.at("release"))
	c.Tracing.validate(v.at("tracing"), c)
	c.Screening.validate(v.at("screening"), c.Path)
	c.Deliveries.validate(v.at("deliveries"))
	c.validateTransport(v)
	return v.err()
}

// FieldError is one validation problem at a field path such as
// "tls.client_cas[1].prefixes".
type FieldError struct {
	Path string
	Msg  string
}

func (e *FieldError) Error() string { return e.Path + ": " + e.Msg }

// validator accumulates field errors under a path prefix.
type validator struct {
	prefix string
	errs   *[]*FieldError
}

func (v *validator) at(field string) *validator {
	if v.errs == nil {
		v.errs = new([]*FieldError)
	}
	p := field
	if v.prefix != "" {
		p = v.prefix + "." + field
	}
	return &validator{prefix: p, errs: v.errs}
}

func (v *validator) index(field string, i int) *validator {
	return v.at(fmt.Sprintf("%s[%d]", field, i))
}

func (v *validator) add(field, format string, args ...any) {
	if v.errs == nil {
		v.errs = new([]*FieldError)
	}
	p := field
	if v.prefix != "" {
		p = v.prefix + "." + field
	}
	*v.errs = append(*v.errs, &FieldError{Path: p, Msg: fmt.Sprintf(format, args...)})
}

func (v *validator) err() error {
	if v.errs == nil || len(*v.errs) == 0 {
		return nil
	}
	errs := make([]error, len(*v.errs))
	for i, e := range *v.errs {
		errs[i] = e
	}
	return errors.Join(errs...)
}

package config

import (
	"strings"
	"time"
)

// Audit configures the tamper-evident audit log of every request and
// per-record decision.
type Audit struct {
	// Driver is "file" (append-only segment files under Dir, the default)
	// or "postgres".
	Driver string `yaml:"driver"`
	// Dir holds the segment files and checkpoints of the file driver.
	Dir string `yaml:"dir"`
	// SegmentBytes is the size at which the file driver starts a new segment.
	SegmentBytes int64 `yaml:"segment_bytes"`
	// DSN is the PostgreSQL connection string (or URA_AUDIT_DSN).
	DSN string `yaml:"dsn"`
	// Schema holds the postgres driver's tables; empty uses the search_path.
	Schema      string           `yaml:"schema"`
	GroupCommit AuditGroupCommit `yaml:"group_commit"`
	Checkpoint  AuditCheckpoint  `yaml:"checkpoint"`
	Syslog      AuditSyslog      `yaml:"syslog"`
	// RefusalWindow is how long the refusals of one member by one limit
	// (a rate-limit class, or the in-flight cap) are collapsed: the first
	// refusal of a window is an event at once, the rest are counted and
	// written as one summary event when the window closes
	// (ARCHITECTURE.md, Audit).
	RefusalWindow time.Duration `yaml:"refusal_window"`
}

// Bounds of audit.refusal_window: shorter windows let a flood write more
// events (at most two per member and limit per window), longer ones hold
// counts in memory longer before they are written.
const (
	MinRefusalWindow = time.Second
	MaxRefusalWindow = 10 * time.Minute
)

// AuditGroupCommit bounds how appends are batched into one write and fsync.
type AuditGroupCommit struct {
	MaxBatch int           `yaml:"max_batch"`
	MaxWait  time.Duration `yaml:"max_wait"`
	// Timeout bounds one commit; past it the log is failed and the gateway
	// answers 503 until restarted.
	Timeout time.Duration `yaml:"timeout"`
}

// AuditCheckpoint says how often a checkpoint is signed and where a copy
// is kept off the host.
type AuditCheckpoint struct {
	Every    int64         `yaml:"every"`
	Interval time.Duration `yaml:"interval"`
	// VaultKV keeps the latest checkpoint in Vault, so that a log rolled
	// back together with its own checkpoints is still detected.
	VaultKV AuditVaultKV `yaml:"vault_kv"`
}

// AuditVaultKV is a Vault KV v2 entry holding the latest signed checkpoint
// of one log: every checkpoint is written as a new version, with
// check-and-set so that the entry only moves forward. Path empty means no
// off-host copy.
type AuditVaultKV struct {
	Mount string `yaml:"mount"`
	// Path names the entry under Mount: one path per log.
	Path string `yaml:"path"`
	// Unreachable is what the gateway does when it cannot read the entry at
	// start-up: refuse (the default, also when empty: it does not start) or
	// start (it starts without the comparison, logs an error, and compares
	// at the next checkpoint it writes).
	Unreachable string `yaml:"unreachable"`
}

// Values of audit.checkpoint.vault_kv.unreachable.
const (
	AuditUnreachableRefuse = "refuse"
	AuditUnreachableStart  = "start"
)

// Configured reports whether checkpoints are copied to Vault KV.
func (k AuditVaultKV) Configured() bool { return k.Path != "" }

// AuditSyslog forwards events to a syslog server or SIEM. Network empty
// means no forwarding.
type AuditSyslog struct {
	Network string `yaml:"network"`
	Addr    string `yaml:"addr"`
	Format  string `yaml:"format"`
	// Queue bounds the events waiting to be sent; beyond it they are
	// dropped and counted (the durable log keeps them).
	Queue int `yaml:"queue"`
	// CAFile, CertFile, KeyFile and ServerName configure the tls network.
	CAFile     string `yaml:"ca_file"`
	CertFile   string `yaml:"cert_file"`
	KeyFile    string `yaml:"key_file"`
	ServerName string `yaml:"server_name"`
}

func defaultAudit() Audit {
	return Audit{
		Driver:       "file",
		Dir:          "var/audit",
		SegmentBytes: 16 << 20,
		GroupCommit:  AuditGroupCommit{MaxBatch: 1024, Timeout: 10 * time.Second},
		// Events after the latest checkpoint are what a rollback can remove
		// unseen; the interval bounds how long they stay unsigned.
		Checkpoint: AuditCheckpoint{Every: 1000, Interval: 5 * time.Second,
			VaultKV: AuditVaultKV{Mount: "kv", Unreachable: AuditUnreachableRefuse}},
		Syslog:        AuditSyslog{Format: "rfc5424", Queue: 10000},
		RefusalWindow: 10 * time.Second,
	}
}

func (a *Audit) validate(v *validator, c *Config) {
	switch a.Driver {
	case "file":
		if a.Dir == "" {
			v.add("dir", "must be set for the file driver")
		}
		if a.SegmentBytes < 64<<10 {
			v.add("segment_bytes", "must be at least 65536")
		}
	case "postgres":
		if a.DSN == "" {
			v.add("dsn", "must be set for the postgres driver (or URA_AUDIT_DSN)")
		}
	default:
		v.add("driver", "must be file or postgres; got %q", a.Driver)
	}
	if a.GroupCommit.MaxBatch < 1 || a.GroupCommit.MaxBatch > 100000 {
		v.at("group_commit").add("max_batch", "must be between 1 and 100000")
	}
	if a.GroupCommit.MaxWait < 0 || a.GroupCommit.MaxWait > 100*time.Millisecond {
		v.at("group_commit").add("max_wait", "must be between 0 and 100ms: appenders wait for it")
	}
	v.at("group_commit").positive("timeout", a.GroupCommit.Timeout)
	if a.Checkpoint.Every < 1 {
		v.at("checkpoint").add("every", "must be at least 1")
	}
	v.at("checkpoint").positive("interval", a.Checkpoint.Interval)
	a.Checkpoint.VaultKV.validate(v.at("checkpoint").at("vault_kv"), c)
	a.Syslog.validate(v.at("syslog"), c)
	if a.RefusalWindow < MinRefusalWindow || a.RefusalWindow > MaxRefusalWindow {
		v.add("refusal_window", "must be between %s and %s; got %s", MinRefusalWindow, MaxRefusalWindow, a.RefusalWindow)
	}
}

func (k *AuditVaultKV) validate(v *validator, c *Config) {
	switch k.Unreachable {
	case "", AuditUnreachableRefuse, AuditUnreachableStart:
	default:
		v.add("unreachable", "must be refuse or start; got %q", k.Unreachable)
	}
	if !k.Configured() {
		return
	}
	if k.Mount == "" || strings.Trim(k.Mount, "/") != k.Mount {
		v.add("mount", "must be a KV v2 mount path without leading or trailing /")
	}
	if strings.Trim(k.Path, "/") != k.Path || strings.Contains(k.Path, "//") {
		v.add("path", "must not start or end with / or contain //")
	}
	if c != nil && !c.Vault.Configured() {
		v.add("path", "needs vault.addr: the checkpoint copy is kept in Vault")
	}
}

func (s *AuditSyslog) validate(v *validator, c *Config) {
	switch s.Network {
	case "":
		return
	case "tcp", "udp", "tls":
	default:
		v.add("network", "must be tcp, tls or udp (or empty for no forwarding); got %q", s.Network)
	}
	if s.Addr == "" {
		v.add("addr", "must be set when network is")
	} else {
		v.hostPort("addr", s.Addr)
	}
	if s.Format != "rfc5424" && s.Format != "cef" {
		v.add("format", "must be rfc5424 or cef; got %q", s.Format)
	}
	if s.Queue < 1 {
		v.add("queue", "must be at least 1")
	}
	if s.Network != "tls" {
		for _, f := range [...]struct{ name, val string }{{"ca_file", s.CAFile}, {"cert_file", s.CertFile}, {"key_file", s.KeyFile}} {
			if f.val != "" {
				v.add(f.name, "is only used with network tls")
			}
		}
		return
	}
	v.file("ca_file", c.Path(s.CAFile), false)
	v.file("cert_file", c.Path(s.CertFile), false)
	v.file("key_file", c.Path(s.KeyFile), false)
	if (s.CertFile == "") != (s.KeyFile == "") {
		v.add("key_file", "set cert_file and key_file together")
	}
}

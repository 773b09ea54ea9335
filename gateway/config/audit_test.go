package config

import (
	"strings"
	"testing"
	"time"
)

func TestAuditValidation(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(a *Audit)
		want   []string
	}{
		{"defaults", func(*Audit) {}, nil},
		{"unknown driver", func(a *Audit) { a.Driver = "sqlite" }, []string{"audit.driver"}},
		{"file without dir", func(a *Audit) { a.Dir = "" }, []string{"audit.dir"}},
		{"tiny segments", func(a *Audit) { a.SegmentBytes = 100 }, []string{"audit.segment_bytes"}},
		{"postgres without dsn", func(a *Audit) { a.Driver = "postgres" }, []string{"audit.dsn"}},
		{"group commit", func(a *Audit) {
			a.GroupCommit = AuditGroupCommit{MaxBatch: 0, MaxWait: time.Second, Timeout: 0}
		}, []string{"audit.group_commit.max_batch", "audit.group_commit.max_wait", "audit.group_commit.timeout"}},
		{"checkpoint", func(a *Audit) { a.Checkpoint = AuditCheckpoint{} }, []string{"audit.checkpoint.every", "audit.checkpoint.interval"}},
		{"syslog", func(a *Audit) { a.Syslog = AuditSyslog{Network: "http", Format: "json", Queue: 0} },
			[]string{"audit.syslog.network", "audit.syslog.addr", "audit.syslog.format", "audit.syslog.queue"}},
		{"syslog tls files without tls", func(a *Audit) {
			a.Syslog.Network, a.Syslog.Addr, a.Syslog.CAFile = "tcp", "siem:514", "ca.pem"
		}, []string{"audit.syslog.ca_file"}},
		{"syslog tls half a key pair", func(a *Audit) {
			a.Syslog.Network, a.Syslog.Addr, a.Syslog.CertFile = "tls", "siem:6514", "testdata/not-a-cert.txt"
		}, []string{"audit.syslog.key_file"}},
		{"syslog ok", func(a *Audit) { a.Syslog.Network, a.Syslog.Addr, a.Syslog.Format = "udp", "127.0.0.1:514", "cef" }, nil},
		{"refusal window too short", func(a *Audit) { a.RefusalWindow = 500 * time.Millisecond }, []string{"audit.refusal_window"}},
		{"refusal window too long", func(a *Audit) { a.RefusalWindow = time.Hour }, []string{"audit.refusal_window"}},
		{"refusal window unset", func(a *Audit) { a.RefusalWindow = 0 }, []string{"audit.refusal_window"}},
		{"refusal window ok", func(a *Audit) { a.RefusalWindow = time.Minute }, nil},
		{"vault kv without vault", func(a *Audit) { a.Checkpoint.VaultKV.Path = "ura-audit/checkpoints/gw1" },
			[]string{"audit.checkpoint.vault_kv.path"}},
		{"vault kv paths", func(a *Audit) {
			a.Checkpoint.VaultKV = AuditVaultKV{Mount: "/kv/", Path: "/a//b", Unreachable: "ignore"}
		}, []string{"audit.checkpoint.vault_kv.unreachable", "audit.checkpoint.vault_kv.mount", "audit.checkpoint.vault_kv.path", "audit.checkpoint.vault_kv.path"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := defaultAudit()
			tc.mutate(&a)
			v := &validator{}
			a.validate(v.at("audit"), &Config{})
			var got []string
			if err := v.err(); err != nil {
				for _, line := range strings.Split(err.Error(), "\n") {
					got = append(got, strings.SplitN(line, ":", 2)[0])
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Fatalf("errors at %v, want %v (%v)", got, tc.want, v.err())
			}
		})
	}
}

func TestAuditDSNFromEnvironment(t *testing.T) {
	cfg := Default()
	cfg.applyEnv(func(k string) (string, bool) {
		if k == "URA_AUDIT_DSN" {
			return "postgres://audit@db/ura", true
		}
		return "", false
	})
	if cfg.Audit.DSN != "postgres://audit@db/ura" {
		t.Fatalf("audit.dsn = %q", cfg.Audit.DSN)
	}
}

func TestAuditVaultKV(t *testing.T) {
	a := defaultAudit()
	if a.Checkpoint.VaultKV.Configured() || a.Checkpoint.VaultKV.Unreachable != AuditUnreachableRefuse {
		t.Fatalf("default vault_kv %+v: want off, failing closed when on", a.Checkpoint.VaultKV)
	}
	a.Checkpoint.VaultKV.Path = "ura-audit/checkpoints/gw1"
	c := &Config{Vault: Vault{Addr: "https://vault.internal:8200"}}
	v := &validator{}
	a.validate(v.at("audit"), c)
	if err := v.err(); err != nil {
		t.Fatal(err)
	}
}

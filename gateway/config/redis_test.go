package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRedisSentinelKeys(t *testing.T) {
	pw := filepath.Join(t.TempDir(), "sentinel-password")
	if err := os.WriteFile(pw, []byte("s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		r    Redis
		want string // "" = valid
	}{
		{"sentinel with a password file", Redis{Addrs: []string{"127.0.0.1:26379"}, MasterName: "ura", SentinelUsername: "ura", SentinelPasswordFile: pw}, ""},
		{"sentinel with a password", Redis{Addrs: []string{"127.0.0.1:26379"}, MasterName: "ura", SentinelPassword: "s"}, ""},
		{"sentinel keys without master_name", Redis{Addrs: []string{"127.0.0.1:6379"}, SentinelPassword: "s"}, "redis.sentinel_password: is for Sentinel: set master_name too"},
		{"both password and file", Redis{Addrs: []string{"127.0.0.1:26379"}, MasterName: "ura", SentinelPassword: "s", SentinelPasswordFile: pw}, "redis.sentinel_password_file: set sentinel_password or sentinel_password_file, not both"},
		{"missing password file", Redis{Addrs: []string{"127.0.0.1:26379"}, MasterName: "ura", SentinelPasswordFile: pw + ".missing"}, "redis.sentinel_password_file: cannot read"},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.r.Timeout = defaultRedis().Timeout
			v := &validator{}
			c.r.validate(v.at("redis"), func(s string) string { return s })
			err := v.err()
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want %q", err, c.want)
			}
		})
	}
}

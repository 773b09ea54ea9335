package config

import "time"

// Redis is the rate limiter's shared state. Addrs empty means not configured.
type Redis struct {
	// Addrs is one address, several for Cluster, or Sentinel addresses with MasterName.
	Addrs        []string `yaml:"addrs"`
	Username     string   `yaml:"username"`
	Password     string   `yaml:"password"`
	PasswordFile string   `yaml:"password_file"`
	DB           int      `yaml:"db"`
	MasterName   string   `yaml:"master_name"`
	// SentinelUsername and SentinelPassword(File) are what the sentinels
	// themselves require (their requirepass), which may differ from the
	// master's; with MasterName only.
	SentinelUsername     string        `yaml:"sentinel_username"`
	SentinelPassword     string        `yaml:"sentinel_password"`
	SentinelPasswordFile string        `yaml:"sentinel_password_file"`
	TLS                  RedisTLS      `yaml:"tls"`
	Timeout              time.Duration `yaml:"timeout"`
}

// RedisTLS protects the connection to Redis; the server is verified against
// CAFile (or the system roots) under ServerName.
type RedisTLS struct {
	Enabled    bool   `yaml:"enabled"`
	CAFile     string `yaml:"ca_file"`
	ServerName string `yaml:"server_name"`
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
	if r.MasterName == "" {
		for _, f := range [][2]string{{"sentinel_username", r.SentinelUsername},
			{"sentinel_password", r.SentinelPassword}, {"sentinel_password_file", r.SentinelPasswordFile}} {
			if f[1] != "" {
				v.add(f[0], "is for Sentinel: set master_name too")
			}
		}
	}
	if r.SentinelPassword != "" && r.SentinelPasswordFile != "" {
		v.add("sentinel_password_file", "set sentinel_password or sentinel_password_file, not both")
	} else if r.SentinelPasswordFile != "" {
		v.file("sentinel_password_file", resolve(r.SentinelPasswordFile), true)
	}
	if r.DB < 0 {
		v.add("db", "must not be negative")
	}
	if r.DB != 0 && len(r.Addrs) > 1 && r.MasterName == "" {
		v.add("db", "a Redis Cluster has only database 0")
	}
	if !r.TLS.Enabled && (r.TLS.CAFile != "" || r.TLS.ServerName != "") {
		v.add("tls.enabled", "must be true when tls.ca_file or tls.server_name is set")
	}
	v.positive("timeout", r.Timeout)
}

package config

import (
	"net/url"
	"time"
)

// Vault holds the signing keys. Addr empty means not configured.
type Vault struct {
	Addr string `yaml:"addr"`
	// Token and TokenFile authenticate with auth.method token only.
	Token     string `yaml:"token"`
	TokenFile string `yaml:"token_file"`
	// CAFile verifies Vault's TLS certificate; empty uses the system roots.
	CAFile string `yaml:"ca_file"`
	// ServerName overrides the name checked in Vault's certificate.
	ServerName string `yaml:"server_name"`
	// Timeout bounds every single Vault request.
	Timeout time.Duration `yaml:"timeout"`
	// MaxRetries is how often a request that failed with a 5xx or a
	// connection error is retried (with backoff) before the caller sees it.
	MaxRetries int       `yaml:"max_retries"`
	Auth       VaultAuth `yaml:"auth"`
}

// VaultAuth selects how the gateway logs in to Vault.
type VaultAuth struct {
	// Method is token (default), approle or kubernetes.
	Method string `yaml:"method"`
	// Mount is the auth method's mount path; default approle or kubernetes.
	Mount string `yaml:"mount"`
	// RoleIDFile and SecretIDFile are AppRole's credentials, read at every
	// login so that a rotated secret_id is picked up.
	RoleIDFile   string `yaml:"role_id_file"`
	SecretIDFile string `yaml:"secret_id_file"`
	// Role is the Kubernetes auth role.
	Role string `yaml:"role"`
	// ServiceAccountTokenFile is read at every login: projected tokens rotate.
	ServiceAccountTokenFile string `yaml:"service_account_token_file"`
}

// Vault auth methods.
const (
	VaultAuthToken      = "token"
	VaultAuthAppRole    = "approle"
	VaultAuthKubernetes = "kubernetes"
)

const defaultServiceAccountTokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"

func defaultVault() Vault {
	return Vault{Timeout: 5 * time.Second, MaxRetries: 2, Auth: VaultAuth{Method: VaultAuthToken}}
}

// Configured reports whether a Vault is set up at all.
func (vc *Vault) Configured() bool { return vc.Addr != "" }

// AuthMount is the mount path of the configured login method.
func (vc *Vault) AuthMount() string {
	if vc.Auth.Mount != "" {
		return vc.Auth.Mount
	}
	return vc.Auth.Method
}

// ServiceAccountTokenPath is the Kubernetes service-account token file.
func (vc *Vault) ServiceAccountTokenPath() string {
	if vc.Auth.ServiceAccountTokenFile != "" {
		return vc.Auth.ServiceAccountTokenFile
	}
	return defaultServiceAccountTokenFile
}

func (vc *Vault) validate(v *validator, resolve func(string) string) {
	if vc.Addr != "" {
		if u, err := url.Parse(vc.Addr); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add("addr", "must be an http or https URL")
		}
	}
	if vc.CAFile != "" {
		v.file("ca_file", resolve(vc.CAFile), true)
	}
	v.positive("timeout", vc.Timeout)
	if vc.MaxRetries < 0 || vc.MaxRetries > 10 {
		v.add("max_retries", "must be between 0 and 10")
	}
	a := v.at("auth")
	switch vc.Auth.Method {
	case VaultAuthToken:
		if vc.Token != "" && vc.TokenFile != "" {
			v.add("token_file", "set token or token_file, not both")
		} else if vc.TokenFile != "" {
			v.file("token_file", resolve(vc.TokenFile), true)
		}
		if vc.Configured() && vc.Token == "" && vc.TokenFile == "" {
			v.add("token", "set token, token_file or URA_VAULT_TOKEN for auth.method token")
		}
		for _, f := range [][2]string{{"mount", vc.Auth.Mount}, {"role_id_file", vc.Auth.RoleIDFile},
			{"secret_id_file", vc.Auth.SecretIDFile}, {"role", vc.Auth.Role},
			{"service_account_token_file", vc.Auth.ServiceAccountTokenFile}} {
			if f[1] != "" {
				a.add(f[0], "is not used by auth.method token")
			}
		}
	case VaultAuthAppRole:
		vc.noToken(v)
		a.file("role_id_file", resolve(vc.Auth.RoleIDFile), true)
		a.file("secret_id_file", resolve(vc.Auth.SecretIDFile), true)
		if vc.Auth.Role != "" || vc.Auth.ServiceAccountTokenFile != "" {
			a.add("method", "role and service_account_token_file are for kubernetes, not approle")
		}
	case VaultAuthKubernetes:
		vc.noToken(v)
		if vc.Auth.Role == "" {
			a.add("role", "must be set for auth.method kubernetes")
		}
		if vc.Auth.RoleIDFile != "" || vc.Auth.SecretIDFile != "" {
			a.add("method", "role_id_file and secret_id_file are for approle, not kubernetes")
		}
		// The default token path exists only inside a pod; check only a path
		// the operator chose.
		if vc.Auth.ServiceAccountTokenFile != "" {
			a.file("service_account_token_file", resolve(vc.Auth.ServiceAccountTokenFile), true)
		}
	default:
		a.add("method", "must be token, approle or kubernetes; got %q", vc.Auth.Method)
	}
}

func (vc *Vault) noToken(v *validator) {
	if vc.Token != "" || vc.TokenFile != "" {
		v.add("token", "token and token_file (and URA_VAULT_TOKEN) are only for auth.method token; got auth.method %s", vc.Auth.Method)
	}
}

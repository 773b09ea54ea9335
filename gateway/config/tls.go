package config

import (
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/ura-gateway/ura/certs"
	"github.com/ura-gateway/ura/gateway/identity"
)

// TLS configures the mutual-TLS listener and the trust anchors for callers.
type TLS struct {
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// MinVersion is "1.3" (default) or "1.2"; 1.2 is offered with AEAD suites only.
	MinVersion string     `yaml:"min_version"`
	ClientCAs  []ClientCA `yaml:"client_cas"`
	// CRLRefresh is how often CRLs fetched from a URL are fetched again.
	CRLRefresh time.Duration `yaml:"crl_refresh"`
	// CRLGrace is how long past a CRL's nextUpdate it is still trusted; after
	// that every certificate it covers is refused (fail closed).
	CRLGrace time.Duration `yaml:"crl_grace"`
	// ReloadInterval is how often certificate, key, CA and CRL files are checked
	// for change and hot-reloaded.
	ReloadInterval time.Duration `yaml:"reload_interval"`
	// CRLStateFile keeps the highest CRL number verified from each issuer
	// across restarts, so that an older CRL is refused after a restart as
	// it is before one. Missing on a first start; a corrupt one stops it.
	CRLStateFile string `yaml:"crl_state_file"`
}

// ClientCA is one trust anchor and the member-ID prefixes it may vouch for.
type ClientCA struct {
	Name     string   `yaml:"name"`
	CertFile string   `yaml:"cert_file"`
	Prefixes []string `yaml:"prefixes"`
	// CRLs cover the certificates below this anchor. When any are configured,
	// every certificate in a caller's chain must be covered by a current one.
	CRLs []CRLSource `yaml:"crls"`
}

// CRLSource is a CRL read from a file or fetched from a URL (exactly one).
type CRLSource struct {
	File string `yaml:"file"`
	URL  string `yaml:"url"`
}

func defaultTLS() TLS {
	return TLS{
		MinVersion:     "1.3",
		CRLRefresh:     5 * time.Minute,
		CRLGrace:       time.Hour,
		ReloadInterval: 2 * time.Second,
		CRLStateFile:   "var/data/crl-numbers.json",
	}
}

func (t *TLS) validate(v *validator, c *Config) {
	v.file("cert_file", c.Path(t.CertFile), true)
	v.file("key_file", c.Path(t.KeyFile), true)
	switch t.MinVersion {
	case "1.2", "1.3":
	default:
		v.add("min_version", "must be \"1.3\" or \"1.2\", got %q", t.MinVersion)
	}
	if len(t.ClientCAs) == 0 {
		v.add("client_cas", "must list at least one trust anchor")
	}
	names := map[string]bool{}
	for i, ca := range t.ClientCAs {
		cv := v.index("client_cas", i)
		switch {
		case ca.Name == "":
			cv.add("name", "must be set")
		case names[ca.Name]:
			cv.add("name", "duplicate name %q", ca.Name)
		}
		names[ca.Name] = true
		if ca.CertFile == "" {
			cv.add("cert_file", "must be set")
		} else if err := checkCAFile(c.Path(ca.CertFile)); err != nil {
			cv.add("cert_file", "%v", err)
		}
		if len(ca.Prefixes) == 0 {
			cv.add("prefixes", "must not be empty: a CA vouches only for the member-ID prefixes listed")
		}
		for j, p := range ca.Prefixes {
			if err := validPrefix(p); err != nil {
				cv.add(indexPath("prefixes", j), "%v", err)
			}
		}
		for j, s := range ca.CRLs {
			sv := cv.index("crls", j)
			switch {
			case (s.File == "") == (s.URL == ""):
				sv.add("file", "exactly one of file or url must be set")
			case s.File != "":
				sv.file("file", c.Path(s.File), true)
			default:
				if u, err := url.Parse(s.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
					sv.add("url", "must be an http or https URL")
				}
			}
		}
	}
	v.positive("crl_refresh", t.CRLRefresh)
	if t.CRLGrace < 0 {
		v.add("crl_grace", "must not be negative")
	}
	v.positive("reload_interval", t.ReloadInterval)
	if t.CRLStateFile == "" {
		v.add("crl_state_file", "must be set: it keeps CRL numbers across restarts")
	} else if _, err := identity.OpenCRLNumbers(c.Path(t.CRLStateFile)); err != nil {
		v.add("crl_state_file", "%v", err)
	}
}

// validPrefix accepts "AL/" style prefixes and whole member IDs. A prefix that
// does not end at a "/" boundary ("IT") would also match "ITA/...".
func validPrefix(p string) error {
	if p == "" {
		return errorf("must not be empty")
	}
	if strings.HasSuffix(p, "/") {
		for _, part := range strings.Split(strings.TrimSuffix(p, "/"), "/") {
			if part == "" || strings.ToUpper(part) != part {
				return errorf("%q: prefix segments must be non-empty and upper case", p)
			}
		}
		return nil
	}
	if err := identity.ValidMemberID(p); err != nil {
		return errorf("%q: must end with \"/\" or be a whole member ID", p)
	}
	return nil
}

func checkCAFile(path string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return errorf("cannot read: %v", unwrapPathError(err))
	}
	found, err := certs.ParseCertsPEM(raw)
	if err != nil {
		return err
	}
	for i, cert := range found {
		if !cert.IsCA {
			return errorf("certificate %d (%s) is not a CA", i+1, cert.Subject.CommonName)
		}
	}
	return nil
}

package config

import (
	"time"

	"github.com/ura-gateway/ura/gateway/sanctions"
)

// Screening configures the screening of licence parties against lists kept
// outside the gateway's registers (gateway/ARCHITECTURE.md, "Name
// matching").
type Screening struct {
	// SanctionsFile is a consolidated sanctions list in the UN Security
	// Council consolidated list XML format; empty screens against none. It
	// is loaded at start-up (a file that does not load stops it) and again
	// whenever its content changes; a change that does not load keeps the
	// running list.
	SanctionsFile string `yaml:"sanctions_file"`
	// ReloadInterval is how often SanctionsFile is polled for changes.
	ReloadInterval time.Duration `yaml:"reload_interval"`
}

func defaultScreening() Screening {
	return Screening{ReloadInterval: 30 * time.Second}
}

func (s *Screening) validate(v *validator, resolve func(string) string) {
	v.positive("reload_interval", s.ReloadInterval)
	if s.SanctionsFile == "" {
		return
	}
	if _, err := sanctions.Load(resolve(s.SanctionsFile)); err != nil {
		v.add("sanctions_file", "%v", err)
	}
}

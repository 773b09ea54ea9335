package config

import "time"

// Console configures the security officers' web console at /console/,
// served on the mutual-TLS listener to members of kind auditor only.
type Console struct {
	// Enabled serves the console. Turning it off removes the routes, so a
	// gateway whose officers use only the API and CLI exposes no HTML.
	Enabled bool `yaml:"enabled"`
	// VerifyTimeout bounds one "verify chain" run, which reads the whole
	// log; a run that does not finish in time reports so and stops reading.
	VerifyTimeout time.Duration `yaml:"verify_timeout"`
}

func defaultConsole() Console {
	return Console{Enabled: true, VerifyTimeout: 5 * time.Minute}
}

func (c *Console) validate(v *validator) {
	if c.VerifyTimeout < time.Second || c.VerifyTimeout > time.Hour {
		v.add("verify_timeout", "must be between 1s and 1h; got %s", c.VerifyTimeout)
	}
}

package config

import (
	"bytes"
	"encoding/hex"
	"os"
	"time"
)

// Console configures the security officers' web console at /console/,
// served on the mutual-TLS listener to members of kind auditor only.
type Console struct {
	// Enabled serves the console. Turning it off removes the routes, so a
	// gateway whose officers use only the API and CLI exposes no HTML.
	Enabled bool `yaml:"enabled"`
	// VerifyTimeout bounds one "verify chain" run, which reads the whole
	// log; a run that does not finish in time reports so and stops reading.
	VerifyTimeout time.Duration `yaml:"verify_timeout"`
	// CSRFKeyFile holds the key of the console's form tokens, in hex (at
	// least 64 digits: 32 random bytes), shared by every replica so that a
	// form survives a restart or lands on another replica. Empty: a random
	// key per process, and a warning at start-up.
	CSRFKeyFile string `yaml:"csrf_key_file"`
}

// MinCSRFKeyBytes is the least key material a CSRF key file must hold.
const MinCSRFKeyBytes = 32

func defaultConsole() Console {
	return Console{Enabled: true, VerifyTimeout: 5 * time.Minute}
}

func (c *Console) validate(v *validator, resolve func(string) string) {
	if c.VerifyTimeout < time.Second || c.VerifyTimeout > time.Hour {
		v.add("verify_timeout", "must be between 1s and 1h; got %s", c.VerifyTimeout)
	}
	if c.CSRFKeyFile != "" {
		if _, err := c.CSRFKey(resolve); err != nil {
			v.add("csrf_key_file", "%v", err)
		}
	}
}

// CSRFKey reads the key from CSRFKeyFile; nil without one. Errors never
// quote the file's content.
func (c *Console) CSRFKey(resolve func(string) string) ([]byte, error) {
	if c.CSRFKeyFile == "" {
		return nil, nil
	}
	raw, err := os.ReadFile(resolve(c.CSRFKeyFile))
	if err != nil {
		return nil, errorf("cannot read: %v", unwrapPathError(err))
	}
	text := bytes.TrimSpace(raw)
	key := make([]byte, hex.DecodedLen(len(text)))
	if _, err := hex.Decode(key, text); err != nil {
		return nil, errorf("must hold the key in hex, e.g. from `openssl rand -hex 32`")
	}
	if len(key) < MinCSRFKeyBytes {
		return nil, errorf("holds %d bytes of key; at least %d are needed (64 hex digits)", len(key), MinCSRFKeyBytes)
	}
	return key, nil
}

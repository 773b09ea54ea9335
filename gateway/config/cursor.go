package config

// Cursors is how the positions a pull hands out are sealed.
type Cursors struct {
	// KeyFile holds the secret (at least 32 bytes) that cursors are sealed
	// with. Every replica must have the same file, or a cursor handed out by
	// one is refused by another. Empty: a key of the process's own, and
	// cursors stop working when the gateway restarts.
	KeyFile string `yaml:"key_file"`
}

func (c *Cursors) validate(v *validator, resolve func(string) string) {
	if c.KeyFile != "" {
		v.file("key_file", resolve(c.KeyFile), true)
	}
}

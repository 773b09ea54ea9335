package config

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoadValidate: Load and Validate of any file, however malformed, return
// a config or errors and never panic or hang. Every error Validate returns
// names a field path. Seeds are the configurations the repository ships.
func FuzzLoadValidate(f *testing.F) {
	for _, p := range []string{"../../deploy/dev/ura.yaml", "../../deploy/ura.example.yaml", "testdata/invalid.yaml"} {
		raw, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(raw)
	}
	for _, s := range []string{
		"", "---\n", "listen: [", "listen: 127.0.0.1:8443\nlisten: x\n",
		"tls:\n  client_cas:\n    - prefixes: []\n", "members: {a: b}\n", "ratelimit: !!binary AAAA\n",
		"a: &x [*x]\n", "sign:\n  verification_window: -1h\n", "audit: {checkpoint: {every: -1}}\n",
		"tls: {min_version: 1.1, crl_grace: 1e400h}\n", "members:\n  - id: AL/GOV/AIM\n    clearance: TOP SECRET\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		// The paths a configuration names are read as the operator wrote
		// them; device and kernel files (a FIFO, /dev/zero) are the
		// operator's to name, not a parser's problem.
		for _, bad := range []string{"/dev", "/proc", "/sys", ".."} {
			if bytes.Contains(raw, []byte(bad)) {
				t.Skip()
			}
		}
		path := filepath.Join(t.TempDir(), "ura.yaml")
		if err := os.WriteFile(path, raw, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(path)
		if err != nil {
			if cfg != nil {
				t.Fatalf("Load returned a config with error %v", err)
			}
			return
		}
		if cfg == nil {
			t.Fatal("Load returned neither config nor error")
		}
		err = cfg.Validate()
		if err == nil {
			return
		}
		errs := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		}
		for _, e := range errs {
			var fe *FieldError
			if !errors.As(e, &fe) || fe.Path == "" {
				t.Fatalf("error without a field path: %q", e)
			}
		}
	})
}

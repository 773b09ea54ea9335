package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestConsoleValidation(t *testing.T) {
	cases := []struct {
		name   string
		mutate func(c *Console)
		want   []string
	}{
		{"defaults", func(*Console) {}, nil},
		{"disabled", func(c *Console) { c.Enabled = false }, nil},
		{"no timeout", func(c *Console) { c.VerifyTimeout = 0 }, []string{"console.verify_timeout"}},
		{"timeout too long", func(c *Console) { c.VerifyTimeout = 2 * time.Hour }, []string{"console.verify_timeout"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := defaultConsole()
			tc.mutate(&c)
			v := &validator{}
			c.validate(v.at("console"), func(s string) string { return s })
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

func TestConsoleFromYAML(t *testing.T) {
	cfg, err := Parse([]byte("console:\n  enabled: false\n  verify_timeout: 90s\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Console.Enabled || cfg.Console.VerifyTimeout != 90*time.Second {
		t.Fatalf("console = %+v", cfg.Console)
	}
	if cfg, _ := Parse(nil, ""); !cfg.Console.Enabled || cfg.Console.VerifyTimeout != 5*time.Minute {
		t.Fatalf("default console = %+v", cfg.Console)
	}
	if _, err := Parse([]byte("console:\n  enable: true\n"), ""); err == nil {
		t.Fatal("a misspelt console key was accepted")
	}
}

func TestConsoleCSRFKeyFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	secret := strings.Repeat("c0ffee", 11) // 66 hex digits: 33 bytes
	cases := []struct {
		name, file string
		wantErr    string
	}{
		{"hex key with newline", write("good", secret+"\n"), ""},
		{"missing", filepath.Join(dir, "absent"), "cannot read"},
		{"too short", write("short", strings.Repeat("ab", 31)), "at least 32"},
		{"not hex", write("text", "zz"+secret), "must hold the key in hex"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := defaultConsole()
			c.CSRFKeyFile = tc.file
			key, err := c.CSRFKey(func(s string) string { return s })
			v := &validator{}
			c.validate(v.at("console"), func(s string) string { return s })
			if tc.wantErr == "" {
				if err != nil || len(key) != 33 || v.err() != nil {
					t.Fatalf("CSRFKey() = %d bytes, %v; validate: %v", len(key), err, v.err())
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("CSRFKey() error = %v, want %q", err, tc.wantErr)
			}
			verr := v.err()
			if verr == nil || !strings.HasPrefix(verr.Error(), "console.csrf_key_file: ") {
				t.Fatalf("validate = %v, want a console.csrf_key_file error", verr)
			}
			// The key (or a piece of it) never appears in an error.
			if strings.Contains(verr.Error(), secret[:8]) {
				t.Fatalf("error quotes the key file: %v", verr)
			}
		})
	}
	none := defaultConsole()
	if key, err := none.CSRFKey(func(s string) string { return s }); key != nil || err != nil {
		t.Fatalf("no file: CSRFKey() = %x, %v; want nil, nil", key, err)
	}
}

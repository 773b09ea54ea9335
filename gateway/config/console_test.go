package config

import (
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
			c.validate(v.at("console"))
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

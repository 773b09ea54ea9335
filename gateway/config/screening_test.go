package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestScreeningValidate(t *testing.T) {
	dir := t.TempDir()
	good, err := os.ReadFile("../../deploy/dev/sanctions.xml")
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "list.xml"), good, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "broken.xml"), good[:200], 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		yaml string
		want string // a substring of the one error; empty: valid
	}{
		{name: "none", yaml: ""},
		{name: "a list", yaml: "screening: {sanctions_file: list.xml, reload_interval: 1m}"},
		{name: "missing", yaml: "screening: {sanctions_file: nope.xml}", want: "screening.sanctions_file: sanctions list: open " + filepath.Join(dir, "nope.xml")},
		{name: "malformed", yaml: "screening: {sanctions_file: broken.xml}", want: "screening.sanctions_file: sanctions list " + filepath.Join(dir, "broken.xml") + ": malformed XML"},
		{name: "no interval", yaml: "screening: {reload_interval: 0s}", want: "screening.reload_interval: must be a positive duration"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.yaml), dir)
			if err != nil {
				t.Fatal(err)
			}
			v := &validator{}
			cfg.Screening.validate(v.at("screening"), cfg.Path)
			err = v.err()
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n")):
				t.Fatalf("error %v, want one line beginning %q", err, tc.want)
			}
		})
	}
}

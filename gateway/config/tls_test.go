package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// tls.crl_state_file must be set; a missing file is a first start, a
// corrupt one is refused by the check, naming the file.
func TestCRLStateFileValidation(t *testing.T) {
	dir := t.TempDir()
	corrupt := filepath.Join(dir, "corrupt.json")
	if err := os.WriteFile(corrupt, []byte("{\"version\":1,"), 0o600); err != nil {
		t.Fatal(err)
	}
	valid := filepath.Join(dir, "valid.json")
	if err := os.WriteFile(valid, []byte(`{"version":1,"issuers":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := Default().TLS.CRLStateFile; got != "var/data/crl-numbers.json" {
		t.Fatalf("default tls.crl_state_file = %q", got)
	}
	for _, tc := range []struct {
		name, file, want string
	}{
		{"missing: a first start", "never-written.json", ""},
		{"valid", "valid.json", ""},
		{"unset", "", "tls.crl_state_file: must be set"},
		{"corrupt", "corrupt.json", "tls.crl_state_file: crl state file " + corrupt + ": corrupt"},
		{"a directory", ".", "tls.crl_state_file: crl state file " + dir},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte("tls:\n  crl_state_file: \""+tc.file+"\"\n"), dir)
			if err != nil {
				t.Fatal(err)
			}
			v := &validator{}
			cfg.TLS.validate(v.at("tls"), cfg)
			var got []string
			for _, e := range *v.errs {
				if e.Path == "tls.crl_state_file" {
					got = append(got, e.Error())
				}
			}
			switch {
			case tc.want == "" && len(got) > 0:
				t.Fatalf("errors %q, want none", got)
			case tc.want != "" && (len(got) != 1 || !strings.HasPrefix(got[0], tc.want)):
				t.Fatalf("errors %q, want one starting %q", got, tc.want)
			}
		})
	}
}

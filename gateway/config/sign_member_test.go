package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSignMember: sign.member names this gateway for peers, and peers
// cannot be configured without it (their records would have no recipient
// to be checked against).
func TestSignMember(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "jwks.json"), []byte(`{"keys":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	members := "members:\n  - {id: IT/GOV/URA, name: Italy ura, nation: ITA, kind: gateway, clearance: CONFIDENTIAL}\n"
	partner := strings.Replace(members, "kind: gateway", "kind: partner", 1)
	peers := "  peers:\n    IT/GOV/URA: {jwks_file: jwks.json}\n"
	cases := []struct {
		name string
		yaml string
		want []string
	}{
		{name: "no peers, no member", yaml: ""},
		{name: "member without peers", yaml: "sign:\n  member: AL/GOV/URA\n"},
		{name: "peers need a member", yaml: members + "sign:\n" + peers, want: []string{"sign.member"}},
		{name: "peers with member", yaml: members + "sign:\n  member: AL/GOV/URA\n" + peers},
		{name: "a peer is a gateway member", yaml: partner + "sign:\n  member: AL/GOV/URA\n" + peers, want: []string{"sign.peers.IT/GOV/URA"}},
		{name: "member is a member ID", yaml: "sign:\n  member: ura.aim.gov.al\n", want: []string{"sign.member"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.yaml), dir)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			if err := cfg.Validate(); err != nil {
				for _, line := range strings.Split(err.Error(), "\n") {
					path, _, _ := strings.Cut(line, ": ")
					if strings.HasPrefix(path, "sign.") {
						got = append(got, path)
					}
				}
			}
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				t.Errorf("errors at %v, want %v (%v)", got, tc.want, cfg.Validate())
			}
		})
	}
}

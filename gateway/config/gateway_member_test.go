package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestGatewayMember: a peer gateway is a member of kind gateway, vouched
// for only by anchors limited to its own instance, never of this gateway's
// own instance, and listed under sign.peers.
func TestGatewayMember(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "jwks.json"), []byte(`{"keys":[]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	anchors := func(itPrefixes string) string {
		return "tls:\n  client_cas:\n" +
			"    - {name: al, cert_file: al.crt, prefixes: [\"AL/\", \"NATO/\"]}\n" +
			"    - {name: it, cert_file: it.crt, prefixes: [" + itPrefixes + "]}\n"
	}
	gateway := func(id string) string {
		return "members:\n  - {id: " + id + ", name: peer gateway, nation: ITA, kind: gateway, clearance: CONFIDENTIAL}\n"
	}
	signWith := func(member, peer string) string {
		return "sign:\n  member: " + member + "\n  peers:\n    " + peer + ": {jwks_file: jwks.json}\n"
	}
	cases := []struct {
		name string
		yaml string
		want []string // field paths with errors, among members[0] and sign.peers
	}{
		{name: "Italy's gateway under the Italian anchor",
			yaml: anchors(`"IT/"`) + gateway("IT/GOV/URA") + signWith("AL/GOV/URA", "IT/GOV/URA")},
		{name: "an anchor naming the gateway alone",
			yaml: anchors(`"IT/GOV/URA", "IT/GOV/MOD"`) + gateway("IT/GOV/URA") + signWith("AL/GOV/URA", "IT/GOV/URA")},
		{name: "its anchor also vouches for Albanian members",
			yaml: anchors(`"IT/", "AL/GOV/"`) + gateway("IT/GOV/URA") + signWith("AL/GOV/URA", "IT/GOV/URA"),
			want: []string{"members[0].id"}},
		{name: "its anchor also vouches for another nation",
			yaml: anchors(`"IT/", "CZ/"`) + gateway("IT/GOV/URA") + signWith("AL/GOV/URA", "IT/GOV/URA"),
			want: []string{"members[0].id"}},
		{name: "outside every anchor's prefixes",
			yaml: anchors(`"IT/"`) + gateway("CZ/GOV/URA") + signWith("AL/GOV/URA", "CZ/GOV/URA"),
			want: []string{"members[0].id"}},
		{name: "vouched for by the Albanian anchor",
			yaml: anchors(`"IT/"`) + gateway("AL/GOV/URA2") + signWith("AL/GOV/URA", "AL/GOV/URA2"),
			want: []string{"members[0].id"}},
		{name: "of this gateway's own instance",
			yaml: anchors(`"IT/"`) + gateway("IT/GOV/URA") + signWith("IT/GOV/URA1", "IT/GOV/URA"),
			want: []string{"members[0].id"}},
		{name: "not listed under sign.peers",
			yaml: anchors(`"IT/"`) + gateway("IT/GOV/URA"),
			want: []string{"members[0].kind"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.yaml), dir)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, line := range splitErrors(cfg.Validate()) {
				path, _, _ := strings.Cut(line, ": ")
				if strings.HasPrefix(path, "members[0].") || strings.HasPrefix(path, "sign.peers") {
					got = append(got, path)
				}
			}
			got = slices.Compact(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("errors at %v, want %v (%v)", got, tc.want, cfg.Validate())
			}
		})
	}
}

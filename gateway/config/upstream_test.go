package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestStoreAndUpstreamValidation checks each rule of the store and upstream
// sections by the field path it reports.
func TestStoreAndUpstreamValidation(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"ca.crt", "gw.crt", "gw.key"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// The registry the destinations name; errors outside store and
	// upstream (these members' CAs, the peers' key files) are not looked at.
	registry := `members:
  - {id: AL/GOV/AIM, name: AIM, nation: ALB, kind: agency, clearance: SECRET}
  - {id: IT/GOV/URA, name: Italy ura, nation: ITA, kind: partner, clearance: CONFIDENTIAL}
  - {id: CZ/GOV/URA, name: Czech ura, nation: CZE, kind: partner, clearance: CONFIDENTIAL}
sign:
  member: AL/GOV/URA
  peers:
    IT/GOV/URA: {jwks_file: ca.crt}
`
	good := `
  - name: aim-backoffice
    kind: http
    member: AL/GOV/AIM
    url: https://backoffice.aim.gov.al/api/records
    kinds: [licence, tracking_event]
    ca_file: ca.crt
    client_cert_file: gw.crt
    client_key_file: gw.key
`
	peer := func(member string) string {
		return strings.Replace(strings.Replace(good, "kind: http", "kind: peer", 1), "member: AL/GOV/AIM", "member: "+member, 1)
	}
	cases := []struct {
		name string
		yaml string
		want []string // field paths with errors; none = valid
	}{
		{name: "defaults", yaml: ``},
		{name: "embedded needs a path", yaml: "store: {driver: embedded, path: \"\"}", want: []string{"store.path"}},
		{name: "postgres needs a dsn", yaml: "store: {driver: postgres}", want: []string{"store.dsn"}},
		{name: "postgres schema", yaml: "store: {driver: postgres, dsn: postgres://x/ura, schema: \"Ura; DROP\"}", want: []string{"store.schema"}},
		{name: "postgres valid", yaml: "store: {driver: postgres, dsn: postgres://x/ura, schema: ura_prod, max_conns: 8, timeout: 3s}"},
		{name: "store timeout and pool", yaml: "store: {max_conns: -1, timeout: 0s}", want: []string{"store.max_conns", "store.timeout"}},
		{name: "unknown driver", yaml: "store: {driver: sqlite}", want: []string{"store.driver"}},
		{name: "one good destination", yaml: "upstream:\n  destinations:" + good},
		{name: "a peer", yaml: "upstream:\n  destinations:" + peer("IT/GOV/URA")},
		{name: "every destination names a member", yaml: "upstream:\n  destinations:" + strings.Replace(good, "    member: AL/GOV/AIM\n", "", 1),
			want: []string{"upstream.destinations[0].member"}},
		{name: "member is a member ID", yaml: "upstream:\n  destinations:" + peer("ura.difesa.it"),
			want: []string{"upstream.destinations[0].member"}},
		{name: "member must be registered", yaml: "upstream:\n  destinations:" + strings.Replace(good, "AL/GOV/AIM", "AL/GOV/XYZ", 1),
			want: []string{"upstream.destinations[0].member"}},
		{name: "a peer's receipts need its JWKS", yaml: "upstream:\n  destinations:" + peer("CZ/GOV/URA"),
			want: []string{"upstream.destinations[0].member"}},
		{name: "nation is refused", yaml: "upstream:\n  destinations:" + strings.Replace(good, "kind: http", "kind: http\n    nation: ITA", 1),
			want: []string{"upstream.destinations[0].nation"}},
		{name: "nation beside member is refused", yaml: "upstream:\n  destinations:" + strings.Replace(peer("IT/GOV/URA"), "kind: peer", "kind: peer\n    nation: ITA", 1),
			want: []string{"upstream.destinations[0].nation"}},
		{name: "plain http url", yaml: "upstream:\n  destinations:" + strings.Replace(good, "https://", "http://", 1),
			want: []string{"upstream.destinations[0].url"}},
		{name: "credentials in url", yaml: "upstream:\n  destinations:" + strings.Replace(good, "https://", "https://u:p@", 1),
			want: []string{"upstream.destinations[0].url"}},
		{name: "unknown record kind", yaml: "upstream:\n  destinations:" + strings.Replace(good, "tracking_event", "weapons", 1),
			want: []string{"upstream.destinations[0].kinds[1]"}},
		{name: "no kinds", yaml: "upstream:\n  destinations:" + strings.Replace(good, "kinds: [licence, tracking_event]", "kinds: []", 1),
			want: []string{"upstream.destinations[0].kinds"}},
		{name: "duplicate name", yaml: "upstream:\n  destinations:" + good + good, want: []string{"upstream.destinations[1].name"}},
		{name: "bad name and kind", yaml: "upstream:\n  destinations:" + strings.Replace(strings.Replace(good, "aim-backoffice", "AIM Back Office", 1), "kind: http", "kind: ftp", 1),
			want: []string{"upstream.destinations[0].name", "upstream.destinations[0].kind"}},
		{name: "missing client certificate", yaml: "upstream:\n  destinations:" + strings.Replace(good, "gw.crt", "missing.crt", 1),
			want: []string{"upstream.destinations[0].client_cert_file"}},
		{name: "no client key", yaml: "upstream:\n  destinations:" + strings.Replace(good, "    client_key_file: gw.key\n", "", 1),
			want: []string{"upstream.destinations[0].client_key_file"}},
		{name: "negative numbers", yaml: "upstream:\n  destinations:" + good + "    timeout: -1s\n    max_attempts: -2\n    backoff_initial: -1s\n",
			want: []string{"upstream.destinations[0].timeout", "upstream.destinations[0].max_attempts", "upstream.destinations[0].backoff_initial"}},
		{name: "backoff max below initial", yaml: "upstream:\n  destinations:" + good + "    backoff_initial: 10s\n    backoff_max: 1s\n",
			want: []string{"upstream.destinations[0].backoff_max"}},
		{name: "outbox path", yaml: "upstream:\n  outbox: {path: \"\"}\n  destinations:" + good, want: []string{"upstream.outbox.path"}},
		{name: "outbox path without destinations", yaml: "upstream:\n  outbox: {path: \"\"}"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(registry+tc.yaml), dir)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			if err := cfg.Validate(); err != nil {
				for _, line := range strings.Split(err.Error(), "\n") {
					path, _, _ := strings.Cut(line, ": ")
					if strings.HasPrefix(path, "store") || strings.HasPrefix(path, "upstream") {
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

func TestUpstreamDefaults(t *testing.T) {
	cfg := Default()
	if cfg.Upstream.Configured() || cfg.Upstream.Outbox.Path == "" {
		t.Errorf("default upstream = %+v", cfg.Upstream)
	}
	if cfg.Store.Driver != "embedded" || cfg.Store.Timeout != 10*time.Second {
		t.Errorf("default store = %+v", cfg.Store)
	}
}

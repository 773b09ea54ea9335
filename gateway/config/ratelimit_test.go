package config

import (
	"strings"
	"testing"
)

func TestRateLimitValidate(t *testing.T) {
	raw := `
members:
  - {id: IT/GOV/MOD, name: Italy, nation: ITA, kind: partner, clearance: CONFIDENTIAL}
ratelimit:
  fail: open
  fail_by_kind: {partner: none, pirate: local}
  replicas: 0
  probe_interval: 0s
  limits_by_kind:
    partner:
      push: {rate: -1, burst: -2, period: 1500ms}
    robot:
      pull: {rate: 1}
  members:
    IT/GOV/MOD:
      fail: maybe
      audit: {period: 10ms}
    CZ/GOV/MOD:
      push: {rate: 1}
    "it/gov/mod":
      push: {rate: 1}
`
	cfg, err := Parse([]byte(raw), "")
	if err != nil {
		t.Fatal(err)
	}
	v := &validator{}
	cfg.RateLimit.validate(v.at("ratelimit"), cfg)
	got := v.err()
	if got == nil {
		t.Fatal("invalid ratelimit section accepted")
	}
	want := []string{
		`ratelimit.fail: must be closed or local; got "open"`,
		`ratelimit.fail_by_kind.partner: must be closed or local; got "none"`,
		`ratelimit.fail_by_kind.pirate: unknown member kind`,
		`ratelimit.replicas: must be at least 1`,
		`ratelimit.probe_interval: must be a positive duration`,
		`ratelimit.limits_by_kind.partner.push.rate: must not be negative`,
		`ratelimit.limits_by_kind.partner.push.burst: must not be negative`,
		`ratelimit.limits_by_kind.partner.push.period: must be a whole number of seconds`,
		`ratelimit.limits_by_kind.robot: unknown member kind`,
		`ratelimit.members.IT/GOV/MOD.fail: must be closed or local; got "maybe"`,
		`ratelimit.members.IT/GOV/MOD.audit.period: must be a whole number of seconds`,
		`ratelimit.members.CZ/GOV/MOD: not a registered member`,
		`ratelimit.members.it/gov/mod: invalid member ID`,
	}
	for _, w := range want {
		if !strings.Contains(got.Error(), w) {
			t.Errorf("missing error %q in:\n%v", w, got)
		}
	}
	if n := len(strings.Split(got.Error(), "\n")); n != len(want) {
		t.Errorf("%d errors, want %d:\n%v", n, len(want), got)
	}
}

func TestRateLimitUnknownKeyRefused(t *testing.T) {
	if _, err := Parse([]byte("ratelimit:\n  limits_by_kind:\n    partner:\n      pussh: {rate: 1}\n"), ""); err == nil {
		t.Fatal("misspelt route class accepted")
	}
}

package config

import (
	"strings"
	"testing"
	"time"
)

func TestRateLimitDefaults(t *testing.T) {
	cfg := Default()
	for _, kind := range MemberKinds {
		for _, class := range RateClassNames {
			r := cfg.RateLimit.Limit("AL/GOV/X", kind, class)
			if r.Rate < 1 || r.Burst < 1 || r.Period < time.Second {
				t.Errorf("%s/%s: default %+v is not a usable limit", kind, class, r)
			}
		}
		if got := cfg.RateLimit.FailMode("AL/GOV/X", kind); got != FailClosed {
			t.Errorf("%s: default failure mode %q, want closed", kind, got)
		}
	}
	if p := cfg.RateLimit.Limit("IT/GOV/MOD", "partner", "push"); p != (Rate{600, 200, time.Minute}) {
		t.Errorf("partner push default = %+v", p)
	}
}

func TestRateLimitOverridesFieldByField(t *testing.T) {
	raw := `
members:
  - {id: IT/GOV/MOD, name: Italy, nation: ITA, kind: partner, clearance: CONFIDENTIAL}
  - {id: AL/GOV/AIM, name: AIM, nation: ALB, kind: agency, clearance: SECRET}
ratelimit:
  fail: local
  fail_by_kind: {partner: closed}
  replicas: 3
  limits_by_kind:
    partner:
      push: {rate: 100}
  members:
    IT/GOV/MOD:
      push: {burst: 10}
      trace: {rate: 5, burst: 5, period: 1s}
    AL/GOV/AIM:
      fail: closed
`
	cfg, err := Parse([]byte(raw), "")
	if err != nil {
		t.Fatal(err)
	}
	rl := cfg.RateLimit
	cases := []struct {
		member, kind, class string
		want                Rate
	}{
		// member burst over kind rate over built-in period
		{"IT/GOV/MOD", "partner", "push", Rate{100, 10, time.Minute}},
		// the kind entry in the file names only push: pull keeps its default
		{"IT/GOV/MOD", "partner", "pull", Rate{1200, 1000, time.Minute}},
		{"IT/GOV/MOD", "partner", "trace", Rate{5, 5, time.Second}},
		// another partner gets the kind's limit, not Italy's override
		{"CZ/GOV/MOD", "partner", "push", Rate{100, 200, time.Minute}},
		{"AL/GOV/AIM", "agency", "push", Rate{6000, 2000, time.Minute}},
	}
	for _, tc := range cases {
		if got := rl.Limit(tc.member, tc.kind, tc.class); got != tc.want {
			t.Errorf("Limit(%s, %s, %s) = %+v, want %+v", tc.member, tc.kind, tc.class, got, tc.want)
		}
	}
	fails := map[[2]string]string{
		{"IT/GOV/MOD", "partner"}:  FailClosed, // by kind
		{"AL/GOV/MOD", "ministry"}: FailLocal,  // global
		{"AL/GOV/AIM", "agency"}:   FailClosed, // by member
	}
	for k, want := range fails {
		if got := rl.FailMode(k[0], k[1]); got != want {
			t.Errorf("FailMode(%s, %s) = %q, want %q", k[0], k[1], got, want)
		}
	}
	if rl.Replicas != 3 {
		t.Errorf("replicas = %d", rl.Replicas)
	}
}

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

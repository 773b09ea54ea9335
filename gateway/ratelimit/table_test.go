package ratelimit

import (
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/config"
)

func TestTableDefaults(t *testing.T) {
	cfg := config.Default()
	table := NewTable(cfg.RateLimit)
	for _, kind := range config.MemberKinds {
		for _, class := range Classes {
			r := table.Limit("AL/GOV/X", kind, class)
			if r.Rate < 1 || r.Burst < 1 || r.Period < time.Second {
				t.Errorf("%s/%s: default %+v is not a usable limit", kind, class, r)
			}
		}
		if got := table.FailMode("AL/GOV/X", kind); got != FailClosed {
			t.Errorf("%s: default failure mode %v, want closed", kind, got)
		}
	}
	if p := table.Limit("IT/GOV/MOD", "partner", ClassPush); p != (Rate{600, 200, time.Minute}) {
		t.Errorf("partner push default = %+v", p)
	}
}

func TestTableOverridesFieldByField(t *testing.T) {
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
	cfg, err := config.Parse([]byte(raw), "")
	if err != nil {
		t.Fatal(err)
	}
	rl := NewTable(cfg.RateLimit)
	cases := []struct {
		member, kind string
		class        Class
		want         Rate
	}{
		// member burst over kind rate over built-in period
		{"IT/GOV/MOD", "partner", ClassPush, Rate{100, 10, time.Minute}},
		// the kind entry in the file names only push: pull keeps its default
		{"IT/GOV/MOD", "partner", ClassPull, Rate{1200, 1000, time.Minute}},
		{"IT/GOV/MOD", "partner", ClassTrace, Rate{5, 5, time.Second}},
		// another partner gets the kind's limit, not Italy's override
		{"CZ/GOV/MOD", "partner", ClassPush, Rate{100, 200, time.Minute}},
		{"AL/GOV/AIM", "agency", ClassPush, Rate{6000, 2000, time.Minute}},
	}
	for _, tc := range cases {
		if got := rl.Limit(tc.member, tc.kind, tc.class); got != tc.want {
			t.Errorf("Limit(%s, %s, %s) = %+v, want %+v", tc.member, tc.kind, tc.class, got, tc.want)
		}
	}
	fails := map[[2]string]FailMode{
		{"IT/GOV/MOD", "partner"}:  FailClosed, // by kind
		{"AL/GOV/MOD", "ministry"}: FailLocal,  // global
		{"AL/GOV/AIM", "agency"}:   FailClosed, // by member
	}
	for k, want := range fails {
		if got := rl.FailMode(k[0], k[1]); got != want {
			t.Errorf("FailMode(%s, %s) = %v, want %v", k[0], k[1], got, want)
		}
	}
}

package config

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ura-gateway/ura/gateway/identity"
)

// Failure modes of the rate limiter when Redis cannot be reached, as the
// file spells them; package ratelimit says what each does.
const (
	FailClosed = "closed"
	FailLocal  = "local"
)

// rateClassNames are the route classes a limit may be set for: the keys of
// RateClasses.
var rateClassNames = []string{"push", "pull", "trace", "audit"}

// RateLimit is the ratelimit section: how many records each institution may
// move per route class. Package ratelimit builds its table from it and owns
// the built-in defaults and the order in which settings are inherited.
type RateLimit struct {
	// Fail is what happens when Redis cannot be reached: closed (default) or local.
	Fail string `yaml:"fail"`
	// FailByKind overrides Fail per member kind.
	FailByKind map[string]string `yaml:"fail_by_kind"`
	// Replicas is how many gateway processes share the limit; in fail-local
	// mode each process allows limit/replicas so that together they stay
	// within the limit.
	Replicas int `yaml:"replicas"`
	// ProbeInterval is how often, while Redis is failing, one request tries
	// Redis again instead of deciding without it.
	ProbeInterval time.Duration `yaml:"probe_interval"`
	// LimitsByKind are the limits per member kind and route class. Keys a
	// file leaves out keep the built-in defaults, field by field.
	LimitsByKind map[string]RateClasses `yaml:"limits_by_kind"`
	// Members override their kind's limits (and failure mode) by member ID.
	Members map[string]MemberRateLimit `yaml:"members"`
}

// RateClasses holds one limit per route class; nil keeps the inherited one.
type RateClasses struct {
	Push  *Rate `yaml:"push"`
	Pull  *Rate `yaml:"pull"`
	Trace *Rate `yaml:"trace"`
	Audit *Rate `yaml:"audit"`
}

// MemberRateLimit is one member's override of its kind's limits.
type MemberRateLimit struct {
	Fail        string `yaml:"fail"`
	RateClasses `yaml:",inline"`
}

// Rate is one configured GCRA limit: Rate records per Period, at most Burst
// at once. A zero field is inherited from the level below: member → kind →
// built-in default.
type Rate struct {
	Rate   int           `yaml:"rate"`
	Burst  int           `yaml:"burst"`
	Period time.Duration `yaml:"period"`
}

func (c *RateClasses) get(class string) *Rate {
	switch class {
	case "push":
		return c.Push
	case "pull":
		return c.Pull
	case "trace":
		return c.Trace
	case "audit":
		return c.Audit
	}
	return nil
}

func defaultRateLimit() RateLimit {
	return RateLimit{
		Fail:          FailClosed,
		Replicas:      1,
		ProbeInterval: time.Second,
	}
}

func (r *RateLimit) validate(v *validator, c *Config) {
	failMode := func(field, mode string, optional bool) {
		if optional && mode == "" {
			return
		}
		if mode != FailClosed && mode != FailLocal {
			v.add(field, "must be closed or local; got %q", mode)
		}
	}
	failMode("fail", r.Fail, false)
	for _, kind := range sortedKeys(r.FailByKind) {
		field := "fail_by_kind." + kind
		if !slices.Contains(MemberKinds, kind) {
			v.add(field, "unknown member kind; kinds are %s", strings.Join(MemberKinds, "|"))
			continue
		}
		failMode(field, r.FailByKind[kind], false)
	}
	if r.Replicas < 1 {
		v.add("replicas", "must be at least 1")
	}
	v.positive("probe_interval", r.ProbeInterval)
	for _, kind := range sortedKeys(r.LimitsByKind) {
		field := "limits_by_kind." + kind
		if !slices.Contains(MemberKinds, kind) {
			v.add(field, "unknown member kind; kinds are %s", strings.Join(MemberKinds, "|"))
			continue
		}
		rc := r.LimitsByKind[kind]
		rc.validate(v.at(field))
	}
	registered := map[string]bool{}
	for _, m := range c.Members {
		registered[m.ID] = true
	}
	for _, id := range sortedKeys(r.Members) {
		field := "members." + id
		if err := identity.ValidMemberID(id); err != nil {
			v.add(field, "%v", err)
			continue
		}
		if !registered[id] {
			v.add(field, "not a registered member; an override for nobody is most likely a typo")
		}
		mo := r.Members[id]
		failMode(field+".fail", mo.Fail, true)
		mo.validate(v.at(field))
	}
}

func (c *RateClasses) validate(v *validator) {
	for _, class := range rateClassNames {
		r := c.get(class)
		if r == nil {
			continue
		}
		if r.Rate < 0 {
			v.add(class+".rate", "must not be negative")
		}
		if r.Burst < 0 {
			v.add(class+".burst", "must not be negative")
		}
		if r.Period < 0 || (r.Period > 0 && (r.Period < time.Second || r.Period%time.Second != 0)) {
			v.add(class+".period", "must be a whole number of seconds such as 1s, 1m or 1h; got %s", r.Period)
		}
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

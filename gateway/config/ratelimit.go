package config

import (
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/ura-gateway/ura/gateway/identity"
)

// Failure modes of the rate limiter when Redis cannot be reached.
const (
	// FailClosed refuses the request (503): nothing moves unlimited.
	FailClosed = "closed"
	// FailLocal limits in-process at the configured limit divided by replicas.
	FailLocal = "local"
)

// RateClassNames are the route classes a limit may be set for.
var RateClassNames = []string{"push", "pull", "trace", "audit"}

// RateLimit is how many records each institution may move per route class,
// counted in Redis so that every replica enforces one shared limit.
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
	// file leaves out keep their defaults, field by field.
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

// Rate is a GCRA limit: Rate records per Period, at most Burst at once
// (Burst is also the largest cost one request may have). A zero field is
// inherited from the level below: member → kind → built-in default.
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

func (c *RateClasses) set(class string, r Rate) {
	p := &r
	switch class {
	case "push":
		c.Push = p
	case "pull":
		c.Pull = p
	case "trace":
		c.Trace = p
	case "audit":
		c.Audit = p
	}
}

// over fills the zero fields of r from base.
func (r Rate) over(base Rate) Rate {
	if r.Rate == 0 {
		r.Rate = base.Rate
	}
	if r.Burst == 0 {
		r.Burst = base.Burst
	}
	if r.Period == 0 {
		r.Period = base.Period
	}
	return r
}

// builtinRates are the defaults per member kind. Bursts for pull are at least
// limits.max_page_size's default so that every kind can fetch a full page;
// partners and liaison offices push and trace far less than the national
// institutions, and a flood from one of them must not starve the others.
var builtinRates = map[string]map[string]Rate{
	identity.KindAgency: {
		"push": {6000, 2000, time.Minute}, "pull": {6000, 2000, time.Minute},
		"trace": {600, 100, time.Minute}, "audit": {600, 200, time.Minute},
	},
	identity.KindMinistry: {
		"push": {3000, 1000, time.Minute}, "pull": {3000, 1000, time.Minute},
		"trace": {300, 60, time.Minute}, "audit": {300, 100, time.Minute},
	},
	identity.KindCustoms: {
		"push": {3000, 1000, time.Minute}, "pull": {3000, 1000, time.Minute},
		"trace": {300, 60, time.Minute}, "audit": {300, 100, time.Minute},
	},
	identity.KindPartner: {
		"push": {600, 200, time.Minute}, "pull": {1200, 1000, time.Minute},
		"trace": {120, 30, time.Minute}, "audit": {60, 20, time.Minute},
	},
	identity.KindLiaison: {
		"push": {600, 200, time.Minute}, "pull": {1200, 1000, time.Minute},
		"trace": {120, 30, time.Minute}, "audit": {60, 20, time.Minute},
	},
	identity.KindAuditor: {
		"push": {60, 20, time.Minute}, "pull": {1200, 1000, time.Minute},
		"trace": {120, 30, time.Minute}, "audit": {6000, 2000, time.Minute},
	},
}

// fallbackRate applies to a kind the table does not know; Validate has
// already refused unknown kinds in the registry, so it is a last resort.
var fallbackRate = Rate{Rate: 60, Burst: 20, Period: time.Minute}

func defaultRateLimit() RateLimit {
	byKind := make(map[string]RateClasses, len(builtinRates))
	for kind, classes := range builtinRates {
		var rc RateClasses
		for class, r := range classes {
			rc.set(class, r)
		}
		byKind[kind] = rc
	}
	return RateLimit{
		Fail:          FailClosed,
		Replicas:      1,
		ProbeInterval: time.Second,
		LimitsByKind:  byKind,
	}
}

// Limit returns the effective limit of one member and route class: the
// member's override, then its kind's configured limit, then the built-in
// default, field by field.
func (r *RateLimit) Limit(memberID, kind, class string) Rate {
	base, ok := builtinRates[kind][class]
	if !ok {
		base = fallbackRate
	}
	eff := base
	if kc, ok := r.LimitsByKind[kind]; ok {
		if kr := kc.get(class); kr != nil {
			eff = kr.over(eff)
		}
	}
	if mo, ok := r.Members[memberID]; ok {
		if mr := mo.get(class); mr != nil {
			eff = mr.over(eff)
		}
	}
	return eff
}

// FailMode returns closed or local for one member: its own setting, then its
// kind's, then the global one.
func (r *RateLimit) FailMode(memberID, kind string) string {
	if mo, ok := r.Members[memberID]; ok && mo.Fail != "" {
		return mo.Fail
	}
	if f, ok := r.FailByKind[kind]; ok && f != "" {
		return f
	}
	if r.Fail == "" {
		return FailClosed
	}
	return r.Fail
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
	for _, class := range RateClassNames {
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

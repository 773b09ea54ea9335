package ratelimit

import (
	"time"

	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/identity"
)

// Rate is a GCRA limit: Rate records per Period, at most Burst at once
// (Burst is also the largest cost one request may have).
type Rate struct {
	Rate   int
	Burst  int
	Period time.Duration
}

// over fills the zero fields of r from base: a zero field is inherited from
// the level below.
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

// FailMode is what a member's requests meet while Redis cannot be reached.
type FailMode int

// Failure modes.
const (
	// FailClosed refuses the request (503): nothing moves unlimited.
	FailClosed FailMode = iota
	// FailLocal limits in-process at the limit divided by the replicas, so
	// that the replicas together stay within the limit.
	FailLocal
)

// builtinRates are the defaults per member kind. Bursts for pull are at least
// limits.max_page_size's default so that every kind can fetch a full page;
// partners and liaison offices push and trace far less than the national
// institutions, and a flood from one of them must not starve the others.
var builtinRates = map[string]map[Class]Rate{
	identity.KindAgency: {
		ClassPush: {6000, 2000, time.Minute}, ClassPull: {6000, 2000, time.Minute},
		ClassTrace: {600, 100, time.Minute}, ClassAudit: {600, 200, time.Minute},
	},
	identity.KindMinistry: nationalRates,
	identity.KindCustoms:  nationalRates,
	identity.KindPartner:  foreignRates,
	identity.KindLiaison:  foreignRates,
	identity.KindGateway:  gatewayRates,
	identity.KindAuditor: {
		ClassPush: {60, 20, time.Minute}, ClassPull: {1200, 1000, time.Minute},
		ClassTrace: {120, 30, time.Minute}, ClassAudit: {6000, 2000, time.Minute},
	},
}

// nationalRates are a ministry's and the customs service's; foreignRates a
// partner's and a liaison office's; gatewayRates a peer gateway's, which
// relays what a whole nation's institutions push and pulls nothing. The
// table is only read.
var (
	nationalRates = map[Class]Rate{
		ClassPush: {3000, 1000, time.Minute}, ClassPull: {3000, 1000, time.Minute},
		ClassTrace: {300, 60, time.Minute}, ClassAudit: {300, 100, time.Minute},
	}
	foreignRates = map[Class]Rate{
		ClassPush: {600, 200, time.Minute}, ClassPull: {1200, 1000, time.Minute},
		ClassTrace: {120, 30, time.Minute}, ClassAudit: {60, 20, time.Minute},
	}
	gatewayRates = map[Class]Rate{
		ClassPush: {3000, 1000, time.Minute}, ClassPull: {1200, 1000, time.Minute},
		ClassTrace: {120, 30, time.Minute}, ClassAudit: {60, 20, time.Minute},
	}
)

// fallbackRate applies to a kind the table does not know; the configuration
// has already refused unknown kinds in the registry, so it is a last resort.
var fallbackRate = Rate{Rate: 60, Burst: 20, Period: time.Minute}

// Table holds the limit and the failure mode of every member and route
// class. A member's own setting comes first, then its kind's, then the
// built-in default; limits are inherited field by field.
type Table struct {
	fail       FailMode
	failByKind map[string]FailMode
	byKind     map[string]map[Class]Rate
	members    map[string]memberLimits
}

type memberLimits struct {
	fail    FailMode
	ownFail bool
	rates   map[Class]Rate
}

// NewTable builds the table from the ratelimit section of a validated
// configuration.
func NewTable(cfg config.RateLimit) *Table {
	t := &Table{
		fail:       failMode(cfg.Fail),
		failByKind: make(map[string]FailMode, len(cfg.FailByKind)),
		byKind:     make(map[string]map[Class]Rate, len(cfg.LimitsByKind)),
		members:    make(map[string]memberLimits, len(cfg.Members)),
	}
	for kind, f := range cfg.FailByKind {
		if f != "" {
			t.failByKind[kind] = failMode(f)
		}
	}
	for kind, rc := range cfg.LimitsByKind {
		t.byKind[kind] = classRates(rc)
	}
	for id, mo := range cfg.Members {
		t.members[id] = memberLimits{fail: failMode(mo.Fail), ownFail: mo.Fail != "", rates: classRates(mo.RateClasses)}
	}
	return t
}

// failMode reads a configured failure mode. Anything but local is closed:
// when in doubt, nothing moves unlimited.
func failMode(s string) FailMode {
	if s == config.FailLocal {
		return FailLocal
	}
	return FailClosed
}

// classRates keeps the classes a configuration level sets.
func classRates(rc config.RateClasses) map[Class]Rate {
	rates := make(map[Class]Rate, len(Classes))
	for class, r := range map[Class]*config.Rate{
		ClassPush: rc.Push, ClassPull: rc.Pull, ClassTrace: rc.Trace, ClassAudit: rc.Audit,
	} {
		if r != nil {
			rates[class] = Rate{Rate: r.Rate, Burst: r.Burst, Period: r.Period}
		}
	}
	return rates
}

// Limit returns the effective limit of one member and route class: the
// member's override, then its kind's configured limit, then the built-in
// default, field by field.
func (t *Table) Limit(memberID, kind string, class Class) Rate {
	eff, ok := builtinRates[kind][class]
	if !ok {
		eff = fallbackRate
	}
	if kr, ok := t.byKind[kind][class]; ok {
		eff = kr.over(eff)
	}
	if mr, ok := t.members[memberID].rates[class]; ok {
		eff = mr.over(eff)
	}
	return eff
}

// FailMode returns the failure mode of one member: its own setting, then
// its kind's, then the global one.
func (t *Table) FailMode(memberID, kind string) FailMode {
	if mo, ok := t.members[memberID]; ok && mo.ownFail {
		return mo.fail
	}
	if f, ok := t.failByKind[kind]; ok {
		return f
	}
	return t.fail
}

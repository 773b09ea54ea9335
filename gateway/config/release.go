package config

import "time"

// Release configures two-person release authority (gateway/ARCHITECTURE.md,
// "Release authority").
type Release struct {
	// TTL is how long a release stays in force after its second approval,
	// and how long a request waits for its approvals before it lapses.
	TTL time.Duration `yaml:"ttl"`
}

// DefaultReleaseTTL is release.ttl when the file does not set it.
const DefaultReleaseTTL = 72 * time.Hour

func defaultRelease() Release { return Release{TTL: DefaultReleaseTTL} }

func (r *Release) validate(v *validator) {
	if r.TTL < time.Minute || r.TTL > 90*24*time.Hour {
		v.add("ttl", "must be between 1m and 2160h (90 days); got %s", r.TTL)
	}
}

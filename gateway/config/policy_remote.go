package config

import (
	"net/url"
	"strings"
)

// Policy modes: where each record's decision is made.
const (
	// PolicyModeEmbedded evaluates Rego inside the gateway (the default).
	PolicyModeEmbedded = "embedded"
	// PolicyModeHTTP asks a separate OPA server over its REST API, the
	// sidecar design; it exists to be measured against (deploy/bench).
	PolicyModeHTTP = "http"
)

// PolicyRemote selects an OPA server instead of the embedded engine. It is
// inlined into the policy section: policy.mode and policy.http_url.
type PolicyRemote struct {
	// Mode is embedded (default) or http.
	Mode string `yaml:"mode"`
	// HTTPURL is the decision document on the OPA server, e.g.
	// http://127.0.0.1:8181/v1/data/ura/decision. The server loads the
	// policy itself, so dir, bundle and shadow do not apply.
	HTTPURL string `yaml:"http_url"`
}

// HTTPMode reports whether decisions are asked of an OPA server.
func (r *PolicyRemote) HTTPMode() bool { return r.Mode == PolicyModeHTTP }

func (r *PolicyRemote) validate(v *validator, p *Policy) {
	switch r.Mode {
	case "", PolicyModeEmbedded:
		if r.HTTPURL != "" {
			v.add("http_url", "is only used with mode http")
		}
		return
	case PolicyModeHTTP:
	default:
		v.add("mode", "must be embedded or http; got %q", r.Mode)
		return
	}
	u, err := url.Parse(r.HTTPURL)
	switch {
	case r.HTTPURL == "":
		v.add("http_url", "must be set for mode http")
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		v.add("http_url", "must be an http or https URL")
	case !strings.Contains(u.Path, "/v1/data/") || strings.HasSuffix(u.Path, "/v1/data/"):
		v.add("http_url", "must name a document under /v1/data/, e.g. /v1/data/ura/decision")
	}
	// The OPA server loads its own policy: a local one configured beside it
	// would never decide anything, and must not look as if it did.
	for _, f := range [][2]string{{"dir", p.Dir}, {"bundle", p.Bundle}, {"shadow.dir", p.Shadow.Dir}, {"shadow.bundle", p.Shadow.Bundle}} {
		if f[1] != "" {
			v.add(f[0], "is not used with mode http: the OPA server loads the policy")
		}
	}
}

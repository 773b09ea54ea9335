package config

import (
	"slices"
	"strings"
	"testing"
)

func TestPolicyRemoteValidate(t *testing.T) {
	const good = "http://127.0.0.1:8181/v1/data/ura/decision"
	tests := []struct {
		name string
		p    Policy
		want []string // field errors, "path: message prefix"
	}{
		{name: "default is embedded", p: Policy{}},
		{name: "embedded", p: Policy{PolicyRemote: PolicyRemote{Mode: "embedded"}}},
		{name: "http", p: Policy{PolicyRemote: PolicyRemote{Mode: "http", HTTPURL: good}}},
		{name: "unknown mode", p: Policy{PolicyRemote: PolicyRemote{Mode: "sidecar"}},
			want: []string{"policy.mode: must be embedded or http"}},
		{name: "http without url", p: Policy{PolicyRemote: PolicyRemote{Mode: "http"}},
			want: []string{"policy.http_url: must be set"}},
		{name: "url not http", p: Policy{PolicyRemote: PolicyRemote{Mode: "http", HTTPURL: "unix:///run/opa.sock"}},
			want: []string{"policy.http_url: must be an http or https URL"}},
		{name: "url not a data document", p: Policy{PolicyRemote: PolicyRemote{Mode: "http", HTTPURL: "http://127.0.0.1:8181/v1/policies"}},
			want: []string{"policy.http_url: must name a document"}},
		{name: "url on embedded", p: Policy{PolicyRemote: PolicyRemote{HTTPURL: good}},
			want: []string{"policy.http_url: is only used with mode http"}},
		// A local policy beside the server would look as if it decided.
		{name: "http with a local policy", p: Policy{Dir: "policies", Shadow: PolicyShadow{Bundle: "b.tar.gz"}, PolicyRemote: PolicyRemote{Mode: "http", HTTPURL: good}},
			want: []string{"policy.dir: is not used with mode http", "policy.shadow.bundle: is not used with mode http"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &validator{}
			tt.p.PolicyRemote.validate(v.at("policy"), &tt.p)
			var got []string
			if v.errs != nil {
				for _, e := range *v.errs {
					got = append(got, e.Error())
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("errors = %q, want %q", got, tt.want)
			}
			for _, w := range tt.want {
				if !slices.ContainsFunc(got, func(g string) bool { return strings.HasPrefix(g, w) }) {
					t.Fatalf("errors = %q, want one starting %q", got, w)
				}
			}
		})
	}
}

// The keys parse from YAML inside the policy section.
func TestPolicyRemoteYAML(t *testing.T) {
	cfg, err := Parse([]byte("policy:\n  mode: http\n  http_url: http://127.0.0.1:8181/v1/data/ura/decision\n"), ".")
	if err != nil {
		t.Fatal(err)
	}
	if !cfg.Policy.HTTPMode() || cfg.Policy.HTTPURL != "http://127.0.0.1:8181/v1/data/ura/decision" {
		t.Fatalf("policy = %+v", cfg.Policy)
	}
	if Default().Policy.HTTPMode() {
		t.Fatal("the default is not embedded")
	}
}

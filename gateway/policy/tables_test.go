package policy

import (
	"context"
	"slices"
	"testing"

	"github.com/ura-gateway/ura/gateway/identity"
)

// TestEmbeddedTables: the embedded bundle's tables read, with NATO's 32
// allies and the EU's 27 member states, each group with its own bodies,
// its source and its date.
func TestEmbeddedTables(t *testing.T) {
	tab, err := EmbeddedTables()
	if err != nil {
		t.Fatal(err)
	}
	if tab.OwnInstance != "AL" || tab.OwnNation != "ALB" {
		t.Errorf("own instance %q, nation %q", tab.OwnInstance, tab.OwnNation)
	}
	for name, n := range map[string]int{"NATO": 33, "EU": 28} {
		g := tab.Groups[name]
		if len(g.Members) != n || !slices.Contains(g.Members, name) || g.Source == "" || g.AsOf == "" {
			t.Errorf("group %s: %d members, source %q, as of %q", name, len(g.Members), g.Source, g.AsOf)
		}
	}
}

func TestParseTablesRefusesIncompleteTables(t *testing.T) {
	for name, raw := range map[string]string{
		"not JSON":        `{`,
		"no ura_data":     `{}`,
		"no own instance": `{"ura_data": {"own_nation": "ALB", "groups": {}}}`,
		"bad own nation":  `{"ura_data": {"own_instance": "AL", "own_nation": "Albania", "groups": {}}}`,
		"group without source": `{"ura_data": {"own_instance": "AL", "own_nation": "ALB",
			"groups": {"NATO": {"as_of": "2024-03-07", "members": ["ALB"]}}}}`,
		"group without members": `{"ura_data": {"own_instance": "AL", "own_nation": "ALB",
			"groups": {"NATO": {"source": "x", "as_of": "2024-03-07", "members": []}}}}`,
		"group without date": `{"ura_data": {"own_instance": "AL", "own_nation": "ALB",
			"groups": {"NATO": {"source": "x", "as_of": "March 2024", "members": ["ALB"]}}}}`,
		"groups as plain lists": `{"ura_data": {"own_instance": "AL", "own_nation": "ALB", "groups": {"EU": ["AUT"]}}}`,
	} {
		if _, err := ParseTables([]byte(raw)); err == nil {
			t.Errorf("%s: parsed", name)
		}
	}
}

// releasabilityLabels are the labels every nation is asked about.
var releasabilityLabels = [][]string{
	{"NATO"}, {"EU"}, {"ALB", "NATO"}, {"EU", "SRB"}, {"NATO", "EU"}, {"ALB"}, {"XKX"}, {"SRB", "XKX"},
}

// TestReleasableAgreesWithPolicy: policy.Releasable and the embedded
// policy give the same answer for every member of every group and for
// nations in none, over the same labels: a partner of that nation pulling a
// licence is refused not_releasable exactly when Releasable says no.
func TestReleasableAgreesWithPolicy(t *testing.T) {
	tab, err := EmbeddedTables()
	if err != nil {
		t.Fatal(err)
	}
	nations := []string{"SRB", "XKX", "AUT", "IRL", "NOR", "CHE", "UKR", "BIH", "RUS", "CHN"}
	for _, g := range tab.Groups {
		nations = append(nations, g.Members...)
	}
	slices.Sort(nations)
	nations = slices.Compact(nations)

	e := newEngine(t, Options{Logger: discard})
	ctx := context.Background()
	for _, label := range releasabilityLabels {
		rel := make([]any, len(label))
		for i, s := range label {
			rel[i] = s
		}
		rec := record(t, "licence", map[string]any{"label.releasable_to": rel})
		for _, nation := range nations {
			caller := identity.Member{ID: "XX/GOV/MOD", Nation: nation, Kind: identity.KindPartner, Clearance: "SECRET"}
			d := e.Decide(ctx, Input{Caller: caller, Action: Pull, Record: rec})
			policySays := !hasCode(d, "not_releasable")
			if got := Releasable(label, nation); got != policySays {
				t.Errorf("Releasable(%v, %s) = %v; the policy says %v (%v)", label, nation, got, policySays, codes(d))
			}
		}
	}
	// The cases the issue names.
	for _, c := range []struct {
		label  []string
		nation string
		want   bool
	}{
		{[]string{"ALB", "NATO"}, "ITA", true},
		{[]string{"ALB", "NATO"}, "SRB", false},
		{[]string{"ALB", "NATO"}, "XKX", false},
		{[]string{"NATO"}, "NOR", true},
		{[]string{"EU"}, "NOR", false},
		{[]string{"EU"}, "AUT", true},
		{[]string{"NATO"}, "AUT", false},
		{[]string{"NATO"}, "NATO", true},
		{[]string{"EU"}, "EU", true},
		{nil, "ALB", false},
	} {
		if got := Releasable(c.label, c.nation); got != c.want {
			t.Errorf("Releasable(%v, %s) = %v, want %v", c.label, c.nation, got, c.want)
		}
	}
}

// TestRelayOriginatorAgreesWithPolicy: the Go relay rule and the embedded
// policy refuse the same originators with the same codes.
func TestRelayOriginatorAgreesWithPolicy(t *testing.T) {
	e := newEngine(t, Options{Logger: discard})
	relayCodes := []string{ReasonRelayOriginatorOutsidePeer, ReasonRelayOriginatorOwnInstance}
	for _, c := range []struct {
		peer, originator, want string // want: "" when relayed
	}{
		{"IT/GOV/URA", "IT/GOV/MOD", ""},
		{"IT/GOV/URA", "IT/GOV/DIFESA", ""},
		{"CZ/GOV/URA", "CZ/GOV/MOD", ""},
		{"NATO/ORG/URA", "NATO/ORG/LIAISON", ""},
		{"IT/GOV/URA", "AL/GOV/AIM", ReasonRelayOriginatorOwnInstance},
		{"IT/GOV/URA", "AL/GOV/MOD", ReasonRelayOriginatorOwnInstance},
		{"AL/GOV/URA2", "AL/GOV/AIM", ReasonRelayOriginatorOwnInstance},
		{"IT/GOV/URA", "CZ/GOV/MOD", ReasonRelayOriginatorOutsidePeer},
		{"IT/GOV/URA", "ITA/GOV/MOD", ReasonRelayOriginatorOutsidePeer},
		{"IT/GOV/URA", "NATO/ORG/LIAISON", ReasonRelayOriginatorOutsidePeer},
		{"IT/GOV/URA", "IT/GOV/URA", ReasonRelayOriginatorOutsidePeer},
	} {
		reason, ok := RelayOriginator(c.peer, c.originator)
		goCode := reason.Code
		if ok != (goCode == "") || goCode != c.want {
			t.Errorf("RelayOriginator(%s, %s) = %v %v, want %q", c.peer, c.originator, reason, ok, c.want)
		}
		rec := record(t, "licence", map[string]any{"id": namespaceOf(c.originator) + "LIC-9", "label.originator": c.originator})
		caller := identity.Member{ID: c.peer, Nation: "ITA", Kind: identity.KindGateway, Clearance: "CONFIDENTIAL"}
		d := e.Decide(context.Background(), Input{Caller: caller, Action: Push, Record: rec})
		var policyCode string
		for _, code := range codes(d) {
			if slices.Contains(relayCodes, code) {
				if policyCode != "" {
					t.Errorf("%s relaying %s: two relay codes %v", c.peer, c.originator, codes(d))
				}
				policyCode = code
			}
		}
		if policyCode != goCode {
			t.Errorf("%s relaying %s: policy %q (%v), Go %q", c.peer, c.originator, policyCode, codes(d), goCode)
		}
		if c.want == "" && !d.Allow {
			t.Errorf("%s relaying %s's licence: denied %v", c.peer, c.originator, d.Reasons)
		}
	}
}

// namespaceOf is an originator's id namespace (push.rego): the one listed
// in data.json, else its member ID with "-" for "/".
func namespaceOf(member string) string {
	if listed, ok := map[string]string{"AL/GOV/AIM": "AIM-", "AL/GOV/MOD": "MOD-", "AL/GOV/DPD": "DPD-"}[member]; ok {
		return listed
	}
	out := []byte(member)
	for i, b := range out {
		if b == '/' {
			out[i] = '-'
		}
	}
	return string(out) + "-"
}

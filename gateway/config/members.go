package config

import (
	"regexp"
	"slices"
	"strings"

	"github.com/ura-gateway/ura/gateway/identity"
)

// Member is one institution in the registry. Only registered members act; the
// certificate proves who calls, the registry says what that caller is.
type Member struct {
	ID        string   `yaml:"id"`
	Name      string   `yaml:"name"`
	Nation    string   `yaml:"nation"`
	Kind      string   `yaml:"kind"`
	Clearance string   `yaml:"clearance"`
	Roles     []string `yaml:"roles"`
	// Categories grants values of STANAG 4774 restrictive categories, by
	// category name (identity.Member.Categories).
	Categories map[string][]string `yaml:"categories"`
}

// Kinds of member, and classifications lowest first, as gateway/ARCHITECTURE.md
// defines them ("Packages", identity; "Records").
var (
	MemberKinds     = identity.Kinds()
	Classifications = []string{"UNCLASSIFIED", "RESTRICTED", "CONFIDENTIAL", "SECRET"}
)

var (
	nationPattern = regexp.MustCompile(`^([A-Z]{3}|NATO|EU)$`)
	rolePattern   = regexp.MustCompile(`^[a-z][a-z0-9_.:-]{0,63}$`)
	categoryName  = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9 ._-]{0,63}$`)
)

func validateMembers(root *validator, members []Member, cas []ClientCA, sign Sign) {
	seen := map[string]bool{}
	for i, m := range members {
		v := root.index("members", i)
		if err := identity.ValidMemberID(m.ID); err != nil {
			v.add("id", "%v", err)
		} else {
			if seen[m.ID] {
				v.add("id", "duplicate member %s", m.ID)
			}
			if !vouched(m.ID, cas) {
				v.add("id", "no tls.client_cas entry may vouch for %s: add a prefix or remove the member", m.ID)
			}
		}
		seen[m.ID] = true
		if strings.TrimSpace(m.Name) == "" {
			v.add("name", "must be set")
		}
		if !nationPattern.MatchString(m.Nation) {
			v.add("nation", "must be an ISO 3166 alpha-3 code, NATO or EU; got %q", m.Nation)
		}
		if !slices.Contains(MemberKinds, m.Kind) {
			v.add("kind", "must be one of %s; got %q", strings.Join(MemberKinds, "|"), m.Kind)
		}
		if m.Kind == identity.KindGateway && identity.ValidMemberID(m.ID) == nil {
			validateGateway(v, m, cas, sign)
		}
		if !slices.Contains(Classifications, m.Clearance) {
			v.add("clearance", "must be one of %s; got %q", strings.Join(Classifications, "|"), m.Clearance)
		}
		for j, r := range m.Roles {
			if !rolePattern.MatchString(r) {
				v.add(indexPath("roles", j), "%q: roles are lower-case words ([a-z0-9_.:-])", r)
			}
		}
		for name, values := range m.Categories {
			// The label schema's bounds for a category's name and values.
			if !categoryName.MatchString(name) {
				v.add("categories", "%q: a category name is a letter, then up to 63 letters, digits, spaces or ._-", name)
			}
			if len(values) == 0 || len(values) > 64 {
				v.add("categories."+name, "must grant between 1 and 64 values; got %d", len(values))
			}
			for j, val := range values {
				if strings.TrimSpace(val) == "" || len(val) > 128 {
					v.add(indexPath("categories."+name, j), "a value is a non-blank string of at most 128 bytes")
				}
			}
		}
	}
}

func vouched(id string, cas []ClientCA) bool {
	for _, ca := range cas {
		for _, p := range ca.Prefixes {
			if identity.PrefixAllows(p, id) {
				return true
			}
		}
	}
	return false
}

// validateGateway checks a peer gateway member. It relays records in the
// names of its own instance's institutions (IT/GOV/URA for IT/...), so the
// anchors that vouch for it must vouch for nothing outside that instance:
// else a certificate they issue could make a member of another nation, or
// of this gateway's own, and its relays would speak for it. It is never of
// this gateway's own instance (sign.member), and its relays are verified
// with the keys listed for it under sign.peers.
func validateGateway(v *validator, m Member, cas []ClientCA, sign Sign) {
	inst := identity.Instance(m.ID)
	for i, ca := range cas {
		if !slices.ContainsFunc(ca.Prefixes, func(p string) bool { return identity.PrefixAllows(p, m.ID) }) {
			continue
		}
		for _, p := range ca.Prefixes {
			if !strings.HasPrefix(p, inst+"/") {
				v.add("id", "a gateway is vouched for only by anchors limited to its own instance %s/; tls.client_cas[%d] (%s) also vouches for %s",
					inst, i, ca.Name, p)
			}
		}
	}
	if sign.Member != "" && identity.Instance(sign.Member) == inst {
		v.add("id", "a peer gateway of this gateway's own instance %s/ (sign.member %s) would relay in the names of its institutions", inst, sign.Member)
	}
	if _, ok := sign.Peers[m.ID]; !ok {
		v.add("kind", "a gateway member must be listed in sign.peers, with the keys that verify what it relays")
	}
}

// Registry is the member registry the gateway and its outbox decide by.
func (c *Config) Registry() *identity.Registry {
	members := make([]identity.Member, len(c.Members))
	for i, m := range c.Members {
		members[i] = identity.Member{ID: m.ID, Name: m.Name, Nation: m.Nation, Kind: m.Kind, Clearance: m.Clearance, Roles: m.Roles, Categories: m.Categories}
	}
	return identity.NewRegistry(members)
}

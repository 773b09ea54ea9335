// Package identity decides who is calling. The only source of identity is the
// client certificate verified during the TLS handshake: one SAN URI
// urn:ura:member:<ID>, under a trust anchor allowed to vouch for that ID.
// Headers, the CN and the query string never set or change it.
package identity

import (
	"context"
	"slices"
)

// Member is a registered institution as the gateway sees it.
type Member struct {
	ID        string   `json:"member"`
	Name      string   `json:"name"`
	Nation    string   `json:"nation"`
	Kind      string   `json:"kind"`
	Clearance string   `json:"clearance"`
	Roles     []string `json:"roles"`
	// Categories are the values of STANAG 4774 restrictive categories the
	// member is granted, by category name: a record whose label carries a
	// restrictive category is released only to a member granted every one
	// of its values (the policy's category_not_held).
	Categories map[string][]string `json:"categories,omitempty"`
}

// HasRole reports whether the member holds role.
func (m Member) HasRole(role string) bool { return slices.Contains(m.Roles, role) }

// Registry is the immutable set of registered members.
type Registry struct {
	byID map[string]Member
}

// NewRegistry indexes members by ID; the config has already rejected duplicates.
func NewRegistry(members []Member) *Registry {
	r := &Registry{byID: make(map[string]Member, len(members))}
	for _, m := range members {
		if m.Roles == nil {
			m.Roles = []string{}
		}
		r.byID[m.ID] = m
	}
	return r
}

// Lookup returns the registered member with this ID.
func (r *Registry) Lookup(id string) (Member, bool) {
	m, ok := r.byID[id]
	return m, ok
}

// Len is the number of registered members.
func (r *Registry) Len() int { return len(r.byID) }

type memberKey struct{}

// NewContext returns ctx carrying the authenticated member.
func NewContext(ctx context.Context, m Member) context.Context {
	return context.WithValue(ctx, memberKey{}, m)
}

// FromContext returns the authenticated member, if the request has one.
func FromContext(ctx context.Context) (Member, bool) {
	m, ok := ctx.Value(memberKey{}).(Member)
	return m, ok
}

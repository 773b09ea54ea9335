// Package authority is two-person release authority: a human decision
// beside the policy's. A record the policy withholds from a member only for
// reasons it marks as releasable by authority (policies/data.json,
// ura_data.release_authority.reasons; the decision then says
// releasable_by_authority) may be released to that one member, for that
// one version of the record, once two different security officers holding
// the release role have approved a request naming them. A release expires
// (release.ttl) and can be revoked.
//
// This package holds the request and its rules (who may approve, when it
// is in force); the stores keep requests (adapters/store), gateway/release
// applies them at delivery, and gateway/api/releaseapi serves them
// (gateway/ARCHITECTURE.md, "Release authority").
package authority

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/ura-gateway/ura/gateway/identity"
)

// Role is the registry role of a security officer who may approve and
// revoke releases (a member of kind auditor).
const Role = "release"

// Required is how many different officers must approve a request.
const Required = 2

// DefaultTTL is how long a release stays in force when release.ttl is unset.
const DefaultTTL = 72 * time.Hour

// MaxJustification bounds a request's justification, in bytes.
const MaxJustification = 2000

// Statuses of a request, at a given time.
const (
	StatusPending  = "pending"
	StatusApproved = "approved"
	StatusExpired  = "expired"
	StatusRevoked  = "revoked"
)

// Errors of the transitions; each is answered 409 by the API.
var (
	ErrNotFound        = errors.New("release request not found")
	ErrSameOfficer     = errors.New("this officer has already approved the request")
	ErrOwnRequest      = errors.New("the officer who requested a release may not approve it")
	ErrNotOfficer      = errors.New("only a security officer with the release role may approve or revoke a release")
	ErrRevoked         = errors.New("the release has been revoked")
	ErrExpired         = errors.New("the release has expired")
	ErrAlreadyApproved = errors.New("the release is approved already")
)

// Approval is one officer's approval.
type Approval struct {
	Officer string    `json:"officer"`
	At      time.Time `json:"at"`
}

// Request is one request for a release, with its approvals. It is stored as
// its JSON encoding.
type Request struct {
	ID            string    `json:"id"`
	RecordID      string    `json:"record_id"`
	Version       int       `json:"version"`
	Recipient     string    `json:"recipient"`
	Justification string    `json:"justification"`
	RequestedBy   string    `json:"requested_by"`
	RequestedAt   time.Time `json:"requested_at"`
	// ExpiresAt is RequestedAt + TTL while the request is pending (an
	// unanswered request lapses too), then the final approval's time + TTL.
	ExpiresAt time.Time  `json:"expires_at"`
	Approvals []Approval `json:"approvals"`
	RevokedBy string     `json:"revoked_by,omitempty"`
	RevokedAt *time.Time `json:"revoked_at,omitempty"`
	// ExpiryRecorded is when a delivery first found the release expired and
	// audited it (expire-on-use): it is audited once.
	ExpiryRecorded *time.Time `json:"expiry_recorded,omitempty"`
}

// New is a pending request made by requester at now.
func New(id, recordID string, version int, recipient, justification, requester string, now time.Time, ttl time.Duration) Request {
	now = now.UTC().Truncate(time.Microsecond)
	return Request{ID: id, RecordID: recordID, Version: version, Recipient: recipient, Justification: justification,
		RequestedBy: requester, RequestedAt: now, ExpiresAt: now.Add(ttl), Approvals: []Approval{}}
}

// Status is the request's status at now.
func (r *Request) Status(now time.Time) string {
	switch {
	case r.RevokedAt != nil:
		return StatusRevoked
	case !now.Before(r.ExpiresAt):
		return StatusExpired
	case len(r.Approvals) >= Required:
		return StatusApproved
	}
	return StatusPending
}

// InForce reports whether the release lets recipient receive version of
// recordID at now: approved by Required officers, neither revoked nor
// expired, and naming exactly that record, version and recipient.
func (r *Request) InForce(recordID string, version int, recipient string, now time.Time) bool {
	return r.RecordID == recordID && r.Version == version && r.Recipient == recipient &&
		r.Status(now) == StatusApproved
}

// MayDecide reports whether m is a security officer with the release role:
// the only members who approve and revoke.
func MayDecide(m identity.Member) bool {
	return m.Kind == identity.KindAuditor && m.HasRole(Role)
}

// Approve records officer's approval at now. The second approval puts the
// release in force for ttl from now.
func (r *Request) Approve(officer identity.Member, now time.Time, ttl time.Duration) error {
	now = now.UTC().Truncate(time.Microsecond)
	if !MayDecide(officer) {
		return ErrNotOfficer
	}
	switch r.Status(now) {
	case StatusRevoked:
		return ErrRevoked
	case StatusExpired:
		return ErrExpired
	case StatusApproved:
		return ErrAlreadyApproved
	}
	if officer.ID == r.RequestedBy {
		return ErrOwnRequest
	}
	if slices.ContainsFunc(r.Approvals, func(a Approval) bool { return a.Officer == officer.ID }) {
		return ErrSameOfficer
	}
	r.Approvals = append(r.Approvals, Approval{Officer: officer.ID, At: now})
	if len(r.Approvals) == Required {
		r.ExpiresAt = now.Add(ttl)
	}
	return nil
}

// Revoke withdraws the request or the release at now.
func (r *Request) Revoke(officer identity.Member, now time.Time) error {
	now = now.UTC().Truncate(time.Microsecond)
	if !MayDecide(officer) {
		return ErrNotOfficer
	}
	switch r.Status(now) {
	case StatusRevoked:
		return ErrRevoked
	case StatusExpired:
		return ErrExpired
	}
	r.RevokedBy, r.RevokedAt = officer.ID, &now
	return nil
}

// RecordExpiry marks an approved release found expired at now, once: it
// reports whether this call marked it (and so the expiry is to be audited).
func (r *Request) RecordExpiry(now time.Time) bool {
	if r.ExpiryRecorded != nil || r.RevokedAt != nil || len(r.Approvals) < Required || r.Status(now) != StatusExpired {
		return false
	}
	t := now.UTC().Truncate(time.Microsecond)
	r.ExpiryRecorded = &t
	return true
}

// Summary names the request and its approvals, for an audit reason's
// message: ids and times only, never the justification.
func (r *Request) Summary() string {
	s := fmt.Sprintf("release %s of %s v%d for %s", r.ID, r.RecordID, r.Version, r.Recipient)
	for _, a := range r.Approvals {
		s += fmt.Sprintf("; approved by %s at %s", a.Officer, a.At.Format(time.RFC3339))
	}
	return s
}

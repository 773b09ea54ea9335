// Package federation is what a push from a peer ura gateway takes besides
// the checks of any push. A peer (a member under sign.peers) forwards records
// it accepted as one {"jws": "<compact JWS>"} line each, signed with its own
// key (typ ura-federation+jws) over a sign.Delivery addressed to this
// gateway. Nothing a peer sends is trusted before its signature verifies
// against that peer's JWKS; what is inside then takes the same decoding,
// validation, originator check and policy decision as any pushed record
// (gateway/ARCHITECTURE.md, "Request chain"; what a gateway sends its peers:
// "Outbound").
package federation

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// Reason codes of a peer record refused before validation, and of a
// member's record in another's name.
const (
	ReasonSignatureRequired = "signature_required"
	ReasonWrongType         = "wrong_type"
	ReasonMalformedDelivery = "malformed_delivery"
	ReasonWrongRecipient    = "wrong_recipient"
	ReasonOriginator        = "originator_mismatch"
	// A relayed record's originator is refused with the policy's codes
	// (policy.RelayOriginator): the same rule, asked twice.
	ReasonRelayOutsidePeer = policy.ReasonRelayOriginatorOutsidePeer
	ReasonRelayOwnInstance = policy.ReasonRelayOriginatorOwnInstance
)

// Relay checks what members push in whose name, and unwraps what peer
// gateways relay.
type Relay struct {
	// Peers verifies peer gateways' signatures; nil: this gateway has none.
	Peers sign.PeerVerifier
	// Self is this gateway's own member ID (sign.member): what a peer's
	// delivery must be addressed to.
	Self string
	// Limits are the decoding limits of a record.
	Limits records.Limits
	// MaxBodyBytes bounds a push's body (limits.max_body_bytes).
	MaxBodyBytes int64
}

// IsPeer reports whether member's pushes must carry a peer signature.
func (r *Relay) IsPeer(member string) bool {
	return r.Peers != nil && r.Peers.IsPeer(member)
}

// DecodeLimits are the limits for the body of a push. A peer's strings are
// whole JWS, longer than any field of a record may be; the body size still
// bounds them, and the record inside is decoded again under Limits.
func (r *Relay) DecodeLimits(peer bool) records.Limits {
	lim := r.Limits
	if peer {
		lim.MaxStringLength = max(lim.MaxStringLength, int(r.MaxBodyBytes))
	}
	return lim
}

// Entry is one decoded entry of a push, validated.
type Entry struct {
	records.Checked
	// KID is the peer's key that signed it, once verified; empty for a
	// member's own record.
	KID string
	// Reasons say why a peer's entry was refused before validation.
	Reasons []verdict.Reason
}

// Check validates entry index of a push by caller. A member's entry is a
// record; a peer's is a signed delivery, unwrapped first. The error, only
// when the peer's keys cannot be read, means nothing of the batch may be
// stored.
func (r *Relay) Check(ctx context.Context, caller string, peer bool, index int, d records.Decoded) (Entry, error) {
	if !peer {
		return Entry{Checked: records.Validate(d.Value, d.Errors)}, nil
	}
	invalid := func(code, detail string) (Entry, error) {
		return Entry{Checked: records.Checked{Index: index, Errors: []problem.FieldError{{Pointer: "/jws", Detail: detail}}},
			Reasons: []verdict.Reason{{Code: code, Message: detail}}}, nil
	}
	compact, ok := compactOf(d)
	if !ok {
		return invalid(ReasonSignatureRequired, `a peer gateway sends each record as {"jws": "<compact JWS>"}, signed with a key in its JWKS`)
	}
	payload, kid, err := r.Peers.VerifyPeer(ctx, caller, compact)
	switch {
	case errors.Is(err, sign.ErrUnavailable):
		return Entry{}, problem.Unavailable("the peer gateway's signing keys cannot be read; nothing was stored, retry the batch", err)
	case err != nil:
		reason := sign.Reason(err)
		return invalid(reason, reason)
	}
	// The typ is inside the verified protected header: a delivery or push
	// result this peer signed for someone else cannot pass as a forwarded
	// record.
	if typ := sign.Typ(compact); typ != sign.TypFederation {
		e, _ := invalid(ReasonWrongType, fmt.Sprintf("typ must be %s", sign.TypFederation))
		e.KID = kid
		return e, nil
	}
	// The label in the protected header is the record's (STANAG 4778
	// binding): a peer that signed one label and delivered another is
	// refused.
	if err := sign.CheckLabel(compact, payload); err != nil {
		e, _ := invalid(sign.Reason(err), "the label in the protected header is not the delivered record's")
		e.KID = kid
		return e, nil
	}
	var del sign.Delivery
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&del); err != nil || len(del.Record) == 0 || dec.More() {
		e, _ := invalid(ReasonMalformedDelivery, "the signed payload is not a delivery with a record")
		e.KID = kid
		return e, nil
	}
	if del.Recipient != r.Self {
		// Signed for another gateway (or for none): replayed here.
		e, _ := invalid(ReasonWrongRecipient, "the record was signed for another gateway")
		e.KID = kid
		return e, nil
	}
	inner, err := records.DecodeOne(del.Record, r.Limits)
	if err != nil {
		detail := "the signed record is not one JSON object"
		if p := (*problem.Error)(nil); errors.As(err, &p) && p.Detail != "" {
			detail = p.Detail
		}
		return Entry{Checked: records.Checked{Index: index, Errors: []problem.FieldError{{Pointer: "/jws", Detail: detail}}}, KID: kid}, nil
	}
	return Entry{Checked: records.Validate(inner.Value, inner.Errors), KID: kid}, nil
}

// compactOf returns the JWS of a peer's entry: an object with exactly one
// member, jws, a string.
func compactOf(d records.Decoded) (string, bool) {
	if len(d.Errors) > 0 {
		return "", false
	}
	m, ok := d.Value.(map[string]any)
	if !ok || len(m) != 1 {
		return "", false
	}
	s, ok := m["jws"].(string)
	return s, ok && s != ""
}

// MayOriginate decides whose name a pushed record may carry, before policy
// is asked the same. A member pushes only its own records
// (originator_mismatch). A peer gateway relays records of the other members
// of its own instance: IT/GOV/URA may relay IT/GOV/MOD's, never another
// instance's nor one in its own name (relay_originator_outside_peer), and
// never one of this gateway's own instance, which the peer could otherwise
// use to speak for this gateway's institutions
// (relay_originator_own_instance). The peer rule is the policy's
// (policies/relay.rego), here over the instance of sign.member (Tables.
// RelayOriginator), there over the policy bundle's own_instance: on
// Albania's gateway the two are AL; Italy's runs the bundle with IT.
func (r *Relay) MayOriginate(caller string, peer bool, originator string) (verdict.Reason, bool) {
	if !peer {
		if originator == caller {
			return verdict.Reason{}, true
		}
		return verdict.Reason{Code: ReasonOriginator,
			Message: fmt.Sprintf("label.originator %s is not the caller %s", originator, caller)}, false
	}
	own := identity.Instance(r.Self)
	if own == "" {
		return policy.RelayOriginator(caller, originator)
	}
	// The rule over this gateway's own instance, sign.member's: the
	// embedded bundle's tables name Albania's, and another nation's gateway
	// runs a bundle whose own_instance is its own (the policy asks again
	// with that one).
	t := policy.Tables{OwnInstance: own}
	return t.RelayOriginator(caller, originator)
}

// AuditReason names the peer key that signed a relayed record, for the
// audit event; the kid comes from a verified header.
func AuditReason(peer, kid string) verdict.Reason {
	return verdict.Reason{Code: "peer_signature", Message: fmt.Sprintf("signed by peer gateway %s with key %s", peer, kid)}
}

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// Federation: a peer ura gateway (a member under sign.peers) forwards
// records it accepted as one {"jws": "<compact JWS>"} line each, signed with
// its own key (typ ura-federation+jws) over a sign.Delivery addressed to this
// gateway. Nothing a peer sends is trusted before its signature verifies
// against that peer's JWKS; what is inside then takes the same decoding,
// validation, originator check and policy decision as any pushed record.

// Reason codes of a peer record refused before validation.
const (
	fedSignatureRequired = "signature_required"
	fedWrongType         = "wrong_type"
	fedMalformedDelivery = "malformed_delivery"
	fedWrongRecipient    = "wrong_recipient"
)

// fedIsPeer reports whether member's pushes must carry a peer signature.
func (h *exHandlers) fedIsPeer(member string) bool {
	return h.s.deps.Peers != nil && h.s.deps.Peers.IsPeer(member)
}

// fedDecodeLimits are the limits for the outer body of a peer's push. Its
// strings are whole JWS, longer than any field of a record may be; the body
// size still bounds them, and the record inside is decoded again under the
// configured limits.
func (h *exHandlers) fedDecodeLimits(peer bool) records.Limits {
	lim := h.limits()
	if peer {
		lim.MaxStringLength = max(lim.MaxStringLength, int(h.s.cfg.Limits.MaxBodyBytes))
	}
	return lim
}

// fedChecked validates one decoded entry of a push. A non-peer's entry is a
// record; a peer's is a signed delivery, unwrapped first. The error, only
// when the peer's keys cannot be read, means nothing of the batch may be
// stored.
func (h *exHandlers) fedChecked(ctx context.Context, req *exRequest, it *exPushItem, d records.Decoded) (records.Checked, error) {
	if !it.fedPeer {
		return records.Validate(d.Value, d.Errors), nil
	}
	invalid := func(code, detail string) (records.Checked, error) {
		it.res.Reasons = []verdict.Reason{{Code: code, Message: detail}}
		return records.Checked{Index: it.res.Index, Errors: []problem.FieldError{{Pointer: "/jws", Detail: detail}}}, nil
	}
	compact, ok := fedCompact(d)
	if !ok {
		return invalid(fedSignatureRequired, `a peer gateway sends each record as {"jws": "<compact JWS>"}, signed with a key in its JWKS`)
	}
	payload, kid, err := h.s.deps.Peers.VerifyPeer(ctx, req.member.ID, compact)
	switch {
	case errors.Is(err, sign.ErrUnavailable):
		return records.Checked{}, problem.Unavailable("the peer gateway's signing keys cannot be read; nothing was stored, retry the batch", err)
	case err != nil:
		reason := sign.Reason(err)
		return invalid(reason, reason)
	}
	it.fedKID = kid
	// The typ is inside the verified protected header: a delivery or push
	// result this peer signed for someone else cannot pass as a forwarded
	// record.
	if typ := sign.Typ(compact); typ != sign.TypFederation {
		return invalid(fedWrongType, fmt.Sprintf("typ must be %s", sign.TypFederation))
	}
	var del sign.Delivery
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&del); err != nil || len(del.Record) == 0 || dec.More() {
		return invalid(fedMalformedDelivery, "the signed payload is not a delivery with a record")
	}
	if del.Recipient != h.s.cfg.Sign.Member {
		// Signed for another gateway (or for none): replayed here.
		return invalid(fedWrongRecipient, "the record was signed for another gateway")
	}
	inner, err := records.Decode(append(append([]byte{'['}, del.Record...), ']'), records.FormatJSON, h.limits())
	if err != nil || len(inner) != 1 {
		detail := "the signed record is not one JSON object"
		if p := (*problem.Error)(nil); errors.As(err, &p) && p.Detail != "" {
			detail = p.Detail
		}
		return records.Checked{Index: it.res.Index, Errors: []problem.FieldError{{Pointer: "/jws", Detail: detail}}}, nil
	}
	return records.Validate(inner[0].Value, inner[0].Errors), nil
}

// fedCompact returns the JWS of a peer's entry: an object with exactly one
// member, jws, a string.
func fedCompact(d records.Decoded) (string, bool) {
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

// fedOriginator decides whose name a pushed record may carry. A member
// pushes only its own records. A peer gateway relays records of its own
// nation (instance): IT/GOV/URA may relay IT/GOV/MOD's, never another
// nation's and never one in this gateway's own instance, which the peer
// could otherwise use to speak for this gateway's institutions.
func (h *exHandlers) fedOriginator(caller string, it *exPushItem, originator string) (verdict.Reason, bool) {
	if !it.fedPeer {
		if originator == caller {
			return verdict.Reason{}, true
		}
		return verdict.Reason{Code: "originator_mismatch",
			Message: fmt.Sprintf("label.originator %s is not the caller %s", originator, caller)}, false
	}
	peerInstance := fedInstance(caller)
	own := fedInstance(h.s.cfg.Sign.Member)
	if fedInstance(originator) == peerInstance && peerInstance != "" && peerInstance != own &&
		strings.Count(originator, "/") == 2 {
		return verdict.Reason{}, true
	}
	return verdict.Reason{Code: "originator_mismatch",
		Message: fmt.Sprintf("label.originator %s is outside %s/, the instance peer gateway %s may relay for", originator, peerInstance, caller)}, false
}

// fedInstance is the first segment of a member ID (IT of IT/GOV/MOD).
func fedInstance(member string) string {
	i, _, ok := strings.Cut(member, "/")
	if !ok {
		return ""
	}
	return i
}

// fedAuditReason names the peer key that signed a relayed record, for the
// audit event; the kid comes from a verified header.
func fedAuditReason(peer, kid string) verdict.Reason {
	return verdict.Reason{Code: "peer_signature", Message: fmt.Sprintf("signed by peer gateway %s with key %s", peer, kid)}
}

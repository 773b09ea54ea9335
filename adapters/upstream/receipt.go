package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// Receipt is what a peer gateway signed when it answered a forwarded
// record: its push result (typ ura-result+jws), verified against the peer's
// JWKS and checked against what was sent (recipient, id, version, digest).
// It is kept with the entry: the peer's own proof that it took these exact
// bytes, under which of its decisions and at which seq of its audit log.
type Receipt struct {
	// JWS is the compact JWS as the peer signed it (at most MaxReceipt
	// bytes), for anyone to verify again with the peer's JWKS.
	JWS string `json:"jws"`
	KID string `json:"kid"`
	// Status is the peer's result: accepted, unchanged, denied, invalid
	// or conflict.
	Status string `json:"status"`
	// Reasons are the codes of the peer's reasons, if any.
	Reasons []string `json:"reasons,omitempty"`
	// Digest is the records.Digest the peer computed of the record it
	// decoded; it equals that of the bytes sent.
	Digest string `json:"digest,omitempty"`
	// AuditSeq is the seq of the peer's decision event in its audit log.
	AuditSeq int64 `json:"audit_seq,omitempty"`
	// DecisionID is the peer's push decision.
	DecisionID string `json:"decision_id,omitempty"`
	Issuer     string `json:"iss"`
	IssuedAt   int64  `json:"iat"`
	// Verified is when this gateway verified it.
	Verified time.Time `json:"verified"`
}

// MaxReceipt bounds the signed result kept with an entry; a peer that
// answers with a larger one has its answer treated as unverifiable.
const MaxReceipt = 16 << 10

// receiptClaims is the payload of a push result's JWS, as far as a sender
// checks it (gateway/api/exchange, signedResult).
type receiptClaims struct {
	Index      int              `json:"index"`
	ID         string           `json:"id"`
	Version    int              `json:"version"`
	Status     string           `json:"status"`
	Reasons    []verdict.Reason `json:"reasons"`
	DecisionID string           `json:"decision_id"`
	Digest     string           `json:"digest"`
	AuditSeq   int64            `json:"audit_seq"`
	Recipient  string           `json:"recipient"`
	Issuer     string           `json:"iss"`
	IssuedAt   int64            `json:"iat"`
}

// receiptError is why a peer's answer is not taken as a receipt; reason
// labels ura_outbox_receipts_total.
type receiptError struct {
	reason string
	msg    string
}

func (e *receiptError) Error() string { return "receipt " + e.reason + ": " + e.msg }

func badReceipt(reason, format string, args ...any) *receiptError {
	return &receiptError{reason: reason, msg: fmt.Sprintf(format, args...)}
}

// Receipt check outcomes (ura_outbox_receipts_total{result}); a signature
// that does not verify is labelled with sign.Reason.
const (
	receiptValid     = "valid"
	receiptMissing   = "missing"
	receiptMalformed = "malformed"
	receiptTooLarge  = "too_large"
	receiptWrongType = "wrong_type"
	receiptRecipient = "wrong_recipient"
	receiptRecord    = "wrong_record"
	receiptDigest    = "digest_mismatch"
)

// Push result statuses a receipt may carry.
var receiptStatuses = map[string]bool{"accepted": true, "unchanged": true, "denied": true, "invalid": true, "conflict": true}

// checkReceipt reads the one signed result of a peer's answer to the push
// of e (whose record bytes had digest), verifies it against the peer's
// JWKS, and checks that it was made for this gateway, about this record
// version and these bytes.
func (o *Outbox) checkReceipt(ctx context.Context, d *destination, e *entry, digest string, body []byte) (*Receipt, *receiptError) {
	var answer struct {
		Results []struct {
			JWS string `json:"jws"`
		} `json:"results"`
	}
	switch {
	case len(body) == 0:
		return nil, badReceipt(receiptMissing, "the peer's answer is empty")
	case json.Unmarshal(body, &answer) != nil:
		return nil, badReceipt(receiptMissing, "the peer's answer is not a push response")
	case len(answer.Results) == 0 || answer.Results[0].JWS == "":
		return nil, badReceipt(receiptMissing, "the peer's answer carries no signed result")
	case len(answer.Results) != 1:
		return nil, badReceipt(receiptMalformed, "%d results for one record", len(answer.Results))
	}
	jws := answer.Results[0].JWS
	if len(jws) > MaxReceipt {
		return nil, badReceipt(receiptTooLarge, "the signed result is %d bytes, more than %d", len(jws), MaxReceipt)
	}
	payload, kid, err := o.peers.VerifyPeer(ctx, d.who.ID, jws)
	if err != nil {
		r := sign.Reason(err)
		if errors.Is(err, sign.ErrUnavailable) {
			r = "keys_unavailable"
		}
		return nil, badReceipt(r, "the signed result does not verify against %s's JWKS: %v", d.who.ID, err)
	}
	if typ := sign.Typ(jws); typ != sign.TypResult {
		return nil, badReceipt(receiptWrongType, "typ %q, want %s", typ, sign.TypResult)
	}
	var c receiptClaims
	if err := json.Unmarshal(payload, &c); err != nil || !receiptStatuses[c.Status] {
		return nil, badReceipt(receiptMalformed, "the signed result is not a push result")
	}
	switch {
	case c.Recipient != o.self:
		return nil, badReceipt(receiptRecipient, "made for %q, not for %s", c.Recipient, o.self)
	case c.Status == "invalid" && c.ID == "" && c.Version == 0:
		// The peer could not read which record it was (say, our
		// signature did not verify there): the refusal is still signed.
	case c.Index != 0 || c.ID != e.ID || c.Version != e.Version:
		return nil, badReceipt(receiptRecord, "about %s@%d (index %d), not %s", c.ID, c.Version, c.Index, e.IdempotencyKey())
	case c.Digest != digest && (c.Digest != "" || c.Status == "accepted" || c.Status == "unchanged"):
		return nil, badReceipt(receiptDigest, "the peer took content %q, this gateway sent %s", c.Digest, digest)
	}
	r := &Receipt{JWS: jws, KID: kid, Status: c.Status, Digest: c.Digest, AuditSeq: c.AuditSeq,
		DecisionID: c.DecisionID, Issuer: c.Issuer, IssuedAt: c.IssuedAt, Verified: time.Now().UTC()}
	for _, reason := range c.Reasons {
		if len(reason.Code) <= 100 {
			r.Reasons = append(r.Reasons, reason.Code)
		}
	}
	return r, nil
}

// taken reports whether the peer stored the record (or had it already).
func (r *Receipt) taken() bool { return r.Status == "accepted" || r.Status == "unchanged" }

// refusal says why a peer refused the record, for the dead letter.
func (r *Receipt) refusal() string {
	s := "peer answered " + r.Status
	if len(r.Reasons) > 0 {
		s += ": " + strings.Join(r.Reasons, ", ")
	}
	return s
}

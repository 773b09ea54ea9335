package partnerclient

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	jose "github.com/go-jose/go-jose/v4"
)

// What a partner checks, with a stock JOSE library and nothing of the
// gateway's code: every compact JWS verifies against the gateway's JWKS, by
// the kid in its protected header, with an algorithm the gateway signs
// with, and carries the typ of what it claims to be (gateway/ARCHITECTURE.md,
// Signing), so that one kind of signed object is never taken for another.
const (
	typDelivery   = "ura-delivery+jws"
	typResult     = "ura-result+jws"
	typTrailer    = "ura-trailer+jws"
	typCheckpoint = "ura-audit-checkpoint+jws"
)

// algorithms are the gateway's (EdDSA by default, ES256 with
// sign.algorithm ecdsa-p256); "none" and HMAC never verify.
var algorithms = []jose.SignatureAlgorithm{jose.EdDSA, jose.ES256}

// verifier holds the gateway's published keys.
type verifier struct {
	keys jose.JSONWebKeySet
}

func newVerifier(jwks []byte) (*verifier, error) {
	v := &verifier{}
	if err := json.Unmarshal(jwks, &v.keys); err != nil {
		return nil, fmt.Errorf("parse JWKS: %w", err)
	}
	if len(v.keys.Keys) == 0 {
		return nil, errors.New("JWKS has no keys")
	}
	return v, nil
}

// verify checks one compact JWS of the given typ and returns its payload
// and kid.
func (v *verifier) verify(compact, typ string) (payload []byte, kid string, err error) {
	sig, err := jose.ParseSignedCompact(compact, algorithms)
	if err != nil {
		return nil, "", fmt.Errorf("parse JWS: %w", err)
	}
	h := sig.Signatures[0].Protected
	if got, _ := h.ExtraHeaders[jose.HeaderType].(string); got != typ {
		return nil, "", fmt.Errorf("typ %q, want %q", got, typ)
	}
	// The key comes from the JWKS by kid, never from the token (jwk, x5c).
	keys := v.keys.Key(h.KeyID)
	if len(keys) != 1 {
		return nil, "", fmt.Errorf("kid %q: %d keys in the JWKS", h.KeyID, len(keys))
	}
	if keys[0].Algorithm != "" && keys[0].Algorithm != h.Algorithm {
		return nil, "", fmt.Errorf("kid %q is a %s key, the JWS says %s", h.KeyID, keys[0].Algorithm, h.Algorithm)
	}
	payload, err = sig.Verify(keys[0].Key)
	if err != nil {
		return nil, "", fmt.Errorf("kid %q: %w", h.KeyID, err)
	}
	return payload, h.KeyID, nil
}

// deliveryPayload is a delivered record's signed payload.
type deliveryPayload struct {
	Record         json.RawMessage `json:"record"`
	DecisionID     string          `json:"decision_id"`
	PolicyRevision string          `json:"policy_revision"`
	Redactions     []Redaction     `json:"redactions"`
	Recipient      string          `json:"recipient"`
	Iss            string          `json:"iss"`
	Iat            int64           `json:"iat"`
}

// recordHead is what every record has.
type recordHead struct {
	ID      string `json:"id"`
	Kind    string `json:"kind"`
	Version int    `json:"version"`
	Label   struct {
		Originator string `json:"originator"`
	} `json:"label"`
}

// delivery verifies a delivery (a page's record, a stream's line, a get, a
// trace's event) made for recipient, naming the id and version the wire
// says.
func (v *verifier) delivery(d Delivery, recipient string) (deliveryPayload, recordHead, error) {
	var p deliveryPayload
	var rec recordHead
	if d.Jws == nil {
		return p, rec, fmt.Errorf("delivery %s: no jws (the gateway runs these tests under the jws proof profile)", d.Id)
	}
	b, _, err := v.verify(*d.Jws, typDelivery)
	if err != nil {
		return p, rec, fmt.Errorf("delivery %s: %w", d.Id, err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return p, rec, fmt.Errorf("delivery %s payload: %w", d.Id, err)
	}
	if err := json.Unmarshal(p.Record, &rec); err != nil {
		return p, rec, fmt.Errorf("delivery %s record: %w", d.Id, err)
	}
	switch {
	case rec.ID != d.Id || rec.Version != d.Version:
		return p, rec, fmt.Errorf("delivery %s v%d signs record %s v%d", d.Id, d.Version, rec.ID, rec.Version)
	case p.Recipient != recipient:
		return p, rec, fmt.Errorf("delivery %s is for %s, not %s", d.Id, p.Recipient, recipient)
	case p.DecisionID == "" || p.PolicyRevision == "":
		return p, rec, fmt.Errorf("delivery %s names no decision or policy revision", d.Id)
	}
	return p, rec, nil
}

// signedResult is a push result's signed payload.
type signedResult struct {
	Index      int    `json:"index"`
	ID         string `json:"id"`
	Version    int    `json:"version"`
	Status     string `json:"status"`
	DecisionID string `json:"decision_id"`
	Digest     string `json:"digest"`
	AuditSeq   int    `json:"audit_seq"`
	Recipient  string `json:"recipient"`
	Reasons    []struct {
		Code string `json:"code"`
	} `json:"reasons"`
}

// result verifies one push result and that its plain fields are the
// signed ones.
func (v *verifier) result(r PushResult, recipient string) (signedResult, error) {
	var s signedResult
	if r.Jws == nil {
		return s, fmt.Errorf("result %d: no jws (the gateway runs these tests under the jws proof profile)", r.Index)
	}
	b, _, err := v.verify(*r.Jws, typResult)
	if err != nil {
		return s, fmt.Errorf("result %d: %w", r.Index, err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("result %d payload: %w", r.Index, err)
	}
	if s.Index != r.Index || s.Status != string(r.Status) || s.ID != deref(r.Id) ||
		s.Digest != deref(r.Digest) || s.DecisionID != deref(r.DecisionId) || s.Recipient != recipient {
		return s, fmt.Errorf("result %d: plain fields %+v differ from the signed %+v", r.Index, r, s)
	}
	return s, nil
}

// trailerPayload is a stream trailer's signed payload.
type trailerPayload struct {
	Request    string          `json:"request"`
	RequestID  string          `json:"request_id"`
	Cursor     string          `json:"cursor"`
	NextCursor string          `json:"next_cursor"`
	Complete   bool            `json:"complete"`
	Records    int             `json:"records"`
	Digest     string          `json:"digest"`
	Error      json.RawMessage `json:"error,omitempty"`
	Recipient  string          `json:"recipient"`
}

// stream verifies a saved NDJSON pull as a whole, by the rules of
// gateway/ARCHITECTURE.md (Signing): every line but the last is a record
// line whose delivery verifies and names the line's id and version; the
// last is the trailer, signed, counting those lines and digesting their
// bytes exactly as received; its plain fields are the signed ones; every
// delivery is for the trailer's recipient.
func (v *verifier) stream(body []byte, recipient string) ([]recordHead, trailerPayload, error) {
	var tp trailerPayload
	if !bytes.HasSuffix(body, []byte("\n")) {
		return nil, tp, errors.New("the stream does not end with a newline: cut off")
	}
	lines := bytes.SplitAfter(body, []byte("\n"))
	lines = lines[:len(lines)-1] // SplitAfter's empty tail
	last := lines[len(lines)-1]
	before := body[:len(body)-len(last)]

	var tr StreamTrailer
	dec := json.NewDecoder(bytes.NewReader(last))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&tr); err != nil || tr.Jws == nil {
		return nil, tp, fmt.Errorf("the last line is no signed trailer: %q", last)
	}
	b, _, err := v.verify(*tr.Jws, typTrailer)
	if err != nil {
		return nil, tp, fmt.Errorf("trailer: %w", err)
	}
	if err := json.Unmarshal(b, &tp); err != nil {
		return nil, tp, fmt.Errorf("trailer payload: %w", err)
	}
	sum := sha256.Sum256(before)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	switch {
	case tp.Recipient != recipient:
		return nil, tp, fmt.Errorf("trailer is for %s, not %s", tp.Recipient, recipient)
	case tp.Records != len(lines)-1:
		return nil, tp, fmt.Errorf("trailer counts %d records, the stream has %d lines before it", tp.Records, len(lines)-1)
	case tp.Digest != digest:
		return nil, tp, fmt.Errorf("trailer digest %s, the lines before it hash to %s", tp.Digest, digest)
	case tr.Records != tp.Records || tr.Digest != tp.Digest || tr.Complete != tp.Complete || tr.NextCursor != tp.NextCursor:
		return nil, tp, errors.New("the trailer's plain fields differ from its signed ones")
	}
	var recs []recordHead
	for i, line := range lines[:len(lines)-1] {
		var d Delivery
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&d); err != nil || d.Jws == nil || *d.Jws == "" {
			return nil, tp, fmt.Errorf("line %d is no record line: %q", i+1, line)
		}
		_, rec, err := v.delivery(d, recipient)
		if err != nil {
			return nil, tp, fmt.Errorf("line %d: %w", i+1, err)
		}
		recs = append(recs, rec)
	}
	return recs, tp, nil
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

// codes are the reason codes of a signed result.
func (s signedResult) codes() []string {
	var out []string
	for _, r := range s.Reasons {
		out = append(out, r.Code)
	}
	slices.Sort(out)
	return out
}

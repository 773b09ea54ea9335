// Package release decides what one member may receive of one stored record:
// the policy decision (action pull, the member as the caller), the
// redaction it asks for, and the signed delivery payload of what is
// released. It is the one copy of that step, shared by everything through
// which a stored record leaves the gateway: a pull, get or trace
// (gateway/api/exchange) and the outbox (adapters/upstream), so a record
// forwarded to a destination is released, redacted or withheld exactly as a
// pull by the destination's member would be (gateway/ARCHITECTURE.md,
// "Outbound"). A record the policy withholds only for reasons it marks as
// releasable by authority is released here, and only here, when two
// officers' release of that version to that member is in force
// ("Release authority").
package release

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/authority"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/jsonstr"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// ReasonRedactionFailed is added to a decision whose redaction could not be
// applied: the record is withheld rather than sent with the field in it.
const ReasonRedactionFailed = "redaction_failed"

// Outcome is one record's release decision before anything is signed.
type Outcome struct {
	Record   *records.Record
	Decision policy.Decision
	// Verdict is the audit decision: audit.DecisionAllow, DecisionRedact or
	// DecisionWithhold.
	Verdict string
	// Body is the record as the member may see it: its canonical bytes,
	// without the redacted fields, its label translated into the member's
	// security policy. Nil when the record is withheld.
	Body []byte
	// labelDoc is the document whose label Body carries (the stored one,
	// or the redacted and translated copy): its canonical bytes, what a
	// signed delivery's protected header carries beside it (Signing), are
	// written only when asked for (Label), since a chunk proof has no
	// header per record.
	labelDoc map[string]any
	// Err is why a redaction the policy asked for could not be applied (a
	// policy bug), or why the releases could not be read: the record is
	// then withheld. Only for the log.
	Err error
	// Release is the two-person release under which the record was
	// released, when the policy alone withholds it; nil otherwise.
	Release *authority.Request
	// Expired are releases of this record version to this member that this
	// decision found expired and marked so (expire-on-use): audited with
	// the decision, once each.
	Expired []authority.Request
	// Consulted reports whether the store's releases were read for this
	// decision (the policy said releasable_by_authority).
	Consulted bool
}

// Reasons an audit event adds for release authority (never in a delivery).
const (
	// ReasonReleaseAuthority names the release a record was delivered
	// under, with both approvals.
	ReasonReleaseAuthority = "release_authority"
	// ReasonReleaseExpired names a release found expired at delivery.
	ReasonReleaseExpired = "release_expired"
)

// Authority is what a decision reads of two-person release authority: the
// store's release requests (store.Releases).
type Authority interface {
	ReleasesFor(ctx context.Context, recordID string, version int, recipient string) ([]authority.Request, error)
	UpdateRelease(ctx context.Context, id string, fn func(*authority.Request) error) (authority.Request, error)
}

// Label is Body's label, canonical: what the signed delivery's protected
// header carries beside it (Signing). Nil when the record is withheld, or
// (a test's record) has no label.
func (o *Outcome) Label() json.RawMessage {
	if !o.Released() {
		return nil
	}
	label, _ := labelOf(o.labelDoc)
	return label
}

// Released reports whether the member may see the record.
func (o *Outcome) Released() bool { return o.Body != nil }

// Redactions are the pointers removed from Body, each with the policy rule
// that removed it: never nil, so that the signed payload always carries the
// list.
func (o *Outcome) Redactions() []verdict.Redaction {
	if o.Verdict != audit.DecisionRedact || o.Decision.Redactions == nil {
		return []verdict.Redaction{}
	}
	return o.Decision.Redactions
}

// Translations are the steps by which Body's label was translated: never
// nil, so that the signed payload always carries the list.
func (o *Outcome) Translations() []verdict.Translation {
	if !o.Released() || o.Decision.Translations == nil {
		return []verdict.Translation{}
	}
	return o.Decision.Translations
}

// Decide asks engine whether member may pull rec, now, and applies the
// redaction and label translation it asks for. The redacted fields are
// skipped while the stored bytes are copied (records.ApplyRaw), or removed
// from a copy of the decoded record before it is serialized when the label
// changes too, so their values never exist in an output buffer.
//
// When the policy withholds the record only for reasons releasable by
// authority and auth (nil: none) holds a release of this version to member
// in force, the policy is asked again with that release as input.release,
// and its answer is the decision. Anything else withholds: no release, a
// release revoked, expired or for another version or member, the store
// unreadable.
func Decide(ctx context.Context, engine policy.Engine, auth Authority, member identity.Member, rec *records.Record) Outcome {
	now := time.Now()
	d := engine.Decide(ctx, policy.Input{Caller: member, Action: policy.Pull, Record: rec, Now: now})
	return finish(ctx, engine, auth, member, rec, now, d, nil)
}

// DecideChunk is Decide for each of recs, in order, at one time for the
// whole chunk: the policy is asked about the chunk at once
// (policy.Engine.DecideChunk, which may decide equal questions once), and
// each record is then released, redacted and relabelled by itself, as
// Decide does. A redaction's pointers are parsed once per list of pointers.
func DecideChunk(ctx context.Context, engine policy.Engine, auth Authority, member identity.Member, recs []*records.Record) []Outcome {
	now := time.Now()
	in := make([]policy.Input, len(recs))
	for i, rec := range recs {
		in[i] = policy.Input{Caller: member, Action: policy.Pull, Record: rec, Now: now}
	}
	ds := engine.DecideChunk(ctx, in)
	out := make([]Outcome, len(recs))
	rc := redactions{}
	for i, rec := range recs {
		out[i] = finish(ctx, engine, auth, member, rec, now, ds[i], rc)
	}
	return out
}

// redactions are the parsed redactions of a chunk, by their pointers.
type redactions map[string]*records.Redaction

// apply is records.Redact, its pointers parsed once per chunk (rc nil: not
// kept).
func (rc redactions) apply(doc map[string]any, pointers []string) (map[string]any, error) {
	r, err := rc.redaction(pointers)
	if err != nil {
		return nil, err
	}
	return r.Apply(doc), nil
}

// redaction is pointers parsed, once per chunk when rc is not nil.
func (rc redactions) redaction(pointers []string) (*records.Redaction, error) {
	if rc == nil {
		return records.NewRedaction(pointers)
	}
	var b strings.Builder
	for _, p := range pointers {
		b.WriteString(strconv.Itoa(len(p)))
		b.WriteByte(':')
		b.WriteString(p)
	}
	k := b.String()
	r, ok := rc[k]
	if !ok {
		var err error
		if r, err = records.NewRedaction(pointers); err != nil {
			return nil, err
		}
		rc[k] = r
	}
	return r, nil
}

// finish is the rest of Decide once the policy has answered d, at now:
// release authority, redaction and label translation.
func finish(ctx context.Context, engine policy.Engine, auth Authority, member identity.Member, rec *records.Record, now time.Time, d policy.Decision, rc redactions) Outcome {
	var grant *authority.Request
	var expired []authority.Request
	consulted := !d.Allow && d.ReleasableByAuthority && auth != nil
	if consulted {
		var err error
		if grant, expired, err = inForce(ctx, auth, member.ID, rec, now); err != nil {
			return Outcome{Record: rec, Decision: d, Verdict: audit.DecisionWithhold, Err: err, Consulted: true}
		}
		if grant != nil {
			in := policy.Input{Caller: member, Action: policy.Pull, Record: rec, Now: now, Release: &policy.Release{
				ID: grant.ID, RecordID: grant.RecordID, Version: grant.Version, Recipient: grant.Recipient}}
			if again := engine.Decide(ctx, in); again.Allow {
				d = again
			} else {
				grant = nil
			}
		}
	}
	if !d.Allow {
		return Outcome{Record: rec, Decision: d, Verdict: audit.DecisionWithhold, Expired: expired, Consulted: consulted}
	}
	v := audit.DecisionAllow
	if len(d.Redact) > 0 {
		v = audit.DecisionRedact
	}
	if len(d.Redact) == 0 && len(d.Translations) == 0 {
		// Every stored record has a label; a record without one (a test's)
		// goes without the header's copy.
		return Outcome{Record: rec, Decision: d, Verdict: v, Body: nonNil(rec.Raw), labelDoc: rec.Doc, Release: grant, Expired: expired, Consulted: consulted}
	}
	if rec.Doc == nil {
		return withheld(rec, d, ReasonRedactionFailed, "the policy's redaction could not be applied", errors.New("record has no decoded document"))
	}
	if len(d.Redact) > 0 && len(d.Translations) == 0 && len(rec.Raw) > 0 {
		// The stored bytes with the fields cut out: the same bytes as the
		// redacted copy written again (records.ApplyRaw), for a fraction
		// of the work. The label is the stored one unless a pointer is in
		// it.
		r, err := rc.redaction(d.Redact)
		if err == nil && !r.Touches("label") {
			body, err := r.ApplyRaw(rec.Raw)
			if err != nil {
				return withheld(rec, d, ReasonRedactionFailed, "the policy's redaction could not be applied", err)
			}
			return Outcome{Record: rec, Decision: d, Verdict: v, Body: nonNil(body), labelDoc: rec.Doc, Release: grant, Expired: expired, Consulted: consulted}
		}
	}
	doc := rec.Doc
	if len(d.Redact) > 0 {
		var err error
		if doc, err = rc.apply(doc, d.Redact); err != nil {
			return withheld(rec, d, ReasonRedactionFailed, "the policy's redaction could not be applied", err)
		}
	}
	if n := len(d.Translations); n > 0 {
		doc = relabelled(doc, d.Translations[n-1].To)
	}
	// A translated label may be a few bytes longer than the stored one.
	body, err := records.CanonicalSized(doc, len(rec.Raw)+64)
	if err != nil {
		return withheld(rec, d, ReasonRedactionFailed, "the policy's redaction could not be applied", err)
	}
	return Outcome{Record: rec, Decision: d, Verdict: v, Body: nonNil(body), labelDoc: doc, Release: grant, Expired: expired, Consulted: consulted}
}

// inForce finds the release of rec's version to recipient in force at now,
// if any; an approved release found expired is marked so, once, and
// returned among expired for the audit log.
func inForce(ctx context.Context, auth Authority, recipient string, rec *records.Record, now time.Time) (*authority.Request, []authority.Request, error) {
	rs, err := auth.ReleasesFor(ctx, rec.ID, rec.Version, recipient)
	if err != nil {
		return nil, nil, fmt.Errorf("release authority: %w", err)
	}
	var (
		grant   *authority.Request
		expired []authority.Request
	)
	for i := range rs {
		r := &rs[i]
		if r.InForce(rec.ID, rec.Version, recipient, now) {
			if grant == nil || r.ExpiresAt.After(grant.ExpiresAt) {
				grant = r
			}
			continue
		}
		if r.ExpiryRecorded != nil || !r.RecordExpiry(now) {
			continue
		}
		marked := false
		if _, err := auth.UpdateRelease(ctx, r.ID, func(x *authority.Request) error {
			marked = x.RecordExpiry(now)
			return nil
		}); err != nil {
			return nil, nil, fmt.Errorf("release authority: record expiry of %s: %w", r.ID, err)
		}
		if marked {
			// Another delivery may have marked it first; it audits it then.
			expired = append(expired, *r)
		}
	}
	return grant, expired, nil
}

// withheld is the outcome of an allowed record whose release failed.
func withheld(rec *records.Record, d policy.Decision, code, msg string, err error) Outcome {
	d.Reasons = append(d.Reasons, verdict.Reason{Code: code, Message: msg})
	return Outcome{Record: rec, Decision: d, Verdict: audit.DecisionWithhold, Err: err}
}

// nonNil keeps a released body non-nil, even if empty (Payload refuses it).
func nonNil(b []byte) []byte {
	if b == nil {
		return []byte{}
	}
	return b
}

// relabelled is doc with its label's policy and classification set to m,
// the last step of the decision's translations; doc itself, shared with
// the store's copy and the policy's input, is not changed.
func relabelled(doc map[string]any, m verdict.Marking) map[string]any {
	out := make(map[string]any, len(doc))
	for k, v := range doc {
		out[k] = v
	}
	old, _ := doc["label"].(map[string]any)
	label := make(map[string]any, len(old)+1)
	for k, v := range old {
		label[k] = v
	}
	label["policy_id"], label["classification"] = m.PolicyID, m.Classification
	out["label"] = label
	return out
}

// labelOf is the canonical bytes of doc's label.
func labelOf(doc map[string]any) (json.RawMessage, error) {
	label, ok := doc["label"].(map[string]any)
	if !ok {
		return nil, errors.New("record has no label")
	}
	return records.Canonical(label)
}

// Annotate sets what every per-record audit event says about its record
// and decision: kind, id and version (rec may be nil), the audit decision,
// the policy's reasons, decision ID and revision, and the redacted pointers
// with the rule that removed each when the decision redacts (never the
// removed values).
func Annotate(ev *audit.Event, rec *records.Record, decision string, d policy.Decision) {
	if rec != nil {
		ev.RecordKind, ev.RecordID, ev.RecordVersion = rec.Kind, rec.ID, rec.Version
	}
	ev.Decision = decision
	ev.Reasons, ev.DecisionID, ev.PolicyRevision = d.Reasons, d.ID, d.Revision
	ev.Redactions, ev.Translations = nil, nil
	if decision == audit.DecisionRedact {
		ev.Redactions = d.Redactions
	}
	if decision != audit.DecisionWithhold {
		ev.Translations = d.Translations
	}
}

// Annotate sets ev's record and decision from o, and what release authority
// did: the release the record went under, with both approvals, and any
// release found expired.
func (o *Outcome) Annotate(ev *audit.Event) {
	Annotate(ev, o.Record, o.Verdict, o.Decision)
	if o.Release == nil && len(o.Expired) == 0 {
		return
	}
	ev.Reasons = append([]verdict.Reason(nil), ev.Reasons...)
	if o.Release != nil {
		ev.Reasons = append(ev.Reasons, verdict.Reason{Code: ReasonReleaseAuthority, Message: o.Release.Summary()})
	}
	for _, r := range o.Expired {
		ev.Reasons = append(ev.Reasons, verdict.Reason{Code: ReasonReleaseExpired,
			Message: r.Summary() + "; expired at " + r.ExpiresAt.Format(time.RFC3339)})
	}
}

// Delivery is the signed payload of a released record for recipient: the
// body bound to the decision that released it.
func (o *Outcome) Delivery(recipient, issuer string, iat int64) ([]byte, error) {
	if !o.Released() {
		return nil, errors.New("release: the record is withheld")
	}
	// Body is the store's bytes (one JSON object, DecodeStored saw to it)
	// or the canonical writer's: valid JSON either way, so the check of
	// Payload, a scan of every byte, is not repeated.
	return payload(sign.Delivery{Record: o.Body, DecisionID: o.Decision.ID, PolicyRevision: o.Decision.Revision,
		Redactions: o.Redactions(), Translations: o.Translations(), Recipient: recipient, Issuer: issuer, IssuedAt: iat,
		Release: o.signedRelease()})
}

// signedRelease is the release the record went under, as the signed
// delivery carries it.
func (o *Outcome) signedRelease() *sign.ReleaseAuthority {
	r := o.Release
	if r == nil {
		return nil
	}
	out := &sign.ReleaseAuthority{ID: r.ID, RecordID: r.RecordID, Version: r.Version, Recipient: r.Recipient,
		ExpiresAt: r.ExpiresAt, Approvals: make([]sign.ReleaseApproval, len(r.Approvals))}
	for i, a := range r.Approvals {
		out.Approvals[i] = sign.ReleaseApproval{Officer: a.Officer, At: a.At}
	}
	return out
}

// Payload is json.Marshal(d) without re-encoding the record: encoding/json
// would re-scan and HTML-escape the record's bytes, which costs a third of a
// pull and would make the signed record differ, byte for byte, from the
// stored canonical one. The record is only checked to be JSON.
func Payload(d sign.Delivery) ([]byte, error) {
	if !json.Valid(d.Record) {
		return nil, errors.New("record is not valid JSON")
	}
	return payload(d)
}

func payload(d sign.Delivery) ([]byte, error) {
	if len(d.Record) == 0 {
		return nil, errors.New("record is empty")
	}
	// The bytes json.Marshal writes for the rest of d, written directly:
	// reflection over the same few fields for every record was a twentieth
	// of a pull (TestPayloadIsEncodingJSON holds the two equal).
	// Sized for all of it, so the record's bytes are copied once, not again
	// each time the buffer grows: the fixed names and punctuation are
	// under 256 bytes, the strings are counted, with room for a few
	// escapes.
	size := len(d.Record) + 256 + len(d.DecisionID) + len(d.PolicyRevision) + len(d.Recipient) + len(d.Issuer)
	for _, r := range d.Redactions {
		size += len(r.Pointer) + len(r.Rule) + 32
	}
	for _, t := range d.Translations {
		size += len(t.From.PolicyID) + len(t.From.Classification) + len(t.To.PolicyID) + len(t.To.Classification) + len(t.Rule) + 96
	}
	out := make([]byte, 0, size)
	out = append(out, `{"record":`...)
	out = append(out, d.Record...)
	out = appendMember(out, "decision_id", d.DecisionID)
	out = appendMember(out, "policy_revision", d.PolicyRevision)
	out = append(out, `,"redactions":`...)
	if d.Redactions == nil {
		out = append(out, "null"...)
	} else {
		out = verdict.AppendRedactions(out, d.Redactions, appendString)
	}
	out = append(out, `,"translations":`...)
	if d.Translations == nil {
		out = append(out, "null"...)
	} else {
		out = append(out, '[')
		for i, t := range d.Translations {
			if i > 0 {
				out = append(out, ',')
			}
			out = appendMarking(append(out, `{"from":`...), t.From)
			out = appendMarking(append(out, `,"to":`...), t.To)
			out = appendMember(out, "rule", t.Rule)
			out = append(out, '}')
		}
		out = append(out, ']')
	}
	out = appendMember(out, "recipient", d.Recipient)
	out = appendMember(out, "iss", d.Issuer)
	out = strconv.AppendInt(append(out, `,"iat":`...), d.IssuedAt, 10)
	if d.Release != nil {
		rel, err := json.Marshal(d.Release)
		if err != nil {
			return nil, err
		}
		out = append(append(out, `,"release":`...), rel...)
	}
	return append(out, '}'), nil
}

// appendMember appends ,"name":value with value a JSON string.
func appendMember(b []byte, name, value string) []byte {
	b = append(append(append(b, ',', '"'), name...), '"', ':')
	return appendString(b, value)
}

func appendMarking(b []byte, m verdict.Marking) []byte {
	b = append(b, `{"policy_id":`...)
	b = appendString(b, m.PolicyID)
	b = appendMember(b, "classification", m.Classification)
	return append(b, '}')
}

// appendString appends s as json.Marshal writes a string: encoding/json's
// form, with '<', '>' and '&' escaped as well.
func appendString(b []byte, s string) []byte {
	if strings.ContainsAny(s, "<>&") {
		q, _ := json.Marshal(s)
		return append(b, q...)
	}
	b, _ = jsonstr.Append(b, s, false)
	return b
}

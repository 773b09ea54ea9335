package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// The exchange API: what institutions push and pull. Every route runs the
// chain gateway/ARCHITECTURE.md draws ("Request chain"), in this order and
// nowhere else:
//
//	push  identity → body under limits → rate limit (cost = records)
//	      → schema validation → originator = caller → policy per record
//	      → store (lifecycle check inside the store's transaction)
//	      → forward (outbox) → sign every result → audit (durable) → response
//	pull  identity → query → per chunk of records: rate limit → policy
//	      (allow, redact, withhold) → redact → sign → audit (durable)
//	      → write and flush
//
// Nothing unsigned or unaudited is ever written: a signer or audit failure
// before the first byte is a 503; after it (a stream), the stream ends with
// an error line instead of records.

// exChunk is how many records a pull decides, signs and audits together:
// one signer call and one audit commit per chunk keeps Vault and fsync off
// the per-record path, and bounds the memory a stream holds.
const exChunk = 256

// exHandlers serve the exchange routes.
type exHandlers struct {
	s       *Server
	metrics *exMetrics
}

type exMetrics struct {
	pushed    *prometheus.CounterVec
	delivered *prometheus.CounterVec
}

// exchange builds the exchange handlers and registers their metrics on the
// server's registry.
func (s *Server) exchange() *exHandlers {
	m := &exMetrics{
		pushed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_records_pushed_total",
			Help: "Pushed records by result status (accepted, unchanged, denied, invalid, conflict).",
		}, []string{"status"}),
		delivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ura_records_pulled_total",
			Help: "Records a pull, get or trace decided on, by route class and decision (allow, redact, withhold).",
		}, []string{"class", "decision"}),
	}
	s.metrics.registry.MustRegister(m.pushed, m.delivered)
	return &exHandlers{s: s, metrics: m}
}

// ready refuses every data route until the whole chain is configured: a
// gateway without a store, policy, signer or audit log must not half-work.
func (h *exHandlers) ready(c *gin.Context) bool {
	d := h.s.deps
	var missing string
	switch {
	case d.Store == nil:
		missing = "store"
	case d.Policy == nil:
		missing = "policy"
	case d.Signer == nil:
		missing = "signer"
	case d.Audit == nil:
		missing = "audit log"
	default:
		return true
	}
	h.s.fail(c, problem.Unavailable("the record exchange is not available on this gateway", errors.New("exchange: no "+missing+" configured")))
	return false
}

// exRequest is what every audit event of one request shares.
type exRequest struct {
	member identity.Member
	id     string
	route  string
	action string
	digest string
}

func (h *exHandlers) request(c *gin.Context, action string) exRequest {
	m, _ := identity.FromContext(c.Request.Context())
	return exRequest{member: m, id: c.GetString(ginRequestID), route: c.FullPath(), action: action}
}

// event starts an audit event of this request.
func (r *exRequest) event(decision string) audit.Event {
	return audit.Event{Time: time.Now().UTC(), RequestID: r.id, Member: r.member.ID, Action: r.action,
		Route: r.route, Decision: decision, RequestDigest: r.digest}
}

// recordEvent is the audit event of one per-record decision.
func (r *exRequest) recordEvent(rec *records.Record, decision string, d policy.Decision) audit.Event {
	ev := r.event(decision)
	if rec != nil {
		ev.RecordKind, ev.RecordID, ev.RecordVersion = rec.Kind, rec.ID, rec.Version
	}
	ev.Reasons, ev.DecisionID, ev.PolicyRevision = d.Reasons, d.ID, d.Revision
	if decision == audit.DecisionRedact {
		ev.Redactions = d.Redact
	}
	return ev
}

// refuse answers a request-level problem, audited first: a refused request
// is a request too, and the audit log must show it before the caller does.
func (h *exHandlers) refuse(c *gin.Context, req *exRequest, err error) {
	p := problem.From(err)
	ev := req.event(audit.DecisionDeny)
	if p.Status >= 500 {
		ev.Decision = audit.DecisionError
	}
	ev.Status = p.Status
	if aerr := h.s.deps.Audit.Append(c.Request.Context(), ev); aerr != nil {
		h.s.fail(c, problem.Unavailable("the audit log is unavailable; nothing was processed", aerr))
		return
	}
	h.s.fail(c, p)
}

// sign signs payloads in one call. Its errors are already problems: every
// signing failure is a 503 and nothing is sent.
func (h *exHandlers) sign(ctx context.Context, typ string, payloads [][]byte) ([]string, string, error) {
	if len(payloads) == 0 {
		return nil, "", nil
	}
	jws, err := h.s.deps.Signer.SignTyped(ctx, typ, payloads)
	if err == nil && len(jws) != len(payloads) {
		err = fmt.Errorf("signer returned %d signatures for %d payloads", len(jws), len(payloads))
	}
	if err != nil {
		return nil, "", problem.Unavailable("signing is unavailable; nothing was sent", err)
	}
	return jws, sign.KeyID(jws[0]), nil
}

// append makes events durable, or answers why not.
func (h *exHandlers) append(ctx context.Context, events []audit.Event) error {
	if err := h.s.deps.Audit.Append(ctx, events...); err != nil {
		return problem.Unavailable("the audit log is unavailable; nothing was sent", err)
	}
	return nil
}

// exDelivery is one record as a pull, get or trace sends it: the signed
// sign.Delivery and, outside the signature, what a client needs to route it.
type exDelivery struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	JWS     string `json:"jws"`
}

// deliver runs the pull chain for one chunk of records: policy per record,
// redaction, one signer call. It returns the released records in order and
// one audit event per record (withheld ones are only there). Nothing is
// written to the caller or the audit log here: the caller commits the events
// and only then writes.
func (h *exHandlers) deliver(ctx context.Context, req *exRequest, chunk []*records.Record) ([]exDelivery, []audit.Event, error) {
	decided := make([]exDecided, len(chunk))
	for i, rec := range chunk {
		decided[i] = h.decide(ctx, req, rec)
	}
	return h.release(ctx, req, decided)
}

// exDecided is one record's policy decision before anything is signed:
// body is what would be sent (redacted if the policy says so), nil when the
// record is withheld.
type exDecided struct {
	rec      *records.Record
	d        policy.Decision
	decision string // audit decision: allow, redact or withhold
	body     []byte
}

// released reports whether the caller may see the record.
func (x *exDecided) released() bool { return x.body != nil }

// decide is the first half of deliver for one record: the policy decision
// and the redaction, without signing.
func (h *exHandlers) decide(ctx context.Context, req *exRequest, rec *records.Record) exDecided {
	d := h.s.deps.Policy.Decide(ctx, policy.Input{Caller: req.member, Action: policy.Pull, Record: rec})
	if !d.Allow {
		return exDecided{rec: rec, d: d, decision: audit.DecisionWithhold}
	}
	body, decision := []byte(rec.Raw), audit.DecisionAllow
	if len(d.Redact) > 0 {
		var err error
		if body, err = exRedacted(rec, d.Redact); err != nil {
			// A redaction that cannot be applied is a policy bug; the
			// record is withheld rather than sent with the field in it.
			h.s.log.Error("redaction failed; record withheld", "component", "exchange", "request_id", req.id,
				"record_id", rec.ID, "decision_id", d.ID, "error", err)
			d.Reasons = append(d.Reasons, verdict.Reason{Code: "redaction_failed", Message: "the policy's redaction could not be applied"})
			return exDecided{rec: rec, d: d, decision: audit.DecisionWithhold}
		}
		decision = audit.DecisionRedact
	}
	if body == nil {
		body = []byte{} // released, even if empty (json.Valid refuses it below)
	}
	return exDecided{rec: rec, d: d, decision: decision, body: body}
}

// release is the second half of deliver: the delivery payloads of the
// released records, one signer call, and one audit event per decided record
// in their order.
func (h *exHandlers) release(ctx context.Context, req *exRequest, decided []exDecided) ([]exDelivery, []audit.Event, error) {
	var (
		released []*records.Record
		at       []int // index in events of each released record's event
		payloads [][]byte
		events   = make([]audit.Event, 0, len(decided))
		now      = time.Now().Unix()
	)
	for i := range decided {
		x := &decided[i]
		if !x.released() {
			events = append(events, req.recordEvent(x.rec, audit.DecisionWithhold, x.d))
			continue
		}
		redactions := x.d.Redact
		if redactions == nil {
			redactions = []string{}
		}
		payload, err := exDeliveryPayload(sign.Delivery{Record: x.body, DecisionID: x.d.ID, PolicyRevision: x.d.Revision,
			Redactions: redactions, Recipient: req.member.ID, Issuer: h.s.cfg.Sign.Issuer, IssuedAt: now})
		if err != nil {
			return nil, nil, problem.Internal(fmt.Errorf("delivery payload %s: %w", x.rec.ID, err))
		}
		payloads = append(payloads, payload)
		released = append(released, x.rec)
		at = append(at, len(events))
		events = append(events, req.recordEvent(x.rec, x.decision, x.d))
	}
	jws, kid, err := h.sign(ctx, sign.TypDelivery, payloads)
	if err != nil {
		return nil, nil, err
	}
	deliveries := make([]exDelivery, len(released))
	for i, rec := range released {
		events[at[i]].SigningKID = kid
		deliveries[i] = exDelivery{ID: rec.ID, Version: rec.Version, JWS: jws[i]}
	}
	return deliveries, events, nil
}

// commit makes a pull's events durable and counts its decisions. The
// request's own event (lead) goes with the first commit.
func (h *exHandlers) commit(ctx context.Context, class string, lead *audit.Event, events []audit.Event) error {
	all := events
	if lead != nil {
		all = append([]audit.Event{*lead}, events...)
	}
	if len(all) == 0 {
		return nil
	}
	if err := h.append(ctx, all); err != nil {
		return err
	}
	for _, ev := range events {
		h.metrics.delivered.WithLabelValues(class, ev.Decision).Inc()
	}
	return nil
}

// exRedacted is rec's canonical bytes without the redacted fields. The
// fields are removed from a copy of the decoded record before anything is
// serialized, so their values never exist in an output buffer.
func exRedacted(rec *records.Record, pointers []string) ([]byte, error) {
	if rec.Doc == nil {
		return nil, errors.New("record has no decoded document")
	}
	doc, err := records.Redact(rec.Doc, pointers)
	if err != nil {
		return nil, err
	}
	return records.Canonical(doc)
}

// exDeliveryPayload is json.Marshal(d) without re-encoding the record:
// encoding/json would re-scan and HTML-escape the record's bytes, which costs
// a third of a pull and would make the signed record differ, byte for byte,
// from the stored canonical one. The record is only checked to be JSON.
func exDeliveryPayload(d sign.Delivery) ([]byte, error) {
	if !json.Valid(d.Record) {
		return nil, errors.New("record is not valid JSON")
	}
	rest := d
	rest.Record = nil
	tail, err := json.Marshal(struct {
		sign.Delivery
		Record json.RawMessage `json:"record,omitempty"` // shadows the embedded record
	}{Delivery: rest})
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(d.Record)+len(tail)+12)
	out = append(out, `{"record":`...)
	out = append(out, d.Record...)
	out = append(out, ',')
	return append(out, tail[1:]...), nil
}

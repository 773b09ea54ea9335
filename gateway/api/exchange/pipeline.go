package exchange

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/jsonstr"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/ratelimit"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/release"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/tracing"
)

// Delivery is one record as a pull, get or trace sends it: the signed
// sign.Delivery and, outside the signature, what a client needs to route it.
// Under the jws proof profile the delivery is its own JWS; under chunk it is
// the payload itself (base64url) with its proof, the path to its chunk's
// signed root (gateway/ARCHITECTURE.md, Signing).
type Delivery struct {
	ID      string `json:"id"`
	Version int    `json:"version"`
	JWS     string `json:"jws,omitempty"`
	// Payload is the delivery payload's bytes exactly as they are a leaf
	// of the chunk, base64url without padding.
	Payload string      `json:"delivery,omitempty"`
	Proof   *sign.Proof `json:"proof,omitempty"`
	// payload is the delivery payload itself, as the gateway signed it:
	// written as Payload's base64url straight into the answer, without a
	// string of its own per record.
	payload []byte
}

// MarshalJSON writes d as appendLine does, which is what encoding/json
// writes for its fields, payload written as Payload.
func (d Delivery) MarshalJSON() ([]byte, error) {
	b := d.appendLine(nil)
	return b[:len(b)-1], nil
}

// pipeline is the one way a stored record leaves the gateway, for a page, a
// stream, a get and a trace alike:
//
//	charge → decide (policy) → redact → sign → audit → deliver
//
// A route charges first (charge), runs its records through decide and
// release (or deliver, both at once) a chunk at a time, commits the events
// and only then writes what was released. Nothing is refunded: what policy
// withholds costs the caller like what it releases.
type pipeline struct {
	h     *Handlers
	c     *gin.Context
	req   *chain.Request
	class ratelimit.Class
	// lead is the request's own event, committed with the first chunk.
	lead *audit.Event
	// policy is the span of the chunk being decided, from its first
	// decision to its release; verdicts counts its decisions by verdict.
	policy   tracing.Span
	deciding bool
	verdicts [3]int // allow, redact, withhold
	// proof is how released records are signed: config.ProofChunk or
	// config.ProofJWS, as negotiated (profile.go).
	proof string
}

func (h *Handlers) pipeline(c *gin.Context, req *chain.Request, class ratelimit.Class) *pipeline {
	lead := req.Event(audit.DecisionAllow, 0)
	return &pipeline{h: h, c: c, req: req, class: class, lead: &lead, proof: h.cfg.Sign.Proof}
}

// charge makes the request's whole cost in its class total.
func (p *pipeline) charge(total int) error {
	return p.h.kit.ChargeMore(p.c, p.class, total)
}

// deliver decides, redacts and signs records, any number of them, and
// returns the released ones in order and one audit event per record
// (withheld ones are only there). Nothing is written to the caller or the
// audit log here: commit the events, and only then write.
//
// Records are decided a chunk at a time (release.DecideChunk): one time
// for all its records, and one policy evaluation for the records the
// policy cannot tell apart (gateway/ARCHITECTURE.md, "Request chain").
// They are signed in chunks of released records only (batch).
func (p *pipeline) deliver(recs []*records.Record) ([]Delivery, []audit.Event, error) {
	var (
		b      = newBatch(p)
		out    []Delivery
		events []audit.Event
	)
	sign := func(n int) error {
		d, ev, _, err := b.take(n)
		out, events = append(out, d...), append(events, ev...)
		return err
	}
	for chunk := range slices.Chunk(recs, Chunk) {
		decided := p.decideChunk(chunk)
		for i := range decided {
			p.tally(&decided[i])
			b.add(&decided[i], "")
		}
		if b.full() {
			if err := sign(Chunk); err != nil {
				return nil, nil, err
			}
		}
	}
	if err := sign(b.pending()); err != nil {
		return nil, nil, err
	}
	return out, events, nil
}

// decideChunk decides records at once without counting them: the caller
// tallies those it uses (a page may stop before the end of a chunk).
func (p *pipeline) decideChunk(chunk []*records.Record) []decided {
	p.startPolicy()
	return release.DecideChunk(p.c.Request.Context(), p.h.deps.Policy, p.h.deps.Store, p.req.Member, chunk)
}

// decided is one record's policy decision before anything is signed
// (gateway/release): its body is what would be sent (redacted if the
// policy says so), nil when the record is withheld.
type decided = release.Outcome

// decide is the policy decision and the redaction of one record, without
// signing: the same step the outbox takes for a destination's member.
func (p *pipeline) decide(rec *records.Record) decided {
	p.startPolicy()
	x := release.Decide(p.c.Request.Context(), p.h.deps.Policy, p.h.deps.Store, p.req.Member, rec)
	p.tally(&x)
	return x
}

// startPolicy opens the policy span of a chunk at its first decision.
func (p *pipeline) startPolicy() {
	if !p.deciding {
		_, p.policy = p.h.kit.Tracer.Start(p.c.Request.Context(), "policy")
		p.deciding = true
	}
}

// tally counts one decision of the chunk by its verdict, and logs a
// redaction that failed.
func (p *pipeline) tally(x *decided) {
	switch x.Verdict {
	case audit.DecisionAllow:
		p.verdicts[0]++
	case audit.DecisionRedact:
		p.verdicts[1]++
	default:
		p.verdicts[2]++
	}
	if x.Err != nil {
		// A redaction that cannot be applied is a policy bug; the record
		// is withheld rather than sent with the field in it.
		p.h.log.Error("redaction failed; record withheld", "request_id", p.req.ID,
			"record_id", x.Record.ID, "decision_id", x.Decision.ID, "error", x.Err)
	}
}

// endPolicy ends the policy span of the chunk decided so far, with how many
// records it decided and its verdicts: counts only, never which records.
func (p *pipeline) endPolicy() {
	if !p.deciding {
		return
	}
	v := p.verdicts
	p.policy.Int(tracing.KeyRecords, v[0]+v[1]+v[2])
	p.policy.Int("ura.records.allowed", v[0])
	p.policy.Int("ura.records.redacted", v[1])
	p.policy.Int("ura.records.withheld", v[2])
	p.policy.End(nil)
	p.deciding, p.verdicts = false, [3]int{}
}

// event is the audit event of one decision, before it is signed.
func (p *pipeline) event(x *decided) audit.Event {
	ev := p.req.Event(x.Verdict, 0)
	x.Annotate(&ev)
	return ev
}

// recordEvent is the audit event of one per-record decision.
func recordEvent(req *chain.Request, rec *records.Record, decision string, d policy.Decision) audit.Event {
	ev := req.Event(decision, 0)
	release.Annotate(&ev, rec, decision, d)
	return ev
}

// release signs the released records of a chunk in one signer call, and
// builds one audit event per decided record in their order. Callers pass
// released records only (batch), so that a chunk's size says nothing of
// what was withheld beside it. Under the
// chunk profile that call signs one JWS, over the Merkle root of the
// chunk's deliveries; under jws, one JWS per delivery.
func (p *pipeline) release(chunk []decided) ([]Delivery, []audit.Event, error) {
	p.endPolicy()
	var (
		released []*records.Record
		at       []int // index in events of each released record's event
		payloads [][]byte
		labels   []json.RawMessage
		events   = make([]audit.Event, 0, len(chunk))
		now      = time.Now().Unix()
	)
	for i := range chunk {
		x := &chunk[i]
		ev := p.event(x)
		if !x.Released() {
			events = append(events, ev)
			continue
		}
		payload, err := x.Delivery(p.req.Member.ID, p.h.cfg.Sign.Issuer, now)
		if err != nil {
			return nil, nil, problem.Internal(fmt.Errorf("delivery payload %s: %w", x.Record.ID, err))
		}
		payloads = append(payloads, payload)
		if p.proof == config.ProofJWS {
			labels = append(labels, x.Label())
		}
		released = append(released, x.Record)
		at = append(at, len(events))
		events = append(events, ev)
	}
	var (
		deliveries = make([]Delivery, len(released))
		kid        string
		err        error
	)
	if p.proof == config.ProofJWS {
		var jws []string
		if jws, kid, err = p.h.signLabelled(p.c.Request.Context(), payloads, labels); err != nil {
			return nil, nil, err
		}
		for i, rec := range released {
			deliveries[i] = Delivery{ID: rec.ID, Version: rec.Version, JWS: jws[i]}
		}
	} else {
		var proofs []sign.Proof
		if proofs, kid, err = p.h.signChunk(p.c.Request.Context(), payloads, p.req.Member.ID, now); err != nil {
			return nil, nil, err
		}
		for i, rec := range released {
			deliveries[i] = Delivery{ID: rec.ID, Version: rec.Version, payload: payloads[i], Proof: &proofs[i]}
		}
	}
	for i := range released {
		events[at[i]].SigningKID = kid
	}
	return deliveries, events, nil
}

// signChunk signs the deliveries of one chunk in one JWS (typ
// ura-chunk+jws) over the Merkle root of their payloads, and returns each
// delivery's proof under it. A delivery's label is inside its payload,
// which the leaf hash covers, so no header carries it.
func (h *Handlers) signChunk(ctx context.Context, payloads [][]byte, recipient string, now int64) ([]sign.Proof, string, error) {
	return h.signLeaves(ctx, sign.LeavesDelivery, payloads, recipient, now)
}

// signLeaves signs payloads, leaves of one kind (sign.LeavesDelivery or
// sign.LeavesResult), as chunks of up to Chunk leaves, one root JWS (typ
// ura-chunk+jws) each, all roots in one signer call, and returns each
// payload's proof, in order.
func (h *Handlers) signLeaves(ctx context.Context, leaves string, payloads [][]byte, recipient string, now int64) ([]sign.Proof, string, error) {
	if len(payloads) == 0 {
		return nil, "", nil
	}
	n := (len(payloads) + Chunk - 1) / Chunk
	trees, roots := make([]*sign.ChunkTree, 0, n), make([][]byte, 0, n)
	for chunk := range slices.Chunk(payloads, Chunk) {
		tree, err := sign.NewLeafTree(leaves, chunk)
		if err != nil {
			return nil, "", problem.Internal(fmt.Errorf("chunk tree: %w", err))
		}
		root, err := tree.Payload(recipient, h.cfg.Sign.Issuer, now)
		if err != nil {
			return nil, "", problem.Internal(fmt.Errorf("chunk root payload: %w", err))
		}
		trees, roots = append(trees, tree), append(roots, root)
	}
	jws, kid, err := h.sign(ctx, sign.TypChunk, roots)
	if err != nil {
		return nil, "", err
	}
	var proofs []sign.Proof
	for i, tree := range trees {
		p, err := tree.Proofs(jws[i])
		if err != nil {
			return nil, "", problem.Internal(fmt.Errorf("chunk proofs: %w", err))
		}
		if len(trees) == 1 { // a chunk's proofs are the answer's as they are
			return p, kid, nil
		}
		if proofs == nil {
			proofs = make([]sign.Proof, 0, len(payloads))
		}
		proofs = append(proofs, p...)
	}
	return proofs, kid, nil
}

// commit makes events durable and counts their decisions; the request's
// own event goes with the first commit, as answered with status and the
// number of records sent so far when that is known (a page, a get, a trace).
func (p *pipeline) commit(events []audit.Event) error {
	p.endPolicy()
	all := events
	if p.lead != nil {
		all = append([]audit.Event{*p.lead}, events...)
	}
	if len(all) == 0 {
		return nil
	}
	if err := p.h.append(p.c.Request.Context(), all); err != nil {
		return err
	}
	p.lead = nil
	for _, ev := range events {
		p.h.metrics.delivered.WithLabelValues(string(p.class), ev.Decision).Inc()
	}
	return nil
}

// answered sets the request's own event to what the answer will be, before
// its one commit.
func (p *pipeline) answered(decision string, status, records int) {
	if p.lead != nil {
		p.lead.Decision, p.lead.Status, p.lead.Records = decision, status, records
	}
}

// ok answers JSON body with status 200, never cached.
func ok(c *gin.Context, body any) {
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, body)
}

// sign signs payloads in one call; every signing failure is a 503 and
// nothing is sent.
func (h *Handlers) sign(ctx context.Context, typ string, payloads [][]byte) ([]string, string, error) {
	return h.signWith(ctx, typ, payloads, nil)
}

// signLabelled signs deliveries, each with its record's label in the
// protected header (Signing).
func (h *Handlers) signLabelled(ctx context.Context, payloads [][]byte, labels []json.RawMessage) ([]string, string, error) {
	return h.signWith(ctx, sign.TypDelivery, payloads, labels)
}

func (h *Handlers) signWith(ctx context.Context, typ string, payloads [][]byte, labels []json.RawMessage) ([]string, string, error) {
	if len(payloads) == 0 {
		return nil, "", nil
	}
	ctx, sp := h.kit.Tracer.Start(ctx, "sign")
	sp.Str("ura.sign.typ", typ)
	sp.Int("ura.signatures", len(payloads))
	var (
		jws []string
		err error
	)
	if labels == nil {
		jws, err = h.deps.Signer.SignTyped(ctx, typ, payloads)
	} else {
		jws, err = h.deps.Signer.SignLabelled(ctx, typ, payloads, labels)
	}
	if err == nil && len(jws) != len(payloads) {
		err = fmt.Errorf("%w: %d signatures for %d payloads", sign.ErrUnavailable, len(jws), len(payloads))
	}
	sp.End(err)
	if err != nil {
		return nil, "", problem.Unavailable("signing is unavailable; nothing was sent", err)
	}
	return jws, sign.KeyID(jws[0]), nil
}

// append makes events durable, or answers why not.
func (h *Handlers) append(ctx context.Context, events []audit.Event) error {
	ctx, sp := h.kit.Tracer.Start(ctx, "audit")
	sp.Int("ura.audit.events", len(events))
	err := h.deps.Audit.Append(ctx, events...)
	sp.End(err)
	if err != nil {
		return problem.Unavailable("the audit log is unavailable; nothing was sent", err)
	}
	return nil
}

// query is the store's scan under a span that counts the records scanned
// (fn's own stages, run inside the scan, are its siblings).
func (h *Handlers) query(ctx context.Context, q store.Query, fn func(*records.Record, string) error) error {
	if h.kit.Tracer == nil {
		return h.deps.Store.Query(ctx, q, fn)
	}
	qctx, sp := h.kit.Tracer.Start(ctx, "store.query")
	n := 0
	err := h.deps.Store.Query(qctx, q, func(rec *records.Record, cursor string) error {
		n++
		return fn(rec, cursor)
	})
	sp.Int("ura.records.scanned", n)
	sp.End(err)
	return err
}

// get reads one record under a span that says nothing of whether it was
// found: a missing record and a withheld one leave the same trace.
func (h *Handlers) get(ctx context.Context, id string) (*records.Record, error) {
	gctx, sp := h.kit.Tracer.Start(ctx, "store.get")
	rec, err := h.deps.Store.Get(gctx, id)
	if errors.Is(err, store.ErrNotFound) {
		sp.End(nil)
	} else {
		sp.End(err)
	}
	return rec, err
}

// appendLine appends d as one NDJSON line: the JSON object encoding/json
// writes for it, with its newline, written directly. Only the id can need
// escaping; a version is a number and the rest base64url or compact JWS.
func (d *Delivery) appendLine(b []byte) []byte {
	b = append(b, `{"id":`...)
	b, _ = jsonstr.Append(b, d.ID, false)
	b = append(b, `,"version":`...)
	b = strconv.AppendInt(b, int64(d.Version), 10)
	if d.JWS != "" {
		b = appendPlain(append(b, `,"jws":`...), d.JWS)
	}
	switch {
	case d.payload != nil:
		b = base64.RawURLEncoding.AppendEncode(append(b, `,"delivery":"`...), d.payload)
		b = append(b, '"')
	case d.Payload != "":
		// base64url, encoded here: nothing to escape or to check.
		b = append(append(b, `,"delivery":"`...), d.Payload...)
		b = append(b, '"')
	}
	if p := d.Proof; p != nil {
		b = appendPlain(appendProofHead(append(b, `,"proof":`...), p), p.Root)
		b = append(b, '}')
	}
	return append(b, "}\n"...)
}

// appendPlain appends s, a base64url or compact JWS string, quoted: none of
// its characters needs escaping. Anything else is escaped as any string.
func appendPlain(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !base64url(c) && c != '.' {
			b, _ = jsonstr.Append(b, s, false)
			return b
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

// base64url reports whether c is in the base64url alphabet.
func base64url(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_'
}

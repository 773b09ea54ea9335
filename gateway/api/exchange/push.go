package exchange

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/upstream"
	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/ratelimit"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/registers"
	"github.com/ura-gateway/ura/gateway/release"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/tracing"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// Push result statuses.
const (
	StatusAccepted  = "accepted"
	StatusUnchanged = "unchanged"
	StatusDenied    = "denied"
	StatusInvalid   = "invalid"
	StatusConflict  = "conflict"
)

// Result is the answer for one pushed record, signed so that a pusher can
// keep it as proof of what the gateway decided: under the proof profile
// jws each result is its own JWS; under chunk it carries its signed payload
// (Payload) and the path from it to the answer's signed root (Proof), as a
// pull's line carries its delivery (gateway/ARCHITECTURE.md, Signing). The
// other fields, outside the signature, are routing hints.
type Result struct {
	Index      int                  `json:"index"`
	ID         string               `json:"id,omitempty"`
	Version    int                  `json:"version,omitempty"`
	Status     string               `json:"status"`
	Reasons    []verdict.Reason     `json:"reasons,omitempty"`
	Errors     []problem.FieldError `json:"errors,omitempty"`
	DecisionID string               `json:"decision_id,omitempty"`
	// Digest binds the result to content: "sha256:" and the hex SHA-256 of
	// the record's canonical bytes as this gateway decoded them
	// (records.Digest), the bytes it stores. Absent for an invalid record.
	Digest string `json:"digest,omitempty"`
	// AuditSeq is the seq of the record's decision event in this gateway's
	// audit log (durable before the result is sent); absent when the log
	// does not report seqs (audit.Sequencer).
	AuditSeq int64  `json:"audit_seq,omitempty"`
	JWS      string `json:"jws,omitempty"`
	// Payload is, under the chunk profile, the result's signed payload,
	// the leaf of its chunk, base64url without padding: named "result"
	// as a pull line's is "delivery", after the kind of its leaves.
	Payload string      `json:"result,omitempty"`
	Proof   *sign.Proof `json:"proof,omitempty"`
}

// signedResult is the JWS payload of one result: the result bound to who
// it was for, who said it and when.
type signedResult struct {
	Result
	// These shadow Result's proof fields: never inside their own signature.
	JWS       string      `json:"jws,omitempty"`
	Payload   string      `json:"result,omitempty"`
	Proof     *sign.Proof `json:"proof,omitempty"`
	Recipient string      `json:"recipient"`
	Issuer    string      `json:"iss"`
	IssuedAt  int64       `json:"iat"`
}

// pushItem carries one record through the push chain.
type pushItem struct {
	res  Result
	rec  *records.Record
	d    policy.Decision
	prev *records.Record
	// kid is the peer gateway's key that signed a relayed record, once
	// verified (federation.Relay.Check).
	kid string
	// overtaken: the policy allowed the record, and the store then refused
	// it (an export its licence no longer allows when stored).
	overtaken bool
	// follow are the record's outbox entries, written by the store in the
	// transaction that stores it (an outbox in the store's file).
	follow []store.Follow
	// withheld is, for a declaration citing a licence the pusher may not
	// see, why (licenceView): its decision event's, never its result's.
	withheld *verdict.Reason
}

// pusher is one push going through the chain.
type pusher struct {
	*Handlers
	req  *chain.Request
	peer bool // the caller is a peer gateway relaying signed records
	// proof is how the results are signed: config.ProofChunk or
	// config.ProofJWS, as negotiated (profile.go).
	proof string
}

// Push is POST /v1/records.
func (h *Handlers) Push(c *gin.Context) error {
	if err := h.Ready(c); err != nil {
		return err
	}
	ctx := c.Request.Context()
	req := chain.NewRequest(c, string(policy.Push), "")
	format, err := pushFormat(c.GetHeader("Content-Type"))
	if err != nil {
		return h.kit.Refuse(c, req, problem.From(err))
	}
	peer := h.relay.IsPeer(req.Member.ID)
	// A push answers JSON only; Accept may still name the proof profile. A
	// peer gateway relaying records always gets one JWS per result, whatever
	// it asks: its receipt must stand alone (Outbound).
	proof := config.ProofJWS
	if !peer {
		if proof, err = jsonProfile(c.GetHeader("Accept"), h.cfg.Sign.Proof); err != nil {
			return h.kit.Refuse(c, req, problem.From(err))
		}
	}
	body, err := h.readBody(c)
	if err != nil {
		return h.kit.Refuse(c, req, problem.From(err))
	}
	req.DigestOf(body)
	ps := &pusher{Handlers: h, req: req, peer: peer, proof: proof}
	_, sp := h.kit.Tracer.Start(ctx, "decode")
	decoded, err := records.Decode(body, format, h.relay.DecodeLimits(ps.peer))
	sp.Int(tracing.KeyRecords, len(decoded))
	sp.End(err)
	if err != nil {
		return h.kit.Refuse(c, req, problem.From(err))
	}
	// A push costs one per record; its declared size was paid already.
	if err := h.kit.ChargeMore(c, ratelimit.ClassPush, len(decoded)); err != nil {
		return err
	}
	pctx, sp := h.kit.Tracer.Start(ctx, "policy")
	items, err := ps.decide(pctx, c, decoded)
	statusCounts(sp, items)
	sp.End(err)
	if err != nil {
		return err
	}
	// Audit before effect: every decision is durable before anything is
	// stored or queued, so no record takes effect without its decision in
	// the log. If the log cannot take them, nothing happens.
	actx, sp := h.kit.Tracer.Start(ctx, "audit")
	sp.Int("ura.audit.events", len(items)+1)
	seqs, err := audit.AppendSeqs(actx, h.deps.Audit, ps.decisionEvents(items)...)
	sp.End(err)
	if err != nil {
		return problem.Unavailable("the audit log is unavailable; nothing was stored, retry the batch", err)
	}
	if len(seqs) == len(items)+1 { // the request's event, then one per record
		for i := range items {
			items[i].res.AuditSeq = seqs[i+1]
		}
	}
	results, kid, err := ps.apply(ctx, items)
	if err != nil {
		return ps.failStored(c, items, err)
	}
	if err := h.append(ctx, ps.outcomeEvents(items, http.StatusOK, kid)); err != nil {
		return err
	}
	for _, r := range results {
		h.metrics.pushed.WithLabelValues(r.Status).Inc()
	}
	h.kit.Tracer.Current(ctx).Int(tracing.KeyRecords, len(results))
	c.Header("Content-Type", contentType("application/json; charset=utf-8", ps.proof))
	answer(c, results)
	return nil
}

// apply gives the decided records effect: store, forward, sign the results.
func (ps *pusher) apply(ctx context.Context, items []pushItem) ([]Result, string, error) {
	sctx, sp := ps.kit.Tracer.Start(ctx, "store")
	err := ps.store(sctx, items)
	statusCounts(sp, items)
	sp.End(err)
	if err != nil {
		return nil, "", err
	}
	fctx, sp := ps.kit.Tracer.Start(ctx, "outbox.enqueue")
	err = ps.forward(fctx, items)
	sp.End(err)
	if err != nil {
		return nil, "", err
	}
	return ps.signResults(ctx, items)
}

// decide runs each decoded record through the relay check, validation and
// policy.
func (ps *pusher) decide(ctx context.Context, c *gin.Context, decoded []records.Decoded) ([]pushItem, error) {
	items := make([]pushItem, len(decoded))
	for i, d := range decoded {
		items[i].res.Index = i
		e, err := ps.relay.Check(ctx, ps.req.Member.ID, ps.peer, i, d)
		if err != nil {
			return nil, ps.kit.Refuse(c, ps.req, problem.From(err))
		}
		items[i].kid, items[i].res.Reasons = e.KID, e.Reasons
		ps.check(&items[i], e.Checked)
	}
	return items, ps.ask(ctx, items)
}

// statusCounts sets how many records of a push have each status so far on
// sp: counts only, never which records.
func statusCounts(sp tracing.Span, items []pushItem) {
	if !sp.Recording() {
		return
	}
	n := map[string]int{}
	for i := range items {
		n[items[i].res.Status]++
	}
	sp.Int(tracing.KeyRecords, len(items))
	for _, s := range []string{StatusAccepted, StatusUnchanged, StatusDenied, StatusInvalid, StatusConflict} {
		sp.Int("ura.records."+s, n[s])
	}
}

// check validates one record and refuses one pushed in another's name;
// items that survive are left for ask (rec set, no status yet).
func (ps *pusher) check(it *pushItem, v records.Checked) {
	it.res.ID, it.res.Version = v.ID, v.Version
	if !v.Valid() {
		it.res.Status = StatusInvalid
		it.res.Errors = v.Errors
		for i := range it.res.Errors {
			it.res.Errors[i].Record = &it.res.Index
		}
		return
	}
	rec := v.Record
	it.rec = rec
	it.res.Digest = rec.ContentDigest()
	// No one pushes in another institution's name: the label's originator
	// is what every later policy decision trusts.
	if reason, ok := ps.relay.MayOriginate(ps.req.Member.ID, ps.peer, rec.Label.Originator); !ok {
		it.res.Status = StatusDenied
		it.res.Reasons = []verdict.Reason{reason}
	}
}

// ask asks policy about every checked record, in order; those allowed
// have status accepted pending the store. The registers the batch refers to
// are read from the store once (no copy is kept between pushes: every
// replica reads the same store), and so are the records' stored versions
// (one Store.GetMany, not one read per record); each record allowed is put
// on the batch's overlay, so that a later record of the batch is decided as
// if it were stored (a licence, then an export against it).
func (ps *pusher) ask(ctx context.Context, items []pushItem) error {
	var (
		recs []*records.Record
		ids  []string
	)
	for i := range items {
		if items[i].rec != nil && items[i].res.Status == "" {
			recs = append(recs, items[i].rec)
			ids = append(ids, items[i].rec.ID)
		}
	}
	if len(recs) == 0 {
		return nil
	}
	// Without the stored versions policy cannot judge a downgrade; no
	// record is decided blind, and none of the batch is stored yet. A
	// record never stored has none (nil). The licences the batch's
	// declarations cite are read in the same call (licenceView).
	cited := citedLicences(recs)
	got, err := ps.deps.Store.GetMany(ctx, append(ids, cited...))
	if err != nil {
		return problem.Unavailable("the record store is unavailable; nothing was stored, retry the batch", err)
	}
	prevs, view := got[:len(ids)], recs
	withheld := ps.licenceView(ctx, cited, got[len(ids):])
	if len(withheld) > 0 {
		view = make([]*records.Record, len(recs))
		for i, rec := range recs {
			view[i] = rec
			if lic, ok := registers.DeclaredLicence(rec); ok {
				if _, hidden := withheld[lic]; hidden {
					view[i] = registers.WithoutLicence(rec)
				}
			}
		}
	}
	snap, err := registers.Read(ctx, view, ps.deps.Store.Registers)
	if err != nil {
		return problem.Unavailable("the record store is unavailable; nothing was stored, retry the batch", err)
	}
	overlay := registers.NewOverlay(snap)
	left := len(recs) // records still to ask about
	// One time and one policy batch for the push: records whose questions
	// agree on what the policy reads share a decision (policy.Batch). A
	// record asked about alone has nothing to share with: it is decided
	// as Decide decides, without the batch's key (about 8 % less CPU for
	// a licence, BenchmarkDecide against a batch of one).
	now := time.Now()
	decide := ps.deps.Policy.Decide
	if len(recs) > 1 {
		decide = policy.NewBatch(ps.deps.Policy).Decide
	}
	for i := range items {
		it := &items[i]
		if it.rec == nil || it.res.Status != "" {
			continue
		}
		// This loop meets the records in recs' order, so prevs' and
		// view's too.
		prev := prevs[len(recs)-left]
		regs := overlay.For(view[len(recs)-left])
		left--
		it.prev = prev
		ps.screen(it.rec, regs)
		it.d = decide(ctx, policy.Input{Caller: ps.req.Member, Action: policy.Push, Record: it.rec,
			Previous: prev, Registers: regs, Now: now})
		it.res.DecisionID, it.res.Reasons = it.d.ID, it.d.Reasons
		if lic, ok := registers.DeclaredLicence(it.rec); ok {
			it.withheld = withheld[lic]
		}
		it.res.Status = StatusAccepted
		if !it.d.Allow {
			it.res.Status = StatusDenied
			continue
		}
		// The overlay is for the records after this one: the last (a push
		// of one record) has none to decide on it.
		if left > 0 {
			overlay.Apply(it.rec)
		}
	}
	return nil
}

// citedLicences are the ids of the licences the declarations among recs
// cite, each once, but for those the batch itself carries: its pusher
// knows what it pushes, and the overlay decides on it as before.
func citedLicences(recs []*records.Record) []string {
	var (
		out    []string
		pushed map[string]bool // made at the first declaration: most pushes have none
	)
	for _, rec := range recs {
		lic, ok := registers.DeclaredLicence(rec)
		if !ok {
			continue
		}
		if pushed == nil {
			pushed = make(map[string]bool, len(recs))
			for _, r := range recs {
				pushed[r.ID] = true
			}
		}
		if !pushed[lic] {
			pushed[lic] = true
			out = append(out, lic)
		}
	}
	return out
}

// licenceView decides each cited licence as a pull by the pusher, and
// returns those it may not see, each with the reason its declarations'
// decision events give (never their results). A licence withheld from the
// pusher is, to it, not in the register, as for customs' usage batches: its
// declarations are decided on registers read as if they cited no licence,
// so they get exactly the answer of a declaration against a licence never
// stored (licence_unknown), and nothing of the licence, its conditions or
// its holder reaches a reason (gateway/ARCHITECTURE.md, "Policy contract").
// A licence not stored is decided on a stand-in, so that a hidden licence
// and a missing one cost one decision alike.
func (ps *pusher) licenceView(ctx context.Context, cited []string, stored []*records.Record) map[string]*verdict.Reason {
	if len(cited) == 0 {
		return nil
	}
	withheld := make(map[string]*verdict.Reason, len(cited))
	for i, lic := range cited {
		rec := stored[i]
		if rec == nil {
			rec = standIn(lic)
		}
		x := release.Decide(ctx, ps.deps.Policy, ps.deps.Store, ps.req.Member, rec)
		if stored[i] != nil && stored[i].Kind == records.KindLicence && x.Released() {
			continue
		}
		// As for a get: every licence withheld or missing costs one read
		// of its releases, whether or not the policy asked.
		ps.sameReads(ctx, ps.req.Member.ID, &x, lic, rec.Version)
		withheld[lic] = nil
		if stored[i] == nil {
			continue
		}
		codes := make([]string, 0, len(x.Decision.Reasons))
		for _, r := range x.Decision.Reasons {
			codes = append(codes, r.Code)
		}
		withheld[lic] = &verdict.Reason{Code: ReasonLicenceWithheld,
			Message: fmt.Sprintf("the cited licence %s (version %d, decision %s: %s) is withheld from the pusher; decided as if not stored", lic, rec.Version, x.Decision.ID, strings.Join(codes, ", "))}
	}
	return withheld
}

// store writes every allowed record with its lifecycle check, in one
// transaction when the store can batch. Version conflicts and refused
// transitions are per-record results, and so is an export declaration the
// store refuses because its licence, locked and read where it is stored,
// no longer allows it (another push, through this gateway or another
// replica, got there first): that record is denied with the store's reason,
// the policy's allow overtaken. Any other store error fails the request
// (records stored before it stay stored: the pusher retries and gets
// unchanged for them).
//
// With the outbox in the store's file, each record's outbox entries go with
// it (store.Item.Follow): stored or unchanged, the record and its entries
// are durable in one commit; refused, neither is written.
func (ps *pusher) store(ctx context.Context, items []pushItem) error {
	q := ps.queues()
	var batch []store.Item
	var idx []int
	for i := range items {
		it := &items[i]
		if it.res.Status != StatusAccepted {
			continue
		}
		bi := store.Item{Record: it.rec, Check: store.Check(records.LifecycleCheck(it.rec))}
		if q != nil {
			fs, err := q.Follows(it.decided())
			if err != nil {
				return problem.Unavailable("accepted records could not be queued for forwarding; retry the batch", err)
			}
			it.follow, bi.Follow = fs, fs
		}
		batch = append(batch, bi)
		idx = append(idx, i)
	}
	if len(batch) == 0 {
		return nil
	}
	results := ps.deps.Store.PutBatch(ctx, batch)
	var refused *store.LicenceError
	for j, r := range results {
		it := &items[idx[j]]
		switch {
		case r.Err == nil && r.Outcome == store.Unchanged:
			it.res.Status = StatusUnchanged
		case r.Err == nil:
			it.res.Status = StatusAccepted
		case errors.As(r.Err, &refused):
			it.res.Status = StatusDenied
			it.res.Reasons = []verdict.Reason{{Code: refused.Code, Message: refused.Message}}
			it.overtaken = true
		case errors.Is(r.Err, store.ErrConflict), errors.Is(r.Err, records.ErrTransition), errors.Is(r.Err, records.ErrKindChange):
			it.res.Status = StatusConflict
			it.res.Reasons = []verdict.Reason{conflictReason(it.rec, it.prev, r.Err)}
		default:
			return problem.Unavailable("the record store is unavailable; records before this one may be stored, retry the batch", r.Err)
		}
	}
	return nil
}

// conflictReason explains a conflict in the caller's terms. The store's
// own message is not passed on: it is written for the log.
func conflictReason(rec, prev *records.Record, err error) verdict.Reason {
	var te *records.TransitionError
	switch {
	case errors.As(err, &te):
		return verdict.Reason{Code: "illegal_transition", Message: te.Error()}
	case errors.Is(err, records.ErrKindChange) || (prev != nil && prev.Kind != rec.Kind):
		return verdict.Reason{Code: "kind_change", Message: "this id is already used by a record of another kind"}
	case prev != nil && rec.Version < prev.Version:
		return verdict.Reason{Code: "version_conflict", Message: fmt.Sprintf("version %d is older than the stored version %d", rec.Version, prev.Version)}
	default:
		return verdict.Reason{Code: "version_conflict", Message: fmt.Sprintf("version %d is already stored with other content; push a higher version", rec.Version)}
	}
}

// forward hands accepted and unchanged records to the outbox. Unchanged
// ones go too: when an earlier push stored a record but failed before it was
// queued, its retry answers unchanged, and this is what still gets it to its
// destinations. Destinations deduplicate on id+version.
// With the outbox in the store's file the store wrote their entries
// already: its workers are only told.
func (ps *pusher) forward(ctx context.Context, items []pushItem) error {
	f := ps.deps.Forwarder
	if f == nil {
		return nil
	}
	if q := ps.queues(); q != nil {
		var fs []store.Follow
		for i := range items {
			if s := items[i].res.Status; s == StatusAccepted || s == StatusUnchanged {
				fs = append(fs, items[i].follow...)
			}
		}
		q.Queued(fs)
		return nil
	}
	var decided []upstream.Decided
	for i := range items {
		if s := items[i].res.Status; s == StatusAccepted || s == StatusUnchanged {
			decided = append(decided, items[i].decided())
		}
	}
	if len(decided) == 0 {
		return nil
	}
	// Only queued: each destination's worker decides what it is sent,
	// as a pull by its member, at delivery time.
	if err := f.EnqueueDecided(ctx, decided); err != nil {
		return problem.Unavailable("accepted records could not be queued for forwarding; retry the batch", err)
	}
	return nil
}

// queues is the outbox when its queues are in the store's file, else nil.
func (ps *pusher) queues() upstream.Queues {
	if q, ok := ps.deps.Forwarder.(upstream.Queues); ok && q.InStore() {
		return q
	}
	return nil
}

// decided is what the outbox keeps of an accepted record: its push decision.
func (it *pushItem) decided() upstream.Decided {
	return upstream.Decided{Record: it.rec, DecisionID: it.d.ID, PolicyRevision: it.d.Revision}
}

// signResults signs every result in one signer call: under the jws
// profile one JWS per result; under chunk one root JWS per Chunk results,
// over their signed payloads (sign.LeavesResult), each result carrying its
// payload and proof instead of a JWS.
func (ps *pusher) signResults(ctx context.Context, items []pushItem) ([]Result, string, error) {
	now := time.Now().Unix()
	results := make([]Result, len(items))
	for i := range items {
		results[i] = items[i].res
	}
	payloads := signedPayloads(results, ps.req.Member.ID, ps.cfg.Sign.Issuer, now)
	if ps.proof == config.ProofJWS {
		jws, kid, err := ps.sign(ctx, sign.TypResult, payloads)
		if err != nil {
			return nil, "", err
		}
		for i := range results {
			results[i].JWS = jws[i]
		}
		return results, kid, nil
	}
	proofs, kid, err := ps.signLeaves(ctx, sign.LeavesResult, payloads, ps.req.Member.ID, now)
	if err != nil {
		return nil, "", err
	}
	setPayloads(results, payloads)
	for i := range results {
		results[i].Proof = &proofs[i]
	}
	return results, kid, nil
}

// readBody reads the whole body, never more than limits.max_body_bytes.
func (h *Handlers) readBody(c *gin.Context) ([]byte, error) {
	max := h.cfg.Limits.MaxBodyBytes
	tooLarge := func() error {
		p := problem.New(http.StatusRequestEntityTooLarge, problem.TypeBodyTooLarge,
			fmt.Sprintf("the body is larger than %d bytes; split the batch", max))
		p.Extra = map[string]any{"max_body_bytes": max}
		return p
	}
	if c.Request.ContentLength > max {
		return nil, tooLarge()
	}
	body, err := readAll(http.MaxBytesReader(c.Writer, c.Request.Body, max), c.Request.ContentLength)
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, tooLarge()
	case err != nil:
		return nil, problem.New(http.StatusBadRequest, problem.TypeBadRequest, "the body could not be read").Wrap(err)
	}
	return body, nil
}

// readAll is io.ReadAll with the buffer sized from the declared length
// (already bounded by limits.max_body_bytes): a batch of a few hundred KiB
// read from 512 bytes up is copied a dozen times over. A declared length
// that is wrong only costs the growth it would have cost anyway.
func readAll(r io.Reader, declared int64) ([]byte, error) {
	if declared <= 0 {
		return io.ReadAll(r)
	}
	// One byte more than declared, so that reading the end needs no growth.
	b := make([]byte, 0, declared+1)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
	}
}

// pushFormat maps the Content-Type to a body format; anything else is 415.
func pushFormat(contentType string) (records.Format, error) {
	mt, params, err := mime.ParseMediaType(contentType)
	if err == nil {
		if cs, ok := params["charset"]; ok && cs != "utf-8" && cs != "UTF-8" {
			err = errors.New("charset " + cs)
		}
	}
	if err == nil {
		switch mt {
		case "application/json":
			return records.FormatJSON, nil
		case "application/x-ndjson":
			return records.FormatNDJSON, nil
		}
	}
	p := problem.New(http.StatusUnsupportedMediaType, problem.TypeUnsupportedMedia,
		"push a JSON array of records as application/json, or one record per line as application/x-ndjson (UTF-8)")
	p.Extra = map[string]any{"accept": []string{"application/json", "application/x-ndjson"}}
	return 0, p
}

package upstream

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"
	bbolt "go.etcd.io/bbolt"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/release"
	"github.com/ura-gateway/ura/gateway/tracing"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// deliverBatch is how many ready entries a worker takes at once. A batch
// is read in one transaction, decided with one release.DecideChunk (one
// now for the batch), signed for a peer with one signer call, audited with
// one Append (one durable commit), sent in order, and settled (removed,
// parked, its failed entry updated) in one transaction: each of those
// cost one call, and most one fsync, per record. A crash between a send
// and the settling commit sends those entries again, which their
// idempotency keys make harmless.
const deliverBatch = 64

// decisionMaxAge bounds how long after its decision an entry is sent. A
// batch whose sends take longer (a slow destination) stops there; its
// remaining entries stay queued and are decided again in the next batch,
// so what is sent is never a stale decision.
const decisionMaxAge = 2 * time.Second

// gatherDelay is how long a worker woken to an empty queue lets entries
// gather before it takes them, when its last batch ended less than
// gatherWindow ago: records that arrive one at a time, as a lone client's
// pushes do, then go a batch at a time, and share its queue read, store
// read, audit commit and settling commit instead of paying one of each
// per record. A record queued after a quiet gatherWindow goes at once.
// The sends stay one request per record, in order.
const (
	gatherDelay  = 50 * time.Millisecond
	gatherWindow = time.Second
)

// run is one destination's worker: it delivers the oldest entries, a batch
// at a time, each entry sent only once those before it are settled, so a
// destination sees records in the order they were accepted.
func (o *Outbox) run(d *destination) {
	defer o.wg.Done()
	log := o.log.With("destination", d.name)
	var last time.Time // when the last batch was settled
	for {
		batch, err := o.oldest(d, o.batch)
		if err != nil {
			log.Error("outbox read failed", "err", err)
			if !o.sleep(time.Second) {
				return
			}
			continue
		}
		if len(batch) == 0 {
			select {
			case <-d.wake:
				if time.Since(last) < gatherWindow && !o.sleep(gatherDelay) {
					return
				}
				continue
			case <-o.ctx.Done():
				return
			}
		}
		// An entry whose last attempt failed goes alone until it is
		// settled: a destination that is down is tried with one record
		// per backoff, as it always was, and the entries behind it are
		// not decided and audited again at every retry for nothing.
		if batch[0].entry.Attempts > 0 {
			batch = batch[:1]
		}
		if !o.deliverBatch(d, batch) {
			return
		}
		last = time.Now()
	}
}

// step is one entry of a batch on its way to the destination.
type step struct {
	queued
	// x is the entry's delivery-time decision, audited; body and
	// contentType what is sent of it (for a peer the signed line, signed
	// with kid).
	x           *release.Outcome
	body        []byte
	contentType string
	kid         string
	// settled, when set, is the entry's outcome, known before any send:
	// superseded, not stored, or a retry (store, signing, audit).
	settled *attempt
}

// settlement is what a batch changes in the queue, committed at once.
type settlement struct {
	done   []removal
	parked []queued
	// retried is the entry whose attempt failed and will be retried.
	retried *queued
}

// deliverBatch decides, audits and sends batch, in order, until an entry
// is to be retried, then settles them all in one commit and, after a
// retry, waits out the backoff. A withheld, superseded or parked entry
// does not stop the batch. It reports false when the outbox is closing.
func (o *Outbox) deliverBatch(d *destination, batch []queued) bool {
	log := o.log.With("destination", d.name)
	start := time.Now()
	steps := o.prepare(d, batch)
	share := time.Since(start) / time.Duration(len(steps))
	var s settlement
	var wait time.Duration
	stop := len(steps) // the entry the batch stopped at, when one did
	for i := range steps {
		st := &steps[i]
		if st.settled == nil && i > 0 && time.Since(start) > decisionMaxAge {
			log.Debug("batch decided too long ago: the rest is decided again", "entries", len(steps)-i)
			break
		}
		e := st.entry
		sent := time.Now()
		// The span names the destination and the record's kind, never
		// its id: the record may be one the policy withholds.
		ctx, sp := o.tracer.StartRoot(o.ctx, "outbox.attempt")
		sp.Str("ura.destination", d.name)
		sp.Str(tracing.KeyMember, d.who.ID)
		sp.Str("ura.record.kind", e.Kind)
		sp.Int("ura.attempt", e.Attempts+1)
		a := o.attempt(ctx, d, st)
		sp.Outcome(a.verdict.String())
		if a.verdict == retry {
			sp.Str("ura.failure", a.failure)
			sp.Fail()
		}
		sp.End(nil)
		if o.ctx.Err() != nil {
			// Closing: the attempt was cut short, not refused. The entry
			// stays and is decided and sent again after the next Open;
			// those before it are settled.
			o.settle(d, &s)
			return false
		}
		o.m.seconds.WithLabelValues(d.name).Observe((share + time.Since(sent)).Seconds())
		switch a.verdict {
		case delivered:
			s.done = append(s.done, removal{key: st.key, e: e, verdict: delivered})
			log.Debug("record delivered", "record_id", e.ID, "version", e.Version, "status", a.status, "attempts", e.Attempts+1,
				"decision", e.Forward.Decision, "decision_id", e.Forward.DecisionID)
			continue
		case withheld:
			s.done = append(s.done, removal{key: st.key, e: e, verdict: withheld})
			log.Debug("record withheld from the destination by policy: audited, not sent", "record_id", e.ID, "version", e.Version,
				"member", d.who.ID, "decision_id", e.Forward.DecisionID, "reasons", a.reason)
			continue
		case superseded:
			s.done = append(s.done, removal{key: st.key, e: e, verdict: superseded})
			log.Debug("queued version superseded: not sent", "record_id", e.ID, "version", e.Version, "reason", a.reason)
			continue
		case park:
			e.Attempts++
			parkAs(e, a.status, a.reason)
			s.parked = append(s.parked, st.queued)
			continue
		}
		// retry: nothing after this entry is sent before it is delivered.
		e.Attempts++
		e.LastError = a.reason
		o.m.failed.WithLabelValues(d.name, a.failure).Inc()
		stop = i
		if d.maxAttempts > 0 && e.Attempts >= d.maxAttempts {
			parkAs(e, a.status, "gave up after max_attempts: "+a.reason)
			s.parked = append(s.parked, st.queued)
			break
		}
		s.retried = &st.queued
		wait = backoff(d.backoffInitial, d.backoffMax, e.Attempts)
		if a.retryAfter > wait {
			wait = min(a.retryAfter, d.backoffMax)
		}
		log.Warn("delivery failed, will retry", "record_id", e.ID, "version", e.Version,
			"attempts", e.Attempts, "failure", a.failure, "reason", a.reason, "retry_in", wait.Round(time.Millisecond).String())
		break
	}
	// The withheld decisions behind the entry the batch stopped at are
	// audited already and send nothing, so order does not hold them: they
	// leave the queue now, rather than be decided and audited again.
	for j := stop + 1; j < len(steps); j++ {
		if st := &steps[j]; st.settled == nil && st.x != nil && !st.x.Released() {
			s.done = append(s.done, removal{key: st.key, e: st.entry, verdict: withheld})
			log.Debug("record withheld from the destination by policy: audited, not sent", "record_id", st.entry.ID,
				"version", st.entry.Version, "member", d.who.ID, "decision_id", st.entry.Forward.DecisionID)
		}
	}
	o.settle(d, &s)
	if s.retried != nil {
		return o.sleep(wait)
	}
	return true
}

// parkAs marks e parked with the destination's status and why.
func parkAs(e *entry, status int, reason string) {
	now := time.Now().UTC()
	e.Parked, e.Status, e.LastError = &now, status, reason
}

// prepare does, for the whole batch and in the order of a pull
// (gateway/ARCHITECTURE.md, "Outbound"), what comes before the sends: the
// records' current versions from the store, in one read (an older queued
// version is superseded, not sent) → the policy's decisions as pulls by the
// destination's member, and their redactions (one release.DecideChunk) →
// for a peer, the signed deliveries (one signer call) → the decisions'
// audit events, durable (one Append). A step that fails (the store, the
// signer, the audit log) ends the batch there, as a retry of its entry:
// the entries after it are neither sent nor audited. The store's read
// answers every entry or none, so its failure is the first entry's retry.
func (o *Outbox) prepare(d *destination, batch []queued) []step {
	ctx, sp := o.tracer.StartRoot(o.ctx, "outbox.batch")
	sp.Str("ura.destination", d.name)
	sp.Str(tracing.KeyMember, d.who.ID)
	sp.Int("ura.records", len(batch))
	defer sp.End(nil)
	steps := make([]step, len(batch))
	ids := make([]string, len(batch))
	for i, q := range batch {
		steps[i].queued = q
		ids[i] = q.entry.ID
	}
	stored, err := o.store.GetMany(ctx, ids)
	if err != nil {
		steps[0].settled = &attempt{verdict: retry, reason: "reading the stored record: " + err.Error(), failure: "store"}
		return steps[:1]
	}
	var (
		decided []int
		recs    []*records.Record
	)
	for i := range steps {
		st := &steps[i]
		e, rec := st.entry, stored[i]
		switch {
		case rec == nil:
			st.settled = &attempt{verdict: park, reason: "the record is not in the store"}
		case rec.Version > e.Version:
			st.settled = &attempt{verdict: superseded, reason: fmt.Sprintf("version %d is stored; its own entry is decided and sent", rec.Version)}
		case rec.Version < e.Version:
			st.settled = &attempt{verdict: park, reason: fmt.Sprintf("the store holds version %d, older than the queued %d", rec.Version, e.Version)}
		default:
			decided, recs = append(decided, i), append(recs, rec)
		}
	}
	if len(decided) == 0 {
		return steps
	}
	xs := release.DecideChunk(ctx, o.policy, o.store, d.who, recs)
	for j, i := range decided {
		x := &xs[j]
		steps[i].x = x
		if x.Err != nil {
			o.log.Error("redaction failed; record withheld", "destination", d.name, "record_id", x.Record.ID,
				"decision_id", x.Decision.ID, "error", x.Err)
		}
		steps[i].body, steps[i].contentType = x.Body, "application/json"
	}
	if d.kind == "peer" {
		if cut := o.sign(ctx, d, steps, decided); cut >= 0 {
			steps = steps[:cut+1]
			decided = slices.DeleteFunc(decided, func(i int) bool { return i >= cut })
		}
	}
	if len(decided) == 0 {
		return steps
	}
	if err := o.auditForward(ctx, d, steps, decided); err != nil {
		first := decided[0]
		steps[first].settled = &attempt{verdict: retry, reason: "the forward decision could not be audited: " + err.Error(), failure: "audit"}
		return steps[:first+1]
	}
	return steps
}

// sign signs, with one signer call, the deliveries of the decided steps
// that are released to a peer. Signing happens at delivery, not at
// enqueue, so a Vault outage delays delivery instead of losing or
// refusing records. It returns -1, or, when the signer fails, the index of
// the first step it had to sign, now a retry.
func (o *Outbox) sign(ctx context.Context, d *destination, steps []step, decided []int) int {
	var (
		signed []int
		xs     []*release.Outcome
	)
	for _, i := range decided {
		if steps[i].x.Released() {
			signed, xs = append(signed, i), append(xs, steps[i].x)
		}
	}
	if len(signed) == 0 {
		return -1
	}
	lines, kids, err := d.signedLines(ctx, xs)
	if err != nil {
		first := signed[0]
		steps[first].settled = &attempt{verdict: retry, reason: err.Error(), failure: "signing"}
		return first
	}
	for j, i := range signed {
		steps[i].body, steps[i].contentType, steps[i].kid = lines[j], "application/x-ndjson", kids[j]
	}
	return -1
}

// attempt settles one step of a batch: what prepare found, a withheld
// record (never sent), or the send of what the decision releases and, for
// a peer, the signed receipt, verified and matched.
func (o *Outbox) attempt(ctx context.Context, d *destination, st *step) attempt {
	if st.settled != nil {
		return *st.settled
	}
	e, x := st.entry, st.x
	if !x.Released() {
		return attempt{verdict: withheld, reason: reasonCodes(x.Decision.Reasons)}
	}
	a := d.send(ctx, e, st.body, st.contentType)
	if d.kind != "peer" || a.verdict != delivered {
		return a
	}
	r, rerr := o.checkReceipt(ctx, d, e, e.Forward.Digest, a.body)
	if rerr != nil {
		o.m.receipts.WithLabelValues(d.name, rerr.reason).Inc()
		return attempt{status: a.status, verdict: retry, reason: rerr.Error(), failure: "receipt"}
	}
	o.m.receipts.WithLabelValues(d.name, receiptValid).Inc()
	e.Receipt = r
	if !r.taken() {
		return attempt{status: a.status, verdict: park, reason: r.refusal()}
	}
	return a
}

// ActionForward is the audit action of a delivery-time decision.
const ActionForward = "forward"

// auditForward makes the decisions of the decided steps durable in the
// audit log, one event each and one Append for all, before anything of
// them is sent: member is the destination's, route "outbox:<destination>",
// and kid the key that signed a peer's delivery. Each entry's Forward is
// set from its event.
func (o *Outbox) auditForward(ctx context.Context, d *destination, steps []step, decided []int) error {
	now := time.Now().UTC()
	evs := make([]audit.Event, len(decided))
	for j, i := range decided {
		evs[j] = audit.Event{Time: now, RequestID: uuid.NewString(), Member: d.who.ID, Action: ActionForward,
			Route: "outbox:" + d.name, SigningKID: steps[i].kid}
		steps[i].x.Annotate(&evs[j])
	}
	seqs, err := audit.AppendSeqs(ctx, o.audit, evs...)
	if err != nil {
		return err
	}
	for j, i := range decided {
		x := steps[i].x
		fw := &Forwarded{DecisionID: x.Decision.ID, PolicyRevision: x.Decision.Revision, Decision: x.Verdict,
			Redactions: evs[j].Redactions, At: now}
		if len(seqs) == len(evs) {
			fw.AuditSeq = seqs[j]
		}
		if x.Released() {
			fw.Digest = records.Digest(x.Body)
		}
		steps[i].entry.Forward = fw
	}
	return nil
}

// reasonCodes lists the policy's reason codes, for the log and the status.
func reasonCodes(rs []verdict.Reason) string {
	codes := make([]string, len(rs))
	for i, r := range rs {
		codes[i] = r.Code
	}
	return strings.Join(codes, ", ")
}

// removal is one entry that leaves the queue: delivered (a peer's is kept
// with its receipt), withheld or superseded.
type removal struct {
	key     []byte
	e       *entry
	verdict fate
}

// settle commits what a batch changed, in one transaction: the entries
// that left the queue are removed (a peer's delivered ones kept with their
// receipts, the newest KeptReceipts), the parked ones moved to dead
// letters, and the one to retry updated with its status. If the commit
// fails they stay as they were, and are decided and sent again: the
// destination has them already, and their idempotency keys say so.
func (o *Outbox) settle(d *destination, s *settlement) {
	if len(s.done) == 0 && len(s.parked) == 0 && s.retried == nil {
		return
	}
	now := time.Now().UTC()
	err := o.db.Update(func(tx *bbolt.Tx) error {
		q, sent, dead := tx.Bucket(queueBucket(d.name)), tx.Bucket(sentBucket(d.name)), tx.Bucket(deadBucket(d.name))
		for _, r := range s.done {
			if err := q.Delete(r.key); err != nil {
				return err
			}
			if r.verdict != delivered || r.e.Receipt == nil {
				continue
			}
			r.e.Sent, r.e.LastError = &now, ""
			if err := appendJSON(sent, r.e); err != nil {
				return err
			}
		}
		for _, p := range s.parked {
			if err := appendJSON(dead, p.entry); err != nil {
				return err
			}
			if err := q.Delete(p.key); err != nil {
				return err
			}
		}
		if r := s.retried; r != nil {
			v, err := json.Marshal(r.entry)
			if err != nil {
				return err
			}
			if err := q.Put(r.key, v); err != nil {
				return err
			}
		}
		// Keys are the bucket's sequence, never reused: everything at or
		// below last-KeptReceipts is older than the newest KeptReceipts.
		last := sent.Sequence()
		if last <= KeptReceipts {
			return nil
		}
		c := sent.Cursor()
		for k, _ := c.First(); k != nil && binary.BigEndian.Uint64(k) <= last-KeptReceipts; k, _ = c.First() {
			if err := c.Delete(); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		o.log.Error("outbox settle failed", "destination", d.name, "err", err,
			"entries", len(s.done)+len(s.parked))
		return
	}
	for _, r := range s.done {
		switch r.verdict {
		case delivered:
			o.m.delivered.WithLabelValues(d.name).Inc()
		case withheld:
			o.m.withheld.WithLabelValues(d.name).Inc()
		case superseded:
			o.m.superseded.WithLabelValues(d.name).Inc()
		}
	}
	for _, p := range s.parked {
		e := p.entry
		o.m.parked.WithLabelValues(d.name).Inc()
		o.log.Error("record parked: the destination refused it; it stays in the outbox's dead letters",
			"destination", d.name, "record_id", e.ID, "version", e.Version, "status", e.Status,
			"reason", e.LastError, "attempts", e.Attempts)
	}
	o.m.pending.WithLabelValues(d.name).Sub(float64(len(s.done) + len(s.parked)))
}

// appendJSON puts e under the bucket's next sequence.
func appendJSON(b *bbolt.Bucket, e *entry) error {
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	seq, err := b.NextSequence()
	if err != nil {
		return err
	}
	return b.Put(seqKey(seq), v)
}

// backoff is exponential with equal jitter: between half and all of
// initial·2^(attempts-1), capped at max, so destinations that failed together
// are not retried in lockstep.
func backoff(initial, maxWait time.Duration, attempts int) time.Duration {
	d := initial
	for i := 1; i < attempts && d < maxWait; i++ {
		d *= 2
	}
	d = min(d, maxWait)
	half := d / 2
	return half + time.Duration(rand.Int64N(int64(d-half)+1))
}

func (o *Outbox) sleep(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-o.ctx.Done():
		return false
	}
}

// queued is one outbox entry and its key.
type queued struct {
	key   []byte
	entry *entry
}

// oldest reads up to n entries from the head of the destination's queue.
func (o *Outbox) oldest(d *destination, n int) ([]queued, error) {
	var out []queued
	err := o.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(queueBucket(d.name))
		if b == nil {
			return errors.New("queue bucket missing")
		}
		c := b.Cursor()
		for k, v := c.First(); k != nil && len(out) < n; k, v = c.Next() {
			e := new(entry)
			if err := json.Unmarshal(v, e); err != nil {
				return err
			}
			out = append(out, queued{key: append([]byte(nil), k...), entry: e})
		}
		return nil
	})
	return out, err
}

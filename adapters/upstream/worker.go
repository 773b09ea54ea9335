package upstream

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/google/uuid"
	bbolt "go.etcd.io/bbolt"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/release"
	"github.com/ura-gateway/ura/gateway/tracing"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// deliverWindow is how many entries a worker reads at once. Delivered
// entries are removed together, in one commit, after the window (or before
// an entry that was not delivered): removing each alone cost one fsync per
// record. A crash between delivery and removal sends those entries again,
// which their idempotency keys make harmless.
const deliverWindow = 64

// run is one destination's worker: it delivers the oldest entries one by one
// until the destination has each, so a destination sees records in the order
// they were accepted.
func (o *Outbox) run(d *destination) {
	defer o.wg.Done()
	log := o.log.With("destination", d.name)
	for {
		window, err := o.oldest(d, deliverWindow)
		if err != nil {
			log.Error("outbox read failed", "err", err)
			if !o.sleep(time.Second) {
				return
			}
			continue
		}
		if len(window) == 0 {
			select {
			case <-d.wake:
				continue
			case <-o.ctx.Done():
				return
			}
		}
		if !o.deliverWindow(d, window) {
			return
		}
	}
}

// deliverWindow delivers entries in order until one is not delivered, then
// removes the delivered ones. It reports false when the outbox is closing.
func (o *Outbox) deliverWindow(d *destination, window []queued) bool {
	log := o.log.With("destination", d.name)
	var done []removal
	defer func() { o.remove(d, done) }()
	for _, q := range window {
		e := q.entry
		start := time.Now()
		// The span names the destination and the record's kind, never
		// its id: the record may be one the policy withholds.
		ctx, sp := o.tracer.StartRoot(o.ctx, "outbox.attempt")
		sp.Str("ura.destination", d.name)
		sp.Str(tracing.KeyMember, d.who.ID)
		sp.Str("ura.record.kind", e.Kind)
		sp.Int("ura.attempt", e.Attempts+1)
		a := o.attempt(ctx, d, e)
		sp.Outcome(a.verdict.String())
		if a.verdict == retry {
			sp.Str("ura.failure", a.failure)
			sp.Fail()
		}
		sp.End(nil)
		if o.ctx.Err() != nil {
			// Closing: the attempt was cut short, not refused. The entry
			// stays and is decided and sent again after the next Open.
			return false
		}
		o.m.seconds.WithLabelValues(d.name).Observe(time.Since(start).Seconds())
		switch a.verdict {
		case delivered, withheld, superseded:
			done = append(done, removal{key: q.key, e: e, verdict: a.verdict})
			switch a.verdict {
			case delivered:
				log.Debug("record delivered", "record_id", e.ID, "version", e.Version, "status", a.status, "attempts", e.Attempts+1,
					"decision", e.Forward.Decision, "decision_id", e.Forward.DecisionID)
			case withheld:
				log.Debug("record withheld from the destination by policy: audited, not sent", "record_id", e.ID, "version", e.Version,
					"member", d.who.ID, "decision_id", e.Forward.DecisionID, "reasons", a.reason)
			default:
				log.Debug("queued version superseded: not sent", "record_id", e.ID, "version", e.Version, "reason", a.reason)
			}
			continue
		case park:
			o.remove(d, done)
			done = nil
			e.Attempts++
			o.parkEntry(d, q.key, e, a.status, a.reason)
			// The next entry may be delivered at once: read a new window.
			return true
		case retry:
			o.remove(d, done)
			done = nil
			e.Attempts++
			e.LastError = a.reason
			o.m.failed.WithLabelValues(d.name, a.failure).Inc()
			if d.maxAttempts > 0 && e.Attempts >= d.maxAttempts {
				o.parkEntry(d, q.key, e, a.status, "gave up after max_attempts: "+a.reason)
				return true
			}
			if err := o.update(d, q.key, e); err != nil {
				log.Error("outbox update failed", "err", err, "record_id", e.ID)
			}
			wait := backoff(d.backoffInitial, d.backoffMax, e.Attempts)
			if a.retryAfter > wait {
				wait = min(a.retryAfter, d.backoffMax)
			}
			log.Warn("delivery failed, will retry", "record_id", e.ID, "version", e.Version,
				"attempts", e.Attempts, "failure", a.failure, "reason", a.reason, "retry_in", wait.Round(time.Millisecond).String())
			return o.sleep(wait)
		}
	}
	return true
}

// attempt makes one delivery attempt of e, in the order of a pull
// (gateway/ARCHITECTURE.md, "Outbound"): the record's current version from
// the store (an older queued version is superseded, not sent) → the
// policy's decision as a pull by the destination's member, and its
// redaction → for a peer, the signed delivery → the decision's audit event,
// durable → the send of what the decision releases (nothing, when it
// withholds) → for a peer, the signed receipt, verified and matched.
func (o *Outbox) attempt(ctx context.Context, d *destination, e *entry) attempt {
	rec, err := o.store.Get(ctx, e.ID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return attempt{verdict: park, reason: "the record is not in the store"}
	case err != nil:
		return attempt{verdict: retry, reason: "reading the stored record: " + err.Error(), failure: "store"}
	case rec.Version > e.Version:
		return attempt{verdict: superseded, reason: fmt.Sprintf("version %d is stored; its own entry is decided and sent", rec.Version)}
	case rec.Version < e.Version:
		return attempt{verdict: park, reason: fmt.Sprintf("the store holds version %d, older than the queued %d", rec.Version, e.Version)}
	}
	x := release.Decide(ctx, o.policy, o.store, d.who, rec)
	if x.Err != nil {
		o.log.Error("redaction failed; record withheld", "destination", d.name, "record_id", rec.ID,
			"decision_id", x.Decision.ID, "error", x.Err)
	}
	body, contentType, kid := x.Body, "application/json", ""
	if x.Released() && d.kind == "peer" {
		// Signing happens here, not at enqueue, so a Vault outage delays
		// delivery instead of losing or refusing records.
		line, k, err := d.signedLine(ctx, &x)
		if err != nil {
			return attempt{verdict: retry, reason: err.Error(), failure: "signing"}
		}
		body, contentType, kid = line, "application/x-ndjson", k
	}
	fw, err := o.auditForward(ctx, d, &x, kid)
	if err != nil {
		return attempt{verdict: retry, reason: "the forward decision could not be audited: " + err.Error(), failure: "audit"}
	}
	e.Forward = fw
	if !x.Released() {
		return attempt{verdict: withheld, reason: reasonCodes(x.Decision.Reasons)}
	}
	a := d.send(ctx, e, body, contentType)
	if d.kind != "peer" || a.verdict != delivered {
		return a
	}
	r, rerr := o.checkReceipt(ctx, d, e, fw.Digest, a.body)
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

// auditForward makes the decision x durable in the audit log before
// anything of it is sent: member is the destination's, route
// "outbox:<destination>", and kid the key that signed a peer's delivery.
func (o *Outbox) auditForward(ctx context.Context, d *destination, x *release.Outcome, kid string) (*Forwarded, error) {
	now := time.Now().UTC()
	ev := audit.Event{Time: now, RequestID: uuid.NewString(), Member: d.who.ID, Action: ActionForward,
		Route: "outbox:" + d.name, SigningKID: kid}
	x.Annotate(&ev)
	seqs, err := audit.AppendSeqs(ctx, o.audit, ev)
	if err != nil {
		return nil, err
	}
	fw := &Forwarded{DecisionID: x.Decision.ID, PolicyRevision: x.Decision.Revision, Decision: x.Verdict,
		Redactions: ev.Redactions, At: now}
	if len(seqs) == 1 {
		fw.AuditSeq = seqs[0]
	}
	if x.Released() {
		fw.Digest = records.Digest(x.Body)
	}
	return fw, nil
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

// remove takes entries off the queue in one commit, keeping a peer's
// delivered ones with their receipts (the newest KeptReceipts). If it
// fails they stay, and are decided and sent again: the destination has
// them already, and their idempotency keys say so.
func (o *Outbox) remove(d *destination, done []removal) {
	if len(done) == 0 {
		return
	}
	now := time.Now().UTC()
	err := o.db.Update(func(tx *bbolt.Tx) error {
		q, sent := tx.Bucket(queueBucket(d.name)), tx.Bucket(sentBucket(d.name))
		for _, r := range done {
			if err := q.Delete(r.key); err != nil {
				return err
			}
			if r.verdict != delivered || r.e.Receipt == nil {
				continue
			}
			r.e.Sent, r.e.LastError = &now, ""
			v, err := json.Marshal(r.e)
			if err != nil {
				return err
			}
			seq, err := sent.NextSequence()
			if err != nil {
				return err
			}
			if err := sent.Put(seqKey(seq), v); err != nil {
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
		o.log.Error("outbox remove failed", "destination", d.name, "err", err, "entries", len(done))
		return
	}
	for _, r := range done {
		switch r.verdict {
		case delivered:
			o.m.delivered.WithLabelValues(d.name).Inc()
		case withheld:
			o.m.withheld.WithLabelValues(d.name).Inc()
		case superseded:
			o.m.superseded.WithLabelValues(d.name).Inc()
		}
	}
	o.m.pending.WithLabelValues(d.name).Sub(float64(len(done)))
}

func (o *Outbox) parkEntry(d *destination, key []byte, e *entry, status int, reason string) {
	now := time.Now().UTC()
	e.Parked, e.Status, e.LastError = &now, status, reason
	if err := o.park(d, key, e); err != nil {
		o.log.Error("outbox park failed", "destination", d.name, "err", err, "record_id", e.ID)
		return
	}
	o.m.parked.WithLabelValues(d.name).Inc()
	o.m.pending.WithLabelValues(d.name).Dec()
	o.log.Error("record parked: the destination refused it; it stays in the outbox's dead letters",
		"destination", d.name, "record_id", e.ID, "version", e.Version, "status", status,
		"reason", reason, "attempts", e.Attempts)
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

func (o *Outbox) update(d *destination, key []byte, e *entry) error {
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return o.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(queueBucket(d.name)).Put(key, v) })
}

func (o *Outbox) park(d *destination, key []byte, e *entry) error {
	v, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return o.db.Update(func(tx *bbolt.Tx) error {
		dead := tx.Bucket(deadBucket(d.name))
		seq, err := dead.NextSequence()
		if err != nil {
			return err
		}
		if err := dead.Put(seqKey(seq), v); err != nil {
			return err
		}
		return tx.Bucket(queueBucket(d.name)).Delete(key)
	})
}

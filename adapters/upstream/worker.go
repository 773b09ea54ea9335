package upstream

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"time"

	bbolt "go.etcd.io/bbolt"
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
	var done [][]byte
	defer func() { o.removeDelivered(d, done) }()
	for _, q := range window {
		e := q.entry
		start := time.Now()
		a := d.deliver(o.ctx, e)
		if o.ctx.Err() != nil {
			// Closing: the attempt was cut short, not refused. The entry
			// stays and is sent again after the next Open.
			return false
		}
		o.m.seconds.WithLabelValues(d.name).Observe(time.Since(start).Seconds())
		switch a.verdict {
		case delivered:
			done = append(done, q.key)
			log.Debug("record delivered", "record_id", e.ID, "version", e.Version, "status", a.status, "attempts", e.Attempts+1)
			continue
		case park:
			o.removeDelivered(d, done)
			done = nil
			e.Attempts++
			o.parkEntry(d, q.key, e, a.status, a.reason)
			// The next entry may be delivered at once: read a new window.
			return true
		case retry:
			o.removeDelivered(d, done)
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
				"attempts", e.Attempts, "reason", a.reason, "retry_in", wait.Round(time.Millisecond).String())
			return o.sleep(wait)
		}
	}
	return true
}

// removeDelivered removes delivered entries in one commit. If it fails they
// stay, and are sent again: the destination has them already, and their
// idempotency keys say so.
func (o *Outbox) removeDelivered(d *destination, keys [][]byte) {
	if len(keys) == 0 {
		return
	}
	err := o.db.Update(func(tx *bbolt.Tx) error {
		b := tx.Bucket(queueBucket(d.name))
		for _, k := range keys {
			if err := b.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		o.log.Error("outbox remove failed", "destination", d.name, "err", err, "entries", len(keys))
		return
	}
	o.m.delivered.WithLabelValues(d.name).Add(float64(len(keys)))
	o.m.pending.WithLabelValues(d.name).Sub(float64(len(keys)))
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

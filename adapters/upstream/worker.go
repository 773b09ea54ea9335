package upstream

import (
	"encoding/json"
	"errors"
	"math/rand/v2"
	"time"

	bbolt "go.etcd.io/bbolt"
)

// run is one destination's worker: it delivers the oldest entry until the
// destination has it, then the next, so a destination sees records in the
// order they were accepted.
func (o *Outbox) run(d *destination) {
	defer o.wg.Done()
	log := o.log.With("destination", d.name)
	for {
		key, e, err := o.head(d)
		if err != nil {
			log.Error("outbox read failed", "err", err)
			if !o.sleep(time.Second) {
				return
			}
			continue
		}
		if e == nil {
			select {
			case <-d.wake:
				continue
			case <-o.ctx.Done():
				return
			}
		}
		start := time.Now()
		a := d.deliver(o.ctx, e)
		if o.ctx.Err() != nil {
			// Closing: the attempt was cut short, not refused. The entry
			// stays and is sent again after the next Open.
			return
		}
		o.m.seconds.WithLabelValues(d.name).Observe(time.Since(start).Seconds())
		switch a.verdict {
		case delivered:
			if err := o.remove(d, key); err != nil {
				log.Error("outbox remove failed", "err", err, "record_id", e.ID)
				continue
			}
			o.m.delivered.WithLabelValues(d.name).Inc()
			o.m.pending.WithLabelValues(d.name).Dec()
			log.Debug("record delivered", "record_id", e.ID, "version", e.Version, "status", a.status, "attempts", e.Attempts+1)
		case park:
			e.Attempts++
			o.parkEntry(d, key, e, a.status, a.reason)
		case retry:
			e.Attempts++
			e.LastError = a.reason
			o.m.failed.WithLabelValues(d.name, a.failure).Inc()
			if d.maxAttempts > 0 && e.Attempts >= d.maxAttempts {
				o.parkEntry(d, key, e, a.status, "gave up after max_attempts: "+a.reason)
				continue
			}
			if err := o.update(d, key, e); err != nil {
				log.Error("outbox update failed", "err", err, "record_id", e.ID)
			}
			wait := backoff(d.backoffInitial, d.backoffMax, e.Attempts)
			if a.retryAfter > wait {
				wait = min(a.retryAfter, d.backoffMax)
			}
			log.Warn("delivery failed, will retry", "record_id", e.ID, "version", e.Version,
				"attempts", e.Attempts, "reason", a.reason, "retry_in", wait.Round(time.Millisecond).String())
			if !o.sleep(wait) {
				return
			}
		}
	}
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

func (o *Outbox) head(d *destination) ([]byte, *entry, error) {
	var (
		key []byte
		e   *entry
	)
	err := o.db.View(func(tx *bbolt.Tx) error {
		b := tx.Bucket(queueBucket(d.name))
		if b == nil {
			return errors.New("queue bucket missing")
		}
		k, v := b.Cursor().First()
		if k == nil {
			return nil
		}
		e = new(entry)
		if err := json.Unmarshal(v, e); err != nil {
			return err
		}
		key = append([]byte(nil), k...)
		return nil
	})
	return key, e, err
}

func (o *Outbox) remove(d *destination, key []byte) error {
	return o.db.Update(func(tx *bbolt.Tx) error { return tx.Bucket(queueBucket(d.name)).Delete(key) })
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

package audit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Witness keeps a copy of the latest signed checkpoint off the gateway's
// host. The log's own checkpoints live beside it, so whoever can cut the log
// (a restored backup, a crash followed by a cleanup, an administrator) can
// cut them too; a witness they cannot rewind still names how far the log
// reached.
//
// A witness only moves forward: Put is a compare-and-set against the version
// Latest returned, and the chain writes a checkpoint only after checking that
// the log still contains the one the witness holds.
type Witness interface {
	// String names the witness for logs and errors ("vault kv kv/ura-audit/…").
	String() string
	// Latest returns the newest checkpoint held (nil when there is none yet)
	// and the version to pass to Put.
	Latest(ctx context.Context) (cp *SignedCheckpoint, version int, err error)
	// Put stores cp as the newest checkpoint if the witness is still at
	// version, and returns its new version. It returns an error wrapping
	// ErrWitnessMoved when another write came first.
	Put(ctx context.Context, cp SignedCheckpoint, version int) (int, error)
}

// ErrWitnessMoved is returned by Witness.Put when the witness changed since
// it was read.
var ErrWitnessMoved = errors.New("the off-host checkpoint changed since it was read")

// ErrWitnessTampered is returned by Witness.Latest when the latest checkpoint
// it held was deleted, or an older one was written after it: not an
// unreachable witness, evidence removed. It refuses the open even where an
// unreachable witness would not.
var ErrWitnessTampered = errors.New("the latest off-host checkpoint was deleted or replaced by an older one")

// RollbackError says that a log no longer contains the checkpoint its witness
// holds: events it once held were removed or replaced.
type RollbackError struct {
	// Witness names where the checkpoint was kept.
	Witness string
	// Checkpoint is the witness's checkpoint.
	Checkpoint Checkpoint
	// Head is the log's head when it was compared.
	Head Head
	// Diverged is true when the log reaches the checkpoint's count but its
	// event there has another hash; false when the log ends before it.
	Diverged bool
}

func (e *RollbackError) Error() string {
	at := e.Checkpoint.Time.Format(time.RFC3339)
	if e.Diverged {
		return fmt.Sprintf("audit log rolled back: seq %d does not match the checkpoint signed at %s and kept in %s: the log was rewritten at or before seq %d",
			e.Checkpoint.Count, at, e.Witness, e.Checkpoint.Count)
	}
	return fmt.Sprintf("audit log rolled back: the log ends at seq %d but the checkpoint signed at %s and kept in %s covers %d events: %d events were removed",
		e.Head.Count, at, e.Witness, e.Checkpoint.Count, e.Checkpoint.Count-e.Head.Count)
}

// Remedy is what an operator can do about a rollback, for the message that
// refuses to start.
func (e *RollbackError) Remedy() string {
	return fmt.Sprintf("find out what removed the events (a restored backup or disk snapshot, a truncated file, a crash followed by manual repair); "+
		"restore the log from a copy that still reaches seq %d and check it with `ura audit verify --config <file>`; "+
		"the checkpoint in %s is the evidence and must not be deleted to get the gateway going, "+
		"but an operator who has investigated and recorded the loss may delete that entry's metadata in Vault, after which the gateway starts from the log as it is",
		e.Checkpoint.Count, e.Witness)
}

// CheckWitness compares a log with its witness's checkpoint: the log must
// reach the checkpoint's count, and its event there must have the
// checkpoint's head hash. hashAt returns the hash of the event at a seq no
// greater than head.Count. A nil checkpoint (an empty witness) passes.
func CheckWitness(ctx context.Context, witness string, head Head, cp *SignedCheckpoint, hashAt func(ctx context.Context, seq int64) (string, error)) error {
	if cp == nil {
		return nil
	}
	if cp.Count > head.Count {
		return &RollbackError{Witness: witness, Checkpoint: cp.Checkpoint, Head: head}
	}
	var hash string
	if cp.Count == head.Count {
		hash = head.Hash
	} else {
		h, err := hashAt(ctx, cp.Count)
		if err != nil {
			return fmt.Errorf("read seq %d to compare with %s: %w", cp.Count, witness, err)
		}
		hash = h
	}
	if hash != cp.HeadHash {
		return &RollbackError{Witness: witness, Checkpoint: cp.Checkpoint, Head: head, Diverged: true}
	}
	return nil
}

// storeHashAt reads event hashes from a store for CheckWitness.
func storeHashAt(st Store) func(ctx context.Context, seq int64) (string, error) {
	return func(ctx context.Context, seq int64) (string, error) {
		e, err := st.Get(ctx, seq)
		if err != nil {
			return "", err
		}
		return e.Event.Hash, nil
	}
}

// CheckStoreWitness reads w's latest checkpoint and compares st with it.
// It returns the witness's checkpoint (nil when it holds none).
func CheckStoreWitness(ctx context.Context, st Store, w Witness) (*SignedCheckpoint, error) {
	cp, _, err := w.Latest(ctx)
	if err != nil {
		return nil, fmt.Errorf("read the off-host checkpoint from %s: %w", w, err)
	}
	return cp, CheckWitness(ctx, w.String(), st.Head(), cp, storeHashAt(st))
}

// witnessReadTimeout bounds reading the witness when the log is opened.
const witnessReadTimeout = 30 * time.Second

// openWitness compares the log with its witness before anything is appended.
func (c *Chain) openWitness(ctx context.Context) error {
	w := c.opts.Witness
	if w == nil {
		return nil
	}
	rctx, cancel := context.WithTimeout(ctx, witnessReadTimeout)
	cp, ver, err := w.Latest(rctx)
	cancel()
	if errors.Is(err, ErrWitnessTampered) {
		c.m.checkpoints.WithLabelValues("rollback").Inc()
		return fmt.Errorf("audit: %w; refusing to open. Find out who changed it (Vault's audit device records it); "+
			"undelete the version or write the newest checkpoint back if it was a mistake, or, once investigated, delete the entry's metadata to start afresh from the log as it is", err)
	}
	if err != nil {
		if !c.opts.WitnessOptional {
			return fmt.Errorf("audit: cannot read the off-host checkpoint from %s: %w; refusing to open the log, because while it is unreachable "+
				"a rolled-back log cannot be told from an intact one. Restore access to it (address, credentials, policy), "+
				"or set audit.checkpoint.vault_kv.unreachable: start to start without the comparison", w, err)
		}
		c.log.Error("audit: off-host checkpoint unreachable; starting without comparing the log with it (audit.checkpoint.vault_kv.unreachable: start); it is compared at the next checkpoint",
			"witness", w.String(), "error", err)
		c.kickCheckpoint()
		return nil
	}
	if sh, ok := c.store.(Shared); ok {
		// Another replica may have appended and copied a checkpoint since
		// the head was read: read it again, after the witness.
		head, err := sh.CurrentHead(ctx)
		if err != nil {
			return fmt.Errorf("audit: read head: %w", err)
		}
		c.head = head
	}
	if err := CheckWitness(ctx, w.String(), c.head, cp, storeHashAt(c.store)); err != nil {
		var rb *RollbackError
		if errors.As(err, &rb) {
			c.m.checkpoints.WithLabelValues("rollback").Inc()
			return fmt.Errorf("%w; refusing to open. What to do: %s", err, rb.Remedy())
		}
		return fmt.Errorf("audit: %w", err)
	}
	c.wcp, c.wver, c.wKnown = cp, ver, true
	if cp != nil {
		c.m.witnessSeq.Set(float64(cp.Count))
	}
	if c.lastCP != nil && (cp == nil || cp.Count < c.lastCP.Count) {
		// A checkpoint stored here but not yet off the host (the gateway
		// stopped in between): copy it now.
		c.kickCheckpoint()
	}
	c.log.Info("audit log matches its off-host checkpoint", "witness", w.String(), "witness_seq", witnessCount(cp))
	return nil
}

func witnessCount(cp *SignedCheckpoint) int64 {
	if cp == nil {
		return 0
	}
	return cp.Count
}

func (c *Chain) kickCheckpoint() {
	select {
	case c.cpKick <- struct{}{}:
	default:
	}
}

// witnessStalls is how many lost compare-and-sets in a row witnessPut
// tolerates without the witness moving forward. A lost race in which the
// witness's count rose is progress, not a stall: replicas checkpointing one
// shared log each write only counts above what they read, so those races end
// once the witness reaches cp. A fixed number of attempts once failed a
// checkpoint when three replicas overtook each other three times running.
const witnessStalls = 3

// witnessPut copies cp to the witness unless it already holds it or a later
// one, after checking that the log still contains what the witness holds.
// A log that does not is failed. The caller holds cpMu.
func (c *Chain) witnessPut(ctx context.Context, cp SignedCheckpoint) error {
	w := c.opts.Witness
	if w == nil {
		return nil
	}
	lost, stalls := int64(-1), 0
	for stalls < witnessStalls {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("copy checkpoint %d to %s: %w", cp.Count, w, err)
		}
		if !c.wKnown {
			cur, ver, err := w.Latest(ctx)
			if errors.Is(err, ErrWitnessTampered) {
				c.m.checkpoints.WithLabelValues("rollback").Inc()
				c.setFailed(fmt.Errorf("%s: %w", w, err))
				return c.failure()
			}
			if err != nil {
				c.m.checkpoints.WithLabelValues("witness_error").Inc()
				c.log.Warn("audit checkpoint not copied off the host; will retry", "witness", w.String(), "count", cp.Count, "error", err)
				return fmt.Errorf("read %s: %w", w, err)
			}
			c.wcp, c.wver, c.wKnown = cur, ver, true
		}
		// cp is stored and covers the log up to cp.Count, so the log
		// must contain the witness's checkpoint unless it is ahead of cp.
		head := Head{Count: cp.Count, Hash: cp.HeadHash}
		if sh, ok := c.store.(Shared); ok && c.wcp != nil && c.wcp.Count > cp.Count {
			// Another replica's later checkpoint: the log must reach it.
			cur, err := sh.CurrentHead(ctx)
			if err != nil {
				return fmt.Errorf("read head to compare with %s: %w", w, err)
			}
			head = cur
		}
		err := CheckWitness(ctx, w.String(), head, c.wcp, storeHashAt(c.store))
		var rb *RollbackError
		if errors.As(err, &rb) {
			c.m.checkpoints.WithLabelValues("rollback").Inc()
			c.setFailed(fmt.Errorf("%w; %s", err, rb.Remedy()))
			return c.failure()
		}
		if err != nil {
			c.m.checkpoints.WithLabelValues("witness_error").Inc()
			return err
		}
		if c.wcp != nil && c.wcp.Count >= cp.Count {
			return nil
		}
		ver, err := w.Put(ctx, cp, c.wver)
		if errors.Is(err, ErrWitnessMoved) {
			if n := witnessCount(c.wcp); n > lost {
				lost, stalls = n, 0
			}
			stalls++
			c.wKnown = false
			continue
		}
		if err != nil {
			c.m.checkpoints.WithLabelValues("witness_error").Inc()
			c.log.Warn("audit checkpoint not copied off the host; will retry", "witness", w.String(), "count", cp.Count, "error", err)
			return fmt.Errorf("copy checkpoint %d to %s: %w", cp.Count, w, err)
		}
		c.wcp, c.wver = &cp, ver
		c.m.witnessSeq.Set(float64(cp.Count))
		return nil
	}
	c.m.checkpoints.WithLabelValues("witness_error").Inc()
	return fmt.Errorf("copy checkpoint %d to %s: %w (%d times without it moving forward)", cp.Count, w, ErrWitnessMoved, witnessStalls)
}

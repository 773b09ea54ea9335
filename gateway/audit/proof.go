package audit

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// Proof shows that one event is part of the signed chain.
//
// The chain is linear, so the path from an event to a signed head is the
// events after it: each one's canonical bytes contain the previous hash as
// "prev", and hash to the next link. Following holds those canonical bytes
// (without "hash", which the verifier recomputes) from seq+1 up to the
// nearest checkpoint at or after the event; checkpoints every N events keep
// it at most N entries long.
//
// To verify (VerifyProof does exactly this):
//  1. h = SHA-256(JCS(event without "hash")); h must equal event.hash.
//  2. For each f in following, in order: f must be canonical JSON of an
//     event with seq one more than the last and prev == h; then h = SHA-256(f).
//  3. The last seq must equal checkpoint.count and h checkpoint.head_hash.
//  4. checkpoint.jws must verify against the gateway's JWKS, and its payload
//     must be this checkpoint.
type Proof struct {
	Event      Event             `json:"event"`
	Following  []string          `json:"following"`
	Checkpoint *SignedCheckpoint `json:"checkpoint,omitempty"`
	// Pending is set when no checkpoint covers the event yet, or the nearest
	// one is more than MaxProofEvents after it (checkpoints could not be
	// signed for a while): the proof is then only the event; ask again after
	// the next checkpoint, or verify an export.
	Pending bool `json:"pending,omitempty"`
}

// MaxProofEvents bounds the events in one proof, and so its size and the
// memory building it takes.
const MaxProofEvents = 10000

// BuildProof assembles the proof for seq from a store and its checkpoints
// (oldest first).
func BuildProof(ctx context.Context, st Store, cps []SignedCheckpoint, seq int64) (*Proof, error) {
	e, err := st.Get(ctx, seq)
	if err != nil {
		return nil, err
	}
	p := &Proof{Event: e.Event, Following: []string{}}
	var cp *SignedCheckpoint
	for i := range cps {
		if cps[i].Count >= seq {
			cp = &cps[i]
			break
		}
	}
	if cp == nil || cp.Count-seq > MaxProofEvents {
		p.Pending = true
		return p, nil
	}
	p.Checkpoint = cp
	if cp.Count == seq {
		return p, nil
	}
	errDone := errors.New("done")
	n := seq
	err = st.Scan(ctx, seq+1, func(line []byte) error {
		ev, err := decodeLine(line)
		if err != nil {
			return err
		}
		c, err := Canonical(ev)
		if err != nil {
			return err
		}
		p.Following = append(p.Following, string(c))
		n++
		if n >= cp.Count {
			return errDone
		}
		return nil
	})
	if err != nil && !errors.Is(err, errDone) {
		return nil, err
	}
	if n != cp.Count {
		return nil, fmt.Errorf("audit: the log ends at seq %d, before the checkpoint at %d", n, cp.Count)
	}
	return p, nil
}

// VerifyProof checks a proof against the gateway's public keys.
func VerifyProof(p *Proof, keys jwk.Set) error {
	c, err := Canonical(p.Event)
	if err != nil {
		return err
	}
	h := HashBytes(c)
	if h != p.Event.Hash {
		return fmt.Errorf("seq %d: hash mismatch", p.Event.Seq)
	}
	if p.Checkpoint == nil {
		return errors.New("no checkpoint covers this event yet")
	}
	seq := p.Event.Seq
	for i, f := range p.Following {
		var ev Event
		dec := json.NewDecoder(bytes.NewReader([]byte(f)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			return fmt.Errorf("following[%d]: %w", i, err)
		}
		again, err := Canonical(ev)
		if err != nil {
			return err
		}
		if string(again) != f || ev.Hash != "" {
			return fmt.Errorf("following[%d]: not the canonical bytes of an event without hash", i)
		}
		if ev.Seq != seq+1 {
			return fmt.Errorf("following[%d]: seq %d, want %d", i, ev.Seq, seq+1)
		}
		if ev.Prev != h {
			return fmt.Errorf("following[%d]: seq %d does not link to seq %d", i, ev.Seq, seq)
		}
		h, seq = HashBytes(again), ev.Seq
	}
	signed, err := VerifyCheckpoint(*p.Checkpoint, keys)
	if err != nil {
		return err
	}
	if signed.Count != seq || signed.HeadHash != h {
		return fmt.Errorf("the path ends at seq %d, hash %s, not at the signed head (count %d)", seq, h, signed.Count)
	}
	return nil
}

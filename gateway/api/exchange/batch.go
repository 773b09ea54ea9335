package exchange

import (
	"github.com/ura-gateway/ura/gateway/audit"
)

// batch gathers a pull's decisions, whichever scan of the store they came
// from, so that what the caller receives is cut into chunks by its
// released records only: every chunk holds Chunk released records but the
// last. Under the chunk profile a chunk is one Merkle tree, whose size
// and boundaries are in signed data; under either profile a stream is
// written and flushed once per chunk. Were chunks cut per scan of the
// store, their sizes, and when their lines arrive, would tell a member how
// many of each scan's records policy withheld from it
// (gateway/ARCHITECTURE.md, "Chunk proofs").
//
// A withheld decision is never signed: its event waits here, and is
// committed with the next chunk sent (or earlier, by the caller, when
// enough have gathered).
type batch struct {
	p *pipeline
	// released are the decisions not yet signed, with each one's cursor and
	// the index of its event in events.
	released []decided
	cursors  []string
	slots    []int
	// events are those of the decisions not yet committed, in the order
	// decided; a released decision's is filled in when it is signed.
	events []audit.Event
	// withheld counts the withheld decisions' events among them.
	withheld int
	// spare is the buffer of the events last taken, reused by the next.
	spare []audit.Event
}

func newBatch(p *pipeline) *batch {
	return &batch{p: p, released: make([]decided, 0, Chunk)}
}

// add takes one decision, already tallied, with its record's cursor.
func (b *batch) add(x *decided, cursor string) {
	if x.Released() {
		b.released = append(b.released, *x)
		b.cursors = append(b.cursors, cursor)
		b.slots = append(b.slots, len(b.events))
		b.events = append(b.events, audit.Event{})
		return
	}
	b.events = append(b.events, b.p.event(x))
	b.withheld++
}

// full reports a chunk of released records ready to be signed.
func (b *batch) full() bool { return len(b.released) >= Chunk }

// pending is how many released decisions wait to be signed.
func (b *batch) pending() int { return len(b.released) }

// take signs the first n released decisions (in one signer call) and
// returns their deliveries and the events to commit before any of them is
// written, in the order decided: theirs and the withheld decisions' up to
// the next released one (all of them when n is every pending one). last
// is the cursor of the last record taken ("" when n is 0).
func (b *batch) take(n int) (d []Delivery, events []audit.Event, last string, err error) {
	d, signed, err := b.p.release(b.released[:n])
	if err != nil {
		return nil, nil, "", err
	}
	for i := range signed {
		b.events[b.slots[i]] = signed[i]
	}
	cut := len(b.events)
	if n < len(b.released) {
		cut = b.slots[n]
	}
	if n > 0 {
		last = b.cursors[n-1]
	}
	// The events returned are committed before the next take, so the two
	// buffers take turns rather than a new one per chunk.
	events = b.events[:cut:cut]
	b.events, b.spare = append(b.spare[:0], b.events[cut:]...), b.events[:0]
	b.withheld = len(b.events) - (len(b.released) - n)
	rest := copy(b.released, b.released[n:])
	clear(b.released[rest:]) // let the taken records' bodies go
	b.released = b.released[:rest]
	b.cursors = b.cursors[:copy(b.cursors, b.cursors[n:])]
	b.slots = b.slots[:copy(b.slots, b.slots[n:])]
	for i := range b.slots {
		b.slots[i] -= cut
	}
	return d, events, last, nil
}

// settle returns every withheld decision's event gathered, to be committed
// now, ahead of released decisions still waiting for their chunk: the
// price of keeping memory bounded when many records are withheld in a row.
func (b *batch) settle() []audit.Event {
	var out []audit.Event
	kept := b.events[:0:0]
	j := 0 // slots ascend, as the events were added
	for i, ev := range b.events {
		if j < len(b.slots) && b.slots[j] == i {
			b.slots[j] = len(kept)
			kept = append(kept, ev)
			j++
			continue
		}
		out = append(out, ev)
	}
	b.events, b.withheld = kept, 0
	return out
}

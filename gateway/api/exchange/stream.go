package exchange

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/sign"
)

// Trailer is the last line of an NDJSON pull: where to resume, whether the
// stream ended because everything was sent or because of an error, and how
// many records it carried with a digest of their lines. JWS signs all of it
// as a sign.Trailer (typ ura-trailer+jws), bound to the recipient and the
// request; the plain fields beside it are what a client reads, and a
// verifier checks that they are the signed ones. A stream without a trailer
// was cut off; a trailer without JWS is one the gateway could not sign
// (gateway/ARCHITECTURE.md, Signing), and proves nothing.
type Trailer struct {
	NextCursor string         `json:"next_cursor"`
	Complete   bool           `json:"complete"`
	Records    int            `json:"records"`
	Digest     string         `json:"digest"`
	Error      map[string]any `json:"error,omitempty"`
	JWS        string         `json:"jws,omitempty"`
}

// stream answers NDJSON, one chunk at a time straight from the store's
// scan, so memory stays flat however many records match.
//
// The store is read in scans of Chunk records; each scan is charged and
// decided as it comes. What is released is signed, audited, written and
// flushed in chunks of Chunk released records (batch), carried from scan
// to scan: neither a chunk's size nor when its lines arrive says how many
// records beside them policy withheld. Every chunk's events, and those of
// the withheld decisions before it, are committed before its first byte
// is written.
//
// A scan costs Chunk records (or what is left of the stream's limit),
// however many of them the store found and policy released: the first
// scan is paid even when nothing matches, so an empty answer and an answer
// of withheld records cost the same, and nothing is refunded. Only the
// number of scans depends on what the store holds, so hidden records can
// show in the quota, and in how long a stream takes, at a granularity of
// Chunk, never one by one. What a refused or stopped scan leaves ends the
// stream after the released records already paid for are sent.
func (h *Handlers) stream(p *pipeline, pp pullParams) error {
	c := p.c
	var (
		scan    = make([]*records.Record, 0, Chunk)
		at      = make([]string, 0, Chunk) // each scanned record's cursor
		b       = newBatch(p)
		seen    string       // cursor of the last record read
		decided string       // cursor of the last record decided
		resume  = pp.q.After // cursor behind what was sent and audited
		scans   int
		started bool
		charged int
		sent    int
		line    []byte
		digest  = sha256.New() // of every record line written, in order
	)
	// send commits the events gathered so far and writes the first n
	// released records. The first send also writes the status line.
	send := func(n int) error {
		d, events, last, err := b.take(n)
		if err != nil {
			return err
		}
		if err := p.commit(events); err != nil {
			return err
		}
		if !started {
			c.Header("Content-Type", contentType(NDJSON, p.proof))
			c.Header("Cache-Control", "no-store")
			c.Header("X-Content-Type-Options", "nosniff")
			c.Status(http.StatusOK)
			started = true
		}
		line = line[:0]
		for i := range d {
			line = d[i].appendLine(line)
		}
		if _, err := c.Writer.Write(line); err != nil {
			return fmt.Errorf("write stream: %w", err)
		}
		digest.Write(line)
		c.Writer.Flush()
		sent += len(d)
		// Once nothing decided waits, everything up to the last record
		// decided is settled; otherwise resume after the last one sent
		// (the withheld records after it are decided again, and audited
		// again, by the stream that resumes).
		switch {
		case b.pending() == 0:
			resume = decided
		case last != "":
			resume = last
		}
		return nil
	}
	// ended sends what was decided and paid for, then ends with err.
	ended := func(err error) error {
		if !started && b.pending() == 0 {
			// Nothing released yet: the refusal is the answer, and the
			// decisions made so far are audited if they can be.
			if events := b.settle(); len(events) > 0 {
				_ = p.commit(events)
			}
			return err
		}
		if e := send(b.pending()); e != nil {
			return e
		}
		return err
	}
	decide := func() error {
		if scans > 0 && stopped(h.deps.Stopping) {
			// The gateway is stopping: the stream ends here, signed, with
			// where to resume, rather than be cut when the stop's timeout
			// passes (ARCHITECTURE.md, Replicas).
			return ended(errStopping)
		}
		if len(scan) > 0 || charged == 0 {
			cost := Chunk
			if pp.limit > 0 {
				cost = max(1, min(Chunk, pp.limit-charged))
			}
			// Once the status line is sent, a refusal ends the stream in
			// its trailer instead of a 429.
			if err := p.charge(charged + cost); err != nil {
				return ended(err)
			}
			charged += cost
		}
		xs := p.decideChunk(scan)
		for i := range xs {
			p.tally(&xs[i])
			b.add(&xs[i], at[i])
		}
		scans++
		decided = seen
		scan, at = scan[:0], at[:0]
		for b.full() {
			if err := send(Chunk); err != nil {
				return err
			}
		}
		// Withheld events do not wait without end for a chunk to fill.
		if b.withheld >= 4*Chunk {
			return p.commit(b.settle())
		}
		return nil
	}
	q := pp.q
	q.Limit = pp.limit
	err := h.query(c.Request.Context(), q, func(rec *records.Record, cursor string) error {
		scan, at = append(scan, rec), append(at, cursor)
		seen = cursor
		if len(scan) == Chunk {
			return decide()
		}
		return nil
	})
	if err == nil {
		// The rest, or, for an empty result, the request's audit event.
		if err = decide(); err == nil {
			err = send(b.pending())
		}
	}
	if err != nil && !started {
		return queryProblem(err)
	}
	tr := Trailer{Complete: err == nil, Records: sent, Digest: sign.StreamDigest(digest.Sum(nil))}
	if err != nil {
		// Past the status line a refusal is no 429: the trailer says it,
		// and the chunks sent are audited already.
		prob := chain.Problem(queryProblem(err))
		h.log.Warn("pull stream ended early", "request_id", p.req.ID, "member", p.req.Member.ID,
			"records", sent, "status", prob.Status, "type", prob.Type, "error", err)
		tr.Error = prob.Body("urn:ura:request:" + p.req.ID)
	}
	tr.NextCursor, _ = h.sealCursor(c, pp.q, resume) // a position the store handed out
	h.endStream(p, tr)
	return nil
}

// errStopping ends a stream whose gateway is stopping: a 503 in its
// trailer, whose next_cursor resumes it at another replica.
var errStopping = problem.Unavailable("the gateway is stopping; resume from next_cursor", nil)

func stopped(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// endStream signs the trailer and writes it, in one more signer call. When
// it cannot be signed the trailer goes out without its JWS, saying so in
// its error, so that a live client still learns why and where to resume; a
// verifier refuses it like a stream cut off. A client that is gone gets
// nothing: no signature is spent on it.
func (h *Handlers) endStream(p *pipeline, tr Trailer) {
	c := p.c
	ctx := c.Request.Context()
	if ctx.Err() != nil {
		return
	}
	payload, err := json.Marshal(sign.Trailer{
		Request: c.Request.URL.RequestURI(), RequestID: p.req.ID, Cursor: c.Query("cursor"),
		NextCursor: tr.NextCursor, Complete: tr.Complete, Records: tr.Records, Digest: tr.Digest, Error: tr.Error,
		Recipient: p.req.Member.ID, Issuer: h.cfg.Sign.Issuer, IssuedAt: time.Now().Unix(),
	})
	var jws []string
	if err == nil {
		jws, _, err = h.sign(ctx, sign.TypTrailer, [][]byte{payload})
	}
	if err != nil {
		prob := problem.From(err)
		h.log.Warn("pull stream trailer not signed", "request_id", p.req.ID, "member", p.req.Member.ID,
			"records", tr.Records, "status", prob.Status, "type", prob.Type, "error", err)
		tr.Complete = false
		if tr.Error == nil {
			tr.Error = prob.Body("urn:ura:request:" + p.req.ID)
		}
	} else {
		tr.JWS = jws[0]
	}
	_ = json.NewEncoder(c.Writer).Encode(tr)
	c.Writer.Flush()
}

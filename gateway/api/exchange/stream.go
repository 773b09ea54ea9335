package exchange

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/records"
)

// Trailer is the last line of an NDJSON pull: where to resume, and whether
// the stream ended because everything was sent or because of an error. A
// stream without it was cut off.
type Trailer struct {
	NextCursor string         `json:"next_cursor"`
	Complete   bool           `json:"complete"`
	Records    int            `json:"records"`
	Error      map[string]any `json:"error,omitempty"`
}

// stream answers NDJSON, one chunk at a time straight from the store's
// scan, so memory stays flat however many records match. Each chunk is
// charged, decided, signed and audited before its first byte is written.
//
// A chunk costs Chunk records (or what is left of the stream's limit),
// however many of them the store found and policy released: the first
// chunk is paid even when nothing matches, so an empty answer and an answer
// of withheld records cost the same, and nothing is refunded. Only the
// number of chunks depends on what the store holds, so hidden records can
// show in the quota at a granularity of Chunk, never one by one.
func (h *Handlers) stream(p *pipeline, pp pullParams) error {
	c := p.c
	var (
		chunk    = make([]*records.Record, 0, Chunk)
		lastSeen string
		resume   = pp.q.After // cursor behind the last chunk written
		started  bool
		charged  int
		sent     int
		line     bytes.Buffer
	)
	flush := func() error {
		if len(chunk) > 0 || charged == 0 {
			cost := Chunk
			if pp.limit > 0 {
				cost = max(1, min(Chunk, pp.limit-charged))
			}
			// Once the status line is sent, a refusal ends the stream in
			// its trailer instead of a 429.
			if err := p.charge(charged + cost); err != nil {
				return err
			}
			charged += cost
		}
		d, events, err := p.deliver(chunk)
		if err != nil {
			return err
		}
		if err := p.commit(events); err != nil {
			return err
		}
		if !started {
			c.Header("Content-Type", NDJSON)
			c.Header("Cache-Control", "no-store")
			c.Header("X-Content-Type-Options", "nosniff")
			c.Status(http.StatusOK)
			started = true
		}
		line.Reset()
		enc := json.NewEncoder(&line)
		for _, one := range d {
			_ = enc.Encode(one) // three plain fields: cannot fail
		}
		if _, err := c.Writer.Write(line.Bytes()); err != nil {
			return fmt.Errorf("write stream: %w", err)
		}
		c.Writer.Flush()
		sent += len(d)
		resume = lastSeen
		chunk = chunk[:0]
		return nil
	}
	q := pp.q
	q.Limit = pp.limit
	err := h.deps.Store.Query(c.Request.Context(), q, func(rec *records.Record, cursor string) error {
		chunk = append(chunk, rec)
		lastSeen = cursor
		if len(chunk) == Chunk {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush() // the rest, or, for an empty result, the request's audit event
	}
	switch {
	case err != nil && !started:
		return queryProblem(err)
	case err != nil:
		// Past the status line a refusal is no 429: the trailer says it,
		// and the chunks sent are audited already.
		prob := chain.Problem(queryProblem(err))
		h.log.Warn("pull stream ended early", "request_id", p.req.ID, "member", p.req.Member.ID,
			"records", sent, "status", prob.Status, "type", prob.Type, "error", err)
		sealed, _ := h.sealCursor(c, pp.q, resume) // a position the store handed out
		_ = json.NewEncoder(c.Writer).Encode(Trailer{NextCursor: sealed, Records: sent, Error: prob.Body("urn:ura:request:" + p.req.ID)})
		c.Writer.Flush()
		return nil
	}
	sealed, _ := h.sealCursor(c, pp.q, resume)
	_ = json.NewEncoder(c.Writer).Encode(Trailer{NextCursor: sealed, Complete: true, Records: sent})
	c.Writer.Flush()
	return nil
}

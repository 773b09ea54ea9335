package exchange

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/ratelimit"
	"github.com/ura-gateway/ura/gateway/records"
)

// errStop ends a store scan early without an error.
var errStop = errors.New("stop")

// Pull is GET /v1/records: a page (JSON) or a stream (NDJSON).
func (h *Handlers) Pull(c *gin.Context) error {
	if err := h.Ready(c); err != nil {
		return err
	}
	req := chain.NewRequest(c, "pull", "").DigestOf([]byte(c.Request.URL.RawQuery))
	stream, proof, err := negotiate(c.GetHeader("Accept"), h.cfg.Sign.Proof)
	if err != nil {
		return h.kit.Refuse(c, req, problem.From(err))
	}
	pp, err := h.pullParams(c, stream)
	if err != nil {
		return h.kit.Refuse(c, req, problem.From(err))
	}
	p := h.pipeline(c, req, ratelimit.ClassPull)
	p.proof = proof
	if stream {
		return h.stream(p, pp)
	}
	return h.page(p, pp)
}

// Lookahead is how many withheld records one page decides at most, besides
// its released ones: max(limit, Lookahead).
const Lookahead = 256

// page answers one page. A page costs the records it asks for (its limit),
// paid up front and never refunded: what it returns, and what policy
// withheld from it, must not show in the caller's remaining quota.
//
// "more" tells only of records the caller may see. The page scans until it
// holds limit released records, then looks ahead: it decides the following
// records (audited like any other, nothing signed) until the first one the
// caller may see, which answers more=true and is left, undecided as far as
// the audit goes, for the next page (the cursor stays just before it), or
// until the store ends (more=false). Withheld records never end a page
// early, so a short page with more=false means nothing visible is left.
//
// Residual: one page decides at most max(limit, Lookahead) withheld
// records. When that many are met, the page ends with more=true and a
// cursor after the last one decided, whatever follows them; so more=true
// (with a short or empty page) may mean only that many withheld records
// follow. The bound keeps a page's work within a fixed multiple of what it
// costs.
func (h *Handlers) page(p *pipeline, pp pullParams) error {
	if err := p.charge(pp.limit); err != nil {
		return err
	}
	var (
		out      = []Delivery{}
		events   []audit.Event
		b        = newBatch(p)              // signs the page in chunks of released records
		budget   = max(pp.limit, Lookahead) // withheld records this page may still decide
		released int
		next     = pp.q.After
		more     bool
	)
	flush := func(n int) error {
		d, ev, _, err := b.take(n)
		if err != nil {
			return err
		}
		out, events = append(out, d...), append(events, ev...)
		return nil
	}
	q := pp.q
	// At most limit released, budget withheld and one more: the released
	// record of the lookahead, or whatever follows the last withheld one.
	q.Limit = pp.limit + budget + 1
	// Records are decided a chunk at a time (release.DecideChunk) and then
	// taken in order until the page is full; those read beyond the point
	// where it ends were decided in memory only: never audited, counted or
	// signed, as if never read.
	var (
		pending []*records.Record
		cursors []string
		stopped bool
	)
	take := func() error {
		if len(pending) == 0 || stopped {
			return nil
		}
		xs := p.decideChunk(pending)
		defer func() { pending, cursors = pending[:0], cursors[:0] }()
		for i := range xs {
			x := &xs[i]
			if budget == 0 {
				more, stopped = true, true // residual: see above
				p.unused(&events, xs[i:])
				return errStop
			}
			if x.Released() {
				if released == pp.limit {
					more, stopped = true, true // the lookahead found one: the next page starts with it
					p.unused(&events, xs[i:])
					return errStop
				}
				released++
			} else {
				budget--
			}
			p.tally(x)
			next = cursors[i]
			b.add(x, next)
			if b.full() {
				if err := flush(Chunk); err != nil {
					return err
				}
			}
		}
		return nil
	}
	err := h.query(p.c.Request.Context(), q, func(rec *records.Record, cursor string) error {
		pending, cursors = append(pending, rec), append(cursors, cursor)
		// No more than the page can still take: what it may release and
		// withhold, and the one record that ends it.
		if len(pending) == min(Chunk, pp.limit-released+budget+1) {
			return take()
		}
		return nil
	})
	if err == nil {
		err = take()
	}
	if errors.Is(err, errStop) {
		err = nil
	}
	if err == nil {
		err = flush(b.pending())
	}
	if err != nil {
		return queryProblem(err)
	}
	p.answered(audit.DecisionAllow, http.StatusOK, len(out))
	if err := p.commit(events); err != nil {
		return err
	}
	sealed, err := h.sealCursor(p.c, pp.q, next)
	if err != nil {
		return err
	}
	p.c.Header("Content-Type", contentType("application/json; charset=utf-8", p.proof))
	ok(p.c, gin.H{"records": out, "next_cursor": sealed, "more": more})
	return nil
}

// queryProblem maps what a store scan (or the chain inside it) failed with.
// A refused or undecided charge is returned as it is, for chain.Kit.Fail to
// answer (and to count a refusal for the audit log); chain.Problem maps it
// where the answer is a stream's trailer.
func queryProblem(err error) error {
	var (
		p       *problem.Error
		refused *ratelimit.RefusedError
	)
	switch {
	case errors.As(err, &p):
		return p
	case errors.As(err, &refused), errors.Is(err, ratelimit.ErrUnavailable):
		return err
	case errors.Is(err, store.ErrBadCursor):
		return chain.ParamError("cursor", "is not a cursor this gateway handed out")
	default:
		return problem.Unavailable("the record store is unavailable", err)
	}
}

// qZero reports an Accept weight of zero: "not acceptable".
func qZero(q string) bool {
	f, err := strconv.ParseFloat(q, 64)
	return err == nil && f == 0
}

// unused audits, of the decisions a page made but does not use, those that
// changed something: a release found expired is marked so once, when it is
// found, and its event must not be lost with the decision. The record
// itself is neither sent nor counted; the next page decides it again.
func (p *pipeline) unused(events *[]audit.Event, xs []decided) {
	for i := range xs {
		if len(xs[i].Expired) == 0 {
			continue
		}
		*events = append(*events, p.event(&xs[i]))
	}
}

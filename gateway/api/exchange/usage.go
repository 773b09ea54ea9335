package exchange

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/ratelimit"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// Customs usage batches (ATT art. 8(1); ARCHITECTURE.md, "Customs usage"):
// customs returns what it saw used of each licence line, a batch at a time
// under its own Idempotency-Key.

// UsageAnswer is the answer to a batch: the lines applied, those rejected
// with their reason, and whether this is the answer of an earlier request
// with the same key and body (nothing applied again).
type UsageAnswer struct {
	Applied  []int                  `json:"applied"`
	Rejected []store.UsageRejection `json:"rejected"`
	Replayed bool                   `json:"replayed"`
}

var (
	// An idempotency key is 1 to 128 visible ASCII characters.
	idemKeyPattern     = regexp.MustCompile(`^[\x21-\x7e]{1,128}$`)
	mlCategoryPattern  = regexp.MustCompile(`^ML([1-9]|1[0-9]|2[0-2])$`)
	declarationPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/-]{0,63}$`)
)

// maxUsageQuantity bounds one line, far above any licence, well inside an
// int64 sum.
const maxUsageQuantity = 1_000_000_000_000

// usageLine reads one line as sent; a line the gateway cannot read is
// rejected on its own (invalid_line) and the others still apply.
func usageLine(raw json.RawMessage) (store.UsageLine, string) {
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(raw, &doc); err != nil || doc == nil {
		return store.UsageLine{}, "a line is an object with licence_id, ml_category, quantity, declaration and date"
	}
	for k := range doc {
		switch k {
		case "licence_id", "ml_category", "quantity", "declaration", "date":
		default:
			return store.UsageLine{}, k + ": not a field of a usage line"
		}
	}
	var l store.UsageLine
	str := func(name string, into *string) string {
		if err := json.Unmarshal(doc[name], into); err != nil || doc[name] == nil {
			return name + ": required, a string"
		}
		return ""
	}
	for _, f := range []struct {
		name string
		into *string
		ok   func(string) bool
	}{
		{"licence_id", &l.LicenceID, records.ValidID},
		{"ml_category", &l.Category, mlCategoryPattern.MatchString},
		{"declaration", &l.Declaration, declarationPattern.MatchString},
		{"date", &l.Date, func(s string) bool { _, err := time.Parse(time.DateOnly, s); return err == nil }},
	} {
		if msg := str(f.name, f.into); msg != "" {
			return store.UsageLine{}, msg
		}
		if !f.ok(*f.into) {
			return store.UsageLine{}, f.name + ": not a valid value"
		}
	}
	dec := json.NewDecoder(bytes.NewReader(doc["quantity"]))
	dec.UseNumber()
	var n json.Number
	if err := dec.Decode(&n); err != nil || doc["quantity"] == nil {
		return store.UsageLine{}, "quantity: required, an integer"
	}
	q, err := n.Int64()
	if err != nil || q < 1 || q > maxUsageQuantity {
		return store.UsageLine{}, fmt.Sprintf("quantity: an integer from 1 to %d", int64(maxUsageQuantity))
	}
	l.Quantity = q
	return l, ""
}

// Usage is POST /v1/licences/usage, for customs only: a batch of usage
// lines under its Idempotency-Key. The batch is audited before it is
// applied (nothing is applied when the log cannot take it) and its outcome
// after; a repeat of the same key and body answers as the first time with
// replayed true and applies nothing; the same key with another body is a
// 409. Charged in class push: one, and one per line.
func (h *Handlers) Usage(c *gin.Context) error {
	if err := h.Ready(c); err != nil {
		return err
	}
	ctx := c.Request.Context()
	req := chain.NewRequest(c, "licence_usage", "")
	if req.Member.Kind != identity.KindCustoms {
		return h.kit.Refuse(c, req, problem.New(http.StatusForbidden, problem.TypeForbidden,
			"usage of licences is returned by customs"))
	}
	key := c.GetHeader("Idempotency-Key")
	if !idemKeyPattern.MatchString(key) {
		return h.kit.Refuse(c, req, chain.ParamError("Idempotency-Key", "is required: 1 to 128 visible ASCII characters naming this batch"))
	}
	body, err := h.readBody(c)
	if err != nil {
		return h.kit.Refuse(c, req, problem.From(err))
	}
	var batch struct {
		Lines []json.RawMessage `json:"lines"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&batch); err != nil || dec.More() || batch.Lines == nil {
		return h.kit.Refuse(c, req, problem.New(http.StatusUnprocessableEntity, problem.TypeInvalidRecord,
			`the body is one object {"lines": [{licence_id, ml_category, quantity, declaration, date}, …]}`))
	}
	if n := len(batch.Lines); n == 0 || n > h.cfg.Limits.MaxRecords {
		return h.kit.Refuse(c, req, problem.New(http.StatusUnprocessableEntity, problem.TypeTooManyRecords,
			fmt.Sprintf("a batch has 1 to %d lines", h.cfg.Limits.MaxRecords)))
	}
	if err := h.kit.ChargeMore(c, ratelimit.ClassPush, len(batch.Lines)); err != nil {
		return err
	}
	b := store.UsageBatch{Member: req.Member.ID, Key: key, Lines: make([]store.UsageLine, len(batch.Lines))}
	var canon bytes.Buffer
	for i, raw := range batch.Lines {
		l, bad := usageLine(raw)
		if bad != "" {
			b.Rejected = append(b.Rejected, store.UsageRejection{Line: i, Code: "invalid_line", Message: bad})
		}
		b.Lines[i] = l
		// The digest is of the lines as read, so a repeat laid out
		// differently is the same batch; an unreadable line counts as
		// sent.
		if bad != "" {
			canon.Write(raw)
		} else {
			enc, _ := json.Marshal(l)
			canon.Write(enc)
		}
		canon.WriteByte('\n')
	}
	req.DigestOf(canon.Bytes())
	b.Digest = req.Digest
	// A licence customs may not pull is, to it, not in the register: its
	// lines are refused exactly as those of a licence not stored, so that
	// no batch tells customs that a licence withheld from it exists. Each
	// licence is decided once, as a pull, and audited with the batch.
	p := h.pipeline(c, req, ratelimit.ClassPush)
	p.lead.Records = len(b.Lines)
	visible := map[string]bool{}
	var events []audit.Event
	for i, l := range b.Lines {
		if l.LicenceID == "" {
			continue
		}
		seen, decided := visible[l.LicenceID]
		if !decided {
			rec, err := h.get(ctx, l.LicenceID)
			switch {
			case err == nil && rec.Kind == records.KindLicence:
				x := p.decide(rec)
				ev := p.req.Event(x.Verdict, 0)
				x.Annotate(&ev)
				events = append(events, ev)
				seen = x.Released()
			case err != nil && !errors.Is(err, store.ErrNotFound):
				return problem.Unavailable("the record store is unavailable; nothing was applied, retry the batch", err)
			}
			visible[l.LicenceID] = seen
		}
		if !seen {
			b.Rejected = append(b.Rejected, store.UsageRejection{Line: i, Code: "licence_unknown",
				Message: fmt.Sprintf("licence %s is not in the register of licences", l.LicenceID)})
		}
	}
	store.SortRejections(b.Rejected)
	if err := p.commit(events); err != nil {
		return problem.Unavailable("the audit log is unavailable; nothing was applied, retry the batch", err)
	}
	_, sp := h.kit.Tracer.Start(ctx, "store")
	out, err := h.deps.Store.ApplyUsage(ctx, b)
	sp.End(err)
	outcome := req.Event(audit.DecisionAllow, http.StatusOK)
	outcome.Action = "licence_usage.outcome"
	switch {
	case errors.Is(err, store.ErrIdempotencyMismatch):
		return h.kit.Refuse(c, req, problem.New(http.StatusConflict, problem.TypeConflict,
			"this Idempotency-Key was used for another batch; send a new batch under a new key"),
			verdict.Reason{Code: "idempotency_key_reused", Message: "the key names another batch"})
	case err != nil:
		return problem.Unavailable("the record store is unavailable; retry the batch under the same key", err)
	}
	outcome.Records = len(out.Applied)
	if out.Replayed {
		outcome.Reasons = append(outcome.Reasons, verdict.Reason{Code: "replayed", Message: "the batch was applied before under this key; nothing applied again"})
	}
	for _, r := range out.Rejected {
		outcome.Reasons = append(outcome.Reasons, verdict.Reason{Code: r.Code, Message: fmt.Sprintf("line %d: %s", r.Line, r.Message)})
	}
	if len(out.Applied) == 0 {
		outcome.Decision = audit.DecisionDeny
	}
	if err := h.append(ctx, []audit.Event{outcome}); err != nil {
		return err
	}
	ok(c, UsageAnswer{Applied: out.Applied, Rejected: out.Rejected, Replayed: out.Replayed})
	return nil
}

// LicenceUsage is GET /v1/licences/{id}/usage: a licence's quantity, usage
// and remainder per ML category, for any member the policy releases the
// licence to, decided and audited as a get of it. A licence withheld from
// the caller is answered exactly as one not stored (404, the same work).
func (h *Handlers) LicenceUsage(c *gin.Context) error {
	if err := h.Ready(c); err != nil {
		return err
	}
	req := chain.NewRequest(c, "licence_usage_read", "")
	notFound := problem.New(http.StatusNotFound, problem.TypeNotFound, "no such record")
	id := c.Param("id")
	if !records.ValidID(id) {
		return h.kit.Refuse(c, req, notFound)
	}
	rec, err := h.get(c.Request.Context(), id)
	missing := errors.Is(err, store.ErrNotFound)
	if err != nil && !missing {
		return problem.Unavailable("the record store is unavailable", err)
	}
	if !missing && rec.Kind != records.KindLicence {
		// Another kind of record under this id has no usage: answered
		// as a missing licence, after the same decision.
		missing = true
	}
	p := h.pipeline(c, req, ratelimit.ClassPull)
	subject := rec
	if missing {
		subject = standIn(id)
	}
	x := p.decide(subject)
	ev := p.req.Event(x.Verdict, 0)
	x.Annotate(&ev)
	released := !missing && x.Released()
	if missing {
		ev.Decision, ev.RecordID, ev.RecordKind = audit.DecisionWithhold, id, ""
		ev.Reasons = []verdict.Reason{{Code: "not_found", Message: "no licence with this id is stored"}}
	}
	var u store.LicenceUsage
	if released {
		if u, err = h.deps.Store.Usage(c.Request.Context(), id); err != nil && !errors.Is(err, store.ErrNotFound) {
			return problem.Unavailable("the record store is unavailable", err)
		}
		released = err == nil
	}
	if released {
		p.answered(audit.DecisionAllow, http.StatusOK, 1)
	} else {
		p.answered(audit.DecisionWithhold, http.StatusNotFound, 0)
	}
	if err := p.commit([]audit.Event{ev}); err != nil {
		return err
	}
	if !released {
		return notFound
	}
	ok(c, u)
	return nil
}

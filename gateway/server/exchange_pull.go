package server

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/ratelimit"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// exNDJSON is the streaming media type of pulls and pushes.
const exNDJSON = "application/x-ndjson"

// exDefaultPage is a page's size when the caller names none.
const exDefaultPage = 100

// exTraceMax bounds one item's history: a trace is sorted in memory, and no
// real item has anywhere near this many events.
const exTraceMax = 10000

var (
	// Patterns of the record schemas, checked again on query parameters
	// so that a malformed filter is a 400, not an empty answer.
	exManufacturer = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 .&'-]{0,63}$`)
	exSerial       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// errExStop ends a store scan early without an error.
var errExStop = errors.New("stop")

// errExAnswered ends a stream whose response a helper has already written.
var errExAnswered = errors.New("answered")

// exPullParams is a validated pull query.
type exPullParams struct {
	q     store.Query
	limit int
}

// pull is GET /v1/records: a page (JSON) or a stream (NDJSON).
func (h *exHandlers) pull(c *gin.Context) {
	if !h.ready(c) {
		return
	}
	req := h.request(c, "pull")
	sum := sha256.Sum256([]byte(c.Request.URL.RawQuery))
	req.digest = "sha256:" + hex.EncodeToString(sum[:])
	stream, err := exWantsStream(c.GetHeader("Accept"))
	if err != nil {
		h.refuse(c, &req, err)
		return
	}
	pp, err := h.pullParams(c, stream)
	if err != nil {
		h.refuse(c, &req, err)
		return
	}
	if stream {
		h.stream(c, &req, pp)
		return
	}
	h.page(c, &req, pp)
}

// exLookahead is how many withheld records one page decides at most,
// besides its released ones: max(limit, exLookahead).
const exLookahead = 256

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
// Residual: one page decides at most max(limit, exLookahead) withheld
// records. When that many are met, the page ends with more=true and a
// cursor after the last one decided, whatever follows them; so more=true
// (with a short or empty page) may mean only that many withheld records
// follow. The bound keeps a page's work within a fixed multiple of what it
// costs.
func (h *exHandlers) page(c *gin.Context, req *exRequest, pp exPullParams) {
	ctx := c.Request.Context()
	if !h.s.takeMore(c, ratelimit.ClassPull, pp.limit) {
		return
	}
	var (
		out      []exDelivery
		events   []audit.Event
		chunk    = make([]exDecided, 0, min(pp.limit, exChunk))
		budget   = max(pp.limit, exLookahead) // withheld records this page may still decide
		released int
		next     = pp.q.After
		more     bool
	)
	flush := func() error {
		d, ev, err := h.release(ctx, req, chunk)
		if err != nil {
			return err
		}
		out, events, chunk = append(out, d...), append(events, ev...), chunk[:0]
		return nil
	}
	q := pp.q
	// At most limit released, budget withheld and one more: the released
	// record of the lookahead, or whatever follows the last withheld one.
	q.Limit = pp.limit + budget + 1
	err := h.s.deps.Store.Query(ctx, q, func(rec *records.Record, cursor string) error {
		if budget == 0 {
			more = true // residual: see above
			return errExStop
		}
		x := h.decide(ctx, req, rec)
		if x.released() {
			if released == pp.limit {
				more = true // the lookahead found one: the next page starts with it
				return errExStop
			}
			released++
		} else {
			budget--
		}
		next = cursor
		chunk = append(chunk, x)
		if len(chunk) == exChunk {
			return flush()
		}
		return nil
	})
	if errors.Is(err, errExStop) {
		err = nil
	}
	if err == nil && len(chunk) > 0 {
		err = flush()
	}
	if err != nil {
		h.s.fail(c, exQueryProblem(err))
		return
	}
	lead := req.event(audit.DecisionAllow)
	lead.Status, lead.Records = http.StatusOK, len(out)
	if err := h.commit(ctx, "pull", &lead, events); err != nil {
		h.s.fail(c, err)
		return
	}
	if out == nil {
		out = []exDelivery{}
	}
	sealed, err := h.exSealCursor(c, pp.q, next)
	if err != nil {
		h.s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"records": out, "next_cursor": sealed, "more": more})
}

// exTrailer is the last line of an NDJSON pull: where to resume, and
// whether the stream ended because everything was sent or because of an
// error. A stream without it was cut off.
type exTrailer struct {
	NextCursor string         `json:"next_cursor"`
	Complete   bool           `json:"complete"`
	Records    int            `json:"records"`
	Error      map[string]any `json:"error,omitempty"`
}

// stream answers NDJSON, one chunk at a time straight from the store's
// scan, so memory stays flat however many records match. Each chunk is
// charged, decided, signed and audited before its first byte is written.
//
// A chunk costs exChunk records (or what is left of the stream's limit),
// however many of them the store found and policy released: the first
// chunk is paid even when nothing matches, so an empty answer and an answer
// of withheld records cost the same, and nothing is refunded. Only the
// number of chunks depends on what the store holds, so hidden records can
// show in the quota at a granularity of exChunk, never one by one.
func (h *exHandlers) stream(c *gin.Context, req *exRequest, pp exPullParams) {
	ctx := c.Request.Context()
	var (
		chunk     = make([]*records.Record, 0, exChunk)
		lastSeen  string
		resume    = pp.q.After // cursor behind the last chunk written
		started   bool
		charged   int
		sent      int
		lead      = req.event(audit.DecisionAllow)
		firstLead = &lead
		line      bytes.Buffer
	)
	flush := func() error {
		if len(chunk) > 0 || charged == 0 {
			cost := exChunk
			if pp.limit > 0 {
				cost = max(1, min(exChunk, pp.limit-charged))
			}
			if !started {
				if !h.s.takeMore(c, ratelimit.ClassPull, charged+cost) {
					return errExAnswered
				}
			} else if _, _, p := h.s.rlCharge(c, ratelimit.ClassPull, cost); p != nil {
				// The status line is sent: the refusal ends the stream in
				// its trailer instead of a 429.
				return p
			}
			charged += cost
		}
		d, events, err := h.deliver(ctx, req, chunk)
		if err != nil {
			return err
		}
		if err := h.commit(ctx, "pull", firstLead, events); err != nil {
			return err
		}
		firstLead = nil
		if !started {
			c.Header("Content-Type", exNDJSON)
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
	err := h.s.deps.Store.Query(ctx, q, func(rec *records.Record, cursor string) error {
		chunk = append(chunk, rec)
		lastSeen = cursor
		if len(chunk) == exChunk {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush() // the rest, or, for an empty result, the request's audit event
	}
	switch {
	case errors.Is(err, errExAnswered):
		return
	case err != nil && !started:
		h.s.fail(c, exQueryProblem(err))
		return
	case err != nil:
		p := exQueryProblem(err)
		h.s.log.Warn("pull stream ended early", "component", "exchange", "request_id", req.id, "member", req.member.ID,
			"records", sent, "status", p.Status, "type", p.Type, "error", err)
		sealed, _ := h.exSealCursor(c, pp.q, resume) // a position the store handed out
		trailer := exTrailer{NextCursor: sealed, Records: sent, Error: p.Body("urn:ura:request:" + req.id)}
		_ = json.NewEncoder(c.Writer).Encode(trailer)
		c.Writer.Flush()
		return
	}
	sealed, _ := h.exSealCursor(c, pp.q, resume)
	_ = json.NewEncoder(c.Writer).Encode(exTrailer{NextCursor: sealed, Complete: true, Records: sent})
	c.Writer.Flush()
}

// exQueryProblem maps what a store scan (or the chain inside it) failed with.
func exQueryProblem(err error) *problem.Error {
	var p *problem.Error
	switch {
	case errors.As(err, &p):
		return p
	case errors.Is(err, store.ErrBadCursor):
		return exParamProblem("cursor", "is not a cursor this gateway handed out")
	default:
		return problem.Unavailable("the record store is unavailable", err)
	}
}

// get is GET /v1/records/{id}: one record as the caller may see it. A
// withheld record is answered exactly like a missing one, and costs the same
// work: a missing id is decided too (on a stand-in that no rule releases)
// and audited with the same two events, so neither the answer nor its
// timing tells whether the record exists. The request's one charge was paid
// before (charge), and nothing is refunded.
func (h *exHandlers) get(c *gin.Context) {
	if !h.ready(c) {
		return
	}
	ctx := c.Request.Context()
	req := h.request(c, "pull")
	notFound := problem.New(http.StatusNotFound, problem.TypeNotFound, "no such record")
	id := c.Param("id")
	if !records.ValidID(id) {
		h.refuse(c, &req, notFound)
		return
	}
	rec, err := h.s.deps.Store.Get(ctx, id)
	missing := errors.Is(err, store.ErrNotFound)
	if err != nil && !missing {
		h.s.fail(c, problem.Unavailable("the record store is unavailable", err))
		return
	}
	var (
		d      []exDelivery
		events []audit.Event
	)
	if missing {
		// Decided and audited like a withheld record; the decision itself
		// is not used.
		_ = h.s.deps.Policy.Decide(ctx, policy.Input{Caller: req.member, Action: policy.Pull, Record: exStandIn(id)})
		ev := req.recordEvent(nil, audit.DecisionWithhold, policy.Decision{})
		ev.RecordID, ev.Reasons = id, []verdict.Reason{{Code: "not_found", Message: "no record with this id is stored"}}
		events = []audit.Event{ev}
	} else if d, events, err = h.deliver(ctx, &req, []*records.Record{rec}); err != nil {
		h.s.fail(c, err)
		return
	}
	lead := req.event(audit.DecisionAllow)
	lead.Status, lead.Records = http.StatusOK, len(d)
	if len(d) == 0 {
		lead.Decision, lead.Status = audit.DecisionWithhold, http.StatusNotFound
	}
	if err := h.commit(ctx, "pull", &lead, events); err != nil {
		h.s.fail(c, err)
		return
	}
	if len(d) == 0 {
		h.s.fail(c, notFound)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, d[0])
}

// exStandIn is what a get decides for an id that is not stored: a record
// of the most guarded shape, which the policy withholds from every member
// (no nation is named in releasable_to), so that a missing id costs one
// decision like a stored one.
func exStandIn(id string) *records.Record {
	created := time.Unix(0, 0).UTC()
	lbl := map[string]any{"classification": "SECRET", "releasable_to": []any{}, "originator": "NONE/NONE/NONE", "created": created.Format(time.RFC3339)}
	doc := map[string]any{"kind": records.KindLicence, "id": id, "version": json.Number("1"), "label": lbl, "licence": map[string]any{}}
	return &records.Record{Kind: records.KindLicence, ID: id, Version: 1, Doc: doc, Raw: json.RawMessage(`{}`),
		Label: records.Label{Classification: "SECRET", ReleasableTo: []string{}, Originator: "NONE/NONE/NONE", Created: created}}
}

// trace is GET /v1/items/{country}/{manufacturer}/{serial}/trace: an item's
// tracking events in the order they happened, each decided, signed and
// audited like a pull (class trace). One trace is one charge of its class.
func (h *exHandlers) trace(c *gin.Context) {
	if !h.ready(c) {
		return
	}
	ctx := c.Request.Context()
	req := h.request(c, "trace")
	mk := store.Marking{Country: c.Param("country"), Manufacturer: c.Param("manufacturer"), Serial: c.Param("serial")}
	switch {
	case !records.IsCountry(mk.Country):
		h.refuse(c, &req, exParamProblem("country", "must be an ISO 3166-1 alpha-3 country code (or XKX)"))
		return
	case !exManufacturer.MatchString(mk.Manufacturer):
		h.refuse(c, &req, exParamProblem("manufacturer", "must be a manufacturer as marked on the item"))
		return
	case !exSerial.MatchString(mk.Serial):
		h.refuse(c, &req, exParamProblem("serial", "must be a serial number as marked on the item"))
		return
	}
	var found []*records.Record
	err := h.s.deps.Store.Query(ctx, store.Query{Kind: records.KindTrackingEvent, Marking: &mk}, func(rec *records.Record, _ string) error {
		if len(found) == exTraceMax {
			return problem.New(http.StatusUnprocessableEntity, problem.TypeTooManyRecords,
				fmt.Sprintf("this item has more than %d events; pull them with GET /v1/records and the marking filters", exTraceMax))
		}
		found = append(found, rec)
		return nil
	})
	if err != nil {
		h.s.fail(c, exQueryProblem(err))
		return
	}
	slices.SortStableFunc(found, func(a, b *records.Record) int {
		ta, _ := a.EventTime()
		tb, _ := b.EventTime()
		return cmp.Or(ta.Compare(tb), strings.Compare(a.ID, b.ID))
	})
	// A trace costs its one charge (paid before, in charge) however many
	// events the item has: a charge per event found would count the events
	// policy withholds.
	var (
		out    = []exDelivery{}
		events []audit.Event
	)
	for chunk := range slices.Chunk(found, exChunk) {
		d, ev, err := h.deliver(ctx, &req, chunk)
		if err != nil {
			h.s.fail(c, err)
			return
		}
		out, events = append(out, d...), append(events, ev...)
	}
	lead := req.event(audit.DecisionAllow)
	lead.Status, lead.Records = http.StatusOK, len(out)
	if err := h.commit(ctx, "trace", &lead, events); err != nil {
		h.s.fail(c, err)
		return
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"item": gin.H{"country": mk.Country, "manufacturer": mk.Manufacturer, "serial": mk.Serial}, "events": out})
}

// exWantsStream reads Accept: NDJSON streams, JSON (or anything) pages.
func exWantsStream(accept string) (bool, error) {
	if strings.TrimSpace(accept) == "" {
		return false, nil
	}
	for _, part := range strings.Split(accept, ",") {
		mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err != nil || exQZero(params["q"]) {
			continue
		}
		switch mt {
		case exNDJSON:
			return true, nil
		case "application/json", "application/*", "*/*":
			return false, nil
		}
	}
	p := problem.New(http.StatusNotAcceptable, problem.TypeNotAcceptable,
		"a pull answers application/json (a page) or application/x-ndjson (a stream)")
	p.Extra = map[string]any{"available": []string{"application/json", exNDJSON}}
	return false, p
}

// exQZero reports an Accept weight of zero: "not acceptable".
func exQZero(q string) bool {
	f, err := strconv.ParseFloat(q, 64)
	return err == nil && f == 0
}

// exPullParamNames are the only query parameters a pull takes: a misspelt
// filter must not silently widen what is returned.
var exPullParamNames = []string{"kind", "since", "originator", "licence_id", "country", "manufacturer", "serial", "cursor", "limit"}

// pullParams validates the query of a pull. Every error names its parameter
// as the pointer.
func (h *exHandlers) pullParams(c *gin.Context, stream bool) (exPullParams, error) {
	values := c.Request.URL.Query()
	var pp exPullParams
	var errs []problem.FieldError
	bad := func(name, detail string) { errs = append(errs, problem.FieldError{Pointer: name, Detail: detail}) }
	for name, v := range values {
		switch {
		case !slices.Contains(exPullParamNames, name):
			bad(name, "is not a parameter of this route (known: "+strings.Join(exPullParamNames, ", ")+")")
		case len(v) > 1:
			bad(name, "may be given once")
		}
	}
	get := values.Get
	if k := get("kind"); k != "" {
		if !records.KnownKind(k) {
			bad("kind", "must be one of "+strings.Join(records.Kinds, ", "))
		}
		pp.q.Kind = k
	}
	if s := get("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t, err = time.Parse(time.DateOnly, s)
		}
		if err != nil {
			bad("since", "must be an RFC 3339 date-time or a date (YYYY-MM-DD)")
		}
		pp.q.Since = t
	}
	if o := get("originator"); o != "" {
		if identity.ValidMemberID(o) != nil {
			bad("originator", "must be a member ID such as AL/GOV/AIM")
		}
		pp.q.Originator = o
	}
	if l := get("licence_id"); l != "" {
		if !records.ValidID(l) {
			bad("licence_id", "must be a record id")
		}
		pp.q.LicenceID = l
	}
	country, manufacturer, serial := get("country"), get("manufacturer"), get("serial")
	if country != "" || manufacturer != "" || serial != "" {
		switch {
		case !records.IsCountry(country):
			bad("country", "must be an ISO 3166-1 alpha-3 country code (or XKX); an item is named by country, manufacturer and serial together")
		case !exManufacturer.MatchString(manufacturer):
			bad("manufacturer", "must be given with country and serial, as marked on the item")
		case !exSerial.MatchString(serial):
			bad("serial", "must be given with country and manufacturer, as marked on the item")
		}
		pp.q.Marking = &store.Marking{Country: country, Manufacturer: manufacturer, Serial: serial}
	}
	cur := get("cursor")
	maxPage := h.s.cfg.Limits.MaxPageSize
	if !stream {
		pp.limit = min(exDefaultPage, maxPage)
	}
	if l := get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		switch {
		case err != nil || n < 1:
			bad("limit", "must be a positive integer")
		case !stream && n > maxPage:
			bad("limit", fmt.Sprintf("a page holds at most %d records; stream with Accept: %s for more", maxPage, exNDJSON))
		}
		pp.limit = n
	}
	if cur != "" && len(errs) == 0 {
		// A cursor opens only for the member and the query it was handed
		// out for (cursor.Sealer); the binding is complete only once the
		// filters above are valid.
		pos, err := h.s.deps.Cursors.Open(exCursorBinding(c, pp.q), cur)
		if err != nil {
			bad("cursor", "is not a cursor this gateway handed out for this query")
		}
		pp.q.After = store.EncodeCursor(pos)
	}
	if len(errs) > 0 {
		slices.SortFunc(errs, func(a, b problem.FieldError) int { return strings.Compare(a.Pointer, b.Pointer) })
		p := problem.New(http.StatusBadRequest, problem.TypeBadRequest, "invalid query parameters")
		p.Errors = errs
		return pp, p
	}
	return pp, nil
}

// exCursorBinding is what a cursor is sealed to: the member and every
// filter of its query (not the limit, which may change from page to page).
func exCursorBinding(c *gin.Context, q store.Query) []byte {
	m, _ := identity.FromContext(c.Request.Context())
	return exCursorBindingFor(m.ID, q)
}

func exCursorBindingFor(member string, q store.Query) []byte {
	b := fmt.Appendf(nil, "%s\x00%s\x00%s\x00%s\x00%s", member, q.Kind, q.Originator, q.LicenceID, q.Since.UTC().Format(time.RFC3339Nano))
	if mk := q.Marking; mk != nil {
		b = fmt.Appendf(b, "\x00%s\x00%s\x00%s", mk.Country, mk.Manufacturer, mk.Serial)
	}
	return b
}

// exSealCursor hands out store position pos as a sealed cursor.
func (h *exHandlers) exSealCursor(c *gin.Context, q store.Query, pos string) (string, error) {
	seq, err := store.DecodeCursor(pos)
	if err != nil {
		return "", problem.Internal(fmt.Errorf("store cursor: %w", err))
	}
	return h.s.deps.Cursors.Seal(exCursorBinding(c, q), seq), nil
}

// exParamProblem is a 400 naming one query or path parameter.
func exParamProblem(name, detail string) *problem.Error {
	p := problem.New(http.StatusBadRequest, problem.TypeBadRequest, "invalid parameter "+name)
	p.Errors = []problem.FieldError{{Pointer: name, Detail: detail}}
	return p
}

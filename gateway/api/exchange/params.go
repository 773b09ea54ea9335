package exchange

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/records"
)

// defaultPage is a page's size when the caller names none.
const defaultPage = 100

var (
	// Patterns of the record schemas, checked again on query parameters
	// so that a malformed filter is a 400, not an empty answer.
	manufacturerPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9 .&'-]{0,63}$`)
	serialPattern       = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)
)

// pullParams is a validated pull query.
type pullParams struct {
	q     store.Query
	limit int
}

// pullParamNames are the only query parameters a pull takes: a misspelt
// filter must not silently widen what is returned.
var pullParamNames = []string{"kind", "since", "originator", "licence_id", "country", "manufacturer", "serial", "cursor", "limit"}

// pullParams validates the query of a pull.
func (h *Handlers) pullParams(c *gin.Context, stream bool) (pullParams, error) {
	values := c.Request.URL.Query()
	var pp pullParams
	var bad chain.Params
	for name, v := range values {
		switch {
		case !slices.Contains(pullParamNames, name):
			bad.Bad(name, "is not a parameter of this route (known: "+strings.Join(pullParamNames, ", ")+")")
		case len(v) > 1:
			bad.Bad(name, "may be given once")
		}
	}
	get := values.Get
	if k := get("kind"); k != "" {
		if !records.KnownKind(k) {
			bad.Bad("kind", "must be one of "+strings.Join(records.Kinds, ", "))
		}
		pp.q.Kind = k
	}
	if s := get("since"); s != "" {
		t, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t, err = time.Parse(time.DateOnly, s)
		}
		if err != nil {
			bad.Bad("since", "must be an RFC 3339 date-time or a date (YYYY-MM-DD)")
		}
		pp.q.Since = t
	}
	if o := get("originator"); o != "" {
		if identity.ValidMemberID(o) != nil {
			bad.Bad("originator", "must be a member ID such as AL/GOV/AIM")
		}
		pp.q.Originator = o
	}
	if l := get("licence_id"); l != "" {
		if !records.ValidID(l) {
			bad.Bad("licence_id", "must be a record id")
		}
		pp.q.LicenceID = l
	}
	country, manufacturer, serial := get("country"), get("manufacturer"), get("serial")
	if country != "" || manufacturer != "" || serial != "" {
		if err := checkMarking(country, manufacturer, serial, true); err != nil {
			bad.Bad(err.Errors[0].Pointer, err.Errors[0].Detail)
		}
		pp.q.Marking = &store.Marking{Country: country, Manufacturer: manufacturer, Serial: serial}
	}
	maxPage := h.cfg.Limits.MaxPageSize
	if !stream {
		pp.limit = min(defaultPage, maxPage)
	}
	if l := get("limit"); l != "" {
		n, err := strconv.Atoi(l)
		switch {
		case err != nil || n < 1:
			bad.Bad("limit", "must be a positive integer")
		case !stream && n > maxPage:
			bad.Bad("limit", fmt.Sprintf("a page holds at most %d records; stream with Accept: %s for more", maxPage, NDJSON))
		}
		pp.limit = n
	}
	if err := bad.Err(); err != nil {
		return pp, err
	}
	if cur := get("cursor"); cur != "" {
		// A cursor opens only for the member and the query it was handed
		// out for (cursor.Sealer); the binding is complete only once the
		// filters above are valid.
		pos, err := h.deps.Cursors.Open(CursorBinding(chain.Caller(c).ID, pp.q), cur)
		if err != nil {
			return pp, chain.ParamError("cursor", "is not a cursor this gateway handed out for this query")
		}
		pp.q.After = store.EncodeCursor(pos)
	}
	return pp, nil
}

// checkMarking validates an item's marking, named in a pull's query (where
// the three go together) or a trace's path.
func checkMarking(country, manufacturer, serial string, query bool) *problem.Error {
	together := ""
	if query {
		together = "; an item is named by country, manufacturer and serial together"
	}
	switch {
	case !records.IsCountry(country):
		return chain.ParamError("country", "must be an ISO 3166-1 alpha-3 country code (or XKX)"+together)
	case !manufacturerPattern.MatchString(manufacturer):
		return chain.ParamError("manufacturer", "must be a manufacturer as marked on the item")
	case !serialPattern.MatchString(serial):
		return chain.ParamError("serial", "must be a serial number as marked on the item")
	}
	return nil
}

// CursorBinding is what a cursor is sealed to: the member and every filter
// of its query (not the limit, which may change from page to page).
func CursorBinding(member string, q store.Query) []byte {
	b := fmt.Appendf(nil, "%s\x00%s\x00%s\x00%s\x00%s", member, q.Kind, q.Originator, q.LicenceID, q.Since.UTC().Format(time.RFC3339Nano))
	if mk := q.Marking; mk != nil {
		b = fmt.Appendf(b, "\x00%s\x00%s\x00%s", mk.Country, mk.Manufacturer, mk.Serial)
	}
	return b
}

// sealCursor hands out store position pos as a sealed cursor.
func (h *Handlers) sealCursor(c *gin.Context, q store.Query, pos string) (string, error) {
	seq, err := store.DecodeCursor(pos)
	if err != nil {
		return "", problem.Internal(fmt.Errorf("store cursor: %w", err))
	}
	return h.deps.Cursors.Seal(CursorBinding(chain.Caller(c).ID, q), seq), nil
}

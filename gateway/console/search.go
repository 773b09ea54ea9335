package console

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/problem"
)

// formTime is how times travel in console links and the search form: what
// an <input type="datetime-local"> sends, read as UTC.
const formTime = "2006-01-02T15:04"

// Search form limits.
const (
	maxFieldBytes     = 256
	defaultSearchRows = 50
	maxSearchRows     = 500
)

// decisionChoices are the decisions the search form offers.
var decisionChoices = []string{audit.DecisionAllow, audit.DecisionRedact, audit.DecisionWithhold, audit.DecisionDeny, audit.DecisionError}

// SearchForm is the search form as the officer filled it in, echoed back.
type SearchForm struct {
	Member   string
	RecordID string
	Decision string
	Reason   string
	From     string
	To       string
	Limit    int
	Cursor   int64
}

// FieldErrors maps a form field to what is wrong with it.
type FieldErrors map[string]string

// ParseSearch reads a search form from a query string. Every field is
// checked; the errors name the fields as the form does.
func ParseSearch(v url.Values) (audit.Query, SearchForm, FieldErrors) {
	errs := FieldErrors{}
	f := SearchForm{Limit: defaultSearchRows}
	text := func(name string) string {
		s := strings.TrimSpace(v.Get(name))
		switch {
		case len(s) > maxFieldBytes:
			errs[name] = "must be at most " + strconv.Itoa(maxFieldBytes) + " bytes"
			return ""
		case !utf8.ValidString(s):
			errs[name] = "must be valid UTF-8"
			return ""
		}
		return s
	}
	f.Member = text("member")
	f.RecordID = text("record_id")
	f.Reason = text("reason")
	f.Decision = text("decision")
	if f.Decision != "" && !validDecision(f.Decision) {
		errs["decision"] = "must be one of " + strings.Join(decisionChoices, ", ")
		f.Decision = ""
	}
	q := audit.Query{Member: f.Member, RecordID: f.RecordID, Decision: f.Decision, Reason: f.Reason}
	f.From = text("from")
	if t, ok := parseFormTime(f.From); !ok {
		errs["from"] = "must be a time such as 2026-06-02T08:00 (UTC)"
	} else {
		q.From = t
	}
	f.To = text("to")
	if t, ok := parseFormTime(f.To); !ok {
		errs["to"] = "must be a time such as 2026-06-02T18:00 (UTC)"
	} else {
		q.To = t
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		errs["to"] = "must be after from"
	}
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxSearchRows {
			errs["limit"] = "must be a number from 1 to " + strconv.Itoa(maxSearchRows)
		} else {
			f.Limit = n
		}
	}
	q.Limit = f.Limit
	if s := v.Get("cursor"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			errs["cursor"] = "must be a positive number"
		} else {
			f.Cursor, q.Before = n, n
		}
	}
	return q, f, errs
}

func validDecision(d string) bool {
	for _, c := range decisionChoices {
		if d == c {
			return true
		}
	}
	return false
}

// parseFormTime reads the form's time fields; empty means no bound. The
// form sends minutes; links and scripts may send seconds or RFC 3339.
func parseFormTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	for _, layout := range []string{formTime, "2006-01-02T15:04:05", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

// values is the query string of the form, without its cursor.
func (f SearchForm) values() url.Values {
	v := url.Values{}
	set := func(k, s string) {
		if s != "" {
			v.Set(k, s)
		}
	}
	set("member", f.Member)
	set("record_id", f.RecordID)
	set("decision", f.Decision)
	set("reason", f.Reason)
	set("from", f.From)
	set("to", f.To)
	if f.Limit != defaultSearchRows {
		v.Set("limit", strconv.Itoa(f.Limit))
	}
	return v
}

// eventRow is one event in a list.
type eventRow struct {
	audit.Event
	Href string
}

type searchData struct {
	Form      SearchForm
	Errors    FieldErrors
	Decisions []string
	Filtered  bool
	Rows      []eventRow
	// Next is the link to the following (older) page, First back to the
	// newest one.
	Next  string
	First string
}

// Search lists matching events, newest first. A form with errors is shown
// again with them (status 400) and the log is not read.
func (c *Console) Search(ctx context.Context, v *Viewer, form url.Values) (*Page, error) {
	r, err := c.reader()
	if err != nil {
		return nil, err
	}
	q, f, errs := ParseSearch(form)
	d := searchData{Form: f, Errors: errs, Decisions: decisionChoices}
	d.Filtered = len(f.values()) > 0
	if len(errs) > 0 {
		return c.render("search", "Search", v, 400, d)
	}
	page, err := r.Search(ctx, q)
	if err != nil {
		return nil, problem.Unavailable("the audit log cannot be searched now", err)
	}
	for _, e := range page.Events {
		d.Rows = append(d.Rows, eventRow{Event: e, Href: c.eventHref(e.Seq)})
	}
	if page.Next != 0 {
		nv := f.values()
		nv.Set("cursor", strconv.FormatInt(page.Next, 10))
		d.Next = c.searchHref(nv)
	}
	if f.Cursor != 0 {
		d.First = c.searchHref(f.values())
	}
	p, err := c.render("search", "Search", v, 200, d)
	if err != nil {
		return nil, err
	}
	p.Access.RecordID, p.Access.Events = f.RecordID, len(d.Rows)
	return p, nil
}

func (c *Console) eventHref(seq int64) string {
	return c.opts.Base + "events/" + strconv.FormatInt(seq, 10)
}

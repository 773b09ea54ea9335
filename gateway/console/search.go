package console

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/problem"
)

// formTime is how times travel in console links and the search form: what
// an <input type="datetime-local"> sends, read as UTC.
const formTime = "2006-01-02T15:04"

// Search form limits.
const (
	defaultSearchRows = 50
	maxSearchRows     = 500
)

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

// ParseSearch reads a search form from a query string with the one parser
// of audit searches (audit.ParseQuery); the errors name the fields as the
// form does.
func ParseSearch(v url.Values) (audit.Query, SearchForm, FieldErrors) {
	q, errs := audit.ParseQuery(v, defaultSearchRows, maxSearchRows)
	// The time fields are echoed as typed, so that the officer can correct
	// them; each is bounded like every text field.
	echo := func(name string) string {
		s := strings.TrimSpace(v.Get(name))
		if len(s) > 256 || !utf8.ValidString(s) {
			return ""
		}
		return s
	}
	f := SearchForm{Member: q.Member, RecordID: q.RecordID, Decision: q.Decision, Reason: q.Reason,
		From: echo("from"), To: echo("to"), Limit: q.Limit, Cursor: q.Before}
	return q, f, FieldErrors(errs)
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
	d := searchData{Form: f, Errors: errs, Decisions: audit.Decisions}
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

package audit

import (
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxQueryText bounds each text filter of a search.
const maxQueryText = 256

// Decisions are every decision an event may carry, in the order a search
// form offers them.
var Decisions = []string{DecisionAllow, DecisionRedact, DecisionWithhold, DecisionDeny, DecisionError}

// ParseQuery reads a search from query parameters, for the audit API and
// the console alike: member, record_id, decision, reason, from, to (UTC
// times: RFC 3339, or 2026-06-02T08:00 as a form sends them), cursor (the
// seq to search before) and limit (defaultLimit when absent, at most
// maxLimit). Every parameter is checked; errs maps each invalid one to what
// is wrong with it, and is empty when the query is valid.
func ParseQuery(v url.Values, defaultLimit, maxLimit int) (q Query, errs map[string]string) {
	errs = map[string]string{}
	text := func(name string) string {
		s := strings.TrimSpace(v.Get(name))
		switch {
		case len(s) > maxQueryText:
			errs[name] = "must be at most " + strconv.Itoa(maxQueryText) + " bytes"
			return ""
		case !utf8.ValidString(s):
			errs[name] = "must be valid UTF-8"
			return ""
		}
		return s
	}
	q.Member, q.RecordID, q.Reason = text("member"), text("record_id"), text("reason")
	if q.Decision = text("decision"); q.Decision != "" && !slices.Contains(Decisions, q.Decision) {
		errs["decision"] = "must be one of " + strings.Join(Decisions, ", ")
		q.Decision = ""
	}
	var ok bool
	if q.From, ok = parseTime(text("from")); !ok {
		errs["from"] = "must be a time such as 2026-06-02T08:00 (UTC) or 2026-06-02T08:00:00Z"
	}
	if q.To, ok = parseTime(text("to")); !ok {
		errs["to"] = "must be a time such as 2026-06-02T18:00 (UTC) or 2026-06-02T18:00:00Z"
	}
	if !q.From.IsZero() && !q.To.IsZero() && !q.From.Before(q.To) {
		errs["to"] = "must be after from"
	}
	q.Limit = defaultLimit
	if s := v.Get("limit"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxLimit {
			errs["limit"] = "must be a number from 1 to " + strconv.Itoa(maxLimit)
		} else {
			q.Limit = n
		}
	}
	if s := v.Get("cursor"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 {
			errs["cursor"] = "must be a positive number"
		} else {
			q.Before = n
		}
	}
	return q, errs
}

func parseTime(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02T15:04:05", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}

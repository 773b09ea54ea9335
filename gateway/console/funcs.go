package console

import (
	"html/template"
	"strconv"
	"time"

	"github.com/ura-gateway/ura/gateway/policy"
)

// funcs are the templates' helpers. None returns template.HTML or any other
// trusted type: everything they produce is escaped like any other value.
func (c *Console) funcs() template.FuncMap {
	return template.FuncMap{
		"ts":            formatTime,
		"tsShort":       func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
		"ranking":       func(label string, rows []rankRow) rankTable { return rankTable{Label: label, Rows: rows} },
		"dur":           formatDuration,
		"short":         shortHash,
		"f1":            func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
		"plus":          func(a, b float64) float64 { return a + b },
		"half":          func(a float64) float64 { return a / 2 },
		"plusInt":       func(a, b int64) int64 { return a + b },
		"minus":         func(a, b int64) int64 { return a - b },
		"decisionClass": decisionClass,
		"neg":           func(n int) int { return -n },
		"navItems":      func() []navItem { return navItems },
		"pair": func(decision string, o policy.Outcome) outcomeView {
			return outcomeView{Decision: decision, Outcome: o}
		},
	}
}

type rankTable struct {
	Label string
	Rows  []rankRow
}

type outcomeView struct {
	Decision string
	Outcome  policy.Outcome
}

func formatTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func formatDuration(d time.Duration) string {
	switch {
	case d >= 24*time.Hour && d%(24*time.Hour) == 0:
		return strconv.FormatInt(int64(d/(24*time.Hour)), 10) + " d"
	case d >= time.Hour && d%time.Hour == 0:
		return strconv.FormatInt(int64(d/time.Hour), 10) + " h"
	case d >= time.Minute && d%time.Minute == 0:
		return strconv.FormatInt(int64(d/time.Minute), 10) + " min"
	}
	return d.String()
}

// shortHash is enough of a hash to tell two apart on screen; the full value
// is always in the title or on the detail page.
func shortHash(h string) string {
	if len(h) <= 16 {
		return h
	}
	return h[:16] + "…"
}

// decisionClass maps a decision to a CSS class from a fixed set, so that a
// value from the log can never add classes of its own.
func decisionClass(d string) string {
	switch d {
	case "allow", "redact", "withhold", "deny", "error", "total", "hit":
		return d
	}
	return "other"
}

package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"time"

	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/reviews"
)

type reviewsData struct {
	DueBefore string
	Overdue   int
	Items     []reviews.Item
}

// Reviews lists every originator's records whose review date falls on or
// before due_before (default: today + 30 days), overdue ones first: the
// records the policy withholds, or will, from partners, liaison offices
// and peer gateways until their originators push a reviewed version.
func (c *Console) Reviews(ctx context.Context, v *Viewer, q url.Values) (*Page, error) {
	if c.opts.Reviews == nil {
		return nil, problem.Unavailable("review dates cannot be listed on this gateway", errors.New("console: no reviews source"))
	}
	now := c.opts.Now().UTC()
	due := now.Add(reviews.DefaultWindow)
	for name := range q {
		if name != "due_before" {
			return nil, problem.New(http.StatusBadRequest, problem.TypeBadRequest, "the reviews page takes only due_before")
		}
	}
	if vals, ok := q["due_before"]; ok {
		d, err := time.Parse(time.DateOnly, vals[0])
		if len(vals) != 1 || err != nil {
			return nil, problem.New(http.StatusBadRequest, problem.TypeBadRequest, "due_before must be one date, YYYY-MM-DD")
		}
		due = d
	}
	items, err := c.opts.Reviews(ctx, due, now)
	if err != nil {
		return nil, problem.Unavailable("review dates cannot be listed now", err)
	}
	d := reviewsData{DueBefore: due.Format(time.DateOnly), Items: items}
	for _, it := range items {
		if it.Overdue {
			d.Overdue++
		}
	}
	pg, err := c.render("reviews", "Reviews", v, http.StatusOK, d)
	if err != nil {
		return nil, err
	}
	pg.Access.Events = len(items)
	return pg, nil
}

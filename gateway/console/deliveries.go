package console

import (
	"context"
	"errors"
	"time"

	"github.com/ura-gateway/ura/gateway/deliveries"
	"github.com/ura-gateway/ura/gateway/problem"
)

type deliveriesData struct {
	Days int
	Rows []deliveryRow
}

type deliveryRow struct {
	deliveries.Unconfirmed
	Waiting    string
	RecordHref string
}

// Deliveries lists the exports whose delivery the importing state has not
// confirmed after deliveries.confirm_within_days, oldest first, with how
// long each has waited (gateway/ARCHITECTURE.md, "Deliveries"). It shows
// what the register of declarations holds, never the records.
func (c *Console) Deliveries(ctx context.Context, v *Viewer) (*Page, error) {
	if c.opts.Deliveries == nil {
		return nil, problem.Unavailable("the record store is not available on this gateway", errors.New("console: no deliveries lister"))
	}
	list, err := c.opts.Deliveries(ctx)
	if err != nil {
		return nil, problem.Unavailable("the record store is unavailable", err)
	}
	d := deliveriesData{Days: c.opts.ConfirmWithinDays}
	for _, u := range list {
		d.Rows = append(d.Rows, deliveryRow{Unconfirmed: u, Waiting: waited(time.Duration(u.WaitingSeconds) * time.Second),
			RecordHref: c.searchHref(map[string][]string{"record_id": {u.ID}})})
	}
	pg, err := c.render("deliveries", "Unconfirmed deliveries", v, 200, d)
	if err != nil {
		return nil, err
	}
	pg.Access.Events = len(d.Rows)
	return pg, nil
}

// waited is a wait in whole days, and hours under two days.
func waited(d time.Duration) string {
	if d < 48*time.Hour {
		return formatDuration(d.Truncate(time.Hour))
	}
	return formatDuration(d.Truncate(24 * time.Hour))
}

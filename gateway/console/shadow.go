package console

import (
	"context"
	"net/url"
	"slices"

	"github.com/ura-gateway/ura/gateway/policy"
)

type divergenceRow struct {
	policy.Divergence
	ActiveDecision string
	ShadowDecision string
	RecordHref     string
}

type shadowData struct {
	// Reports is false when the engine cannot say whether a shadow policy
	// runs (it is not the OPA engine).
	Reports    bool
	Status     policy.Status
	Configured bool
	Lists      bool
	Rows       []divergenceRow
}

// Shadow lists where the candidate policy would have decided differently
// from the enforced one, newest first. It shows decisions and reason codes
// only: the divergence log never holds the records themselves.
func (c *Console) Shadow(_ context.Context, v *Viewer) (*Page, error) {
	d := shadowData{}
	if sr, ok := c.opts.Policy.(policy.StatusReporter); ok {
		d.Reports, d.Status = true, sr.Status()
		d.Configured = d.Status.Shadow != nil
	}
	if dl, ok := c.opts.Policy.(policy.DivergenceLister); ok {
		d.Lists = true
		divs := dl.Divergences()
		slices.Reverse(divs)
		for _, dv := range divs {
			row := divergenceRow{Divergence: dv, ActiveDecision: outcomeDecision(dv.Active), ShadowDecision: outcomeDecision(dv.Shadow)}
			if dv.RecordID != "" {
				row.RecordHref = c.searchHref(url.Values{"record_id": {dv.RecordID}})
			}
			d.Rows = append(d.Rows, row)
		}
		if len(d.Rows) > 0 {
			// A shadow policy removed since leaves its divergences behind.
			d.Configured = d.Configured || !d.Reports
		}
	}
	pg, err := c.render("shadow", "Shadow policy", v, 200, d)
	if err != nil {
		return nil, err
	}
	pg.Access.Events = len(d.Rows)
	return pg, nil
}

// outcomeDecision names a policy outcome as the audit log does.
func outcomeDecision(o policy.Outcome) string {
	switch {
	case !o.Allow:
		return "deny"
	case len(o.Redact) > 0:
		return "redact"
	default:
		return "allow"
	}
}

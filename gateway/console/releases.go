package console

import (
	"slices"

	"github.com/ura-gateway/ura/gateway/authority"
)

// releaseRow is one release request on the queue, with what the officer
// looking at it may do.
type releaseRow struct {
	authority.Request
	Status     string
	MayApprove bool
	MayRevoke  bool
}

type releaseGroup struct {
	Key, Title, Empty string
	Rows              []releaseRow
}

type releasesData struct {
	Groups []releaseGroup
	Token  string
	// Officer is whether the viewer holds the release role; the others see
	// the queue without its buttons.
	Officer bool
}

// Releases renders the queue of two-person release authority: pending,
// approved (in force), expired and revoked requests, newest first, with
// approve and revoke buttons for an officer holding the release role. Each
// button posts a form carrying token (bound to the officer's certificate,
// as the verify form's). The approve button is not offered where the
// officer may not approve (their own request, one they approved already);
// the gateway refuses those anyway.
func (c *Console) Releases(v *Viewer, requests []authority.Request, officer bool, token string) (*Page, error) {
	now := c.opts.Now()
	groups := []releaseGroup{
		{Key: authority.StatusPending, Title: "Awaiting approval", Empty: "No release awaits approval."},
		{Key: authority.StatusApproved, Title: "In force", Empty: "No release is in force."},
		{Key: authority.StatusExpired, Title: "Expired", Empty: "No release has expired."},
		{Key: authority.StatusRevoked, Title: "Revoked", Empty: "No release has been revoked."},
	}
	for _, r := range requests {
		st := r.Status(now)
		row := releaseRow{Request: r, Status: st}
		if officer {
			row.MayRevoke = st == authority.StatusPending || st == authority.StatusApproved
			row.MayApprove = st == authority.StatusPending && r.RequestedBy != v.ID &&
				!slices.ContainsFunc(r.Approvals, func(a authority.Approval) bool { return a.Officer == v.ID })
		}
		for i := range groups {
			if groups[i].Key == st {
				groups[i].Rows = append(groups[i].Rows, row)
			}
		}
	}
	pg, err := c.render("releases", "Release authority", v, 200, releasesData{Groups: groups, Token: token, Officer: officer})
	if err != nil {
		return nil, err
	}
	pg.Access.Events = len(requests)
	return pg, nil
}

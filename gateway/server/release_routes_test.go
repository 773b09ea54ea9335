package server

import (
	"net/http"
	"strings"
	"testing"

	"github.com/ura-gateway/ura/gateway/api/releaseapi"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/authority"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/problem"
)

// Who may use each release route: every member kind but the ones a route
// admits is refused 403, audited with its reason, and nothing changes.

// relEveryKind starts a gateway with a member of every kind (a peer
// gateway too) and one pending request; it returns the request's id.
func relEveryKind(t *testing.T) (*gatewayEnv, string) {
	t.Helper()
	e, _ := oracleEnv(t, relOfficers(), fedB(config.SignPeer{JWKSURL: "https://127.0.0.1:1/.well-known/jwks.json"}, nil))
	oraclePush(t, e, relLicence(t, 500))
	v := relOK(t, relRequest(e, "AL/GOV/AIM", "AIM-LIC-2026-000500", "IT/GOV/MOD"), http.StatusCreated)
	return e, v.ID
}

// relRefused checks that each member is refused 403 on method path, with
// an audited refusal naming reason, and that the request is unchanged.
func relRefused(t *testing.T, e *gatewayEnv, id, method, path, reason string, members ...string) {
	t.Helper()
	before, err := e.records.Release(t.Context(), id)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		n := len(e.audit.All())
		r := e.as(m).do(method, path, "application/json", "", []byte(`{"record_id":"AIM-LIC-2026-000500","version":1,"recipient":"IT/GOV/MOD","justification":"x"}`))
		if r.status != http.StatusForbidden {
			t.Errorf("%s %s as %s: %d %s", method, path, m, r.status, r.body)
			continue
		}
		r.problem(t, http.StatusForbidden, problem.TypeForbidden)
		evs := e.audit.All()[n:]
		if len(evs) != 1 || evs[0].Member != m || evs[0].Decision != audit.DecisionDeny || evs[0].Status != http.StatusForbidden ||
			len(evs[0].Reasons) != 1 || evs[0].Reasons[0].Code != reason {
			t.Errorf("%s %s as %s: audited %+v", method, path, m, evs)
		}
	}
	after, _ := e.records.Release(t.Context(), id)
	if len(after.Approvals) != len(before.Approvals) || after.RevokedAt != nil {
		t.Errorf("a refused member changed the request: %+v", after)
	}
	var n int
	_ = e.records.ListReleases(t.Context(), func(authority.Request) error { n++; return nil })
	if n != 1 {
		t.Errorf("%d requests stored, want the one", n)
	}
}

// Members of every kind but agency and ministry, and an auditor without the
// release role.
var relNotRequesters = []string{"IT/GOV/MOD", "AL/GOV/DPD", "NATO/ORG/LIAISON", fedPeerID, "AL/GOV/AUDITOR"}

// Everyone but release officers.
var relNotOfficers = append([]string{"AL/GOV/AIM", "AL/GOV/MOD"}, relNotRequesters...)

func TestRelRouteCreateForbidden(t *testing.T) {
	e, id := relEveryKind(t)
	relRefused(t, e, id, http.MethodPost, "/v1/releases", releaseapi.ReasonNotRequester, relNotRequesters...)
}

func TestRelRouteListForbidden(t *testing.T) {
	e, id := relEveryKind(t)
	relRefused(t, e, id, http.MethodGet, "/v1/releases", releaseapi.ReasonNotOfficer, relNotOfficers...)
	if r := e.as("AL/GOV/AUDIT").get("/v1/releases"); r.status != http.StatusOK {
		t.Errorf("officer: %d %s", r.status, r.body)
	}
}

func TestRelRouteApproveForbidden(t *testing.T) {
	e, id := relEveryKind(t)
	relRefused(t, e, id, http.MethodPost, "/v1/releases/"+id+"/approve", releaseapi.ReasonNotOfficer, relNotOfficers...)
}

func TestRelRouteRevokeForbidden(t *testing.T) {
	e, id := relEveryKind(t)
	relRefused(t, e, id, http.MethodPost, "/v1/releases/"+id+"/revoke", releaseapi.ReasonNotOfficer, relNotOfficers...)
}

// TestRelConsoleFormsRefused: the console's approve and revoke forms need
// the form token bound to the officer's certificate and a same-origin
// post; without them nothing changes, and the refusal is audited.
func TestRelConsoleFormsRefused(t *testing.T) {
	e, id := relEveryKind(t)
	officer := e.as("AL/GOV/AUDIT")
	post := func(path, csrf, site string) memberResponse {
		req, _ := http.NewRequest(http.MethodPost, officer.base+path, strings.NewReader("csrf="+csrf))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if site != "" {
			req.Header.Set("Sec-Fetch-Site", site)
		}
		return officer.send(req)
	}
	for _, verb := range []string{"approve", "revoke"} {
		path := "/console/releases/" + id + "/" + verb
		for _, c := range []struct{ csrf, site, reason string }{
			{"", "same-origin", "csrf_token_invalid"},
			{"1780403400.forged", "same-origin", "csrf_token_invalid"},
			{"", "cross-site", "cross_origin_post"},
		} {
			n := len(e.audit.All())
			r := post(path, c.csrf, c.site)
			if r.status != http.StatusForbidden {
				t.Errorf("%s %+v: %d %s", verb, c, r.status, r.body)
			}
			evs := e.audit.All()[n:]
			if len(evs) != 1 || evs[0].Reasons[0].Code != c.reason {
				t.Errorf("%s %+v: audited %+v", verb, c, evs)
			}
		}
	}
	after, _ := e.records.Release(t.Context(), id)
	if len(after.Approvals) != 0 || after.RevokedAt != nil {
		t.Errorf("a refused form changed the request: %+v", after)
	}
	// A token minted for another officer's certificate is refused too.
	page := string(e.as("AL/GOV/AUDIT2").do(http.MethodGet, "/console/releases", "", "text/html", nil).body)
	i := strings.Index(page, `name="csrf" value="`)
	if i < 0 {
		t.Fatalf("no form on the second officer's queue")
	}
	token := page[i+len(`name="csrf" value="`):]
	token = token[:strings.Index(token, `"`)]
	if r := post("/console/releases/"+id+"/approve", token, "same-origin"); r.status != http.StatusForbidden {
		t.Errorf("another officer's token: %d", r.status)
	}
}

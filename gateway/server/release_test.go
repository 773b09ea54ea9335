package server

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/upstream"
	"github.com/ura-gateway/ura/gateway/api/apitest"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/authority"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/problem"
)

// Two-person release authority through the gateway (gateway/ARCHITECTURE.md,
// "Release authority"), on the embedded policy: AIM's CONFIDENTIAL licence
// for Albania only, which Italy's MoD (cleared CONFIDENTIAL) is refused
// only as not_releasable.

// relOfficers registers three security officers holding the release role
// (AL/GOV/AUDIT among them) and one without it.
func relOfficers() gatewayOption {
	return withConfig(func(cfg *config.Config) {
		for i, m := range cfg.Members {
			if m.ID == "AL/GOV/AUDIT" {
				cfg.Members[i].Roles = []string{"audit", authority.Role}
			}
		}
		cfg.Members = append(cfg.Members,
			config.Member{ID: "AL/GOV/AUDIT2", Name: "Second security officer", Nation: "ALB", Kind: "auditor", Clearance: "SECRET", Roles: []string{authority.Role}},
			config.Member{ID: "AL/GOV/AUDIT3", Name: "Third security officer", Nation: "ALB", Kind: "auditor", Clearance: "SECRET", Roles: []string{authority.Role}},
			config.Member{ID: "AL/GOV/AUDITOR", Name: "Auditor without release role", Nation: "ALB", Kind: "auditor", Clearance: "SECRET", Roles: []string{"audit"}})
	})
}

// relLicence is AIM's licence n, CONFIDENTIAL, releasable to Albania only.
func relLicence(t *testing.T, n int, kv ...any) map[string]any {
	t.Helper()
	kv = append([]any{"id", fmt.Sprintf("AIM-LIC-2026-%06d", n), "version", 1, "label.classification", "CONFIDENTIAL", "label.releasable_to", []any{"ALB"}}, kv...)
	return polRecord(t, "licence", kv...)
}

func (c *memberClient) postJSON(path string, body any) memberResponse {
	c.t.Helper()
	b, _ := json.Marshal(body)
	return c.do(http.MethodPost, path, "application/json", "", b)
}

// relRequest asks for a release of id v1 to recipient as member.
func relRequest(e *gatewayEnv, member, id, recipient string) memberResponse {
	return e.as(member).postJSON("/v1/releases", map[string]any{"record_id": id, "version": 1, "recipient": recipient,
		"justification": "Italy's end-user check of the CZE export"})
}

type relView struct {
	authority.Request
	Status string `json:"status"`
}

func relOK(t *testing.T, r memberResponse, status int) relView {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	var v relView
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// readCounter counts the store's reads of releases.
type readCounter struct {
	store.Store
	n atomic.Int64
}

func (r *readCounter) ReleasesFor(ctx context.Context, id string, v int, to string) ([]authority.Request, error) {
	r.n.Add(1)
	return r.Store.ReleasesFor(ctx, id, v, to)
}

// recForwarder records what is queued, with its recipient.
type recForwarder struct {
	mu  sync.Mutex
	got []upstream.Decided
}

func (f *recForwarder) EnqueueDecided(_ context.Context, recs []upstream.Decided) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.got = append(f.got, recs...)
	return nil
}

// released is what was queued for one recipient only.
func (f *recForwarder) released() []upstream.Decided {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []upstream.Decided
	for _, d := range f.got {
		if d.Recipient != "" {
			out = append(out, d)
		}
	}
	return out
}

// TestRelTwoOfficersRelease: requested by AIM (the originator), approved
// by two officers, the licence reaches Italy's MoD, redacted as any
// partner's, its signed delivery carrying the release and both approvals;
// the same officer cannot approve twice; another partner still gets what it
// gets for a missing record; a revocation ends it; every step is audited.
func TestRelTwoOfficersRelease(t *testing.T) {
	fw := &recForwarder{}
	reads := &readCounter{}
	e, secretID := oracleEnv(t, relOfficers(), withForwarder(fw), withDeps(func(_ *config.Config, d *Deps) {
		reads.Store = d.Store
		d.Store = reads
	}))
	oraclePush(t, e, relLicence(t, 500))
	const id = "AIM-LIC-2026-000500"
	ita := e.as("IT/GOV/MOD")
	ita.get("/v1/records/"+id).problem(t, http.StatusNotFound, problem.TypeNotFound)

	v := relOK(t, relRequest(e, "AL/GOV/AIM", id, "IT/GOV/MOD"), http.StatusCreated)
	if v.Status != authority.StatusPending || v.RequestedBy != "AL/GOV/AIM" || v.Recipient != "IT/GOV/MOD" || v.Version != 1 {
		t.Fatalf("request %+v", v)
	}
	approve := func(officer string) memberResponse {
		return e.as(officer).do(http.MethodPost, "/v1/releases/"+v.ID+"/approve", "", "", nil)
	}
	if a := relOK(t, approve("AL/GOV/AUDIT"), http.StatusOK); a.Status != authority.StatusPending || len(a.Approvals) != 1 {
		t.Fatalf("first approval: %+v", a)
	}
	// The same officer again: refused, and still one approval.
	approve("AL/GOV/AUDIT").problem(t, http.StatusConflict, problem.TypeConflict)
	ita.get("/v1/records/"+id).problem(t, http.StatusNotFound, problem.TypeNotFound)
	if got := fw.released(); len(got) != 0 {
		t.Fatalf("queued before the second approval: %+v", got)
	}

	a := relOK(t, approve("AL/GOV/AUDIT2"), http.StatusOK)
	if a.Status != authority.StatusApproved || len(a.Approvals) != 2 || !a.ExpiresAt.After(time.Now().Add(71*time.Hour)) {
		t.Fatalf("second approval: %+v", a)
	}
	if got := fw.released(); len(got) != 1 || got[0].Record.ID != id || got[0].Recipient != "IT/GOV/MOD" {
		t.Errorf("queued for the recipient's destinations: %+v", got)
	}
	r := ita.get("/v1/records/" + id)
	if r.status != http.StatusOK {
		t.Fatalf("recipient after two approvals: %d %s", r.status, r.body)
	}
	var d struct{ JWS string }
	_ = json.Unmarshal(r.body, &d)
	_, payload := apitest.Verify(t, d.JWS)
	rel, _ := payload["release"].(map[string]any)
	approvals, _ := rel["approvals"].([]any)
	if payload["recipient"] != "IT/GOV/MOD" || rel["id"] != v.ID || rel["record_id"] != id || rel["recipient"] != "IT/GOV/MOD" ||
		rel["version"] != float64(1) || len(approvals) != 2 {
		t.Fatalf("signed delivery: %v", payload)
	}
	for i, officer := range []string{"AL/GOV/AUDIT", "AL/GOV/AUDIT2"} {
		ap := approvals[i].(map[string]any)
		if ap["officer"] != officer || ap["at"] == "" {
			t.Errorf("approval %d: %v", i, ap)
		}
	}
	record, _ := payload["record"].(map[string]any)
	if lic, _ := record["licence"].(map[string]any); lic == nil || lic["end_user"].(map[string]any)["contact"] != nil {
		t.Errorf("released licence not redacted as a partner's: %v", record)
	}
	if page := exPage(t, ita.get("/v1/records?limit=100")); !slices.Contains(oracleIDs(page), id) {
		t.Errorf("a pull by the recipient lacks the released record: %v", oracleIDs(page))
	}

	// Another partner: exactly what a missing record gets.
	missingID := "AIM-LIC-2026-000599"
	n := len(e.audit.All())
	hidden := e.as("IT/GOV/HIDDEN").get("/v1/records/" + id)
	hiddenWork := oracleWork(e, n)
	n = len(e.audit.All())
	missing := e.as("IT/GOV/MISSING").get("/v1/records/" + missingID)
	missingWork := oracleWork(e, n)
	oracleSame(t, "get of a record released to another member", hidden, missing, id, missingID, "CONFIDENTIAL", "AL/GOV/AIM", v.ID)
	// Each withheld or missing get reads the releases once, whatever the
	// reason it is withheld for: the work tells nothing either.
	for _, q := range []struct{ who, id string }{{"IT/GOV/HIDDEN", id}, {"IT/GOV/HIDDEN", secretID}, {"IT/GOV/MISSING", missingID}} {
		before := reads.n.Load()
		e.as(q.who).get("/v1/records/" + q.id)
		if got := reads.n.Load() - before; got != 1 {
			t.Errorf("get of %s by %s read the releases %d times, want 1", q.id, q.who, got)
		}
	}
	if strings.Join(hiddenWork, ",") != strings.Join(missingWork, ",") {
		t.Errorf("audit work differs:\nhidden:  %v\nmissing: %v", hiddenWork, missingWork)
	}

	// Revoked: withheld again; no more approvals.
	if rv := relOK(t, e.as("AL/GOV/AUDIT3").do(http.MethodPost, "/v1/releases/"+v.ID+"/revoke", "", "", nil), http.StatusOK); rv.Status != authority.StatusRevoked {
		t.Fatalf("revoked: %+v", rv)
	}
	ita.get("/v1/records/"+id).problem(t, http.StatusNotFound, problem.TypeNotFound)
	approve("AL/GOV/AUDIT3").problem(t, http.StatusConflict, problem.TypeConflict)

	// Every step in the audit log.
	var steps []string
	delivered := false
	for _, ev := range e.audit.All() {
		if strings.HasPrefix(ev.Action, "release.") {
			code := ""
			if len(ev.Reasons) > 0 {
				code = ev.Reasons[0].Code
			}
			steps = append(steps, ev.Action+" "+ev.Member+" "+ev.Decision+" "+code)
		}
		for _, rs := range ev.Reasons {
			if rs.Code == "release_authority" && ev.Member == "IT/GOV/MOD" && ev.RecordID == id && ev.Decision == audit.DecisionRedact &&
				strings.Contains(rs.Message, v.ID) && strings.Contains(rs.Message, "AL/GOV/AUDIT2") {
				delivered = true
			}
		}
	}
	want := []string{
		"release.request AL/GOV/AIM allow release_requested",
		"release.approve AL/GOV/AUDIT allow release_approved",
		"release.approve AL/GOV/AUDIT deny release_same_officer",
		"release.approve AL/GOV/AUDIT2 allow release_approved",
		"release.revoke AL/GOV/AUDIT3 allow release_revoked",
		"release.approve AL/GOV/AUDIT3 deny release_revoked",
	}
	if !slices.Equal(steps, want) {
		t.Errorf("audited steps:\n%s\nwant\n%s", strings.Join(steps, "\n"), strings.Join(want, "\n"))
	}
	if !delivered {
		t.Error("the delivery under the release is not audited with the release and its approvals")
	}
}

// TestRelRequestRules: who may request what. An officer's own request
// needs two other officers; clearance is never released; an agency names
// only its own records (another's answers as missing); the recipient must
// be registered; a release names the stored version.
func TestRelRequestRules(t *testing.T) {
	e, _ := oracleEnv(t, relOfficers())
	oraclePush(t, e, relLicence(t, 500), relLicence(t, 502, "label.classification", "SECRET"))
	const secretID = "AIM-LIC-2026-000502"
	const id = "AIM-LIC-2026-000500"

	v := relOK(t, relRequest(e, "AL/GOV/AUDIT", id, "IT/GOV/MOD"), http.StatusCreated)
	e.as("AL/GOV/AUDIT").do(http.MethodPost, "/v1/releases/"+v.ID+"/approve", "", "", nil).problem(t, http.StatusConflict, problem.TypeConflict)
	relOK(t, e.as("AL/GOV/AUDIT2").do(http.MethodPost, "/v1/releases/"+v.ID+"/approve", "", "", nil), http.StatusOK)
	if a := relOK(t, e.as("AL/GOV/AUDIT3").do(http.MethodPost, "/v1/releases/"+v.ID+"/approve", "", "", nil), http.StatusOK); a.Status != authority.StatusApproved {
		t.Fatalf("two other officers: %+v", a)
	}

	// The SECRET licence is above Italy's clearance: no officer releases it.
	p := relRequest(e, "AL/GOV/AIM", secretID, "IT/GOV/MOD").problem(t, http.StatusConflict, problem.TypeConflict)
	if !strings.Contains(fmt.Sprint(p["detail"]), "clearance_insufficient") {
		t.Errorf("refusal %v", p)
	}
	// Released by the policy already: nothing to release.
	relRequest(e, "AL/GOV/AIM", id, "AL/GOV/MOD").problem(t, http.StatusConflict, problem.TypeConflict)
	// MoD did not originate AIM's licence: the same answer as a missing id.
	other := relRequest(e, "AL/GOV/MOD", id, "IT/GOV/MOD")
	missing := relRequest(e, "AL/GOV/MOD", "AIM-LIC-2026-000599", "IT/GOV/MOD")
	other.problem(t, http.StatusNotFound, problem.TypeNotFound)
	if a, b := jsonString(oracleScrub(other.json(t))), jsonString(oracleScrub(missing.json(t))); a != b || other.status != missing.status {
		t.Errorf("another's record %d %s, a missing one %d %s", other.status, a, missing.status, b)
	}
	// An unregistered recipient, a bad body, another version.
	p = relRequest(e, "AL/GOV/AIM", id, "XK/GOV/NOBODY").problem(t, http.StatusUnprocessableEntity, problem.TypeBadRequest)
	if !strings.Contains(string(jsonString(p["errors"])), "/recipient") {
		t.Errorf("unregistered recipient: %v", p)
	}
	e.as("AL/GOV/AIM").postJSON("/v1/releases", map[string]any{"record_id": id, "version": 1, "recipient": "IT/GOV/MOD",
		"justification": "x", "extra": true}).problem(t, http.StatusBadRequest, problem.TypeBadRequest)
	e.as("AL/GOV/AIM").postJSON("/v1/releases", map[string]any{"record_id": id, "version": 2, "recipient": "IT/GOV/MOD",
		"justification": "x"}).problem(t, http.StatusConflict, problem.TypeConflict)
	e.as("AL/GOV/AUDIT").do(http.MethodPost, "/v1/releases/0190a000-0000-7000-8000-000000000000/approve", "", "", nil).
		problem(t, http.StatusNotFound, problem.TypeNotFound)

	var list struct{ Releases []relView }
	r := e.as("AL/GOV/AUDIT2").get("/v1/releases?status=approved")
	if err := json.Unmarshal(r.body, &list); err != nil || r.status != http.StatusOK || len(list.Releases) != 1 || list.Releases[0].ID != v.ID {
		t.Errorf("list of approved: %d %s", r.status, r.body)
	}
}

// TestRelVersionAndExpiry: a release is for the version it names, and ends
// at its expiry; the first delivery after the expiry audits it, once.
func TestRelVersionAndExpiry(t *testing.T) {
	e, _ := oracleEnv(t, relOfficers())
	oraclePush(t, e, relLicence(t, 500), relLicence(t, 501))
	ita := e.as("IT/GOV/MOD")
	ctx := context.Background()
	put := func(id string, approvedAt time.Time, ttl time.Duration) authority.Request {
		r := authority.New("0190a000-0000-7000-8000-"+id[len(id)-12:], id, 1, "IT/GOV/MOD", "why", "AL/GOV/AIM", approvedAt.Add(-time.Hour), 72*time.Hour)
		for _, o := range []string{"AL/GOV/AUDIT", "AL/GOV/AUDIT2"} {
			if err := r.Approve(relOfficer(o), approvedAt, ttl); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.records.CreateRelease(ctx, r); err != nil {
			t.Fatal(err)
		}
		return r
	}
	// In force for version 1; version 2 then stored: withheld.
	put("AIM-LIC-2026-000500", time.Now(), time.Hour)
	if r := ita.get("/v1/records/AIM-LIC-2026-000500"); r.status != http.StatusOK {
		t.Fatalf("v1 under release: %d %s", r.status, r.body)
	}
	oraclePush(t, e, relLicence(t, 500, "version", 2, "licence.status", "suspended"))
	ita.get("/v1/records/AIM-LIC-2026-000500").problem(t, http.StatusNotFound, problem.TypeNotFound)

	// Expired an hour ago.
	expired := put("AIM-LIC-2026-000501", time.Now().Add(-2*time.Hour), time.Hour)
	for range 2 {
		ita.get("/v1/records/AIM-LIC-2026-000501").problem(t, http.StatusNotFound, problem.TypeNotFound)
	}
	stored, err := e.records.Release(ctx, expired.ID)
	if err != nil || stored.ExpiryRecorded == nil {
		t.Fatalf("expiry not recorded: %+v %v", stored, err)
	}
	n := 0
	for _, ev := range e.audit.All() {
		for _, rs := range ev.Reasons {
			if rs.Code == "release_expired" && strings.Contains(rs.Message, expired.ID) && ev.Decision == audit.DecisionWithhold {
				n++
			}
		}
	}
	if n != 1 {
		t.Errorf("%d audit events of the expiry, want 1", n)
	}
	var list struct{ Releases []relView }
	_ = json.Unmarshal(e.as("AL/GOV/AUDIT").get("/v1/releases?status=expired").body, &list)
	if len(list.Releases) != 1 || list.Releases[0].ID != expired.ID {
		t.Errorf("expired list: %+v", list.Releases)
	}
}

func relOfficer(id string) identity.Member {
	return identity.Member{ID: id, Kind: identity.KindAuditor, Roles: []string{authority.Role}}
}

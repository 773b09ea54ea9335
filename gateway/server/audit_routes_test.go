package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ura-gateway/ura/gateway/api/auditapi"
	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/records"
)

// audRoutes are every audit route, with and without parameters.
var audRoutes = []string{
	"/v1/audit/events",
	"/v1/audit/events?member=AL/GOV/AIM&decision=deny&limit=5",
	"/v1/audit/events/1",
	"/v1/audit/export",
	"/v1/audit/export?from=1",
	"/v1/audit/checkpoints",
	"/v1/audit/summary",
	"/v1/audit/summary?bucket=5m",
}

// TestAudNonAuditorsForbidden: every member that is not a security officer
// gets 403 on every audit route over real mutual TLS, and each attempt is
// itself in the log.
func TestAudNonAuditorsForbidden(t *testing.T) {
	a := startGateway(t, withAuditChain(0))
	a.as("AL/GOV/AIM").push(exSample(t, records.KindLicence)) // something to steal
	clients := map[string]*memberClient{
		"AL/GOV/AIM":       a.as("AL/GOV/AIM"),
		"AL/GOV/MOD":       a.as("AL/GOV/MOD"),
		"AL/GOV/DPD":       a.as("AL/GOV/DPD"),
		"NATO/ORG/LIAISON": a.as("NATO/ORG/LIAISON"),
		"IT/GOV/MOD":       a.as("IT/GOV/MOD"),
	}
	before := len(a.chainEvents(t))
	attempts := 0
	for member, c := range clients {
		for _, route := range audRoutes {
			r := c.get(route)
			body := r.problem(t, http.StatusForbidden, problem.TypeForbidden)
			if strings.Contains(string(r.body), "AIM-LIC") || body["events"] != nil {
				t.Errorf("%s %s: 403 carries data: %s", member, route, r.body)
			}
			attempts++
		}
		// Methods other than GET do not reach the log either.
		if r := c.do(http.MethodPost, "/v1/audit/events", "application/json", "", []byte(`{}`)); r.status != http.StatusMethodNotAllowed && r.status != http.StatusForbidden && r.status != http.StatusNotFound {
			t.Errorf("%s POST /v1/audit/events: %d", member, r.status)
		}
	}
	// The auditor is let through on the same routes.
	auditor := a.as("AL/GOV/AUDIT")
	for _, route := range audRoutes {
		if r := auditor.get(route); r.status != http.StatusOK {
			t.Errorf("auditor %s: %d %s", route, r.status, r.body)
		}
	}
	denied := 0
	for _, ev := range a.chainEvents(t)[before:] {
		if ev.Decision == audit.DecisionDeny && strings.HasPrefix(ev.Action, "audit.") {
			denied++
			if len(ev.Reasons) != 1 || ev.Reasons[0].Code != chain.ReasonNotAuditor || ev.Status != 403 || ev.Member == "" {
				t.Errorf("denial event %+v", ev)
			}
		}
	}
	if denied != attempts {
		t.Errorf("%d denials audited, want %d", denied, attempts)
	}
}

func audAuditorJSON(t *testing.T, a *gatewayEnv, path string, v any) {
	t.Helper()
	r := a.as("AL/GOV/AUDIT").get(path)
	if r.status != http.StatusOK {
		t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	if cc := r.header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("GET %s: Cache-Control %q", path, cc)
	}
	if err := json.Unmarshal(r.body, v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// TestAudAuditorAPI drives real pushes and pulls through the exchange, then
// answers a security officer's questions about them.
func TestAudAuditorAPI(t *testing.T) {
	a := startGateway(t, withAuditChain(0))
	ctx := context.Background()
	aim := a.as("AL/GOV/AIM")
	exResults(t, aim.push(exSample(t, records.KindLicence), exSample(t, records.KindEntity)))
	exResults(t, aim.push(exWith(exSample(t, records.KindEntity), "id", "DENY-ENT-1")))
	a.as("AL/GOV/DPD").get("/v1/records") // customs: redacted
	a.as("NATO/ORG/LIAISON").get("/v1/records/AIM-ENT-L61234567A")
	if _, err := a.chain.Checkpoint(ctx); err != nil {
		t.Fatal(err)
	}
	aim.push(exWith(exSample(t, records.KindEntity), "id", "DENY-ENT-2"))

	// Who was denied, and why?
	var page auditapi.SearchResponse
	audAuditorJSON(t, a, "/v1/audit/events?decision=deny&reason=test_deny", &page)
	if len(page.Events) != 2 || page.Events[0].RecordID != "DENY-ENT-2" || page.Events[1].RecordID != "DENY-ENT-1" {
		t.Fatalf("denials: %+v", page.Events)
	}
	// What did customs receive, with which redactions?
	audAuditorJSON(t, a, "/v1/audit/events?member=AL/GOV/DPD&decision=redact", &page)
	if len(page.Events) == 0 || len(page.Events[0].Redactions) == 0 || page.Events[0].PolicyRevision != "rev-test" {
		t.Fatalf("customs redactions: %+v", page.Events)
	}
	// Paging by cursor reaches every event exactly once.
	seen := map[int64]bool{}
	cursor := ""
	for range 100 {
		page = auditapi.SearchResponse{}
		audAuditorJSON(t, a, "/v1/audit/events?limit=3"+cursor, &page)
		for _, e := range page.Events {
			if seen[e.Seq] {
				t.Fatalf("seq %d twice", e.Seq)
			}
			seen[e.Seq] = true
		}
		if page.NextCursor == "" {
			break
		}
		cursor = "&cursor=" + page.NextCursor
	}
	if int64(len(seen)) < a.chain.Head().Count-20 || len(seen) == 0 {
		t.Fatalf("paged through %d of %d events", len(seen), a.chain.Head().Count)
	}

	// One decision in full, with the proof that it is in the signed chain.
	audAuditorJSON(t, a, "/v1/audit/events?record_id=DENY-ENT-1", &page)
	var proof audit.Proof
	audAuditorJSON(t, a, "/v1/audit/events/"+itoa(page.Events[0].Seq), &proof)
	if proof.Event.RecordID != "DENY-ENT-1" || proof.Checkpoint == nil {
		t.Fatalf("proof: %+v", proof)
	}
	if err := audit.VerifyProof(&proof, a.auditSigner.KeySet()); err != nil {
		t.Fatalf("proof does not verify: %v", err)
	}
	// The newest event is past the last checkpoint: its proof is pending.
	audAuditorJSON(t, a, "/v1/audit/events?record_id=DENY-ENT-2", &page)
	audAuditorJSON(t, a, "/v1/audit/events/"+itoa(page.Events[0].Seq), &proof)
	if !proof.Pending {
		t.Fatalf("proof past the last checkpoint is not pending: %+v", proof)
	}

	// Export and checkpoints verify offline.
	r := a.as("AL/GOV/AUDIT").get("/v1/audit/export")
	if r.status != 200 || r.header.Get("Content-Type") != "application/x-ndjson" {
		t.Fatalf("export: %d %s", r.status, r.header.Get("Content-Type"))
	}
	var cps auditapi.CheckpointsResponse
	audAuditorJSON(t, a, "/v1/audit/checkpoints", &cps)
	if len(cps.Checkpoints) != 1 || cps.Head.Count < cps.Checkpoints[0].Count {
		t.Fatalf("checkpoints: %+v", cps)
	}
	rep, err := audit.VerifyExport(bytes.NewReader(r.body), audit.VerifyOptions{Keys: a.auditSigner.KeySet(), Checkpoints: cps.Checkpoints})
	if err != nil {
		t.Fatalf("export does not verify: %v", err)
	}
	if rep.Checkpoints != 1 || !rep.Signed {
		t.Fatalf("export report %+v", rep)
	}

	// The console's chart and lists.
	var sum audit.Summary
	audAuditorJSON(t, a, "/v1/audit/summary?bucket=1m&top=5", &sum)
	if sum.Events == 0 || sum.ByDecision[audit.DecisionDeny] < 2 || len(sum.Buckets) == 0 || sum.BucketSeconds != 60 {
		t.Fatalf("summary %+v", sum)
	}
	var byReason bool
	for _, c := range sum.DenialsByReason {
		byReason = byReason || c.Key == "test_deny"
	}
	if !byReason {
		t.Fatalf("denials by reason: %+v", sum.DenialsByReason)
	}

	// The officer's own reading is in the log too.
	audAuditorJSON(t, a, "/v1/audit/events?member=AL/GOV/AUDIT&limit=1000", &page)
	actions := map[string]bool{}
	for _, e := range page.Events {
		actions[e.Action] = true
	}
	for _, want := range []string{"audit.search", "audit.event", "audit.export", "audit.checkpoints", "audit.summary"} {
		if !actions[want] {
			t.Errorf("auditor's %s not audited (have %v)", want, actions)
		}
	}

	// And the metrics are on the gateway's registry.
	m := a.as("AL/GOV/AUDIT").get("/metrics")
	if !strings.Contains(string(m.body), "ura_audit_events_total") {
		t.Error("ura_audit_events_total not exported")
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestAudBadParameters(t *testing.T) {
	a := startGateway(t, withAuditChain(0))
	for _, path := range []string{
		"/v1/audit/events?limit=0", "/v1/audit/events?limit=1001", "/v1/audit/events?from=yesterday",
		"/v1/audit/events?cursor=-1", "/v1/audit/events?member=" + strings.Repeat("x", 300),
		"/v1/audit/events/abc", "/v1/audit/events/0", "/v1/audit/export?from=x",
		"/v1/audit/summary?bucket=1s", "/v1/audit/summary?top=0", "/v1/audit/summary?to=x",
	} {
		a.as("AL/GOV/AUDIT").get(path).problem(t, http.StatusBadRequest, problem.TypeBadRequest)
	}
	a.as("AL/GOV/AUDIT").get("/v1/audit/events/999999").problem(t, http.StatusNotFound, problem.TypeNotFound)
}

// TestAudLogFailureRefusesEverything: when the audit log cannot be written,
// no data route and no audit route answers: 503, nothing unaudited leaves.
func TestAudLogFailureRefusesEverything(t *testing.T) {
	a := startGateway(t, withAuditChain(0))
	exResults(t, a.as("AL/GOV/AIM").push(exSample(t, records.KindLicence)))
	a.auditStore.Fail.Store(true)

	push := a.as("AL/GOV/AIM").push(exWith(exSample(t, records.KindEntity), "id", "AIM-ENT-NEW"))
	push.problem(t, http.StatusServiceUnavailable, problem.TypeUnavailable)
	pull := a.as("AL/GOV/MOD").get("/v1/records")
	pull.problem(t, http.StatusServiceUnavailable, problem.TypeUnavailable)
	one := a.as("AL/GOV/MOD").get("/v1/records/AIM-LIC-2026-000123")
	one.problem(t, http.StatusServiceUnavailable, problem.TypeUnavailable)
	for _, r := range []memberResponse{push, pull, one} {
		if strings.Contains(string(r.body), "AIM-LIC") || strings.Contains(string(r.body), "jws") {
			t.Errorf("a refused response carries data: %s", r.body)
		}
	}
	for _, route := range audRoutes {
		a.as("AL/GOV/AUDIT").get(route).problem(t, http.StatusServiceUnavailable, problem.TypeUnavailable)
		a.as("AL/GOV/MOD").get(route).problem(t, http.StatusServiceUnavailable, problem.TypeUnavailable)
	}
	// The disk comes back, but the log stays failed until the gateway is
	// restarted and the log verified.
	a.auditStore.Fail.Store(false)
	a.as("AL/GOV/MOD").get("/v1/records").problem(t, http.StatusServiceUnavailable, problem.TypeUnavailable)
	if r := a.as("AL/GOV/AUDIT").get("/readyz"); r.status != http.StatusOK && r.status != http.StatusServiceUnavailable {
		t.Fatalf("readyz: %d", r.status)
	}
}

// TestAudSecretsNeverLogged runs a realistic exchange with credentials in
// every place a client could put them, and redacted fields in the records,
// then scans the audit log and the gateway's own log for any of them.
func TestAudSecretsNeverLogged(t *testing.T) {
	a := startGateway(t, withAuditChain(0), withEmbeddedPolicy())
	secrets := []string{"s3cr3t-bearer-token-7f1c", "hvs.CAESIVaultTokenNotForLogs", "session-cookie-9a8b7c", "query-token-5e4d"}
	// Values the policy redacts for customs: they must reach neither the
	// customs member nor the log.
	redacted := []string{"jan.novak@army.cz", "Jan Novák", "1840000"}
	do := func(c *memberClient, method, path string, body []byte) memberResponse {
		req, _ := http.NewRequest(method, c.base+path, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secrets[0])
		req.Header.Set("X-Vault-Token", secrets[1])
		req.Header.Set("Cookie", "session="+secrets[2])
		if body != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		return c.send(req)
	}
	body, _ := json.Marshal([]any{exSample(t, records.KindLicence), exWith(exSample(t, records.KindEntity), "id", "DENY-ENT-9")})
	if r := do(a.as("AL/GOV/AIM"), http.MethodPost, "/v1/records", body); r.status != http.StatusOK && r.status != http.StatusMultiStatus {
		t.Fatalf("push: %d %s", r.status, r.body)
	}
	body, _ = json.Marshal([]any{exSample(t, records.KindEndUserCertificate)})
	do(a.as("AL/GOV/MOD"), http.MethodPost, "/v1/records", body)
	// A query string the exchange refuses is audited as a refusal: the
	// token in it must not be.
	do(a.as("AL/GOV/DPD"), http.MethodGet, "/v1/records?token="+secrets[3], nil)
	if r := do(a.as("AL/GOV/DPD"), http.MethodGet, "/v1/records/AIM-LIC-2026-000123", nil); r.status != http.StatusOK {
		t.Fatalf("customs get: %d %s", r.status, r.body)
	}
	do(a.as("AL/GOV/DPD"), http.MethodGet, "/v1/records", nil)
	do(a.as("AL/GOV/MOD"), http.MethodGet, "/v1/records/AIM-LIC-2026-000123", nil)
	do(a.as("AL/GOV/DPD"), http.MethodGet, "/v1/audit/events?token="+secrets[3], nil)
	do(a.as("AL/GOV/AUDIT"), http.MethodGet, "/v1/audit/events?member=AL/GOV/DPD&token="+secrets[3], nil)
	if _, err := a.chain.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := a.chain.Head().Count; n < 12 {
		for _, e := range a.chainEvents(t) {
			t.Logf("%+v", e)
		}
		t.Fatalf("only %d events: the run did not reach the log", n)
	}
	var logBytes []byte
	_ = filepath.Walk(a.auditDir, func(path string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() {
			b, _ := os.ReadFile(path)
			logBytes = append(logBytes, b...)
		}
		return nil
	})
	sawRedaction := false
	for _, ev := range a.chainEvents(t) {
		sawRedaction = sawRedaction || ev.Decision == audit.DecisionRedact
	}
	if !sawRedaction {
		t.Fatal("no redaction in the run: the scan proves nothing")
	}
	for _, s := range append(secrets, redacted...) {
		if bytes.Contains(logBytes, []byte(s)) {
			t.Errorf("the audit log contains %q", s)
		}
		if strings.Contains(a.auditLogs.String(), s) {
			t.Errorf("the audit component's log contains %q", s)
		}
		if strings.Contains(a.logs.String(), s) {
			t.Errorf("the gateway's log contains %q", s)
		}
	}
}

package server

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io/fs"
	"maps"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/store/bolt"
	"github.com/ura-gateway/ura/deploy/dev/seed"
	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/api/exchange"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/audit/audittest"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/report"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// withGatewayMember registers a peer ura gateway, so that every member
// kind can ask for a report.
func withGatewayMember(t *testing.T) gatewayOption {
	italy := audittest.NewSigner(t, "ura-it:1")
	jwks := fedJWKSFile(t, italy)
	return withConfig(func(cfg *config.Config) {
		cfg.Members = append(cfg.Members, config.Member{ID: fedPeerID, Name: "Italy ura gateway", Nation: "ITA", Kind: "gateway", Clearance: "CONFIDENTIAL"})
		cfg.Sign.Member = fedOwnID
		cfg.Sign.Peers = map[string]config.SignPeer{fedPeerID: {JWKSFile: jwks}}
	})
}

// pushSeed pushes the demo register, each file as its member, and
// requires every record to be accepted.
func pushSeed(t *testing.T, e *gatewayEnv) {
	t.Helper()
	for _, p := range seed.Order {
		body, err := fs.ReadFile(seed.Files, p.File)
		if err != nil {
			t.Fatal(err)
		}
		for i, res := range exResults(t, e.as(p.Member).do(http.MethodPost, "/v1/records", "application/x-ndjson", "", body)) {
			if res.Status != exchange.StatusAccepted {
				t.Fatalf("%s record %d: %+v", p.File, i, res)
			}
		}
	}
}

// TestATTReportRoute: the national authority's and the security officer's
// report of the stored register, in every format, signed by the gateway's
// Vault key and audited; its digest is the one a report built from the
// same store has.
func TestATTReportRoute(t *testing.T) {
	addr, token := testenv.Vault(t)
	s, c, _ := jwksVault(t, addr, token, "", time.Minute)
	e := startGateway(t, withEmbeddedPolicy(), withAuditChain(0), jwksVaultSigner(s, c))
	pushSeed(t, e)

	direct, err := report.Build(context.Background(), exchange.ReportSource(e.records), report.Options{Year: 2026, State: "ALB"})
	if err != nil {
		t.Fatal(err)
	}
	wantDigest, err := report.Digest(direct)
	if err != nil {
		t.Fatal(err)
	}
	jwksResp := e.as("AL/GOV/AIM").get("/.well-known/jwks.json")
	jwksPath := filepath.Join(t.TempDir(), "jwks.json")
	writeFile(t, jwksPath, jwksResp.body)
	keys, err := sign.NewFileKeys(jwksPath)
	if err != nil {
		t.Fatal(err)
	}
	verifier := sign.NewVerifier(keys)

	for _, member := range []string{"AL/GOV/AIM", "AL/GOV/AUDIT"} {
		r := e.as(member).get("/v1/reports/att?year=2026")
		if r.status != http.StatusOK || r.header.Get("Content-Type") != "application/json" {
			t.Fatalf("%s: %d %s %.300s", member, r.status, r.header.Get("Content-Type"), r.body)
		}
		var body struct {
			Report json.RawMessage `json:"report"`
			Digest string          `json:"digest"`
			JWS    string          `json:"jws"`
		}
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatal(err)
		}
		if body.Digest != wantDigest || r.header.Get(exchange.HeaderReportDigest) != wantDigest || r.header.Get(exchange.HeaderReportJWS) != body.JWS {
			t.Fatalf("%s: digest %s (header %s), want %s", member, body.Digest, r.header.Get(exchange.HeaderReportDigest), wantDigest)
		}
		payload, kid, err := verifier.Verify(body.JWS)
		if err != nil || sign.Typ(body.JWS) != sign.TypReport {
			t.Fatalf("%s: the report's signature: %v (typ %q)", member, err, sign.Typ(body.JWS))
		}
		att, err := report.CheckAttestation(payload, body.Report, body.Digest)
		if err != nil || att.Recipient != member || att.Year != 2026 || att.ReportingState != "ALB" {
			t.Fatalf("%s: attestation %+v: %v", member, att, err)
		}
		// The audit log holds the read, with the key that signed it.
		var found bool
		for _, ev := range e.chainEvents(t) {
			if ev.Action == "report_att" && ev.Member == member && ev.Decision == audit.DecisionAllow &&
				ev.Status == http.StatusOK && ev.Records == direct.Records && ev.SigningKID == kid && ev.Route == "/v1/reports/att" {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no report_att event with %d records and kid %s", member, direct.Records, kid)
		}
	}

	// The CSV and the PDF carry the same digest and signature, and the
	// CSV the same numbers.
	csvResp := e.as("AL/GOV/AIM").get("/v1/reports/att?year=2026&format=csv")
	if csvResp.status != http.StatusOK || !strings.HasPrefix(csvResp.header.Get("Content-Type"), "text/csv") ||
		csvResp.header.Get(exchange.HeaderReportDigest) != wantDigest ||
		!strings.Contains(csvResp.header.Get("Content-Disposition"), "att-ALB-2026.csv") {
		t.Fatalf("csv: %d %v", csvResp.status, csvResp.header)
	}
	cr := csv.NewReader(bytes.NewReader(csvResp.body))
	cr.Comment = '#'
	lines, err := cr.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := report.Lines(direct)
	if len(lines) != len(want) {
		t.Fatalf("csv has %d lines, want %d", len(lines), len(want))
	}
	for i := range want {
		if strings.Join(lines[i], "|") != strings.Join(want[i], "|") {
			t.Errorf("csv line %d: %v, want %v", i, lines[i], want[i])
		}
	}
	pdfResp := e.as("AL/GOV/AIM").get("/v1/reports/att?year=2026&format=pdf")
	if pdfResp.status != http.StatusOK || pdfResp.header.Get("Content-Type") != "application/pdf" ||
		!bytes.HasPrefix(pdfResp.body, []byte("%PDF-")) || pdfResp.header.Get(exchange.HeaderReportDigest) != wantDigest {
		t.Fatalf("pdf: %d %v", pdfResp.status, pdfResp.header)
	}
	var again bytes.Buffer
	signed, _, _ := report.Sign(context.Background(), nil, direct, "", "", time.Time{})
	if err := report.Write(&again, signed, "pdf"); err != nil || !bytes.Equal(again.Bytes(), pdfResp.body) {
		t.Errorf("the route's PDF differs from the one built from the store (%v)", err)
	}
}

// TestATTReportForbiddenPerKind: only the agency and security officers
// may have the report; every other member kind gets the same 403, audited,
// whether the register holds transfers or not.
func TestATTReportForbiddenPerKind(t *testing.T) {
	e := startGateway(t, withEmbeddedPolicy(), withGatewayMember(t))
	kinds := map[string]string{
		"ministry": "AL/GOV/MOD",
		"customs":  "AL/GOV/DPD",
		"partner":  "IT/GOV/MOD",
		"liaison":  "NATO/ORG/LIAISON",
		"gateway":  fedPeerID,
	}
	refusal := func(member string) string {
		r := e.as(member).get("/v1/reports/att?year=2026&format=pdf")
		p := r.problem(t, http.StatusForbidden, "urn:ura:problem:forbidden")
		delete(p, "instance")
		if r.header.Get(exchange.HeaderReportDigest) != "" || r.header.Get(exchange.HeaderReportJWS) != "" {
			t.Errorf("a refusal carries a report header: %v", r.header)
		}
		return jsonString(p)
	}
	before := map[string]string{}
	for kind, member := range kinds {
		before[kind] = refusal(member)
	}
	pushSeed(t, e)
	for kind, member := range kinds {
		t.Run(kind, func(t *testing.T) {
			if after := refusal(member); after != before[kind] {
				t.Errorf("the refusal changed once the register held transfers:\n%s\n%s", before[kind], after)
			}
			var denied int
			for _, ev := range e.audit.All() {
				if ev.Action == "report_att" && ev.Member == member && ev.Decision == audit.DecisionDeny && ev.Status == http.StatusForbidden {
					denied++
				}
			}
			if denied != 2 {
				t.Errorf("%d audited refusals of %s, want 2", denied, member)
			}
		})
	}
	if r := e.as("AL/GOV/AIM").get("/v1/reports/att?year=2026&format=csv"); r.status != http.StatusOK {
		t.Fatalf("the agency: %d %s", r.status, r.body)
	}
}

// TestATTReportBadParameters: a year or format the route cannot answer is
// a 400 naming the parameter, audited as a refusal.
func TestATTReportBadParameters(t *testing.T) {
	e := startGateway(t, withEmbeddedPolicy())
	for _, c := range []struct{ query, param string }{
		{"", "year"},
		{"?format=json", "year"},
		{"?year=twenty", "year"},
		{"?year=2013", "year"},
		{"?year=20260", "year"},
		{"?year=2026&year=2025", "year"},
		{"?year=2026&format=xlsx", "format"},
		{"?year=2026&format=", "year"},
		{"?year=2026&state=ALB", "state"},
	} {
		r := e.as("AL/GOV/AIM").get("/v1/reports/att" + c.query)
		if c.query == "?year=2026&format=" {
			// An empty format is the default: JSON.
			if r.status != http.StatusOK {
				t.Errorf("%q: %d", c.query, r.status)
			}
			continue
		}
		p := r.problem(t, http.StatusBadRequest, "urn:ura:problem:bad-request")
		if errs, _ := p["errors"].([]any); len(errs) != 1 || errs[0].(map[string]any)["pointer"] != c.param {
			t.Errorf("%q: %v, want the parameter %s named", c.query, p, c.param)
		}
	}
	var refused int
	for _, ev := range e.audit.All() {
		if ev.Action == "report_att" && ev.Status == http.StatusBadRequest {
			refused++
		}
	}
	if refused != 8 {
		t.Errorf("%d audited 400s, want 8", refused)
	}
}

// seedATTReport is the report of the demo register (deploy/dev/seed), built
// from its records without a gateway: the newest version of each, by id.
func seedATTReport(t *testing.T, year int) *report.Signed {
	t.Helper()
	latest := map[string]*records.Record{}
	lim := config.Default().Limits
	for _, p := range seed.Order {
		body, err := fs.ReadFile(seed.Files, p.File)
		if err != nil {
			t.Fatal(err)
		}
		checked, err := records.DecodeBatch(body, records.FormatNDJSON,
			records.Limits{MaxRecords: lim.MaxRecords, MaxDepth: lim.MaxDepth, MaxStringLength: lim.MaxStringLength})
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range checked {
			if c.Record == nil {
				t.Fatalf("%s: %s invalid", p.File, c.ID)
			}
			if old := latest[c.Record.ID]; old == nil || old.Version < c.Record.Version {
				latest[c.Record.ID] = c.Record
			}
		}
	}
	src := func(_ context.Context, kind string, fn func(*records.Record) error) error {
		for _, id := range slices.Sorted(maps.Keys(latest)) {
			if r := latest[id]; r.Kind == kind {
				if err := fn(r); err != nil {
					return err
				}
			}
		}
		return nil
	}
	r, err := report.Build(context.Background(), src, report.Options{Year: year, State: "ALB"})
	if err != nil {
		t.Fatal(err)
	}
	signed, _, err := report.Sign(context.Background(), nil, r, "", "", time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	return signed
}

// TestATTReportNothingUnsignedOrUnaudited: with the signer or the audit
// log down the report is a 503 and nothing of it is sent.
func TestATTReportNothingUnsignedOrUnaudited(t *testing.T) {
	e := startGateway(t, withEmbeddedPolicy())
	pushSeed(t, e)
	for name, fail := range map[string]interface{ Store(bool) }{"signer": &e.signer.Fail, "audit log": &e.audit.Fail} {
		fail.Store(true)
		for _, format := range []string{"json", "csv", "pdf"} {
			r := e.as("AL/GOV/AIM").get("/v1/reports/att?year=2026&format=" + format)
			r.problem(t, http.StatusServiceUnavailable, "urn:ura:problem:unavailable")
			if r.header.Get(exchange.HeaderReportDigest) != "" || r.header.Get(exchange.HeaderReportJWS) != "" ||
				bytes.Contains(r.body, []byte("Battle tanks")) {
				t.Errorf("%s down, %s: part of the report was sent: %v %.200s", name, format, r.header, r.body)
			}
		}
		fail.Store(false)
	}
	if r := e.as("AL/GOV/AIM").get("/v1/reports/att?year=2026"); r.status != http.StatusOK {
		t.Fatalf("after recovery: %d %s", r.status, r.body)
	}
}

// scanCounter counts the records the store's queries hand out: what a
// report has made the gateway read.
type scanCounter struct {
	store.Store
	read atomic.Int64
}

func (s *scanCounter) Query(ctx context.Context, q store.Query, fn func(*records.Record, string) error) error {
	return s.Store.Query(ctx, q, func(rec *records.Record, cursor string) error {
		s.read.Add(1)
		return fn(rec, cursor)
	})
}

// TestATTReportPaysForItsScan: a report pays in class pull for the stored
// records it reads, ReportScanCost for a scan of 256 before each 256 it
// counts, the first before the store is read. Over a register of 300
// licences (two scans): the national authority, with 20 of pull a day,
// pays the first scan and is refused the second (429, Retry-After, RateLimit)
// with nothing counted beyond what it paid; asked again, it is refused
// before the store is read at all; both refusals are audited as rate-limit
// refusals, and no report is signed or audited as served. The security
// officer, with 1,000 a day, gets the report with two scans paid.
func TestATTReportPaysForItsScan(t *testing.T) {
	const licences = 300
	bst, err := bolt.Open(filepath.Join(t.TempDir(), "ura.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bst.Close() })
	st := &scanCounter{Store: bst}
	day := func(n int) *config.Rate { return &config.Rate{Rate: n, Burst: n, Period: 24 * time.Hour} }
	e := startGateway(t, withEmbeddedPolicyOn(st), withRealLimiter("", ""), withConfig(func(cfg *config.Config) {
		cfg.Limits.MaxRecords = max(cfg.Limits.MaxRecords, licences)
		if cfg.RateLimit.Members == nil {
			cfg.RateLimit.Members = map[string]config.MemberRateLimit{}
		}
		cfg.RateLimit.Members["AL/GOV/AIM"] = config.MemberRateLimit{RateClasses: config.RateClasses{Pull: day(20)}}
		cfg.RateLimit.Members["AL/GOV/AUDIT"] = config.MemberRateLimit{RateClasses: config.RateClasses{Pull: day(1000)}}
	}))
	docs := make([]map[string]any, licences)
	for i := range docs {
		docs[i] = oracleLicence(t, 7000+i, false)
	}
	oraclePush(t, e, docs...)
	direct, err := report.Build(context.Background(), exchange.ReportSource(bst), report.Options{Year: 2026, State: "ALB"})
	if err != nil {
		t.Fatal(err)
	}
	stored := func() int {
		n := 0
		for _, kind := range []string{records.KindLicence, records.KindTrackingEvent} {
			_ = bst.Query(context.Background(), store.Query{Kind: kind}, func(*records.Record, string) error { n++; return nil })
		}
		return n
	}()
	if stored <= exchange.Chunk || stored > 2*exchange.Chunk {
		t.Fatalf("%d licences and tracking events stored, want two scans' worth", stored)
	}

	// The first scan is paid (16 of 20), the second is refused before
	// the record that asked for it is counted.
	st.read.Store(0)
	r := e.as("AL/GOV/AIM").get("/v1/reports/att?year=2026")
	p := r.problem(t, http.StatusTooManyRequests, problem.TypeRateLimited)
	if r.header.Get("Retry-After") == "" || p["cost"] != float64(exchange.ReportScanCost) || p["class"] != "pull" {
		t.Errorf("mid-scan refusal: Retry-After %q, %v", r.header.Get("Retry-After"), p)
	}
	if got := r.header.Get("RateLimit"); got != fmt.Sprintf(`"pull";r=%d;t=%d`, 20-exchange.ReportScanCost, rlSeconds(t, got)) {
		t.Errorf("RateLimit %q after a paid scan of %d", got, exchange.Chunk)
	}
	if n := st.read.Load(); n != exchange.Chunk+1 {
		t.Errorf("a report refused its second scan read %d records, want the %d paid and the one that asked", n, exchange.Chunk)
	}
	// Asked again, with 4 left, it is refused before the store is read.
	st.read.Store(0)
	r = e.as("AL/GOV/AIM").get("/v1/reports/att?year=2026&format=pdf")
	r.problem(t, http.StatusTooManyRequests, problem.TypeRateLimited)
	if r.header.Get("Retry-After") == "" || !strings.HasPrefix(r.header.Get("RateLimit"), `"pull";r=`) || r.header.Get(exchange.HeaderReportJWS) != "" {
		t.Errorf("refusal before the scan: %v", r.header)
	}
	if n := st.read.Load(); n != 0 {
		t.Errorf("a report refused its first scan read %d records", n)
	}
	refusalWait(t, e.audit, 1)
	firsts, _ := refusalEvents(e.audit)
	if ev := firsts[0]; ev.Member != "AL/GOV/AIM" || ev.Route != "/v1/reports/att" || ev.Status != http.StatusTooManyRequests ||
		ev.Decision != audit.DecisionDeny || len(ev.Reasons) != 1 || ev.Reasons[0].Code != chain.ReasonRateLimited {
		t.Errorf("refusal event %+v", ev)
	}
	for _, ev := range e.audit.All() {
		if ev.Action == "report_att" && ev.Member == "AL/GOV/AIM" {
			t.Errorf("a refused report audited as %s %d", ev.Action, ev.Status)
		}
	}

	// Enough budget: the same report as ever, two scans paid.
	st.read.Store(0)
	r = e.as("AL/GOV/AUDIT").get("/v1/reports/att?year=2026")
	if r.status != http.StatusOK {
		t.Fatalf("auditor: %d %.300s", r.status, r.body)
	}
	wantDigest, err := report.Digest(direct)
	if err != nil {
		t.Fatal(err)
	}
	if r.header.Get(exchange.HeaderReportDigest) != wantDigest {
		t.Errorf("digest %s, want %s", r.header.Get(exchange.HeaderReportDigest), wantDigest)
	}
	if got := r.header.Get("RateLimit"); got != fmt.Sprintf(`"pull";r=%d;t=%d`, 1000-2*exchange.ReportScanCost, rlSeconds(t, got)) {
		t.Errorf("RateLimit %q after a report of two scans", got)
	}
	if n := st.read.Load(); n != int64(stored) {
		t.Errorf("the report read %d records, %d stored", n, stored)
	}
	var served int
	for _, ev := range e.audit.All() {
		if ev.Action == "report_att" && ev.Member == "AL/GOV/AUDIT" && ev.Status == http.StatusOK && ev.Records == direct.Records && ev.SigningKID != "" {
			served++
		}
	}
	if served != 1 {
		t.Errorf("%d report_att events for the served report, want 1", served)
	}
}

// rlSeconds is the t= of a RateLimit field (when the limit is full again):
// a time, compared as what it is, never asserted.
func rlSeconds(t *testing.T, field string) int {
	t.Helper()
	i := strings.LastIndex(field, ";t=")
	if i < 0 {
		return -1
	}
	n, err := strconv.Atoi(field[i+3:])
	if err != nil {
		return -1
	}
	return n
}

package partnerclient

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gowebpki/jcs"
)

// Members of the dev PKI, by their certificate's file name and member ID.
const (
	aimFile, aim     = "AL_GOV_AIM", "AL/GOV/AIM"
	modFile, mod     = "AL_GOV_MOD", "AL/GOV/MOD"
	dpdFile, dpd     = "AL_GOV_DPD", "AL/GOV/DPD"
	itFile, itMOD    = "IT_GOV_MOD", "IT/GOV/MOD"
	auditFile, audit = "AL_GOV_AUDIT", "AL/GOV/AUDIT"
)

// A partner's whole exchange with a real gateway, through the client
// generated from the document the gateway serves, over mutual TLS with
// member certificates of the dev PKI; every signature is verified with
// go-jose against the JWKS fetched with the same client.
//
//	source var/dev/stack.env
//	cd deploy/partnerclient && go test -count=1 -run TestPartnerExchange -v .
func TestPartnerExchange(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a gateway")
	}
	g := startGateway(t)
	ctx := context.Background()
	aimAPI, itAPI, auditAPI := g.api(t, aimFile), g.api(t, itFile), g.api(t, auditFile)

	// The document the client was generated from is the one served.
	oa, err := aimAPI.GetOpenAPIWithResponse(ctx, nil)
	if err != nil || oa.StatusCode() != http.StatusOK {
		t.Fatalf("GET /v1/openapi.json: %v %s", err, oa.Body)
	}
	committed, err := os.ReadFile(filepath.Join(repoRoot, "gateway", "server", "openapi.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(oa.Body, committed) {
		t.Error("the served OpenAPI document is not gateway/server/openapi.json")
	}

	jw, err := itAPI.JwksWithResponse(ctx)
	if err != nil || jw.StatusCode() != http.StatusOK {
		t.Fatalf("GET /.well-known/jwks.json: %v %s", err, jw.Body)
	}
	v, err := newVerifier(jw.Body)
	if err != nil {
		t.Fatal(err)
	}
	jwksFile := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksFile, jw.Body, 0o600); err != nil {
		t.Fatal(err)
	}

	who, err := itAPI.WhoamiWithResponse(ctx)
	if err != nil || who.JSON200 == nil || who.JSON200.Member != itMOD || string(who.JSON200.Kind) != "partner" {
		t.Fatalf("whoami as the Italian partner: %v %s", err, who.Body)
	}

	results := pushSeeds(t, g, v)

	t.Run("page", func(t *testing.T) { pullPages(t, aimAPI, v, results) })
	t.Run("stream", func(t *testing.T) { pullStream(t, g, itAPI, v, jwksFile) })
	t.Run("trace", func(t *testing.T) { traceRequest(t, aimAPI, itAPI, v) })
	t.Run("audit", func(t *testing.T) { readAudit(t, auditAPI, v, results) })
	t.Run("refusals", func(t *testing.T) { refusals(t, itAPI, v) })
}

// pushSeeds pushes the demo's seed files, each as its institution, as
// NDJSON; every result is accepted and signed for its pusher. It returns
// the signed results by record id.
func pushSeeds(t *testing.T, g *gateway, v *verifier) map[string]signedResult {
	t.Helper()
	out := map[string]signedResult{}
	for _, p := range []struct{ file, cert, member string }{
		{"aim.ndjson", aimFile, aim}, {"mod.ndjson", modFile, mod}, {"customs.ndjson", dpdFile, dpd},
	} {
		body := seedFile(t, p.file)
		res, err := g.api(t, p.cert).PushRecordsWithBodyWithResponse(context.Background(), "application/x-ndjson", bytes.NewReader(body))
		if err != nil || res.JSON200 == nil {
			t.Fatalf("push %s as %s: %v %d %s", p.file, p.member, err, res.StatusCode(), res.Body)
		}
		if n := bytes.Count(body, []byte("\n")) + 1; len(res.JSON200.Results) != n {
			t.Fatalf("push %s: %d results for %d records", p.file, len(res.JSON200.Results), n)
		}
		for _, r := range res.JSON200.Results {
			s, err := v.result(r, p.member)
			if err != nil {
				t.Fatalf("push %s: %v", p.file, err)
			}
			if s.Status != "accepted" || s.AuditSeq == 0 || !strings.HasPrefix(s.Digest, "sha256:") {
				t.Fatalf("push %s: %+v", p.file, s)
			}
			out[s.ID] = s
		}
	}
	return out
}

// pullPages pulls AIM's licences two at a time, following next_cursor:
// every page's deliveries verify, and together they are every licence AIM
// pushed, each once.
func pullPages(t *testing.T, api *ClientWithResponses, v *verifier, pushed map[string]signedResult) {
	kind, limit := PullRecordsParamsKind("licence"), 2
	params := &PullRecordsParams{Kind: &kind, Limit: &limit}
	var got []string
	for page := 0; ; page++ {
		res, err := api.PullRecordsWithResponse(context.Background(), params)
		if err != nil || res.JSON200 == nil {
			t.Fatalf("page %d: %v %d %s", page, err, res.StatusCode(), res.Body)
		}
		if len(res.JSON200.Records) > limit {
			t.Fatalf("page %d has %d records, limit %d", page, len(res.JSON200.Records), limit)
		}
		for _, d := range res.JSON200.Records {
			p, rec, err := v.delivery(d, aim)
			if err != nil {
				t.Fatal(err)
			}
			if rec.Kind != "licence" || len(p.Redactions) != 0 {
				t.Errorf("AIM's own licence %s: kind %s, redactions %v", rec.ID, rec.Kind, p.Redactions)
			}
			var lic Licence
			if err := json.Unmarshal(p.Record, &lic); err != nil || lic.Id != rec.ID || lic.Label.Originator != aim {
				t.Errorf("licence %s as the generated Licence (%v): %+v", rec.ID, err, lic)
			}
			got = append(got, rec.ID)
		}
		if !res.JSON200.More {
			break
		}
		params.Cursor = &res.JSON200.NextCursor
	}
	var want []string
	for id := range pushed {
		if strings.HasPrefix(id, "AIM-LIC-") {
			want = append(want, id)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if len(want) < 3 || !slices.Equal(got, want) {
		t.Errorf("pages: %v\nwant AIM's licences %v", got, want)
	}
}

// pullStream pulls the licences the Italian partner may see as a signed
// NDJSON stream, verifies it as a whole with go-jose and with `ura verify`,
// and shows that a copy with a line removed or changed is refused by both.
func pullStream(t *testing.T, g *gateway, api *ClientWithResponses, v *verifier, jwksFile string) {
	kind := PullRecordsParamsKind("licence")
	res, err := api.PullRecords(context.Background(), &PullRecordsParams{Kind: &kind},
		func(_ context.Context, req *http.Request) error {
			req.Header.Set("Accept", "application/x-ndjson")
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	_ = res.Body.Close()
	if err != nil || res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/x-ndjson") {
		t.Fatalf("stream: %v %d %s\n%s", err, res.StatusCode, res.Header.Get("Content-Type"), body)
	}
	recs, tp, err := v.stream(body, itMOD)
	if err != nil {
		t.Fatal(err)
	}
	if !tp.Complete || len(recs) == 0 || tp.Request != "/v1/records?kind=licence" || tp.Cursor != "" {
		t.Errorf("trailer %+v with %d records", tp, len(recs))
	}
	for _, r := range recs {
		if r.Kind != "licence" {
			t.Errorf("a %s in a pull of licences", r.Kind)
		}
	}
	// The page form of the same pull names the same records.
	page, err := api.PullRecordsWithResponse(context.Background(), &PullRecordsParams{Kind: &kind})
	if err != nil || page.JSON200 == nil || page.JSON200.More || len(page.JSON200.Records) != len(recs) {
		t.Fatalf("the page form of the stream: %v %s", err, page.Body)
	}
	redacted := 0
	for i, d := range page.JSON200.Records {
		if d.Id != recs[i].ID {
			t.Errorf("page record %d is %s, stream line %d %s", i, d.Id, i, recs[i].ID)
		}
		// A partner is told which fields were removed and by which rule of
		// which policy revision, never what they held.
		p, _, err := v.delivery(d, itMOD)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Redactions {
			redacted++
			if r.Pointer != "/licence/end_user/contact" || r.Rule != "redactions.partner.licence" || p.PolicyRevision == "" ||
				bytes.Contains(p.Record, []byte(`"contact"`)) {
				t.Errorf("%s: redaction %+v, revision %q", d.Id, r, p.PolicyRevision)
			}
		}
	}
	if redacted == 0 {
		t.Error("no licence reached the partner with its end user's contact removed")
	}

	dir := t.TempDir()
	saved := filepath.Join(dir, "pull.ndjson")
	write(t, saved, body)
	if out, err := exec.Command(g.Bin, "verify", "--jwks", jwksFile, saved).CombinedOutput(); err != nil {
		t.Fatalf("ura verify of the saved stream: %v\n%s", err, out)
	}
	lines := bytes.SplitAfter(body, []byte("\n"))
	cut := bytes.Join(append(slices.Clone(lines[:1]), lines[2:]...), nil)
	changed := bytes.Replace(body, []byte(`"version":1,`), []byte(`"version":9,`), 1)
	for name, b := range map[string][]byte{"a line removed": cut, "a line's version changed": changed} {
		if bytes.Equal(b, body) || len(recs) < 2 {
			t.Fatalf("%s: the copy is the original", name)
		}
		if _, _, err := v.stream(b, itMOD); err == nil {
			t.Errorf("go-jose: the stream with %s verified", name)
		}
		f := filepath.Join(dir, "tampered.ndjson")
		write(t, f, b)
		if out, err := exec.Command(g.Bin, "verify", "--jwks", jwksFile, f).CombinedOutput(); err == nil {
			t.Errorf("ura verify: the stream with %s verified:\n%s", name, out)
		}
	}
	// Verifying against a key that did not sign fails: the check is real.
	other := []byte(`{"keys":[{"kty":"OKP","crv":"Ed25519","alg":"EdDSA","use":"sig","kid":"` +
		firstKid(t, v) + `","x":"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"}]}`)
	wrong, err := newVerifier(other)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := wrong.stream(body, itMOD); err == nil {
		t.Error("the stream verified against a key that did not sign it")
	}
}

// traceRequest: the Italian partner asks about a rifle marked in Albania;
// the request waits in AIM's open list (which the partner may not read);
// AIM answers naming the requester; the partner reads the answer, and
// both see it in the item's trace. Every push result and delivery is
// verified.
func traceRequest(t *testing.T, aimAPI, itAPI *ClientWithResponses, v *verifier) {
	ctx := context.Background()
	n := time.Now().UTC()
	at := n.Format(time.RFC3339)
	reqID := fmt.Sprintf("IT-TR-%d", n.UnixNano())
	recID := "IT-GOV-MOD-TR-" + strings.TrimPrefix(reqID, "IT-TR-")
	request := map[string]any{
		"kind": "tracking_event", "id": recID, "version": 1,
		"label": map[string]any{"classification": "UNCLASSIFIED", "releasable_to": []string{"ALB", "ITA"},
			"originator": itMOD, "created": at},
		"event": map[string]any{"type": "TRACE_REQUEST", "at": at,
			"item": map[string]any{"marking": map[string]any{"manufacturer": "KAYO", "country": "ALB",
				"serial": "K26-GR-000101", "year": 2026}, "ml_category": "ML1", "att_category": "small_arms"},
			"trace": map[string]any{"request_id": reqID, "reason": "rifle seized at the port of Bari",
				"requesting_authority": "Carabinieri, Reparto Operativo di Bari"}},
	}
	pushOne(t, itAPI, v, itMOD, request)

	open, err := aimAPI.OpenTracesWithResponse(ctx)
	if err != nil || open.JSON200 == nil {
		t.Fatalf("GET /v1/traces/open as AIM: %v %s", err, open.Body)
	}
	found := false
	for _, o := range open.JSON200.Open {
		if o.RequestId == reqID {
			found = o.Id == recID && o.Requester == itMOD && o.WaitingSeconds >= 0
		}
	}
	if !found {
		t.Fatalf("the request is not open at AIM as asked: %s", open.Body)
	}

	answer := map[string]any{}
	b, _ := json.Marshal(request)
	_ = json.Unmarshal(b, &answer)
	ansID := "AIM-EVT-TR-" + strings.TrimPrefix(reqID, "IT-TR-")
	answer["id"] = ansID
	answer["label"].(map[string]any)["originator"] = aim
	ev := answer["event"].(map[string]any)
	ev["type"] = "TRACE_RESPONSE"
	ev["trace"] = map[string]any{"request_id": reqID, "requester": itMOD,
		"answer": "manufactured by KAYO at Gramsh in 2026; exported to ITA through Durres"}
	pushOne(t, aimAPI, v, aim, answer)

	open, err = aimAPI.OpenTracesWithResponse(ctx)
	if err != nil || open.JSON200 == nil {
		t.Fatalf("GET /v1/traces/open: %v", err)
	}
	for _, o := range open.JSON200.Open {
		if o.RequestId == reqID {
			t.Errorf("the answered request is still open: %+v", o)
		}
	}

	got, err := itAPI.GetRecordWithResponse(ctx, ansID)
	if err != nil || got.JSON200 == nil {
		t.Fatalf("the partner reads the answer: %v %d %s", err, got.StatusCode(), got.Body)
	}
	p, _, err := v.delivery(*got.JSON200, itMOD)
	if err != nil {
		t.Fatal(err)
	}
	// The record decodes into the generated type of its kind.
	var rec TrackingEvent
	if err := json.Unmarshal(p.Record, &rec); err != nil || rec.Event.Type != "TRACE_RESPONSE" || rec.Event.Trace == nil ||
		deref(rec.Event.Trace.Requester) != itMOD || rec.Event.Trace.RequestId != reqID ||
		!strings.HasPrefix(deref(rec.Event.Trace.Answer), "manufactured by KAYO") {
		t.Errorf("the answer as the partner reads it (%v): %s", err, p.Record)
	}

	for _, c := range []struct {
		api    *ClientWithResponses
		member string
	}{{aimAPI, aim}, {itAPI, itMOD}} {
		tr, err := c.api.TraceItemWithResponse(ctx, "ALB", "KAYO", "K26-GR-000101")
		if err != nil || tr.JSON200 == nil {
			t.Fatalf("trace as %s: %v %s", c.member, err, tr.Body)
		}
		var ids []string
		for _, d := range tr.JSON200.Events {
			if _, _, err := v.delivery(d, c.member); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, d.Id)
		}
		if !slices.Contains(ids, ansID) {
			t.Errorf("the trace as %s lacks the answer: %v", c.member, ids)
		}
	}
}

// pushOne pushes one record as JSON and checks its signed result.
func pushOne(t *testing.T, api *ClientWithResponses, v *verifier, member string, rec map[string]any) signedResult {
	t.Helper()
	b, err := json.Marshal([]any{rec})
	if err != nil {
		t.Fatal(err)
	}
	res, err := api.PushRecordsWithBodyWithResponse(context.Background(), "application/json", bytes.NewReader(b))
	if err != nil || res.JSON200 == nil || len(res.JSON200.Results) != 1 {
		t.Fatalf("push %s as %s: %v %s", rec["id"], member, err, res.Body)
	}
	s, err := v.result(res.JSON200.Results[0], member)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != "accepted" {
		t.Fatalf("push %s as %s: %s %v", rec["id"], member, s.Status, s.codes())
	}
	return s
}

// readAudit reads the audit log as the security officer: the decision
// event behind a push result (its audit_seq) names the same decision, its
// proof links it by hash to a checkpoint whose signature verifies, and
// every signed checkpoint verifies.
func readAudit(t *testing.T, api *ClientWithResponses, v *verifier, pushed map[string]signedResult) {
	ctx := context.Background()
	s := pushed["AIM-LIC-2026-000124"]
	if s.AuditSeq == 0 {
		t.Fatalf("no push result for AIM-LIC-2026-000124: %+v", s)
	}

	id := s.ID
	search, err := api.SearchAuditWithResponse(ctx, &SearchAuditParams{RecordId: &id})
	if err != nil || search.JSON200 == nil {
		t.Fatalf("search: %v %s", err, search.Body)
	}
	var seqs []int
	for _, e := range search.JSON200.Events {
		seqs = append(seqs, deref(e.Seq))
	}
	if !slices.Contains(seqs, s.AuditSeq) {
		t.Errorf("a search for %s lists seqs %v, not the push's %d", id, seqs, s.AuditSeq)
	}

	// A checkpoint covers the event within audit.checkpoint.interval.
	var proof struct {
		Event      json.RawMessage `json:"event"`
		Following  []string        `json:"following"`
		Checkpoint *checkpoint     `json:"checkpoint"`
		Pending    bool            `json:"pending"`
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		res, err := api.GetAuditEventWithResponse(ctx, s.AuditSeq)
		if err != nil || res.JSON200 == nil || res.JSON200.Event == nil {
			t.Fatalf("GET /v1/audit/events/%d: %v %s", s.AuditSeq, err, res.Body)
		}
		e := res.JSON200.Event
		if deref(e.DecisionId) != s.DecisionID || deref(e.RecordId) != id || deref(e.Member) != aim ||
			deref(e.Action) != "push" || string(deref(e.Decision)) != "allow" {
			t.Fatalf("the push's decision event: %s", res.Body)
		}
		if err := json.Unmarshal(res.Body, &proof); err != nil {
			t.Fatal(err)
		}
		if !proof.Pending && proof.Checkpoint != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no checkpoint covers seq %d: %s", s.AuditSeq, res.Body)
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := verifyProof(v, proof.Event, proof.Following, *proof.Checkpoint); err != nil {
		t.Errorf("proof of seq %d: %v", s.AuditSeq, err)
	}

	cps, err := api.AuditCheckpointsWithResponse(ctx)
	if err != nil || cps.StatusCode() != http.StatusOK {
		t.Fatalf("checkpoints: %v %s", err, cps.Body)
	}
	var list struct {
		Checkpoints []checkpoint `json:"checkpoints"`
	}
	if err := json.Unmarshal(cps.Body, &list); err != nil || len(list.Checkpoints) == 0 {
		t.Fatalf("checkpoints: %v %s", err, cps.Body)
	}
	for _, cp := range list.Checkpoints {
		if err := v.checkpoint(cp); err != nil {
			t.Error(err)
		}
	}
}

// checkpoint is a signed audit checkpoint as the audit API lists it.
type checkpoint struct {
	Type     string `json:"type"`
	Count    int    `json:"count"`
	HeadHash string `json:"head_hash"`
	Time     string `json:"time"`
	JWS      string `json:"jws"`
}

// checkpoint verifies a checkpoint's JWS and that it signs the plain fields.
func (v *verifier) checkpoint(cp checkpoint) error {
	b, _, err := v.verify(cp.JWS, typCheckpoint)
	if err != nil {
		return fmt.Errorf("checkpoint %d: %w", cp.Count, err)
	}
	var signed checkpoint
	if err := json.Unmarshal(b, &signed); err != nil {
		return fmt.Errorf("checkpoint %d payload: %w", cp.Count, err)
	}
	signed.JWS = cp.JWS
	if signed != cp || cp.Type != "urn:ura:audit:checkpoint" {
		return fmt.Errorf("checkpoint %+v signs %+v", cp, signed)
	}
	return nil
}

// verifyProof follows gateway/ARCHITECTURE.md (Audit, Proofs) with stock
// parts: RFC 8785 (gowebpki/jcs), SHA-256 and the JOSE verifier.
func verifyProof(v *verifier, event json.RawMessage, following []string, cp checkpoint) error {
	var ev map[string]any
	dec := json.NewDecoder(bytes.NewReader(event))
	dec.UseNumber()
	if err := dec.Decode(&ev); err != nil {
		return err
	}
	want, _ := ev["hash"].(string)
	delete(ev, "hash")
	h, err := canonicalHash(ev)
	if err != nil {
		return err
	}
	if h != want {
		return fmt.Errorf("the event hashes to %s, it says %s", h, want)
	}
	seq, _ := ev["seq"].(json.Number).Int64()
	for i, f := range following {
		var next struct {
			Seq  int64  `json:"seq"`
			Prev string `json:"prev"`
			Hash string `json:"hash"`
		}
		if err := json.Unmarshal([]byte(f), &next); err != nil {
			return fmt.Errorf("following[%d]: %w", i, err)
		}
		canon, err := jcs.Transform([]byte(f))
		if err != nil || !bytes.Equal(canon, []byte(f)) || next.Hash != "" {
			return fmt.Errorf("following[%d] is not an event's canonical bytes without hash", i)
		}
		if next.Seq != seq+1 || next.Prev != h {
			return fmt.Errorf("following[%d] (seq %d) does not link to seq %d", i, next.Seq, seq)
		}
		sum := sha256.Sum256(canon)
		h, seq = hex.EncodeToString(sum[:]), next.Seq
	}
	if err := v.checkpoint(cp); err != nil {
		return err
	}
	if int64(cp.Count) != seq || cp.HeadHash != h {
		return fmt.Errorf("the chain ends at seq %d hash %s, the checkpoint signs %d %s", seq, h, cp.Count, cp.HeadHash)
	}
	return nil
}

func canonicalHash(v any) (string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return "", err
	}
	c, err := jcs.Transform(b)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(c)
	return hex.EncodeToString(sum[:]), nil
}

// refusals: what the partner may not do is answered problem+json, typed in
// the generated client; a withheld record answers exactly like a missing
// one; and a record the partner pushes in another member's name is denied
// in a signed result.
func refusals(t *testing.T, api *ClientWithResponses, v *verifier) {
	ctx := context.Background()
	search, err := api.SearchAuditWithResponse(ctx, nil)
	if err != nil || search.ApplicationproblemJSON403 == nil ||
		search.HTTPResponse.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("the audit log as the partner: %v %d %s", err, search.StatusCode(), search.Body)
	}
	if p := search.ApplicationproblemJSON403; p.Type != "urn:ura:problem:forbidden" || p.Status != http.StatusForbidden {
		t.Errorf("problem: %+v", p)
	}
	open, err := api.OpenTracesWithResponse(ctx)
	if err != nil || open.ApplicationproblemJSON403 == nil {
		t.Errorf("the open trace list as the partner: %v %d %s", err, open.StatusCode(), open.Body)
	}

	// MOD-EVT-2026-0000301, a transfer releasable to Albania only, is
	// withheld from the partner; an id that exists nowhere is missing.
	withheld, err := api.GetRecordWithResponse(ctx, "MOD-EVT-2026-0000301")
	if err != nil {
		t.Fatal(err)
	}
	missing, err := api.GetRecordWithResponse(ctx, "MOD-EVT-2026-0009999")
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range []*GetRecordResponse{withheld, missing} {
		if r.ApplicationproblemJSON404 == nil {
			t.Fatalf("GET %s as the partner: %d %s", r.HTTPResponse.Request.URL.Path, r.StatusCode(), r.Body)
		}
	}
	if a, b := problemShape(withheld.Body), problemShape(missing.Body); a != b {
		t.Errorf("withheld and missing differ:\n%s\n%s", a, b)
	}

	lic := map[string]any{}
	if err := json.Unmarshal(seedRecord(t, "aim.ndjson", "AIM-LIC-2026-000124"), &lic); err != nil {
		t.Fatal(err)
	}
	lic["id"] = "AIM-LIC-2026-009001"
	b, _ := json.Marshal([]any{lic})
	res, err := api.PushRecordsWithBodyWithResponse(ctx, "application/json", bytes.NewReader(b))
	if err != nil || res.JSON200 == nil {
		t.Fatalf("push in AIM's name: %v %s", err, res.Body)
	}
	s, err := v.result(res.JSON200.Results[0], itMOD)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != "denied" || len(s.Reasons) == 0 {
		t.Errorf("a licence pushed by the partner in AIM's name: %+v", s)
	}
}

// problemShape is a problem's body without its per-request instance.
func problemShape(body []byte) string {
	var p map[string]any
	if err := json.Unmarshal(body, &p); err != nil {
		return string(body)
	}
	delete(p, "instance")
	b, _ := json.Marshal(p)
	return string(b)
}

// seedRecord is one record of a seed file, by id.
func seedRecord(t *testing.T, file, id string) []byte {
	t.Helper()
	for _, line := range bytes.Split(seedFile(t, file), []byte("\n")) {
		var h recordHead
		if json.Unmarshal(line, &h) == nil && h.ID == id {
			return line
		}
	}
	t.Fatalf("%s has no record %s", file, id)
	return nil
}

func firstKid(t *testing.T, v *verifier) string {
	t.Helper()
	return v.keys.Keys[0].KeyID
}

func write(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/report"
	"github.com/ura-gateway/ura/gateway/sign"
)

// TestOpenAPIExamples: the document's examples are made here from the seed
// data of the development stack (deploy/dev/seed), so they are records the
// gateway accepts and stay so; a changed seed fails until -update rewrites
// them. Redocly's lint checks each example against its schema.
func TestOpenAPIExamples(t *testing.T) {
	doc := openapiLoad(t)
	want := openapiExamples(t)
	changed := false
	for _, ptr := range slices.Sorted(maps.Keys(want)) {
		var norm any
		b, _ := json.Marshal(want[ptr])
		if err := json.Unmarshal(b, &norm); err != nil {
			t.Fatal(err)
		}
		get, set := openapiAt(t, doc, ptr)
		if reflect.DeepEqual(get(), norm) {
			continue
		}
		if !openapiUpdate() {
			t.Errorf("%s differs from the example made from deploy/dev/seed (go test ./gateway/server -run OpenAPI -update)", ptr)
			continue
		}
		set(norm)
		changed = true
	}
	if changed {
		openapiWrite(t, doc)
	}
}

// problemType is one problem type a response component carries.
type problemType struct {
	status      int
	typ, detail string
}

// openapiProblemTypes are the problem types of each problem response in
// components.responses, shown as its examples; the component's description
// names the same.
var openapiProblemTypes = map[string][]problemType{
	"BadRequest":      {{400, problem.TypeBadRequest, "the body is not valid JSON"}},
	"Unauthenticated": {{401, problem.TypeUnauthenticated, "no verified member certificate"}},
	"Forbidden": {
		{403, problem.TypeUnknownMember, "the member is not registered at this gateway"},
		{403, problem.TypeForbidden, "this route is for members of kind auditor"},
	},
	"NotFound":      {{404, problem.TypeNotFound, "no such record"}},
	"NotAcceptable": {{406, problem.TypeNotAcceptable, "this route answers application/json or application/x-ndjson"}},
	"TooLarge": {
		{413, problem.TypeBodyTooLarge, "the body is larger than 8388608 bytes"},
		{413, problem.TypeTooManyRecords, "the body holds more than 1000 records"},
	},
	"UnsupportedMediaType": {{415, problem.TypeUnsupportedMedia, "the body must be application/json or application/x-ndjson in UTF-8"}},
	"Unprocessable": {
		{422, problem.TypeTooDeep, "record 0: JSON nested deeper than 16 levels"},
		{422, problem.TypeStringTooLong, "record 0: a string longer than 8192 bytes"},
		{422, problem.TypeTooManyRecords, "the item has more events than a trace returns"},
	},
	"RateLimited": {{429, problem.TypeRateLimited, "the push quota of the member is exhausted"}},
	"Internal":    {{500, problem.TypeInternal, "internal error"}},
	"Unavailable": {{503, problem.TypeUnavailable, "the record store is unavailable"}},
}

// openapiAt reads and replaces the value at ptr; every container on the
// way must exist.
func openapiAt(t *testing.T, doc map[string]any, ptr string) (get func() any, set func(any)) {
	t.Helper()
	tokens, err := records.ParsePointer(ptr)
	if err != nil || len(tokens) == 0 {
		t.Fatalf("pointer %q: %v", ptr, err)
	}
	var parent any = doc
	for _, tok := range tokens[:len(tokens)-1] {
		next, ok := openapiChild(parent, tok)
		if !ok || next == nil {
			t.Fatalf("%s: nothing at %q", ptr, tok)
		}
		parent = next
	}
	last := tokens[len(tokens)-1]
	if _, ok := openapiChild(parent, last); !ok {
		t.Fatalf("%s: no container for %q", ptr, last)
	}
	get = func() any { v, _ := openapiChild(parent, last); return v }
	set = func(v any) {
		switch c := parent.(type) {
		case map[string]any:
			c[last] = v
		case []any:
			i, _ := strconv.Atoi(last)
			c[i] = v
		}
	}
	return get, set
}

// openapiChild is the member or element tok of an object or array; ok is
// false when v is neither or has no such element.
func openapiChild(v any, tok string) (any, bool) {
	switch c := v.(type) {
	case map[string]any:
		return c[tok], true
	case []any:
		i, err := strconv.Atoi(tok)
		if err != nil || i < 0 || i >= len(c) {
			return nil, false
		}
		return c[i], true
	}
	return nil, false
}

func openapiWrite(t *testing.T, doc map[string]any) {
	t.Helper()
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("openapi.json", b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Log("rewrote openapi.json")
}

// seedRecord is the record id from deploy/dev/seed.
func seedRecord(t *testing.T, id string) map[string]any {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join("..", "..", "deploy", "dev", "seed", "*.ndjson"))
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range bytes.Split(raw, []byte("\n")) {
			var doc map[string]any
			if json.Unmarshal(line, &doc) == nil && doc["id"] == id {
				return doc
			}
		}
	}
	t.Fatalf("%s is not in deploy/dev/seed", id)
	return nil
}

// exampleJWS is a compact JWS of payload whose signature is zeros: the
// shape of what the gateway signs, not a signature anyone can verify.
func exampleJWS(t *testing.T, typ string, payload any) string {
	t.Helper()
	h, _ := json.Marshal(map[string]string{"alg": "EdDSA", "kid": "ura-signing-1", "typ": typ})
	p, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	enc := base64.RawURLEncoding
	return enc.EncodeToString(h) + "." + enc.EncodeToString(p) + "." + enc.EncodeToString(make([]byte, 64))
}

// ex is one named example of the OpenAPI Example Object.
func ex(summary string, value any) map[string]any {
	return map[string]any{"summary": summary, "value": value}
}

// openapiExamples maps JSON pointers into the document to the examples
// they hold.
func openapiExamples(t *testing.T) map[string]any {
	t.Helper()
	const (
		licenceID = "AIM-LIC-2026-000123"
		eventID   = "DPD-EVT-2026-0004501"
		recipient = "IT/GOV/MOD"
		issuer    = "ura.dev.aim.al"
		revision  = "sha256:5f0c6e1a9b7d3c2e"
		decision  = "0196f3a2-7c1e-7d4b-9a3f-2b8c4d6e8f10"
	)
	lic := seedRecord(t, licenceID)
	evt := seedRecord(t, eventID)
	created, err := records.ParseDateTime(lic["label"].(map[string]any)["created"].(string))
	if err != nil {
		t.Fatal(err)
	}
	iat := created.Add(time.Hour).Unix()
	canonicalDigest := func(doc map[string]any) string {
		raw, err := records.Canonical(doc)
		if err != nil {
			t.Fatal(err)
		}
		return records.Digest(raw)
	}
	result := func(i int, doc map[string]any, seq int) map[string]any {
		return map[string]any{"index": i, "status": "accepted", "id": doc["id"], "version": doc["version"],
			"decision_id": decision, "digest": canonicalDigest(doc), "audit_seq": seq}
	}
	signedResult := func(r map[string]any) map[string]any {
		payload := map[string]any{"recipient": "AL/GOV/AIM", "iss": issuer, "iat": iat}
		out := map[string]any{}
		for k, v := range r {
			payload[k], out[k] = v, v
		}
		out["jws"] = exampleJWS(t, "ura-result+jws", payload)
		return out
	}
	// The same results under the chunk profile: one root over their
	// payloads, each result with its payload and proof.
	chunkResults := func(rs ...map[string]any) []any {
		payloads := make([][]byte, len(rs))
		for i, r := range rs {
			payload := map[string]any{"recipient": "AL/GOV/AIM", "iss": issuer, "iat": iat}
			maps.Copy(payload, r)
			payloads[i], _ = json.Marshal(payload)
		}
		tree, err := sign.NewLeafTree(sign.LeavesResult, payloads)
		if err != nil {
			t.Fatal(err)
		}
		root, err := tree.Payload("AL/GOV/AIM", issuer, iat)
		if err != nil {
			t.Fatal(err)
		}
		proofs, err := tree.Proofs(exampleJWS(t, sign.TypChunk, json.RawMessage(root)))
		if err != nil {
			t.Fatal(err)
		}
		out := make([]any, len(rs))
		for i, r := range rs {
			res := maps.Clone(r)
			res["result"] = base64.RawURLEncoding.EncodeToString(payloads[i])
			res["proof"] = proofs[i]
			out[i] = res
		}
		return out
	}
	delivery := func(doc map[string]any, redactions []any) map[string]any {
		payload := map[string]any{"record": doc, "decision_id": decision, "policy_revision": revision,
			"redactions": redactions, "recipient": recipient, "iss": issuer, "iat": iat}
		return map[string]any{"id": doc["id"], "version": doc["version"], "jws": exampleJWS(t, "ura-delivery+jws", payload)}
	}
	marking := evt["event"].(map[string]any)["item"].(map[string]any)["marking"].(map[string]any)

	p := func(path, method string) string {
		return "/paths/" + strings.ReplaceAll(strings.ReplaceAll(path, "~", "~0"), "/", "~1") + "/" + method
	}
	content := func(media string) string { return "/content/" + strings.ReplaceAll(media, "/", "~1") }
	push, get, pull := p("/v1/records", "post"), p("/v1/records/{id}", "get"), p("/v1/records", "get")
	trace := p("/v1/items/{country}/{manufacturer}/{serial}/trace", "get")

	// Italy's MoD is a partner: the licence reaches it without the end
	// user's contact, and the delivery says which rule removed it.
	var forItaly map[string]any
	if b, err := json.Marshal(lic); err != nil || json.Unmarshal(b, &forItaly) != nil {
		t.Fatal("copy of the seed licence")
	}
	delete(forItaly["licence"].(map[string]any)["end_user"].(map[string]any), "contact")
	italyRedactions := []any{map[string]any{"pointer": "/licence/end_user/contact", "rule": "redactions.partner.licence"}}

	page := map[string]any{"records": []any{delivery(forItaly, italyRedactions)}, "next_cursor": "c1.AAAAAAAAAAE", "more": false}
	trailer := map[string]any{"next_cursor": "c1.AAAAAAAAAAE", "complete": true, "records": 1,
		"digest": "sha256:" + strings.Repeat("0", 64)}
	trailer["jws"] = exampleJWS(t, "ura-trailer+jws", map[string]any{"request": "/v1/records?kind=licence", "request_id": "req-1",
		"cursor": "", "next_cursor": trailer["next_cursor"], "complete": true, "records": 1, "digest": trailer["digest"],
		"recipient": recipient, "iss": issuer, "iat": iat})

	out := map[string]any{
		push + "/requestBody" + content("application/json") + "/examples": map[string]any{
			"seed": ex("A licence and a customs export declaration from deploy/dev/seed", []any{lic, evt}),
		},
		push + "/requestBody" + content("application/x-ndjson") + "/examples": map[string]any{
			"seed": ex("One line of the body: the seed licence (the next line would hold the export declaration)", lic),
		},
		push + "/responses/200" + content("application/json") + "/examples": map[string]any{
			"accepted": ex("Both records accepted, proof profile jws (example signatures)", map[string]any{"results": []any{
				signedResult(result(0, lic, 41)), signedResult(result(1, evt, 42))}}),
			"accepted-chunk": ex("Both records accepted, proof profile chunk (example signature)", map[string]any{
				"results": chunkResults(result(0, lic, 41), result(1, evt, 42))}),
		},
		get + "/responses/200" + content("application/json") + "/examples": map[string]any{
			"licence": ex("The seed licence as Italy's MoD receives it (example signature)", delivery(forItaly, italyRedactions)),
		},
		pull + "/responses/200" + content("application/json") + "/examples": map[string]any{
			"page": ex("One page of licences (example signature)", page),
		},
		pull + "/responses/200" + content("application/x-ndjson") + "/examples": map[string]any{
			"delivery": ex("A line of the stream: the seed licence (example signature)", delivery(forItaly, italyRedactions)),
			"trailer":  ex("The last line: the signed trailer (example signature)", trailer),
		},
		trace + "/responses/200" + content("application/json") + "/examples": map[string]any{
			"trace": ex("The seed export declaration of the item (example signature)", map[string]any{
				"item":   map[string]any{"country": marking["country"], "manufacturer": marking["manufacturer"], "serial": marking["serial"]},
				"events": []any{delivery(evt, []any{})}, "brokering": []any{}}),
		},
		p("/v1/whoami", "get") + "/responses/200" + content("application/json") + "/examples": map[string]any{
			"aim": ex("The licensing agency of the dev stack", map[string]any{"member": "AL/GOV/AIM", "name": "Albanian Agency of Industry and Military",
				"nation": "ALB", "kind": "agency", "clearance": "SECRET", "roles": []any{"licensing"},
				"certificate": map[string]any{"issuer": "CN=ura dev AL member CA", "serial": "4f1a", "not_after": "2027-01-15T09:00:00Z"}}),
		},
		p("/healthz", "get") + "/responses/200" + content("application/json") + "/examples": map[string]any{
			"ok": ex("The process is up", map[string]any{"status": "ok"}),
		},
		p("/readyz", "get") + "/responses/200" + content("application/json") + "/examples": map[string]any{
			"ready": ex("Every dependency answers", map[string]any{"status": "ready", "checks": map[string]any{"store": "ok", "signer": "ok", "audit": "ok", "ratelimit": "ok"}}),
		},
		p("/v1/traces/open", "get") + "/responses/200" + content("application/json") + "/examples": map[string]any{
			"waiting": ex("Italy's MoD asks about an item of the seed", map[string]any{"as_of": "2026-04-02T10:00:00Z", "open": []any{map[string]any{
				"id": "IT-MOD-TR-2026-0007", "version": 1, "request_id": "IT-MOD-TR-2026-0007", "requester": recipient,
				"requesting_authority": "Procura della Repubblica di Bari",
				"marking":              map[string]any{"country": marking["country"], "manufacturer": marking["manufacturer"], "serial": marking["serial"]},
				"requested":            "2026-04-01T09:00:00Z", "waiting_seconds": 90000}}}),
		},
	}
	// The ATT report of the seed register, with an example signature.
	att := seedATTReport(t, 2026)
	out[p("/v1/reports/att", "get")+"/responses/200"+content("application/json")+"/examples"] = map[string]any{
		"seed": ex("The 2026 report of the demo register (example signature)", map[string]any{"report": att.Report, "digest": att.Digest,
			"jws": exampleJWS(t, "ura-report+jws", report.Attestation{Report: report.KindATT, Year: att.Report.Year,
				ReportingState: att.Report.ReportingState, AsOf: att.Report.AsOf, Digest: att.Digest, Recipient: "AL/GOV/AIM",
				Issuer: "ura.dev.aim.al", IssuedAt: 1795000000})}),
	}
	// Parameters name seed records.
	for ptr, v := range map[string]any{
		get + "/parameters/0/example":   licenceID,
		trace + "/parameters/0/example": marking["country"],
		trace + "/parameters/1/example": marking["manufacturer"],
		trace + "/parameters/2/example": marking["serial"],
	} {
		out[ptr] = v
	}
	// Every problem answer shows the problem types it carries.
	for name, types := range openapiProblemTypes {
		var examples = map[string]any{}
		for _, pt := range types {
			examples[strings.TrimPrefix(pt.typ, problem.TypePrefix)] = ex(pt.detail, map[string]any{
				"type": pt.typ, "title": http.StatusText(pt.status), "status": pt.status, "detail": pt.detail,
				"instance": "urn:ura:request:0196f3a2-7c1e-7d4b-9a3f-2b8c4d6e8f11"})
		}
		if name == "BadRequest" {
			examples["bad-request-field"] = ex("A query parameter at fault, named in errors[]", map[string]any{
				"type": problem.TypeBadRequest, "title": "Bad Request", "status": 400, "detail": "kind: must be one of " + strings.Join(records.Kinds, ", "),
				"instance": "urn:ura:request:0196f3a2-7c1e-7d4b-9a3f-2b8c4d6e8f12",
				"errors":   []any{map[string]any{"pointer": "kind", "detail": "must be one of " + strings.Join(records.Kinds, ", ")}}})
		}
		out["/components/responses/"+name+"/content/application~1problem+json/examples"] = examples
	}
	return out
}

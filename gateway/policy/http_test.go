package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/records"
)

// httpTestRecord builds a record the way the gateway's decoder does:
// numbers as json.Number.
func httpTestRecord(t testing.TB, raw string) *records.Record {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(raw))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("record: %v", err)
	}
	v, _ := doc["version"].(json.Number).Int64()
	return &records.Record{Kind: doc["kind"].(string), ID: doc["id"].(string), Version: int(v), Doc: doc, Raw: json.RawMessage(raw)}
}

const httpTestLicence = `{"kind":"licence","id":"AIM-LIC-2026-000123","version":1,
 "label":{"classification":"RESTRICTED","releasable_to":["ALB","NATO"],"originator":"AL/GOV/AIM","created":"2026-05-01T10:00:00Z"},
 "licence":{"type":"export","status":"issued","holder":{"entity_id":"L61234567A","name":"KAYO sh.a."},
   "valid_from":"2026-05-01","valid_until":"2027-04-30",
   "items":[{"ml_category":"ML3","description":"7.62x39mm cartridges","quantity":200000,"unit":"rounds"}],
   "end_user":{"name":"Ministry of Defence","country":"CZE","contact":{"name":"A","email":"a@example.cz"}},
   "destination":"CZE","transit":["HRV"],"conditions":["no re-export without consent"],
   "contract_value":{"amount":1840000,"currency":"EUR"}}}`

var httpTestAIM = identity.Member{ID: "AL/GOV/AIM", Nation: "ALB", Kind: "agency", Clearance: "SECRET", Roles: []string{"licensing", "registers"}}

// httpFakeOPA is an OPA REST API stand-in whose decision answer a test sets.
type httpFakeOPA struct {
	mu       sync.Mutex
	answer   func(w http.ResponseWriter, input map[string]any)
	inputs   []map[string]any
	patches  [][]jsonPatchOp
	puts     int
	patchErr int // status to answer PATCH with, 0 = OK
	putErr   int
}

func (f *httpFakeOPA) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/policies":
		_, _ = io.WriteString(w, `{"result":[{"id":"decision.rego","raw":"package ura"}]}`)
	case r.Method == http.MethodPut && r.URL.Path == "/v1/data/registers":
		if f.putErr != 0 {
			w.WriteHeader(f.putErr)
			return
		}
		f.puts++
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPatch && r.URL.Path == "/v1/data/registers":
		if f.patchErr != 0 {
			w.WriteHeader(f.patchErr)
			_, _ = io.WriteString(w, `{"code":"resource_not_found"}`)
			return
		}
		var ops []jsonPatchOp
		_ = json.Unmarshal(body, &ops)
		f.patches = append(f.patches, ops)
		w.WriteHeader(http.StatusNoContent)
	case r.Method == http.MethodPost && r.URL.Path == "/v1/data/ura/decision":
		var req struct {
			Input map[string]any `json:"input"`
		}
		_ = json.Unmarshal(body, &req)
		f.inputs = append(f.inputs, req.Input)
		f.answer(w, req.Input)
	default:
		http.NotFound(w, r)
	}
}

func httpStart(t *testing.T, f *httpFakeOPA, timeout time.Duration) (*HTTP, *httptest.Server) {
	t.Helper()
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	e, err := NewHTTP(context.Background(), HTTPOptions{URL: srv.URL + "/v1/data/ura/decision", Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return e, srv
}

func httpAnswer(body string) func(http.ResponseWriter, map[string]any) {
	return func(w http.ResponseWriter, _ map[string]any) { _, _ = io.WriteString(w, body) }
}

// Every way the server can fail to answer must deny; only a well-formed
// allow allows.
func TestHTTPDecisions(t *testing.T) {
	rec := httpTestRecord(t, httpTestLicence)
	tests := []struct {
		name       string
		answer     func(http.ResponseWriter, map[string]any)
		timeout    time.Duration
		wantAllow  bool
		wantCode   string
		wantRedact []string
	}{
		{name: "allow", answer: httpAnswer(`{"result":{"allow":true,"redact":["/licence/contract_value"],"reasons":[{"code":"redacted","message":"m"}]}}`),
			wantAllow: true, wantCode: "redacted", wantRedact: []string{"/licence/contract_value"}},
		{name: "deny with reason", answer: httpAnswer(`{"result":{"allow":false,"redact":["/x"],"reasons":[{"code":"not_releasable","message":"m"}]}}`),
			wantCode: "not_releasable"},
		{name: "deny without reason", answer: httpAnswer(`{"result":{"allow":false}}`), wantCode: ReasonDenied},
		{name: "undefined", answer: httpAnswer(`{}`), wantCode: ReasonUndefined},
		{name: "null result", answer: httpAnswer(`{"result":null}`), wantCode: ReasonUndefined},
		{name: "allow as a string is not an allow", answer: httpAnswer(`{"result":{"allow":"true"}}`), wantCode: ReasonMalformed},
		{name: "allow beside a bad redaction", answer: httpAnswer(`{"result":{"allow":true,"redact":["licence"]}}`), wantCode: ReasonMalformed},
		{name: "result not an object", answer: httpAnswer(`{"result":true}`), wantCode: ReasonMalformed},
		{name: "not JSON", answer: httpAnswer(`allow`), wantCode: ReasonError},
		{name: "server error", answer: func(w http.ResponseWriter, _ map[string]any) {
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"code":"internal_error","message":"input.record.licence.holder was KAYO"}`)
		}, wantCode: ReasonError},
		{name: "allow after a 400", answer: func(w http.ResponseWriter, _ map[string]any) {
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, `{"result":{"allow":true}}`)
		}, wantCode: ReasonError},
		{name: "oversized answer", answer: func(w http.ResponseWriter, _ map[string]any) {
			_, _ = io.WriteString(w, `{"result":{"allow":true,"reasons":[{"code":"x","message":"`+strings.Repeat("a", maxOPAAnswerBytes)+`"}]}}`)
		}, wantCode: ReasonError},
		{name: "too slow", timeout: 50 * time.Millisecond, answer: func(w http.ResponseWriter, _ map[string]any) {
			time.Sleep(300 * time.Millisecond)
			_, _ = io.WriteString(w, `{"result":{"allow":true}}`)
		}, wantCode: ReasonTimeout},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &httpFakeOPA{answer: tt.answer}
			timeout := tt.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			e, _ := httpStart(t, f, timeout)
			d := e.Decide(context.Background(), Input{Caller: httpTestAIM, Action: Push, Record: rec})
			if d.Allow != tt.wantAllow {
				t.Fatalf("allow = %v, want %v (%+v)", d.Allow, tt.wantAllow, d)
			}
			if len(d.Reasons) == 0 || d.Reasons[0].Code != tt.wantCode {
				t.Fatalf("reasons = %+v, want code %s", d.Reasons, tt.wantCode)
			}
			if !slices.Equal(d.Redact, tt.wantRedact) {
				t.Fatalf("redact = %v, want %v", d.Redact, tt.wantRedact)
			}
			if d.ID == "" || !strings.HasPrefix(d.Revision, "opa-http:") {
				t.Fatalf("decision id %q revision %q", d.ID, d.Revision)
			}
			for _, r := range d.Reasons {
				if strings.Contains(r.Message, "KAYO") {
					t.Fatalf("a reason quotes the server's error: %q", r.Message)
				}
			}
		})
	}
}

func TestHTTPServerDown(t *testing.T) {
	f := &httpFakeOPA{answer: httpAnswer(`{"result":{"allow":true}}`)}
	e, srv := httpStart(t, f, time.Second)
	srv.Close()
	d := e.Decide(context.Background(), Input{Caller: httpTestAIM, Action: Push, Record: httpTestRecord(t, httpTestLicence)})
	if d.Allow || d.Reasons[0].Code != ReasonError {
		t.Fatalf("decision with the server down: %+v", d)
	}
}

func TestHTTPStartRefusesUnreachableServer(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	if _, err := NewHTTP(context.Background(), HTTPOptions{URL: url + "/v1/data/ura/decision"}); err == nil {
		t.Fatal("NewHTTP succeeded without a server")
	}
	for _, bad := range []string{"", "ftp://x/v1/data/ura/decision", "http://127.0.0.1:1/v1/policies", "http://127.0.0.1:1/v1/data/"} {
		if _, err := NewHTTP(context.Background(), HTTPOptions{URL: bad}); err == nil {
			t.Errorf("NewHTTP(%q) succeeded", bad)
		}
	}
}

// The server gets the same input the embedded engine evaluates.
func TestHTTPInputDocument(t *testing.T) {
	f := &httpFakeOPA{answer: httpAnswer(`{"result":{"allow":true}}`)}
	e, _ := httpStart(t, f, time.Second)
	rec := httpTestRecord(t, httpTestLicence)
	e.Decide(context.Background(), Input{Caller: httpTestAIM, Action: Pull, Record: rec})
	e.Decide(context.Background(), Input{Action: Push, Record: rec, Previous: rec})
	got, _ := json.Marshal(f.inputs)
	want := `[{"action":"pull","caller":{"clearance":"SECRET","kind":"agency","member":"AL/GOV/AIM","nation":"ALB","roles":["licensing","registers"]},"previous":null,"record":` +
		compactJSON(t, httpTestLicence) + `},{"action":"push","previous":` + compactJSON(t, httpTestLicence) + `,"record":` + compactJSON(t, httpTestLicence) + `}]`
	if string(got) != want {
		t.Fatalf("inputs:\n got %s\nwant %s", got, want)
	}
}

func compactJSON(t *testing.T, s string) string {
	t.Helper()
	var v any
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// Registers reach the server before the next decision: as a patch, or whole
// when a patch is refused; a failed update denies and is retried.
func TestHTTPRegisters(t *testing.T) {
	f := &httpFakeOPA{answer: httpAnswer(`{"result":{"allow":true}}`)}
	e, _ := httpStart(t, f, time.Second)
	if f.puts != 1 {
		t.Fatalf("start-up wrote the registers %d times, want 1", f.puts)
	}
	rec := httpTestRecord(t, httpTestLicence)
	in := Input{Caller: httpTestAIM, Action: Push, Record: rec}

	e.regs.Observe(rec)
	e.Decide(context.Background(), in)
	if len(f.patches) != 1 || len(f.patches[0]) == 0 || f.patches[0][0].Op != "add" || f.patches[0][0].Path != "/licences/AIM-LIC-2026-000123" {
		t.Fatalf("patches = %+v", f.patches)
	}
	e.Decide(context.Background(), in)
	if len(f.patches) != 1 {
		t.Fatalf("an unchanged register was sent again: %+v", f.patches)
	}

	// A refused patch falls back to the whole registers.
	f.patchErr = http.StatusNotFound
	rec2 := httpTestRecord(t, strings.Replace(httpTestLicence, `"version":1`, `"version":2`, 1))
	e.regs.Observe(rec2)
	if d := e.Decide(context.Background(), in); !d.Allow {
		t.Fatalf("decision after a refused patch: %+v", d)
	}
	if f.puts != 2 {
		t.Fatalf("puts = %d, want 2", f.puts)
	}

	// Neither applies: deny, and send everything with the next decision.
	f.putErr = http.StatusInternalServerError
	e.regs.Observe(httpTestRecord(t, strings.Replace(httpTestLicence, `"version":1`, `"version":3`, 1)))
	if d := e.Decide(context.Background(), in); d.Allow || d.Reasons[0].Code != ReasonError {
		t.Fatalf("decision on stale registers: %+v", d)
	}
	f.mu.Lock()
	f.putErr, f.patchErr = 0, 0
	f.mu.Unlock()
	if d := e.Decide(context.Background(), in); !d.Allow {
		t.Fatalf("decision after the server recovered: %+v", d)
	}
	if f.puts != 3 {
		t.Fatalf("puts = %d, want 3 (the whole registers after a failure)", f.puts)
	}
}

func TestJSONPointer(t *testing.T) {
	if got := jsonPointer([]string{"excluded", "by_name", "a/b~c"}); got != "/excluded/by_name/a~1b~0c" {
		t.Fatalf("got %s", got)
	}
	op := patchOp(patch{path: []string{registersKey, "licences", "L1"}})
	if op.Op != "remove" || op.Path != "/licences/L1" {
		t.Fatalf("got %+v", op)
	}
	b, _ := json.Marshal(op)
	if bytes.Contains(b, []byte("value")) {
		t.Fatalf("remove carries a value: %s", b)
	}
}

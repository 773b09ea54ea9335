package policy

import (
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
	"github.com/ura-gateway/ura/gateway/registers"
	"github.com/ura-gateway/ura/gateway/verdict"
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
	mu     sync.Mutex
	answer func(w http.ResponseWriter, input map[string]any)
	inputs []map[string]any
	// writes counts requests that would change the server's data: the
	// engine sends none.
	writes int
}

func (f *httpFakeOPA) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/policies":
		_, _ = io.WriteString(w, `{"result":[{"id":"decision.rego","raw":"package ura"}]}`)
	case r.Method == http.MethodPut || r.Method == http.MethodPatch:
		f.writes++
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
		{name: "allow", answer: httpAnswer(`{"result":{"allow":true,"redact":["/licence/contract_value"],"redactions":[{"pointer":"/licence/contract_value","rule":"r.1"}],"reasons":[{"code":"redacted","message":"m"}]}}`),
			wantAllow: true, wantCode: "redacted", wantRedact: []string{"/licence/contract_value"}},
		{name: "allow redacting a field no rule names", answer: httpAnswer(`{"result":{"allow":true,"redact":["/licence/contract_value"],"reasons":[{"code":"redacted","message":"m"}]}}`),
			wantCode: ReasonMalformed},
		{name: "allow naming a rule for a field not redacted", answer: httpAnswer(`{"result":{"allow":true,"redact":[],"redactions":[{"pointer":"/licence/contract_value","rule":"r.1"}],"reasons":[]}}`),
			wantCode: ReasonMalformed},
		{name: "allow with a redaction without its rule", answer: httpAnswer(`{"result":{"allow":true,"redact":["/licence/contract_value"],"redactions":[{"pointer":"/licence/contract_value","rule":""}],"reasons":[]}}`),
			wantCode: ReasonMalformed},
		{name: "allow with redactions not a list", answer: httpAnswer(`{"result":{"allow":true,"redact":["/licence/contract_value"],"redactions":{"/licence/contract_value":"r.1"},"reasons":[]}}`),
			wantCode: ReasonMalformed},
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
			if !slices.Equal(d.Redact, tt.wantRedact) || !slices.Equal(verdict.Pointers(d.Redactions), d.Redact) {
				t.Fatalf("redact = %v (redactions %v), want %v", d.Redact, d.Redactions, tt.wantRedact)
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

// The registers travel in each input, as input.registers: the server is
// never written to, so it holds nothing a replica could disagree on.
func TestHTTPRegistersInInput(t *testing.T) {
	f := &httpFakeOPA{answer: httpAnswer(`{"result":{"allow":true}}`)}
	e, _ := httpStart(t, f, time.Second)
	rec := httpTestRecord(t, httpTestLicence)
	snap := registers.NewSnapshot()
	snap.Licences["AIM-LIC-2026-000123"] = &registers.Licence{Status: "suspended", Items: map[string]int64{"ML1": 5}}
	snap.AddExported("AIM-LIC-2026-000123", "ML1", 2)
	e.Decide(context.Background(), Input{Caller: httpTestAIM, Action: Push, Record: rec, Registers: snap})
	e.Decide(context.Background(), Input{Caller: httpTestAIM, Action: Pull, Record: rec})
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.writes != 0 {
		t.Fatalf("the engine wrote to the server %d times", f.writes)
	}
	regs, _ := f.inputs[0]["registers"].(map[string]any)
	lic, _ := regs["licences"].(map[string]any)["AIM-LIC-2026-000123"].(map[string]any)
	exp, _ := regs["exported"].(map[string]any)["AIM-LIC-2026-000123"].(map[string]any)
	if lic["status"] != "suspended" || exp["ML1"] != float64(2) {
		t.Fatalf("input.registers = %v", regs)
	}
	if _, ok := f.inputs[1]["registers"]; ok {
		t.Fatalf("a pull was given registers: %v", f.inputs[1])
	}
}

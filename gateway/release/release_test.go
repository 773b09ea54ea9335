package release

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"slices"
	"testing"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// TestPayload: the hand-assembled payload is exactly what encoding/json
// makes of sign.Delivery, with the record's bytes untouched.
func TestPayload(t *testing.T) {
	d := sign.Delivery{Record: json.RawMessage(`{"id":"A<1>","n":1.50}`), DecisionID: "dec-1", PolicyRevision: "rev",
		Redactions: []verdict.Redaction{{Pointer: "/a/b", Rule: "redactions.x.y"}}, Recipient: "AL/GOV/MOD", Issuer: "ura", IssuedAt: 1767225600}
	got, err := Payload(d)
	if err != nil {
		t.Fatal(err)
	}
	want, _ := json.Marshal(d)
	var g, w any
	if json.Unmarshal(got, &g) != nil || json.Unmarshal(want, &w) != nil || !reflect.DeepEqual(g, w) {
		t.Fatalf("payload\n%s\nwant the same as\n%s", got, want)
	}
	if !bytes.Contains(got, d.Record) || bytes.Count(got, []byte(`"record"`)) != 1 {
		t.Errorf("record bytes changed or repeated: %s", got)
	}
	if _, err := Payload(sign.Delivery{Record: json.RawMessage(`{"id":`)}); err == nil {
		t.Error("a broken record was signed")
	}
}

type stubEngine policy.Decision

func (s stubEngine) Decide(context.Context, policy.Input) policy.Decision { return policy.Decision(s) }

// TestDecide: what each decision releases. A redaction that cannot be
// applied withholds the record, with a reason saying so.
func TestDecide(t *testing.T) {
	doc := map[string]any{"id": "A-1", "secret": "x", "open": "y"}
	rec := &records.Record{ID: "A-1", Version: 1, Kind: records.KindEntity, Doc: doc, Raw: []byte(`{"id":"A-1","open":"y","secret":"x"}`)}
	m := identity.Member{ID: "IT/GOV/URA"}
	cases := []struct {
		name    string
		d       policy.Decision
		verdict string
		body    string
	}{
		{"allow", policy.Decision{Allow: true, ID: "d1"}, audit.DecisionAllow, `{"id":"A-1","open":"y","secret":"x"}`},
		{"redact", policy.Decision{Allow: true, Redact: []string{"/secret"}, Redactions: []verdict.Redaction{{Pointer: "/secret", Rule: "redactions.partner.entity"}}, ID: "d2"}, audit.DecisionRedact, `{"id":"A-1","open":"y"}`},
		{"withhold", policy.Decision{ID: "d3"}, audit.DecisionWithhold, ""},
		{"bad redaction", policy.Decision{Allow: true, Redact: []string{"secret"}, ID: "d4"}, audit.DecisionWithhold, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			x := Decide(context.Background(), stubEngine(tc.d), m, rec)
			if x.Verdict != tc.verdict || string(x.Body) != tc.body || x.Released() != (tc.body != "") {
				t.Fatalf("outcome %s %q", x.Verdict, x.Body)
			}
			var ev audit.Event
			x.Annotate(&ev)
			if ev.Decision != tc.verdict || ev.RecordID != "A-1" || ev.DecisionID != tc.d.ID {
				t.Errorf("event %+v", ev)
			}
			if tc.name == "bad redaction" && (x.Err == nil || ev.Reasons[len(ev.Reasons)-1].Code != ReasonRedactionFailed) {
				t.Errorf("a failed redaction: err %v, reasons %v", x.Err, ev.Reasons)
			}
			if tc.name == "redact" && (!slices.Equal(ev.Redactions, tc.d.Redactions) || !slices.Equal(x.Redactions(), tc.d.Redactions)) {
				t.Errorf("redactions %v %v", ev.Redactions, x.Redactions())
			}
			if x.Released() {
				p, err := x.Delivery("IT/GOV/URA", "ura", 1)
				if err != nil || !bytes.Contains(p, []byte(`"record":`+tc.body)) || !bytes.Contains(p, []byte(`"recipient":"IT/GOV/URA"`)) {
					t.Errorf("delivery %s (%v)", p, err)
				}
				want := `"redactions":[]`
				if tc.name == "redact" {
					want = `"redactions":[{"pointer":"/secret","rule":"redactions.partner.entity"}]`
				}
				if !bytes.Contains(p, []byte(want)) || (tc.name == "redact" && bytes.Contains(p, []byte(`"x"`))) {
					t.Errorf("delivery %s, want %s and no removed value", p, want)
				}
			} else if _, err := x.Delivery("IT/GOV/URA", "ura", 1); err == nil {
				t.Error("a withheld record has a delivery payload")
			}
		})
	}
}

// TestDecideTranslates: a decision with translations delivers the record
// with its label in the last step's marking, leaves the stored document as
// it was, and says every step in the audit event and the signed payload;
// the header's label is the delivered one.
func TestDecideTranslates(t *testing.T) {
	lbl := map[string]any{"policy_id": "AL", "classification": "KONFIDENCIAL", "originator": "AL/GOV/AIM"}
	doc := map[string]any{"id": "AIM-1", "label": lbl, "secret": "x"}
	rec := &records.Record{ID: "AIM-1", Version: 1, Kind: records.KindLicence, Doc: doc}
	steps := []verdict.Translation{
		{From: verdict.Marking{PolicyID: "AL", Classification: "KONFIDENCIAL"}, To: verdict.Marking{PolicyID: "NATO", Classification: "CONFIDENTIAL"}, Rule: "marking_map.policies.AL"},
		{From: verdict.Marking{PolicyID: "NATO", Classification: "CONFIDENTIAL"}, To: verdict.Marking{PolicyID: "IT", Classification: "RISERVATISSIMO"}, Rule: "marking_map.policies.IT"},
	}
	d := policy.Decision{Allow: true, ID: "d1", Redact: []string{"/secret"},
		Redactions: []verdict.Redaction{{Pointer: "/secret", Rule: "redactions.partner.licence"}}, Translations: steps}
	x := Decide(context.Background(), stubEngine(d), identity.Member{ID: "IT/GOV/MOD"}, rec)
	const wantLabel = `{"classification":"RISERVATISSIMO","originator":"AL/GOV/AIM","policy_id":"IT"}`
	if want := `{"id":"AIM-1","label":` + wantLabel + `}`; string(x.Body) != want {
		t.Fatalf("body %s, want %s", x.Body, want)
	}
	if string(x.Label) != wantLabel {
		t.Errorf("header label %s, want %s", x.Label, wantLabel)
	}
	if lbl["classification"] != "KONFIDENCIAL" || doc["secret"] != "x" {
		t.Errorf("the stored document changed: %v", doc)
	}
	var ev audit.Event
	x.Annotate(&ev)
	if !slices.Equal(ev.Translations, steps) {
		t.Errorf("event translations %v", ev.Translations)
	}
	p, err := x.Delivery("IT/GOV/MOD", "ura", 1)
	if err != nil || !bytes.Contains(p, []byte(`"translations":[{"from":{"policy_id":"AL","classification":"KONFIDENCIAL"},"to":{"policy_id":"NATO","classification":"CONFIDENTIAL"},"rule":"marking_map.policies.AL"},{"from":{"policy_id":"NATO","classification":"CONFIDENTIAL"},"to":{"policy_id":"IT","classification":"RISERVATISSIMO"},"rule":"marking_map.policies.IT"}]`)) {
		t.Errorf("delivery %s (%v)", p, err)
	}
	withheld := Decide(context.Background(), stubEngine(policy.Decision{ID: "d2"}), identity.Member{ID: "IT/GOV/MOD"}, rec)
	var wev audit.Event
	withheld.Annotate(&wev)
	if wev.Translations != nil || len(withheld.Translations()) != 0 {
		t.Errorf("a withheld record has translations: %v", wev.Translations)
	}
}

package release

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/authority"
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

func (s stubEngine) DecideChunk(ctx context.Context, in []policy.Input) []policy.Decision {
	return policy.DecideEach(ctx, s, in)
}

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
			x := Decide(context.Background(), stubEngine(tc.d), nil, m, rec)
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

// authEngine withholds for a reason releasable by authority, and releases
// (redacting /secret) when the input names a release of this record.
type authEngine struct{ asked int }

func (e *authEngine) DecideChunk(ctx context.Context, in []policy.Input) []policy.Decision {
	return policy.DecideEach(ctx, e, in)
}

func (e *authEngine) Decide(_ context.Context, in policy.Input) policy.Decision {
	e.asked++
	if r := in.Release; r != nil && r.RecordID == in.Record.ID && r.Version == in.Record.Version && r.Recipient == in.Caller.ID {
		return policy.Decision{Allow: true, ID: "d-rel", Redact: []string{"/secret"},
			Redactions: []verdict.Redaction{{Pointer: "/secret", Rule: "redactions.partner.entity"}},
			Reasons:    []verdict.Reason{{Code: "released_by_authority", Message: "…"}}}
	}
	return policy.Decision{ID: "d-no", ReleasableByAuthority: true, Reasons: []verdict.Reason{{Code: "not_releasable", Message: "…"}}}
}

// fakeAuthority holds release requests in memory.
type fakeAuthority struct {
	rs  map[string]authority.Request
	err error
}

func (f *fakeAuthority) ReleasesFor(_ context.Context, id string, v int, to string) ([]authority.Request, error) {
	var out []authority.Request
	for _, r := range f.rs {
		if r.RecordID == id && r.Version == v && r.Recipient == to {
			out = append(out, r)
		}
	}
	return out, f.err
}

func (f *fakeAuthority) UpdateRelease(_ context.Context, id string, fn func(*authority.Request) error) (authority.Request, error) {
	r := f.rs[id]
	if err := fn(&r); err != nil {
		return authority.Request{}, err
	}
	f.rs[id] = r
	return r, nil
}

// TestDecideUnderRelease: a release in force releases the one version to
// the one recipient, with both approvals in the signed payload; anything
// else withholds as before, and an expired release is reported once.
func TestDecideUnderRelease(t *testing.T) {
	ctx := context.Background()
	doc := map[string]any{"id": "A-1", "secret": "x", "open": "y"}
	rec := &records.Record{ID: "A-1", Version: 2, Kind: records.KindLicence, Doc: doc, Raw: []byte(`{"id":"A-1","open":"y","secret":"x"}`)}
	ita := identity.Member{ID: "IT/GOV/MOD", Kind: identity.KindPartner}
	officer := func(id string) identity.Member {
		return identity.Member{ID: id, Kind: identity.KindAuditor, Roles: []string{authority.Role}}
	}
	now := time.Now()
	approved := func(id string, version int, to string, ttl time.Duration) authority.Request {
		r := authority.New(id, "A-1", version, to, "why", "AL/GOV/AIM", now.Add(-time.Hour), 72*time.Hour)
		for _, o := range []string{"AL/GOV/AUDIT", "AL/GOV/AUDIT2"} {
			if err := r.Approve(officer(o), now.Add(-time.Minute), ttl); err != nil {
				t.Fatal(err)
			}
		}
		return r
	}
	auth := &fakeAuthority{rs: map[string]authority.Request{}}

	withheld := func(what string, member identity.Member) Outcome {
		t.Helper()
		x := Decide(ctx, &authEngine{}, auth, member, rec)
		if x.Released() || x.Release != nil || !x.Decision.ReleasableByAuthority {
			t.Fatalf("%s: released (%s)", what, x.Verdict)
		}
		return x
	}
	withheld("no release", ita)
	auth.rs["r-v1"] = approved("r-v1", 1, "IT/GOV/MOD", time.Hour)
	auth.rs["r-cz"] = approved("r-cz", 2, "CZ/GOV/MOD", time.Hour)
	pending := authority.New("r-pending", "A-1", 2, "IT/GOV/MOD", "why", "AL/GOV/AIM", now, time.Hour)
	_ = pending.Approve(officer("AL/GOV/AUDIT"), now, time.Hour)
	auth.rs["r-pending"] = pending
	withheld("another version's, another recipient's, or a pending release", ita)

	revoked := approved("r-revoked", 2, "IT/GOV/MOD", time.Hour)
	_ = revoked.Revoke(officer("AL/GOV/AUDIT"), now)
	auth.rs["r-revoked"] = revoked
	withheld("a revoked release", ita)

	auth.rs["r-expired"] = approved("r-expired", 2, "IT/GOV/MOD", time.Nanosecond)
	x := withheld("an expired release", ita)
	if len(x.Expired) != 1 || x.Expired[0].ID != "r-expired" || auth.rs["r-expired"].ExpiryRecorded == nil {
		t.Fatalf("expiry not recorded: %+v", x.Expired)
	}
	var ev audit.Event
	x.Annotate(&ev)
	if ev.Reasons[len(ev.Reasons)-1].Code != ReasonReleaseExpired {
		t.Errorf("expired release not audited: %v", ev.Reasons)
	}
	if x = withheld("the expired release again", ita); len(x.Expired) != 0 {
		t.Errorf("an expiry reported twice")
	}

	auth.rs["r-ok"] = approved("r-ok", 2, "IT/GOV/MOD", time.Hour)
	x = Decide(ctx, &authEngine{}, auth, ita, rec)
	if !x.Released() || x.Release == nil || x.Release.ID != "r-ok" || x.Verdict != audit.DecisionRedact || string(x.Body) != `{"id":"A-1","open":"y"}` {
		t.Fatalf("release in force: %s %q %+v", x.Verdict, x.Body, x.Release)
	}
	p, err := x.Delivery("IT/GOV/MOD", "ura", 1)
	if err != nil {
		t.Fatal(err)
	}
	var payload sign.Delivery
	if err := json.Unmarshal(p, &payload); err != nil {
		t.Fatal(err)
	}
	rel := payload.Release
	if rel == nil || rel.ID != "r-ok" || rel.RecordID != "A-1" || rel.Version != 2 || rel.Recipient != "IT/GOV/MOD" ||
		len(rel.Approvals) != 2 || rel.Approvals[0].Officer != "AL/GOV/AUDIT" || rel.Approvals[1].Officer != "AL/GOV/AUDIT2" || rel.Approvals[0].At.IsZero() {
		t.Errorf("signed release %s", p)
	}
	ev = audit.Event{}
	x.Annotate(&ev)
	if last := ev.Reasons[len(ev.Reasons)-1]; last.Code != ReasonReleaseAuthority || !strings.Contains(last.Message, "AL/GOV/AUDIT2") {
		t.Errorf("delivery under release not audited: %v", ev.Reasons)
	}
	withheld("another member, the same record", identity.Member{ID: "CZ/GOV/MOX", Kind: identity.KindPartner})

	auth.err = errors.New("store down")
	if x = Decide(ctx, &authEngine{}, auth, ita, rec); x.Released() || x.Err == nil {
		t.Errorf("a store failure released the record or went unsaid: %v", x.Err)
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
	x := Decide(context.Background(), stubEngine(d), nil, identity.Member{ID: "IT/GOV/MOD"}, rec)
	const wantLabel = `{"classification":"RISERVATISSIMO","originator":"AL/GOV/AIM","policy_id":"IT"}`
	if want := `{"id":"AIM-1","label":` + wantLabel + `}`; string(x.Body) != want {
		t.Fatalf("body %s, want %s", x.Body, want)
	}
	if string(x.Label()) != wantLabel {
		t.Errorf("header label %s, want %s", x.Label(), wantLabel)
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
	withheld := Decide(context.Background(), stubEngine(policy.Decision{ID: "d2"}), nil, identity.Member{ID: "IT/GOV/MOD"}, rec)
	var wev audit.Event
	withheld.Annotate(&wev)
	if wev.Translations != nil || len(withheld.Translations()) != 0 {
		t.Errorf("a withheld record has translations: %v", wev.Translations)
	}
}

// nowEngine records the time of every question and redacts /secret.
type nowEngine struct{ nows []time.Time }

func (e *nowEngine) Decide(_ context.Context, in policy.Input) policy.Decision {
	e.nows = append(e.nows, in.Now)
	return policy.Decision{Allow: true, ID: "d-" + in.Record.ID, Redact: []string{"/secret"},
		Redactions: []verdict.Redaction{{Pointer: "/secret", Rule: "redactions.partner.entity"}}}
}

func (e *nowEngine) DecideChunk(ctx context.Context, in []policy.Input) []policy.Decision {
	return policy.DecideEach(ctx, e, in)
}

// TestDecideChunk: a chunk is decided at one time, and every record is
// released exactly as Decide releases it alone.
func TestDecideChunk(t *testing.T) {
	m := identity.Member{ID: "IT/GOV/URA"}
	var recs []*records.Record
	for _, id := range []string{"A-1", "A-2", "A-3"} {
		recs = append(recs, &records.Record{ID: id, Version: 1, Kind: records.KindEntity,
			Doc: map[string]any{"id": id, "secret": "x-" + id, "open": "y", "label": map[string]any{"classification": "UNCLASSIFIED"}}})
	}
	e := &nowEngine{}
	got := DecideChunk(context.Background(), e, nil, m, recs)
	if len(got) != len(recs) || len(e.nows) != len(recs) {
		t.Fatalf("%d outcomes, %d questions for %d records", len(got), len(e.nows), len(recs))
	}
	for i, rec := range recs {
		if e.nows[i] != e.nows[0] || e.nows[i].IsZero() {
			t.Errorf("question %d asked at %v, the chunk at %v", i, e.nows[i], e.nows[0])
		}
		want := Decide(context.Background(), &nowEngine{}, nil, m, rec)
		if got[i].Record != rec || got[i].Verdict != want.Verdict || string(got[i].Body) != string(want.Body) ||
			string(got[i].Label()) != string(want.Label()) || got[i].Decision.ID != "d-"+rec.ID {
			t.Errorf("record %s: chunk %s %s, alone %s %s", rec.ID, got[i].Verdict, got[i].Body, want.Verdict, want.Body)
		}
		if strings.Contains(string(got[i].Body), "x-") {
			t.Errorf("record %s: redacted value delivered: %s", rec.ID, got[i].Body)
		}
	}
}

// The delivery payload written directly is the one json.Marshal writes.
func TestPayloadIsEncodingJSON(t *testing.T) {
	at := time.Date(2026, 12, 7, 6, 0, 0, 0, time.UTC)
	for _, d := range []sign.Delivery{
		{Record: json.RawMessage(`{"id":"x"}`), DecisionID: "d", PolicyRevision: "r", Redactions: []verdict.Redaction{},
			Translations: []verdict.Translation{}, Recipient: "AL/GOV/DPD", Issuer: "ura.test", IssuedAt: 1796600000},
		{Record: json.RawMessage(`{"a":[1,2]}`), DecisionID: "<&>", PolicyRevision: "é\u2028\xff",
			Redactions:   []verdict.Redaction{{Pointer: "/licence/contract_value", Rule: "redactions.customs.licence"}, {Pointer: "/bare"}},
			Translations: []verdict.Translation{{From: verdict.Marking{PolicyID: "AL", Classification: "I KUFIZUAR"}, To: verdict.Marking{PolicyID: "NATO", Classification: "NATO RESTRICTED"}, Rule: "marking_map.AL"}},
			Recipient:    "IT/GOV/MOD", Issuer: "q\"\\\n", IssuedAt: -1,
			Release: &sign.ReleaseAuthority{ID: "rel-1", RecordID: "x", Version: 2, Recipient: "IT/GOV/MOD", ExpiresAt: at,
				Approvals: []sign.ReleaseApproval{{Officer: "AL/GOV/AUDIT", At: at}}}},
		{Record: json.RawMessage(`{}`)},
	} {
		rest := d
		rest.Record = nil
		tail, err := json.Marshal(struct {
			sign.Delivery
			Record json.RawMessage `json:"record,omitempty"`
		}{Delivery: rest})
		if err != nil {
			t.Fatal(err)
		}
		want := append(append(append([]byte(`{"record":`), d.Record...), ','), tail[1:]...)
		got, err := Payload(d)
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("Payload = %s (%v)\nwant      %s", got, err, want)
		}
	}
}

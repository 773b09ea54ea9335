package policy

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/store/bolt"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/registers"
	"github.com/ura-gateway/ura/gateway/verdict"
	"github.com/ura-gateway/ura/policies"
)

// TestFourViews asks the embedded policy for the same records as AIM,
// Customs, the Italian partner and the NATO liaison.
func TestFourViews(t *testing.T) {
	e := newEngine(t, Options{Logger: discard})
	licence := record(t, "licence", nil)
	export := record(t, "export", nil)
	transfer := record(t, "transfer_ita", nil)
	entity := record(t, "entity", nil)

	type view struct {
		allow  bool
		redact []string
		code   string // a reason code the denial must carry
	}
	cases := []struct {
		member identity.Member
		rec    *records.Record
		want   view
	}{
		{memberAIM, licence, view{allow: true}},
		{memberAIM, export, view{allow: true}},
		{memberAIM, transfer, view{allow: true}},
		{memberAIM, entity, view{allow: true}},

		{memberDPD, licence, view{allow: true, redact: []string{"/licence/contract_value", "/licence/end_user/contact"}}},
		{memberDPD, export, view{allow: true}},
		{memberDPD, transfer, view{allow: true}},
		{memberDPD, entity, view{allow: true, redact: []string{"/entity/contact"}}},

		{memberITA, licence, view{allow: true, redact: []string{"/licence/end_user/contact"}}}, // REL ALB, NATO: Italy is an ally
		{memberITA, export, view{code: "not_releasable"}},
		{memberITA, transfer, view{allow: true}},
		{memberITA, entity, view{code: "pull_not_permitted"}},

		{memberNATO, licence, view{allow: true, redact: []string{"/licence/end_user/contact"}}},
		{memberNATO, export, view{code: "not_releasable"}},
		{memberNATO, transfer, view{allow: true}},
		{memberNATO, entity, view{allow: true, redact: []string{"/entity/contact"}}},
	}
	for _, tc := range cases {
		t.Run(tc.member.ID+" pulls "+tc.rec.ID, func(t *testing.T) {
			d := e.Decide(context.Background(), Input{Caller: tc.member, Action: Pull, Record: tc.rec})
			if d.Allow != tc.want.allow {
				t.Fatalf("allow = %v, want %v (reasons %v)", d.Allow, tc.want.allow, d.Reasons)
			}
			if !slices.Equal(d.Redact, tc.want.redact) && (len(d.Redact) != 0 || len(tc.want.redact) != 0) {
				t.Errorf("redact = %v, want %v", d.Redact, tc.want.redact)
			}
			if tc.want.code != "" && !hasCode(d, tc.want.code) {
				t.Errorf("reasons = %v, want %s among them", codes(d), tc.want.code)
			}
			if d.ID == "" || d.Revision != e.Revision() {
				t.Errorf("decision id %q revision %q", d.ID, d.Revision)
			}
		})
	}
}

// TestRedactionRemovesFields: the pointers Customs' decision carries take
// the contract value and the personal contact out of the bytes delivered,
// and nothing else.
func TestRedactionRemovesFields(t *testing.T) {
	e := newEngine(t, Options{Logger: discard})
	lic := record(t, "licence", nil)
	d := e.Decide(context.Background(), Input{Caller: memberDPD, Action: Pull, Record: lic})
	if !d.Allow || len(d.Redact) != 2 {
		t.Fatalf("decision %+v", d)
	}
	// Each removed pointer names the table entry that removed it.
	want := []verdict.Redaction{{Pointer: "/licence/contract_value", Rule: "redactions.customs.licence"},
		{Pointer: "/licence/end_user/contact", Rule: "redactions.customs.licence"}}
	if !slices.Equal(d.Redactions, want) {
		t.Errorf("redactions %+v, want %+v", d.Redactions, want)
	}
	out, err := records.Redact(lic.Doc, d.Redact)
	if err != nil {
		t.Fatal(err)
	}
	sent, err := json.Marshal(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{"contract_value", "1840000", "jana.novakova", "Jana Novakova", "contact"} {
		if strings.Contains(string(sent), secret) {
			t.Errorf("redacted record still contains %q: %s", secret, sent)
		}
	}
	for _, kept := range []string{"valid_until", "KAYO sh.a.", "200000", "Ministry of Defence of the Czech Republic"} {
		if !strings.Contains(string(sent), kept) {
			t.Errorf("redacted record lost %q, which customs must see: %s", kept, sent)
		}
	}
	// The stored record itself is untouched.
	if !strings.Contains(string(lic.Raw), "contract_value") {
		t.Error("redaction changed the stored record")
	}
}

// TestFailClosed: every way a policy can fail to answer is a deny with its
// own reason code, never an allow.
func TestFailClosed(t *testing.T) {
	lic := record(t, "licence", nil)
	cases := []struct {
		dir  string
		code string
	}{
		{"undefined", ReasonUndefined},
		{"builtin_error", ReasonError},
		{"conflict", ReasonError},
		{"timeout", ReasonTimeout},
		{"malformed_allow", ReasonMalformed},
		{"malformed_redact", ReasonMalformed},
		{"malformed_redactions", ReasonMalformed},
		{"unnamed_redaction", ReasonMalformed},
		{"malformed_reasons", ReasonMalformed},
		{"not_object", ReasonMalformed},
		{"deny_no_reason", ReasonDenied},
	}
	for _, tc := range cases {
		t.Run(tc.dir, func(t *testing.T) {
			logger, logs := captureLogger()
			e := newEngine(t, Options{Source: DirSource(filepath.Join("testdata", "policies", tc.dir)), Timeout: 50 * time.Millisecond, Logger: logger})
			d := e.Decide(context.Background(), Input{Caller: memberAIM, Action: Pull, Record: lic})
			if d.Allow || len(d.Redact) != 0 || len(d.Redactions) != 0 {
				t.Fatalf("failed policy allowed: %+v", d)
			}
			if len(d.Reasons) != 1 || d.Reasons[0].Code != tc.code {
				t.Fatalf("reasons = %+v, want exactly %s", d.Reasons, tc.code)
			}
			result := "error"
			if tc.code == ReasonDenied {
				result = "deny"
			}
			if got := testutil.ToFloat64(e.metrics.decisions.WithLabelValues("pull", result)); got != 1 {
				t.Errorf("ura_policy_decisions_total{pull,%s} = %v", result, got)
			}
			for _, leak := range []string{"jana", "Novakova", "1840000", "Durrës"} {
				if strings.Contains(logs.String(), leak) {
					t.Errorf("log carries record content %q: %s", leak, logs.String())
				}
			}
		})
	}
}

// TestGuarded: the guard of every evaluation cuts it off at the engine's
// deadline or the caller's cancellation, through the topdown cancel OPA
// polls, and hands back a panic rather than let it take the gateway down.
func TestGuarded(t *testing.T) {
	waitCancelled := func(c topdown.Cancel) {
		for !c.Cancelled() {
			time.Sleep(time.Millisecond)
		}
	}
	t.Run("deadline", func(t *testing.T) {
		e := &OPA{timeout: time.Millisecond}
		var err error
		if p := e.guarded(context.Background(), func(ctx context.Context, c topdown.Cancel) {
			waitCancelled(c)
			err = ctx.Err()
		}); p != nil {
			t.Fatalf("panicked = %v", p)
		}
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("ctx.Err() = %v, want the deadline", err)
		}
	})
	t.Run("caller cancels", func(t *testing.T) {
		e := &OPA{timeout: time.Hour}
		ctx, cancel := context.WithCancel(context.Background())
		var err error
		e.guarded(ctx, func(ctx context.Context, c topdown.Cancel) {
			cancel()
			waitCancelled(c)
			err = ctx.Err()
		})
		if !errors.Is(err, context.Canceled) {
			t.Errorf("ctx.Err() = %v, want cancelled", err)
		}
	})
	t.Run("panic", func(t *testing.T) {
		e := &OPA{timeout: time.Hour}
		if p := e.guarded(context.Background(), func(context.Context, topdown.Cancel) { panic("boom") }); p != "boom" {
			t.Errorf("panicked = %v, want boom", p)
		}
	})
	t.Run("returns", func(t *testing.T) {
		e := &OPA{timeout: time.Hour}
		var cancelled bool
		if p := e.guarded(context.Background(), func(_ context.Context, c topdown.Cancel) { cancelled = c.Cancelled() }); p != nil || cancelled {
			t.Errorf("panicked = %v, cancelled = %v: want neither", p, cancelled)
		}
	})
}

// TestFailClosedInputs: a question that cannot be put is a deny too.
func TestFailClosedInputs(t *testing.T) {
	e := newEngine(t, Options{Logger: discard})
	for name, in := range map[string]Input{
		"no record":          {Caller: memberAIM, Action: Pull},
		"record without doc": {Caller: memberAIM, Action: Pull, Record: &records.Record{ID: "X"}},
	} {
		t.Run(name, func(t *testing.T) {
			d := e.Decide(context.Background(), in)
			if d.Allow || !hasCode(d, ReasonError) {
				t.Fatalf("decision %+v", d)
			}
		})
	}
}

// TestUnregisteredCaller: without a member the caller object is absent and
// the policy refuses.
func TestUnregisteredCaller(t *testing.T) {
	e := newEngine(t, Options{Logger: discard})
	d := e.Decide(context.Background(), Input{Action: Pull, Record: record(t, "transfer_ita", nil)})
	if d.Allow || !hasCode(d, "unregistered_member") {
		t.Fatalf("decision %+v", d)
	}
}

// TestRefusedPolicies: a policy that cannot serve is refused at load.
func TestRefusedPolicies(t *testing.T) {
	for dir, want := range map[string]string{
		"no_decision":  "defines no data.ura.decision",
		"syntax_error": "rego_parse_error",
		"network":      "unsafe built-in function",
	} {
		t.Run(dir, func(t *testing.T) {
			_, err := New(context.Background(), Options{Source: DirSource(filepath.Join("testdata", "policies", dir)), Logger: discard})
			if err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v, want it to mention %q", err, want)
			}
		})
	}
}

func TestDecisionIDsUnique(t *testing.T) {
	e := newEngine(t, Options{Logger: discard})
	rec := record(t, "transfer_ita", nil)
	seen := map[string]bool{}
	for range 500 {
		d := e.Decide(context.Background(), Input{Caller: memberAIM, Action: Pull, Record: rec})
		if seen[d.ID] {
			t.Fatalf("decision id %s repeated", d.ID)
		}
		seen[d.ID] = true
	}
}

// TestRevisionStable: the revision is the files' hash, the same after a
// restart and unchanged by tests or unrelated files.
func TestRevisionStable(t *testing.T) {
	dir := copyEmbedded(t)
	a := newEngine(t, Options{Source: DirSource(dir), Logger: discard}).Revision()
	b := newEngine(t, Options{Logger: discard}).Revision()
	if a != b || len(a) != 64 {
		t.Fatalf("revision of a copy %s != embedded %s", a, b)
	}
	writeAtomic(t, filepath.Join(dir, "README.md"), []byte("notes"))
	writeAtomic(t, filepath.Join(dir, "extra_test.rego"), []byte("package ura_test\n\ntest_x if true\n"))
	if c := newEngine(t, Options{Source: DirSource(dir), Logger: discard}).Revision(); c != a {
		t.Errorf("tests and other files changed the revision")
	}
	writeAtomic(t, filepath.Join(dir, "extra.rego"), []byte("package ura\n\nextra := 1\n"))
	if c := newEngine(t, Options{Source: DirSource(dir), Logger: discard}).Revision(); c == a {
		t.Errorf("a new module did not change the revision")
	}
}

// decideFromStore decides in the way a push does: the registers in is given
// are read from st for in's record (registers.Read), through an overlay that
// batch applies first (records allowed earlier in the same push).
func decideFromStore(t testing.TB, e *OPA, st store.Store, in Input, batch ...*records.Record) Decision {
	t.Helper()
	snap, err := registers.Read(context.Background(), append(batch, in.Record), st.Registers)
	if err != nil {
		t.Fatal(err)
	}
	o := registers.NewOverlay(snap)
	for _, r := range batch {
		o.Apply(r)
	}
	in.Registers = o.For(in.Record)
	return e.Decide(context.Background(), in)
}

// TestRegistersFromStore: the policy decides on the registers a real store
// keeps (input.registers): licences, quantities exported, corrections,
// suspensions, and the register of excluded entities by normalised name.
func TestRegistersFromStore(t *testing.T) {
	ctx := context.Background()
	st, err := bolt.Open(filepath.Join(t.TempDir(), "ura.db"), bolt.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	e := newEngine(t, Options{Logger: discard})
	export := func(id string, version int, qty int) *records.Record {
		return record(t, "export", map[string]any{"id": id, "version": version, "event.quantity": qty})
	}
	stored := func(recs ...*records.Record) {
		t.Helper()
		for _, r := range recs {
			if _, err := st.Put(ctx, r, nil); err != nil {
				t.Fatalf("store %s v%d: %v", r.ID, r.Version, err)
			}
		}
	}
	push := func(rec, prev *records.Record, batch ...*records.Record) Decision {
		return decideFromStore(t, e, st, Input{Caller: memberDPD, Action: Push, Record: rec, Previous: prev}, batch...)
	}

	if d := push(export("DPD-EVT-1", 1, 100), nil); d.Allow || !hasCode(d, "licence_unknown") {
		t.Fatalf("before the licence is stored: %+v", d)
	}
	// The importing state's authorisation and the end user's certificate
	// the licence names (licence conditions), stored before it.
	stored(record(t, "import_authorisation", nil), record(t, "end_user_certificate", nil), record(t, "transit_authorisation", nil))
	// A licence earlier in the same batch counts for a later declaration.
	licence := record(t, "licence", nil) // ML1: 500
	if d := push(export("DPD-EVT-1", 1, 100), nil, licence); !d.Allow {
		t.Fatalf("licence earlier in the batch: %+v", d)
	}
	stored(licence)
	first := export("DPD-EVT-1", 1, 300)
	if d := push(first, nil); !d.Allow {
		t.Fatalf("after the licence is stored: %+v", d)
	}
	stored(first)
	second := export("DPD-EVT-2", 1, 200)
	// Two declarations in one batch that fit the licence only apart.
	if d := push(second, nil, export("DPD-EVT-9", 1, 1)); d.Allow || !hasCode(d, "licence_quantity_exceeded") {
		t.Fatalf("300+1+200 of 500 in one batch: %+v", d)
	}
	if d := push(second, nil); !d.Allow {
		t.Fatalf("300+200 of 500: %+v", d)
	}
	stored(second)
	if d := push(export("DPD-EVT-3", 1, 1), nil); d.Allow || !hasCode(d, "licence_quantity_exceeded") {
		t.Fatalf("501 of 500: %+v", d)
	}
	// A correction of the first declaration replaces its 300.
	corrected := export("DPD-EVT-1", 2, 250)
	if d := push(corrected, first); !d.Allow {
		t.Fatalf("correction 300 → 250: %+v", d)
	}
	stored(corrected)
	if d := push(export("DPD-EVT-4", 1, 50), nil); !d.Allow {
		t.Fatalf("250+200+50 of 500: %+v", d)
	}

	stored(record(t, "licence", map[string]any{"version": 4, "licence.status": "suspended"}))
	if d := push(export("DPD-EVT-5", 1, 1), nil); d.Allow || !hasCode(d, "licence_suspended") {
		t.Fatalf("suspended licence: %+v", d)
	}

	// The register of excluded entities, by name, normalised.
	renamed := record(t, "licence", map[string]any{"id": "AIM-LIC-2026-000124", "version": 1, "licence.transit": nil,
		"licence.holder": map[string]any{"entity_id": "L01234567B", "name": "SHADOW ARMS Sh. P. K."}})
	agency := func(batch ...*records.Record) Decision {
		return decideFromStore(t, e, st, Input{Caller: memberAIM, Action: Push, Record: renamed}, batch...)
	}
	if d := agency(); !d.Allow {
		t.Fatalf("before the exclusion: %+v", d)
	}
	excluded := record(t, "excluded", nil)
	if d := agency(excluded); d.Allow || !hasCode(d, "excluded_entity") {
		t.Fatalf("exclusion earlier in the batch: %+v", d)
	}
	stored(excluded)
	if d := agency(); d.Allow || !hasCode(d, "excluded_entity") {
		t.Fatalf("after the exclusion: %+v", d)
	}
	// Lifting it (an end date in the past) frees the name again.
	stored(record(t, "excluded", map[string]any{"version": 2, "excluded_entity.excluded_until": "2025-12-31"}))
	if d := agency(); !d.Allow {
		t.Fatalf("after the exclusion ended: %+v", d)
	}
	// A pull reads no registers.
	if d := e.Decide(ctx, Input{Caller: memberDPD, Action: Pull, Record: renamed}); d.Allow != true {
		t.Fatalf("pull: %+v", d)
	}
}

// TestNormaliseMatchesPolicy: the Go index and the Rego lookup normalise
// names identically, or an excluded name would slip through.
func TestNormaliseMatchesPolicy(t *testing.T) {
	l, err := EmbeddedSource(policies.FS).load()
	if err != nil {
		t.Fatal(err)
	}
	opts := []func(*rego.Rego){rego.Query("data.ura.normalise(input.name)"), rego.StrictBuiltinErrors(true)}
	for _, m := range l.modules {
		opts = append(opts, rego.ParsedModule(m))
	}
	pq, err := rego.New(opts...).PrepareForEval(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"KAYO sh.a.", "  Shadow   ARMS, sh.p.k ", "Uzina Mekanike Poliçan", "Ë-Ç ltd",
		"A/B\tC", "ÆØÅ GmbH & Co. KG", "İstanbul Savunma", "Σ-Defence", "", "..."} {
		rs, err := pq.Eval(context.Background(), rego.EvalInput(map[string]any{"name": name}))
		if err != nil || len(rs) != 1 {
			t.Fatalf("%q: %v %v", name, rs, err)
		}
		if got, want := rs[0].Expressions[0].Value, registers.NormaliseName(name); got != want {
			t.Errorf("%q: policy %q, gateway %q", name, got, want)
		}
	}
}

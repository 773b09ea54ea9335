package policy

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"

	"github.com/ura-gateway/ura/gateway/records"
)

// probeBoth is the probes' text on in as pushKey gets it (residual when it
// can) and as OPA.probe evaluates it whole.
func probeBoth(t *testing.T, e *OPA, in Input) (fast, whole string, fastOK, wholeOK bool) {
	t.Helper()
	ctx := context.Background()
	c := e.active.Load()
	var kb keyer
	var regs map[string]any
	if in.Registers != nil {
		var ok bool
		if regs, ok = kb.regs.doc(in.Registers); !ok {
			t.Fatal("registers not convertible")
		}
	}
	now := kb.now(in)
	input := func() (ast.Value, bool) { return lazyInputChecked(in, regs, now) }
	fast, fastOK = e.probeText(ctx, c, &kb, in, regs, now, input)
	v, ok := input()
	if !ok {
		t.Fatal("input not convertible")
	}
	whole, wholeOK = e.probe(ctx, *c.probeQuery, v, in.Now)
	return fast, whole, fastOK, wholeOK
}

// withDoc is a licence whose document is edited at the top: a value of
// nil removes the member.
func withDoc(t *testing.T, top map[string]any) *records.Record {
	t.Helper()
	r := record(t, "licence", nil)
	doc := map[string]any{}
	for k, v := range r.Doc {
		doc[k] = v
	}
	for k, v := range top {
		if v == nil {
			delete(doc, k)
			continue
		}
		doc[k] = v
	}
	id, _ := doc["id"].(string)
	return &records.Record{Kind: r.Kind, ID: id, Label: r.Label, Doc: doc, Raw: r.Raw}
}

// The embedded policy's namespace probe is answered from its residual,
// one per originator, with the text its whole evaluation gives, whatever
// the id: look-alikes, another namespace, the empty id, a number, none.
func TestProbeResidualsEmbedded(t *testing.T) {
	e := newEngine(t, Options{Logger: discard})
	c := e.active.Load()
	if c.probeResiduals == nil {
		t.Fatalf("no residuals: %s", c.probeNoMemo)
	}
	if got := pathSet(c.probeResiduals.reads); !slices.Equal(got, []string{"input.record.label.originator"}) {
		t.Errorf("probe reads %v", got)
	}
	o := licenceRegisters(t)
	originators := []any{"AL/GOV/AIM", "AL/GOV/MOD", "IT/GOV/MOD", "XX/GOV/Y", "AIM", json.Number("3"), nil}
	ids := []any{"AIM-LIC-2026-000001", "MOD-LIC-2026-000001", "AIMLIC-2026", "aim-LIC-2026", "IT-GOV-MOD-1", "XX-GOV-Y-1", "", json.Number("5"), nil}
	for _, orig := range originators {
		for _, id := range ids {
			lic := record(t, "licence", nil)
			label := map[string]any{}
			for k, v := range lic.Doc["label"].(map[string]any) {
				label[k] = v
			}
			if orig == nil {
				delete(label, "originator")
			} else {
				label["originator"] = orig
			}
			rec := withDoc(t, map[string]any{"id": id, "label": label})
			in := pushes(o, memberAIM, rec)[0]
			fast, whole, fastOK, wholeOK := probeBoth(t, e, in)
			if fast != whole || fastOK != wholeOK {
				t.Errorf("originator %v, id %v: residual %q (%v), whole %q (%v)", orig, id, fast, fastOK, whole, wholeOK)
			}
		}
	}
	pr := c.probeResiduals
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if len(pr.memo) != len(originators) {
		t.Errorf("%d residuals for %d originators", len(pr.memo), len(originators))
	}
	for k, r := range pr.memo {
		if r == nil {
			t.Errorf("no residual for %q", k)
		}
	}
}

// withRule is the embedded policy with one more module.
func withRule(t *testing.T, rule string) *OPA {
	t.Helper()
	dir := copyEmbedded(t)
	if err := os.WriteFile(filepath.Join(dir, "extra.rego"), []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	return newEngine(t, Options{Source: DirSource(dir), Logger: discard})
}

// Attack: a probe that compares the id with another field of the record
// is asked once per value of that field too, never by the id alone: two
// licences whose ids begin alike, one of which does not begin with its
// own declared prefix, get different probe values and decisions.
func TestProbeResidualsKeyWhatTheProbeReads(t *testing.T) {
	e := withRule(t, `package ura

deny contains reason("prefix_mismatch", "the id does not begin with the declared prefix") if {
	input.action == "push"
	not declared_prefix
}

declared_prefix if startswith(input.record.id, input.record.id_prefix)
`)
	c := e.active.Load()
	if c.probeResiduals == nil || !slices.Contains(pathSet(c.probeResiduals.reads), "input.record.id_prefix") {
		t.Fatalf("residuals %v (%s)", c.probeResiduals, c.probeNoMemo)
	}
	o := licenceRegisters(t)
	recs := []*records.Record{
		withDoc(t, map[string]any{"id": "AIM-LIC-2026-000001", "id_prefix": "AIM-"}),
		withDoc(t, map[string]any{"id": "AIM-LIC-2026-000002", "id_prefix": "MOD-"}),
		withDoc(t, map[string]any{"id": "AIM-LIC-2026-000003", "id_prefix": "AIM-"}),
	}
	in := pushes(o, memberAIM, recs...)
	var texts []string
	for i := range in {
		fast, whole, fastOK, wholeOK := probeBoth(t, e, in[i])
		if fast != whole || !fastOK || !wholeOK {
			t.Fatalf("%s: residual %q (%v), whole %q (%v)", recordID(in[i]), fast, fastOK, whole, wholeOK)
		}
		texts = append(texts, fast)
	}
	if texts[0] == texts[1] || texts[0] != texts[2] {
		t.Errorf("probe texts %q", texts)
	}
	pr := c.probeResiduals
	pr.mu.Lock()
	kept := 0
	for _, r := range pr.memo {
		if r != nil {
			kept++
		}
	}
	pr.mu.Unlock()
	if kept != 2 {
		t.Errorf("%d residuals kept, want one per declared prefix", kept)
	}
	for _, decide := range []func(*testing.T, *OPA, []Input) []Decision{checkChunk, checkBatch} {
		got := decide(t, e, in)
		if !got[0].Allow || got[1].Allow || !hasCode(got[1], "prefix_mismatch") || !got[2].Allow {
			t.Fatalf("decisions %+v", got)
		}
	}
}

// Attack: a probe that transforms the id before testing it leaves a
// residual the gateway does not check itself: each question's probes are
// evaluated whole, and an id that only looks like the others once
// upper-cased is told apart where the policy tells it apart.
func TestProbeResidualsOtherFormsEvaluatedWhole(t *testing.T) {
	e := withRule(t, `package ura

deny contains reason("not_upper_aim", "the id does not begin with AIM- once upper-cased") if {
	input.action == "push"
	not upper_aim
}

upper_aim if startswith(upper(input.record.id), "AIM-")
`)
	o := licenceRegisters(t)
	recs := []*records.Record{
		withDoc(t, map[string]any{"id": "AIM-LIC-2026-000001"}),
		withDoc(t, map[string]any{"id": "AIM-LIC-2026-000002"}),
	}
	in := pushes(o, memberAIM, recs...)
	for i := range in {
		fast, whole, fastOK, wholeOK := probeBoth(t, e, in[i])
		if fast != whole || fastOK != wholeOK {
			t.Fatalf("%s: residual %q (%v), whole %q (%v)", recordID(in[i]), fast, fastOK, whole, wholeOK)
		}
	}
	pr := e.active.Load().probeResiduals
	if pr == nil {
		t.Fatal("no residuals")
	}
	pr.mu.Lock()
	for k, r := range pr.memo {
		if r != nil {
			t.Errorf("a residual of upper() was kept for %q: %v", k, *r)
		}
	}
	pr.mu.Unlock()
	before := sharedCount(e)
	checkBatch(t, e, in)
	if n := sharedCount(e) - before; n != 1 {
		t.Errorf("%v decisions shared, want 1", n)
	}
}

// Probes are asked by residual only when each is true or undefined and
// what they read besides the id holds no part of it.
func TestAnalyseProbes(t *testing.T) {
	const head = "package ura\n\ndecision := {\"allow\": allow, \"reasons\": [r | some r in deny]}\ndeny contains 1 if false\n"
	cases := []struct {
		name  string
		rules string
		reads []string
		why   bool
	}{
		{"id and a label", `allow if ns
ns if startswith(input.record.id, input.record.label.originator)`, []string{"input.record.label.originator"}, false},
		{"a value other than true", `allow if ns == "AIM"
ns := substring(input.record.id, 0, 3)`, nil, true},
		{"a default", `allow if ns
default ns := false
ns if startswith(input.record.id, "A")`, nil, true},
		{"an else", `allow if ns
ns if startswith(input.record.id, "A") else := false`, nil, true},
		{"the whole record", `allow if ns
ns if { startswith(input.record.id, "A"); count(input.record) > 2 }`, nil, true},
		{"the whole input", `allow if ns
ns if { startswith(input.record.id, "A"); input != {} }`, nil, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mods := parsedModules(t, map[string]string{"p.rego": head + tc.rules})
			rs, why := analysePush(mods)
			if rs == nil || len(rs.probes) == 0 {
				t.Fatalf("no probes: %v %s", rs, why)
			}
			reads, why := analyseProbes(mods, rs.probes)
			if (why != "") != tc.why {
				t.Fatalf("why %q", why)
			}
			if got := slices.DeleteFunc(pathSet(reads), func(p string) bool { return p == "input.action" }); !tc.why && !slices.Equal(got, tc.reads) {
				t.Errorf("reads %v, want %v", got, tc.reads)
			}
		})
	}
}

// A partial evaluation cut short by a cancelled request is not remembered
// as "evaluate whole": the next push with the same reads gets its residual.
func TestProbeResidualsNotRememberedWhenCancelled(t *testing.T) {
	e := newEngine(t, Options{Logger: discard})
	c := e.active.Load()
	if c.probeResiduals == nil {
		t.Fatalf("no residuals: %s", c.probeNoMemo)
	}
	in := pushes(licenceRegisters(t), memberAIM, record(t, "licence", nil))[0]
	var kb keyer
	regs, ok := kb.regs.doc(in.Registers)
	if !ok {
		t.Fatal("registers not convertible")
	}
	now := kb.now(in)
	pr := c.probeResiduals
	key := []byte("originator AL/GOV/AIM")
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	if r := e.residualFor(cancelled, pr, key, in, regs, now); r != nil {
		t.Fatal("a residual from a cancelled evaluation")
	}
	pr.mu.Lock()
	n := len(pr.memo)
	pr.mu.Unlock()
	if n != 0 {
		t.Fatalf("a cancelled evaluation was remembered (%d entries)", n)
	}
	// The engine's own timeout cuts it short too: not remembered either.
	timeout := e.timeout
	e.timeout = time.Nanosecond
	r := e.residualFor(context.Background(), pr, key, in, regs, now)
	e.timeout = timeout
	pr.mu.Lock()
	n = len(pr.memo)
	pr.mu.Unlock()
	if r != nil || n != 0 {
		t.Fatalf("an evaluation past the engine's timeout: residual %v, %d entries remembered", r, n)
	}
	if r := e.residualFor(context.Background(), pr, key, in, regs, now); r == nil {
		t.Fatal("no residual once the context is live")
	}
}

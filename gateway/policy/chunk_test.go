package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/policies"
)

var chunkNow = time.Date(2026, 6, 2, 8, 0, 0, 0, time.UTC)

func parsedModules(t *testing.T, files map[string]string) map[string]*ast.Module {
	t.Helper()
	mods := map[string]*ast.Module{}
	for name, src := range files {
		m, err := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			t.Fatal(err)
		}
		mods[name] = m
	}
	return mods
}

func pathSet(ps [][]string) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = pathKey(p)
	}
	return out
}

// The embedded policy's read set for a pull: what it is, printed, and what
// it must never be (the whole input or record read as a value, a record's
// id read other than to be quoted).
func TestReadSetEmbedded(t *testing.T) {
	l, err := EmbeddedSource(policies.FS).load()
	if err != nil {
		t.Fatal(err)
	}
	rs, why := analysePull(l.modules)
	if rs == nil {
		t.Fatalf("no read set: %s", why)
	}
	t.Logf("read set of a pull, embedded policy:\n%s", rs)
	paths := pathSet(rs.paths)
	for _, want := range []string{"input.action", "input.caller", "input.now", "input.record.kind",
		"input.record.label.releasable_to", "input.record.label.classification", "input.record.event.to"} {
		if !slices.Contains(paths, want) {
			t.Errorf("read set lacks %s: %v", want, paths)
		}
	}
	for _, never := range []string{"input.", "input.record", "input.record.id", "input.record.licence", "input.registers", "input.release"} {
		if slices.Contains(paths, never) {
			t.Errorf("read set holds %s, which no pull needs as a value: %v", never, paths)
		}
	}
	if !slices.Contains(pathSet(rs.quoted), "input.record.id") || rs.denyRule != denyPath {
		t.Errorf("the record id is quoted in deny messages: quoted %v, deny rule %q", pathSet(rs.quoted), rs.denyRule)
	}
	if got := pathSet(rs.presence); !slices.Equal(got, []string{"input.record"}) {
		t.Errorf("shape paths %v, want the record's (redaction test)", got)
	}
}

func TestReadSetAnalysis(t *testing.T) {
	const head = "package ura\n\ndecision := {\"allow\": allow, \"reasons\": [r | some r in deny]}\n"
	cases := []struct {
		name    string
		rules   string
		paths   []string
		quoted  []string
		failure string
	}{
		{"variable key ends the path", `allow if input.record.licence[k] == "x"
deny contains 1 if false`, []string{"input.record.licence"}, nil, ""},
		{"record passed whole", `allow if f(input.record)
f(r) if r.kind == "licence"
deny contains 1 if false`, []string{"input.record"}, nil, ""},
		{"push bodies skipped", `allow if input.action == "pull"
allow if { input.action == "push"; input.record.secret == 1 }
deny contains 1 if false`, []string{"input.action"}, nil, ""},
		{"release bodies skipped", `allow if input.release.id == input.record.id
deny contains 1 if false`, nil, nil, ""},
		{"a rule never defined on a pull", `allow if { r; input.record.x == 1 }
r if input.release.id
deny contains 1 if false`, nil, nil, ""},
		{"an empty set is defined", `allow if { s; input.record.x == 1 }
s contains 1 if input.release.id
deny contains 1 if false`, []string{"input.record.x"}, nil, ""},
		{"constant lookup", `allow if object.get(input, ["record", "kind"], "") == "licence"
deny contains 1 if false`, []string{"input.record.kind"}, nil, ""},
		{"message quotes only", `allow := true
deny contains msg if { input.record.kind == "x"; msg := sprintf("%v", [object.get(input.record, "id", "?")]) }`,
			[]string{"input.record.kind"}, []string{"input.record.id"}, ""},
		{"a message used in the body is read", `allow := true
deny contains msg if { msg := sprintf("%v", [object.get(input.record, "id", "?")]); msg != "" }`,
			[]string{"input.record.id"}, nil, ""},
		{"non-deterministic builtin", `allow if time.now_ns() > 0
deny contains 1 if false`, nil, nil, "non-deterministic builtin time.now_ns"},
		{"non-deterministic builtin on a push only", `allow if { input.action == "push"; time.now_ns() > 0 }
deny contains 1 if false`, nil, nil, ""},
		{"with input", `allow if { x with input as {} }
x if input.a
deny contains 1 if false`, nil, nil, "input replaced by with"},
	}
	cases = append(cases, struct {
		name    string
		rules   string
		paths   []string
		quoted  []string
		failure string
	}{"import of data", "import data.ura.x as y\nallow if y\nx if input.a\ndeny contains 1 if false", nil, nil, "an import of data"})
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := head + tc.rules
			if strings.HasPrefix(tc.rules, "import") {
				src = strings.Replace(head, "\n\n", "\n\n"+tc.rules[:strings.Index(tc.rules, "\n")+1], 1) + tc.rules[strings.Index(tc.rules, "\n")+1:]
			}
			rs, why := analysePull(parsedModules(t, map[string]string{"p.rego": src}))
			if tc.failure != "" {
				if rs != nil || why != tc.failure {
					t.Fatalf("got %v, %q; want no read set: %s", rs, why, tc.failure)
				}
				return
			}
			if rs == nil {
				t.Fatalf("no read set: %s", why)
			}
			if got := pathSet(rs.paths); !slices.Equal(got, tc.paths) && (len(got) != 0 || len(tc.paths) != 0) {
				t.Errorf("paths %v, want %v", got, tc.paths)
			}
			if got := pathSet(rs.quoted); !slices.Equal(got, tc.quoted) && (len(got) != 0 || len(tc.quoted) != 0) {
				t.Errorf("quoted %v, want %v", got, tc.quoted)
			}
		})
	}
}

// withoutID is d as compared across the two paths: all but its ID.
func withoutID(d Decision) Decision {
	d.ID = ""
	return d
}

func sharedCount(e *OPA) float64 { return testutil.ToFloat64(e.metrics.shared) }

// checkChunk decides in as one chunk and one by one, and fails on any
// difference but the decision IDs, which must all be distinct.
func checkChunk(t *testing.T, e *OPA, in []Input) []Decision {
	t.Helper()
	ctx := context.Background()
	got := e.DecideChunk(ctx, in)
	if len(got) != len(in) {
		t.Fatalf("%d decisions for %d questions", len(got), len(in))
	}
	ids := map[string]bool{}
	for i := range in {
		want := e.Decide(ctx, in[i])
		if !reflect.DeepEqual(withoutID(got[i]), withoutID(want)) {
			t.Errorf("question %d (record %s): chunk decided\n%+v\nalone\n%+v", i, recordID(in[i]), got[i], want)
		}
		if ids[got[i].ID] || got[i].ID == "" {
			t.Errorf("question %d: decision ID %q is not its own", i, got[i].ID)
		}
		ids[got[i].ID] = true
	}
	return got
}

func pulls(m []Input) []Input {
	for i := range m {
		m[i].Action, m[i].Now = Pull, chunkNow
	}
	return m
}

// Attack: a policy that reads one more field of a pulled record (a
// contract value above a limit withholds) must not give the released
// licence's decision to the one above the limit, which differs only there.
func TestDecideChunkReadsWhatThePolicyReads(t *testing.T) {
	dir := copyEmbedded(t)
	rule := `package ura

deny contains reason("contract_value_too_high", "the contract value is above what customs receives") if {
	input.action == "pull"
	input.record.licence.contract_value.amount > 1000000
}
`
	if err := os.WriteFile(filepath.Join(dir, "limit.rego"), []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, Options{Source: DirSource(dir), Logger: discard})
	if !slices.Contains(pathSet(e.active.Load().pull.paths), "input.record.licence.contract_value.amount") {
		t.Fatalf("the read set misses the new field:\n%s", e.active.Load().pull)
	}
	low := record(t, "licence", map[string]any{"licence.contract_value": map[string]any{"amount": json.Number("500"), "currency": "EUR"}})
	high := record(t, "licence", map[string]any{"licence.contract_value": map[string]any{"amount": json.Number("1840000"), "currency": "EUR"}})
	// The released one first: it is the representative of the chunk.
	got := checkChunk(t, e, pulls([]Input{{Caller: memberDPD, Record: low}, {Caller: memberDPD, Record: high}, {Caller: memberDPD, Record: low}}))
	if !got[0].Allow || got[1].Allow || !hasCode(got[1], "contract_value_too_high") || !got[2].Allow {
		t.Fatalf("decisions %+v", got)
	}
	if n := sharedCount(e); n != 1 {
		t.Errorf("%v decisions shared, want 1 (the third, equal to the first)", n)
	}
}

// Attack: a record withheld in a chunk among released ones with the same
// label, differing only in a field the policy reads, stays withheld; two
// withheld records are each refused in their own words (their ids).
func TestDecideChunkWithheldAmongReleased(t *testing.T) {
	e := newEngine(t, Options{Logger: discard})
	toITA := record(t, "transfer_ita", nil)
	elsewhere := record(t, "transfer_ita", map[string]any{"event.to": "CZE"})
	elsewhere2 := record(t, "transfer_ita", map[string]any{"event.to": "CZE", "id": "AIM-EVT-2026-0000778"})
	in := pulls([]Input{{Caller: memberITA, Record: toITA}, {Caller: memberITA, Record: elsewhere},
		{Caller: memberITA, Record: toITA}, {Caller: memberITA, Record: elsewhere2}})
	got := checkChunk(t, e, in)
	if !got[0].Allow || got[1].Allow || !got[2].Allow || got[3].Allow || !hasCode(got[1], "outside_partner_scope") {
		t.Fatalf("decisions %+v", got)
	}
	if got[1].Reasons[0].Message == got[3].Reasons[0].Message || !strings.Contains(got[3].Reasons[0].Message, "AIM-EVT-2026-0000778") {
		t.Errorf("withheld records share a message: %q, %q", got[1].Reasons[0].Message, got[3].Reasons[0].Message)
	}
	if n := sharedCount(e); n != 1 {
		t.Errorf("%v decisions shared, want 1", n)
	}
}

// Attack: a policy whose pull calls a non-deterministic builtin shares
// nothing: every record of a chunk is evaluated.
func TestDecideChunkNondeterministicOff(t *testing.T) {
	dir := copyEmbedded(t)
	rule := `package ura

deny contains reason("odd_second", "refused in odd seconds") if {
	input.action == "pull"
	time.now_ns() < 0
}
`
	if err := os.WriteFile(filepath.Join(dir, "clock.rego"), []byte(rule), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newEngine(t, Options{Source: DirSource(dir), Logger: discard})
	if c := e.active.Load(); c.pull != nil || !strings.Contains(c.noShare, "time.now_ns") {
		t.Fatalf("read set %v, reason %q", c.pull, c.noShare)
	}
	lic := record(t, "licence", nil)
	checkChunk(t, e, pulls([]Input{{Caller: memberDPD, Record: lic}, {Caller: memberDPD, Record: lic}}))
	if n := sharedCount(e); n != 0 {
		t.Errorf("%v decisions shared", n)
	}
}

// Questions outside the facts of the read set are decided alone: a push, a
// pull without a time, a pull with a release.
func TestDecideChunkDecidesAloneOutsideTheFacts(t *testing.T) {
	e := newEngine(t, Options{Logger: discard})
	lic := record(t, "licence", nil)
	in := []Input{
		{Caller: memberDPD, Action: Pull, Record: lic},
		{Caller: memberDPD, Action: Pull, Record: lic},
		{Caller: memberNATO, Action: Pull, Record: lic, Now: chunkNow, Release: &Release{ID: "r", RecordID: lic.ID, Version: lic.Version, Recipient: memberNATO.ID}},
		{Caller: memberNATO, Action: Pull, Record: lic, Now: chunkNow, Release: &Release{ID: "r", RecordID: lic.ID, Version: lic.Version, Recipient: memberNATO.ID}},
		{Caller: memberAIM, Action: Push, Record: lic},
		{Caller: memberAIM, Action: Push, Record: lic},
	}
	checkChunk(t, e, in)
	if n := sharedCount(e); n != 0 {
		t.Errorf("%v decisions shared", n)
	}
}

// equivChunked answers the corpus's pull questions through DecideChunk, in
// chunks of 256 of one caller, and compares every decision but its ID with
// Decide's: the same engine, the same time.
func equivChunked(t *testing.T, c *equivCorpus) {
	e := newEngine(t, Options{Logger: discard})
	byCaller := map[string][]Input{}
	var order []string
	skipped := 0
	for _, q := range c.Questions {
		if q[2] < 0 || string(c.Values[q[2]]) != `"pull"` {
			continue
		}
		in, ok := equivPullInput(c, q)
		if !ok {
			skipped++
			continue
		}
		k := string(c.Values[max(q[1], 0)])
		if q[1] < 0 {
			k = "none"
		}
		if _, ok := byCaller[k]; !ok {
			order = append(order, k)
		}
		byCaller[k] = append(byCaller[k], in)
	}
	ctx := context.Background()
	n, mismatches, stored := 0, 0, 0
	for _, k := range order {
		for _, in := range byCaller[k] {
			if _, ok := in.Record.Shape(); ok {
				stored++
			}
		}
		qs := byCaller[k]
		for len(qs) > 0 {
			chunk := qs[:min(256, len(qs))]
			qs = qs[len(chunk):]
			got := e.DecideChunk(ctx, chunk)
			for i := range chunk {
				n++
				want := e.Decide(ctx, chunk[i])
				if !reflect.DeepEqual(withoutID(got[i]), withoutID(want)) {
					mismatches++
					if mismatches <= 10 {
						doc, _ := json.Marshal(chunk[i].Record.Doc)
						t.Errorf("caller %s, record %s: chunk decided\n%+v\nalone\n%+v", k, doc, got[i], want)
					}
				}
			}
		}
	}
	if mismatches > 0 {
		t.Errorf("%d of %d pull decisions differ between DecideChunk and Decide", mismatches, n)
	}
	t.Logf("DecideChunk: %d pull questions in chunks of 256 of one caller (%d with a stored shape), %.0f decisions shared, %d not expressible as an engine input",
		n, stored, sharedCount(e), skipped)
	equivChunkedPushes(t, c)
}

// equivPullInput is a corpus pull question as the engine's Input, when its
// caller is one the gateway can put (a member's five fields, all strings)
// and it has no previous version.
func equivPullInput(c *equivCorpus, q [6]int) (Input, bool) {
	if q[4] >= 0 && string(c.Values[q[4]]) != "null" {
		return Input{}, false
	}
	rec, ok := equivJSON(string(c.Values[q[3]])).(map[string]any)
	if !ok {
		return Input{}, false
	}
	in := Input{Action: Pull, Now: chunkNow, Record: &records.Record{Doc: rec}}
	if q[3]%2 == 0 {
		// Half the records as a store reads them, with the shape the
		// stored decoder kept (records.Record.Shape), among the others.
		if s, err := records.DecodeStoredRecord(c.Values[q[3]]); err == nil && reflect.DeepEqual(s.Doc, rec) {
			in.Record = s
		}
	}
	if q[1] < 0 {
		return in, true
	}
	caller, ok := equivJSON(string(c.Values[q[1]])).(map[string]any)
	if !ok || len(caller) != 5 {
		return Input{}, false
	}
	str := func(k string) (string, bool) { s, ok := caller[k].(string); return s, ok }
	var ok1, ok2, ok3, ok4 bool
	in.Caller.ID, ok1 = str("member")
	in.Caller.Nation, ok2 = str("nation")
	in.Caller.Kind, ok3 = str("kind")
	in.Caller.Clearance, ok4 = str("clearance")
	roles, ok5 := caller["roles"].([]any)
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || in.Caller.ID == "" {
		return Input{}, false
	}
	for _, r := range roles {
		s, ok := r.(string)
		if !ok {
			return Input{}, false
		}
		in.Caller.Roles = append(in.Caller.Roles, s)
	}
	if in.Caller.Roles == nil {
		in.Caller.Roles = []string{}
	}
	return in, fmt.Sprint(callerDoc(in.Caller)) == fmt.Sprint(caller)
}

// Strings are written into keys as their length and bytes, unquoted:
// values that differ, however their bytes line up, never have one form.
func TestCanonicalFormsTellValuesApart(t *testing.T) {
	values := []any{
		"", "a", "ab", "s1:a", "a\x00", "\x01", "1:a", "a,", "a]",
		[]any{"ab"}, []any{"a", "b"}, []any{"a,s1:b"}, []any{""}, []any{},
		map[string]any{"a": "b"}, map[string]any{"a": "b,1:c"}, map[string]any{"a": "b", "c": "d"}, map[string]any{"a,": "b"},
		map[string]any{"1:a": "b"}, json.Number("1"), "n1;", nil, "z", true, "t",
	}
	seen := map[string]int{}
	for i, v := range values {
		ok := true
		form := string(canonical(nil, v, &[]member{}, &ok))
		if !ok {
			t.Fatalf("%#v not keyed", v)
		}
		if j, dup := seen[form]; dup {
			t.Errorf("%#v and %#v share the form %q", values[j], v, form)
		}
		seen[form] = i
	}
}

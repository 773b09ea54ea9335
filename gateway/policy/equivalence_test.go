package policy

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/open-policy-agent/opa/v1/util"
)

// updateEquivalence rewrites the committed corpus of TestPolicyEquivalence
// from the embedded policy's answers.
var updateEquivalence = flag.Bool("update", false, "rewrite testdata/equivalence/corpus.json.gz from the embedded policy")

// equivCorpusPath is the committed corpus: every generated question with the
// decision the embedded policy gave when it was last rewritten.
var equivCorpusPath = filepath.Join("testdata", "equivalence", "corpus.json.gz")

// TestPolicyEquivalence checks the embedded policy, decision by decision,
// over some 162,000 generated questions: every caller shape and action
// against the test records, each record with every member removed or
// replaced by an odd value, previous versions, records of a foreign
// originator (relayed by a peer gateway or pushed by a partner), trace
// requests and answers, and export declarations against registers in every
// state the licence checks tell apart. Errors
// count as equal when their code and message are.
//
// By default it compares with the committed corpus (questions, registers
// and expected results, testdata/equivalence/corpus.json.gz), so that a
// change to the policy that alters any decision fails here. A deliberate
// change rewrites the corpus, and the diff of its outcome counts in the
// log shows what moved:
//
//	go test -run TestPolicyEquivalence ./gateway/policy/ -update
//
// A restructuring of the policy for speed can also be compared with a
// baseline bundle directly, which needs no corpus:
//
//	git worktree add /tmp/ura-base HEAD
//	URA_POLICY_BASELINE=/tmp/ura-base/policies go test -run TestPolicyEquivalence ./gateway/policy/
//
// The embedded policy gets its input as the engine builds it, lazily.
func TestPolicyEquivalence(t *testing.T) {
	regs, questions := equivQuestions(t)
	switch baseDir := os.Getenv("URA_POLICY_BASELINE"); {
	case baseDir != "":
		equivAgainstBaseline(t, baseDir, regs, questions)
	case *updateEquivalence:
		equivUpdate(t, regs, questions)
	default:
		equivAgainstCorpus(t)
	}
}

// equivQuestion is one generated question: the registers it is asked
// against and its input.
type equivQuestion struct {
	engine string
	input  map[string]any
}

// equivQuestions generates the registers variants and every question.
func equivQuestions(t *testing.T) (map[string]any, []equivQuestion) {
	t.Helper()
	regs := equivRegisters()
	var qs []equivQuestion
	check := func(engine string, input map[string]any) {
		qs = append(qs, equivQuestion{engine, input})
	}
	question := func(caller, action, rec, prev any) map[string]any {
		in := map[string]any{"record": rec, "previous": prev}
		if caller != nil {
			in["caller"] = caller
		}
		if action != nil {
			in["action"] = action
		}
		return in
	}

	callers := []any{
		equivJSON(`{"member": "AL/GOV/AIM", "nation": "ALB", "kind": "agency", "clearance": "SECRET", "roles": ["licensing"]}`),
		equivJSON(`{"member": "AL/GOV/MOD", "nation": "ALB", "kind": "ministry", "clearance": "SECRET", "roles": []}`),
		equivJSON(`{"member": "AL/GOV/DPD", "nation": "ALB", "kind": "customs", "clearance": "RESTRICTED", "roles": []}`),
		equivJSON(`{"member": "IT/GOV/MOD", "nation": "ITA", "kind": "partner", "clearance": "CONFIDENTIAL", "roles": []}`),
		equivJSON(`{"member": "NATO/ORG/LIAISON", "nation": "NATO", "kind": "liaison", "clearance": "SECRET", "roles": []}`),
		equivJSON(`{"member": "AL/GOV/AUDIT", "nation": "ALB", "kind": "auditor", "clearance": "SECRET", "roles": []}`),
		equivJSON(`{"member": "IT/GOV/URA", "nation": "ITA", "kind": "gateway", "clearance": "CONFIDENTIAL", "roles": []}`),
		equivJSON(`{"member": "CZ/GOV/X", "nation": "CZE", "kind": "martian", "clearance": "TOP", "roles": []}`),
		equivJSON(`{"member": "", "nation": "ALB", "kind": "agency", "clearance": "SECRET"}`),
		equivJSON(`{"member": 5, "nation": "ALB", "kind": "agency", "clearance": "SECRET"}`),
		equivJSON(`{"nation": "ALB", "kind": "agency", "clearance": "SECRET"}`),
		equivJSON(`{"member": "AL/GOV/AIM"}`),
		"AL/GOV/AIM",
		nil, // no caller member at all
	}
	registered := callers[:8]
	actions := []any{"push", "pull", "delete", nil, 5}

	lic := equivRecord(t, "licence")
	exp := equivRecord(t, "export")
	euc := equivJSON(`{"kind": "end_user_certificate", "id": "MOD-EUC-1", "version": 1,
		"label": {"classification": "RESTRICTED", "releasable_to": ["ALB"], "originator": "AL/GOV/MOD"},
		"end_user_certificate": {"end_user": {"name": "Shadow Arms sh.p.k.", "country": "ALB", "entity_id": "L61234567A"}}}`)
	kinds := []any{lic, exp, euc, equivRecord(t, "entity"), equivRecord(t, "excluded"), equivRecord(t, "transfer_ita")}

	records := append([]any{}, kinds...)
	for _, ty := range []string{"MANUFACTURED", "IMPORT_MARKED", "TRANSFERRED", "STORED", "DEACTIVATED", "DESTROYED",
		"LOST", "STOLEN", "TRACE_REQUEST", "TRACE_RESPONSE", "EXIT_CONFIRMED", "IMPORT_DECLARED", "BOGUS"} {
		records = append(records, equivSet(exp, "event.type", ty))
	}
	for _, orig := range []string{"AL/GOV/AIM", "AL/GOV/MOD", "IT/GOV/MOD", "NATO/ORG/LIAISON", "AL/GOV/AUDIT"} {
		for _, r := range kinds {
			records = append(records, equivSet(r, "label.originator", orig))
		}
	}
	// What crosses the border: records of Italian institutions in their own
	// namespace (relayed by their gateway, or pushed by the partner), trace
	// requests and the answers that name their requester.
	for _, r := range []any{lic, euc, exp} {
		it := equivSet(r, "label.originator", "IT/GOV/MOD")
		records = append(records, equivSet(it, "id", "IT-GOV-MOD-"+r.(map[string]any)["id"].(string)))
	}
	for _, ty := range []string{"TRACE_REQUEST", "TRACE_RESPONSE", "IMPORT_DECLARED"} {
		ev := equivSet(equivSet(equivSet(exp, "event.type", ty), "label.originator", "IT/GOV/MOD"), "id", "IT-GOV-MOD-EVT-1")
		for _, rel := range []any{[]any{"ALB", "ITA"}, []any{"ITA"}, []any{"NATO"}} {
			ev := equivSet(ev, "label.releasable_to", rel)
			records = append(records, ev,
				equivSet(ev, "event.trace", map[string]any{"request_id": "TR-1", "requester": "IT/GOV/MOD"}),
				equivSet(equivSet(ev, "event.trace", map[string]any{"request_id": "TR-1", "requester": "AL/GOV/AIM"}), "label.originator", "AL/GOV/DPD"))
		}
	}
	previousOf := func(r any) []any {
		other := equivSet(r, "label.originator", "AL/GOV/MOD")
		out := []any{nil, equivClone(r), other,
			equivSet(other, "label.classification", "SECRET"),
			equivEdit(other, []any{"label", "releasable_to"}, nil, true)}
		if m, ok := r.(map[string]any); ok && m["kind"] == "tracking_event" {
			out = append(out, equivSet(r, "event.quantity", 50), equivEdit(r, []any{"event", "quantity"}, nil, true),
				equivSet(r, "event.licence_id", "X"), equivSet(r, "event.type", "TRANSFERRED"))
		}
		return append(out, "not a record")
	}

	// Every caller, action, record and previous version.
	for _, r := range records {
		for _, c := range callers {
			for _, a := range actions {
				for _, p := range previousOf(r) {
					check("full", question(c, a, r, p))
				}
			}
		}
	}

	// Each record with each member removed or replaced, pushed and pulled by
	// every registered member.
	odd := []any{"ZZZ", 0, 201, 501, nil, true, []any{}, map[string]any{}, "ML4", "ITA", "CZE", "EU", "NATO",
		"SECRET", "UNCLASSIFIED", "CONFIDENTIAL", "RESTRICTED", "COSMIC", []any{"EU"}, []any{"ITA"}, []any{"NATO"},
		[]any{"ALB", "ITA", "NATO"}, "EXPORT_DECLARED", "AIM-LIC-2026-999999", "Shadow Arms sh.p.k.", "K99999999Z",
		"L22222222C", "shadow-arms  sh.p.k", map[string]any{"entity_id": "K99999999Z"},
		map[string]any{"entity_id": "L22222222C", "name": "SA"}, map[string]any{"name": 5},
		"tracking_event", "licence", "entity", "AL/GOV/DPD", "AL/GOV/AIM", 4, "/x", "2026-06-01"}
	mutated := []any{"not an object", nil, []any{1}, map[string]any{}}
	for _, r := range kinds {
		var paths [][]any
		equivPaths(r, nil, &paths)
		for _, p := range paths {
			mutated = append(mutated, equivEdit(r, p, nil, true))
			for _, v := range odd {
				mutated = append(mutated, equivEdit(r, p, v, false))
			}
		}
	}
	for _, r := range mutated {
		for _, c := range registered {
			check("full", question(c, "push", r, nil))
			check("full", question(c, "pull", r, nil))
		}
		check("full", question(callers[2], "push", r, exp))
		check("full", question(callers[0], "push", r, equivSet(lic, "label.originator", "AL/GOV/MOD")))
	}

	// Export declarations and licences against every state of the registers.
	decls := []any{exp, lic, euc, equivSet(lic, "licence.holder", map[string]any{"entity_id": "K91234567Z", "name": "kayo"}),
		equivEdit(exp, []any{"event", "quantity"}, nil, true)}
	for _, q := range []any{1, 100, 200, 201, 400, 500, 501, "x"} {
		decls = append(decls, equivSet(exp, "event.quantity", q))
	}
	for _, engine := range equivSortedKeys(regs) {
		for _, r := range decls {
			for _, c := range callers[:3] {
				for _, p := range previousOf(r)[:3] {
					check(engine, question(c, "push", r, p))
				}
				check(engine, question(c, "pull", r, nil))
			}
			check(engine, question(callers[2], "push", r, equivSet(r, "event.quantity", 250)))
		}
	}

	return regs, qs
}

// equivAgainstBaseline asks the baseline bundle in baseDir and the embedded
// policy every question and reports where they differ.
func equivAgainstBaseline(t *testing.T, baseDir string, regs map[string]any, questions []equivQuestion) {
	ctx := context.Background()
	type pair struct{ base, cur rego.PreparedEvalQuery }
	engines := map[string]pair{}
	// A baseline from before input.registers reads them from data; it is
	// given them in both places.
	cur := equivPrepare(t, "../../policies", nil)
	for name, r := range regs {
		engines[name] = pair{equivPrepare(t, baseDir, r), cur}
	}
	mismatches := 0
	outcomes := map[string]int{}
	for _, q := range questions {
		e := engines[q.engine]
		q.input = equivWithRegisters(q.input, regs[q.engine])
		v, err := ast.InterfaceToValue(q.input)
		if err != nil {
			t.Fatal(err)
		}
		want := equivResult(e.base.Eval(ctx, rego.EvalParsedInput(v), rego.EvalTime(equivNow)))
		got := equivEval(ctx, e.cur, q.input)
		outcomes[equivOutcome(want)]++
		if got != want {
			mismatches++
			if mismatches <= 10 {
				in, _ := json.Marshal(q.input)
				t.Errorf("registers %s, input %s\nbaseline %s\ncurrent  %s", q.engine, in, want, got)
			}
		}
	}
	equivSummary(t, len(questions), mismatches, outcomes)
}

// equivNow is the time every question is asked at, so that validity
// windows decide the same on every run.
var equivNow = time.Date(2026, 6, 2, 8, 0, 0, 0, time.UTC)

// equivEval asks pq one question the way the engine does: lazily, when the
// input allows it.
func equivEval(ctx context.Context, pq rego.PreparedEvalQuery, input map[string]any) string {
	var v ast.Value
	if convertible(map[string]any(input)) {
		v = ast.LazyObject(input)
	} else {
		var err error
		if v, err = ast.InterfaceToValue(input); err != nil {
			return "input error " + err.Error()
		}
	}
	return equivResult(pq.Eval(ctx, rego.EvalParsedInput(v), rego.EvalTime(equivNow)))
}

func equivSummary(t *testing.T, n, mismatches int, outcomes map[string]int) {
	t.Helper()
	codes := map[string]bool{}
	for o := range outcomes {
		for _, c := range strings.Split(strings.TrimPrefix(strings.TrimPrefix(o, "allow "), "deny "), ",") {
			codes[c] = true
		}
	}
	t.Logf("%d questions, %d decided differently; %d distinct outcomes, %d reason codes, %d errors",
		n, mismatches, len(outcomes), len(codes), outcomes["error"])
}

// equivCorpus is the committed corpus, kept small by naming every distinct
// value once: a question is indexes into Engines, Values and Results.
type equivCorpus struct {
	Comment string `json:"comment"`
	// Registers are input.registers of each engine's questions, by name.
	Registers map[string]json.RawMessage `json:"registers"`
	Engines   []string                   `json:"engines"`
	// Values are the distinct callers, actions, records and previous
	// versions the questions use.
	Values []json.RawMessage `json:"values"`
	// Results are the distinct expected results, as equivResult writes them.
	Results []string `json:"results"`
	// Questions are [engine, caller, action, record, previous, result];
	// -1 leaves caller or action out of the input.
	Questions [][6]int `json:"questions"`
}

// equivUpdate writes the corpus: the questions and the embedded policy's
// answers, computed from the corpus as it will be read back.
func equivUpdate(t *testing.T, regs map[string]any, questions []equivQuestion) {
	c := &equivCorpus{
		Comment: "Questions for data.ura.decision with the embedded policy's answers; " +
			"rewritten by: go test -run TestPolicyEquivalence ./gateway/policy/ -update",
		Registers: map[string]json.RawMessage{},
	}
	engineIdx, valueIdx := map[string]int{}, map[string]int{}
	intern := func(v any, present bool) int {
		if !present {
			return -1
		}
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatal(err)
		}
		i, ok := valueIdx[string(b)]
		if !ok {
			i = len(c.Values)
			valueIdx[string(b)] = i
			c.Values = append(c.Values, b)
		}
		return i
	}
	for _, name := range equivSortedKeys(regs) {
		b, err := json.Marshal(regs[name])
		if err != nil {
			t.Fatal(err)
		}
		c.Registers[name] = b
		engineIdx[name] = len(c.Engines)
		c.Engines = append(c.Engines, name)
	}
	for _, q := range questions {
		caller, hasCaller := q.input["caller"]
		action, hasAction := q.input["action"]
		c.Questions = append(c.Questions, [6]int{engineIdx[q.engine], intern(caller, hasCaller),
			intern(action, hasAction), intern(q.input["record"], true), intern(q.input["previous"], true), -1})
	}
	got := equivAnswer(t, c)
	resultIdx := map[string]int{}
	outcomes := map[string]int{}
	for i, r := range got {
		j, ok := resultIdx[r]
		if !ok {
			j = len(c.Results)
			resultIdx[r] = j
			c.Results = append(c.Results, r)
		}
		c.Questions[i][5] = j
		outcomes[equivOutcome(r)]++
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	enc := json.NewEncoder(zw)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(equivCorpusPath), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(equivCorpusPath, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("wrote %s: %d bytes, %d values, %d distinct results", equivCorpusPath, buf.Len(), len(c.Values), len(c.Results))
	equivSummary(t, len(got), 0, outcomes)
}

// equivAgainstCorpus asks the embedded policy every question of the
// committed corpus and compares with the answers recorded there.
func equivAgainstCorpus(t *testing.T) {
	f, err := os.Open(equivCorpusPath)
	if err != nil {
		t.Fatalf("%v (rewrite it with -update)", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	var c equivCorpus
	if err := json.NewDecoder(zr).Decode(&c); err != nil {
		t.Fatalf("%s: %v", equivCorpusPath, err)
	}
	if len(c.Questions) < 100000 {
		t.Fatalf("%s holds %d questions; the generator makes over 100,000", equivCorpusPath, len(c.Questions))
	}
	if equivStride > 1 {
		sample := c.Questions[:0:0]
		for i := 0; i < len(c.Questions); i += equivStride {
			sample = append(sample, c.Questions[i])
		}
		t.Logf("race detector on: checking every %dth question, %d of %d", equivStride, len(sample), len(c.Questions))
		c.Questions = sample
	}
	got := equivAnswer(t, &c)
	mismatches := 0
	outcomes := map[string]int{}
	for i, q := range c.Questions {
		if q[5] < 0 || q[5] >= len(c.Results) {
			t.Fatalf("question %d: result index %d out of range", i, q[5])
		}
		want := c.Results[q[5]]
		outcomes[equivOutcome(want)]++
		if got[i] != want {
			mismatches++
			if mismatches <= 10 {
				in, _ := json.Marshal(equivInput(t, &c, nil, q))
				// The registers are named by the engine, not printed.
				t.Errorf("question %d, registers %s, input %s\nexpected %s\nembedded %s", i*equivStride, c.Engines[q[0]], in, want, got[i])
			}
		}
	}
	if mismatches > 0 {
		t.Errorf("%d of %d decisions differ from the corpus; if the policy change is meant, rewrite it with -update", mismatches, len(got))
	}
	equivSummary(t, len(got), mismatches, outcomes)
	// The same pull questions decided a chunk at a time must be decided
	// exactly as one at a time.
	equivChunked(t, &c)
}

// equivAnswer asks the embedded policy every question of c, on every core.
func equivAnswer(t *testing.T, c *equivCorpus) []string {
	t.Helper()
	ctx := context.Background()
	pq := equivPrepare(t, "../../policies", nil)
	regs := make([]any, len(c.Engines))
	for i, name := range c.Engines {
		raw, ok := c.Registers[name]
		if !ok {
			t.Fatalf("corpus: no registers for engine %s", name)
		}
		regs[i] = equivJSON(string(raw))
	}
	values := make([]any, len(c.Values))
	for i, raw := range c.Values {
		values[i] = equivJSON(string(raw))
	}
	for i, q := range c.Questions {
		if q[0] < 0 || q[0] >= len(regs) {
			t.Fatalf("question %d: engine index %d out of range", i, q[0])
		}
		for _, j := range q[1:5] {
			if j < -1 || j >= len(values) {
				t.Fatalf("question %d: value index %d out of range", i, j)
			}
		}
	}
	out := make([]string, len(c.Questions))
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < len(c.Questions); i += workers {
				q := c.Questions[i]
				out[i] = equivEval(ctx, pq, equivWithRegisters(equivInput(t, c, values, q), regs[q[0]]))
			}
		}()
	}
	wg.Wait()
	return out
}

// equivInput builds question q's input from the corpus's values (decoded
// once into values, or decoded here when values is nil). Each input is a
// fresh map, so no evaluation sees another's.
func equivInput(t *testing.T, c *equivCorpus, values []any, q [6]int) map[string]any {
	val := func(i int) any {
		if values != nil {
			return values[i]
		}
		return equivJSON(string(c.Values[i]))
	}
	in := map[string]any{"record": val(q[3]), "previous": val(q[4])}
	if q[1] >= 0 {
		in["caller"] = val(q[1])
	}
	if q[2] >= 0 {
		in["action"] = val(q[2])
	}
	return in
}

// equivWithRegisters is in with regs as input.registers ("none": no
// registers member at all). regs is shared by every question and only read.
func equivWithRegisters(in map[string]any, regs any) map[string]any {
	if regs == nil {
		return in
	}
	out := make(map[string]any, len(in)+1)
	for k, v := range in {
		out[k] = v
	}
	out["registers"] = regs
	return out
}

func equivSortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// equivRegisters are the registers of the policy tests, and each variant of
// them that one of the licence and exclusion checks tells apart; "none" has
// no registers member in the input at all.
func equivRegisters() map[string]any {
	base := equivJSON(`{
	"licences": {"AIM-LIC-2026-000123": {"id": "AIM-LIC-2026-000123", "version": 3, "originator": "AL/GOV/AIM", "type": "export", "status": "issued",
		"valid_from": "2026-05-01", "valid_until": "2027-04-30", "destination": "CZE",
		"holder": {"entity_id": "L61234567A", "name": "KAYO sh.a."}, "items": {"ML3": 200000, "ML1": 500}}},
	"entities": {"L61234567A": {"name": "KAYO sh.a.", "status": "active"},
		"K99999999Z": {"name": "Shadow Arms sh.p.k.", "status": "suspended"}, "L22222222C": {"name": "Shadow Arms shpk"}},
	"excluded": {
		"by_id": {"K99999999Z": {"AIM-EXC-1": {"record_id": "AIM-EXC-1", "from": "2025-01-01"}},
			"K91234567Z": {"AIM-EXC-2": {"from": "2026-12-01"}, "AIM-EXC-3": {"from": "2025-01-01", "until": "2026-06-01"}}},
		"by_name": {"shadow arms sh p k": {"AIM-EXC-1": {"record_id": "AIM-EXC-1", "from": "2025-01-01"}},
			"shadow arms shpk": {"X": {"from": "2025-01-01", "until": "2026-06-02"}},
			"kayo sh a": {"Y": {"until": "2020-01-01"}}}},
	"exported": {"AIM-LIC-2026-000123": {"ML1": 300}}}`)
	out := map[string]any{"full": base, "empty": map[string]any{}, "none": nil,
		"exported_none": equivEdit(base, []any{"exported"}, nil, true),
		"exported_499":  equivSet(base, "exported.AIM-LIC-2026-000123.ML1", 499),
		"exported_text": equivSet(base, "exported.AIM-LIC-2026-000123.ML1", "x"),
	}
	for _, kv := range []struct {
		key string
		val any
	}{
		{"status", "suspended"}, {"status", "revoked"}, {"status", "expired"}, {"status", "draft"}, {"status", "renewed"},
		{"type", "import"}, {"valid_until", "2026-06-01"}, {"valid_until", "2026-06-02"}, {"valid_until", 5},
		{"valid_from", "2026-06-03"}, {"destination", "SRB"},
		{"holder", map[string]any{"entity_id": "K99999999Z", "name": "Shadow Arms sh.p.k."}},
		{"holder", map[string]any{"entity_id": "L22222222C"}},
		{"items", map[string]any{"ML1": 400}}, {"items", map[string]any{"ML1": "x"}},
		{"originator", "IT/GOV/MOD"}, {"originator", "AL/GOV/MOD"}, {"originator", 5},
	} {
		out[fmt.Sprintf("licence_%s_%v", kv.key, kv.val)] = equivSet(base, "licences.AIM-LIC-2026-000123."+kv.key, kv.val)
	}
	for _, key := range []string{"status", "type", "valid_until", "valid_from", "destination", "holder", "items", "originator"} {
		out["licence_"+key+"_missing"] = equivEdit(base, []any{"licences", "AIM-LIC-2026-000123", key}, nil, true)
	}
	return out
}

func equivPrepare(t *testing.T, dir string, regs any) rego.PreparedEvalQuery {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "data.json"))
	if err != nil {
		t.Fatal(err)
	}
	var data map[string]any
	if err := util.UnmarshalJSON(raw, &data); err != nil {
		t.Fatal(err)
	}
	if regs != nil {
		// Only a baseline from before input.registers reads them here.
		data["registers"] = regs
	}
	st := inmem.NewFromObjectWithOpts(data, inmem.OptRoundTripOnWrite(false), inmem.OptReturnASTValuesOnRead(true))
	opts := []func(*rego.Rego){rego.Query(Query), rego.Store(st), rego.StrictBuiltinErrors(true), rego.SetRegoVersion(ast.RegoV1)}
	files, err := filepath.Glob(filepath.Join(dir, "*.rego"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no policy in %s: %v", dir, err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "_test.rego") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		opts = append(opts, rego.Module(filepath.Base(f), string(b)))
	}
	pq, err := rego.New(opts...).PrepareForEval(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return pq
}

// equivResult is a result as text. An error's location is left out: the
// same error from a moved line denies alike.
func equivResult(rs rego.ResultSet, err error) string {
	if err != nil {
		var te *topdown.Error
		if errors.As(err, &te) {
			return "error " + te.Code + ": " + te.Message
		}
		return "error " + err.Error()
	}
	b, err := json.Marshal(rs)
	if err != nil {
		return "unmarshalable result: " + err.Error()
	}
	return string(b)
}

// equivOutcome names a result by its reason codes, to show what the corpus
// reached.
func equivOutcome(result string) string {
	if strings.HasPrefix(result, "error ") {
		return "error"
	}
	var rs []struct {
		Expressions []struct {
			Value struct {
				Allow   bool `json:"allow"`
				Reasons []struct {
					Code string `json:"code"`
				} `json:"reasons"`
			} `json:"value"`
		} `json:"expressions"`
	}
	if err := json.Unmarshal([]byte(result), &rs); err != nil || len(rs) == 0 {
		return "undefined"
	}
	d := rs[0].Expressions[0].Value
	codes := []string{}
	for _, r := range d.Reasons {
		codes = append(codes, r.Code)
	}
	sort.Strings(codes)
	if d.Allow {
		return "allow " + strings.Join(codes, ",")
	}
	return "deny " + strings.Join(codes, ",")
}

func equivRecord(t *testing.T, name string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "records", name+".json"))
	if err != nil {
		t.Fatal(err)
	}
	return equivJSON(string(b))
}

func equivJSON(s string) any {
	var v any
	if err := util.UnmarshalJSON([]byte(s), &v); err != nil {
		panic(err)
	}
	return v
}

func equivClone(v any) any {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return equivJSON(string(b))
}

// equivPaths lists the path of every member and element inside v.
func equivPaths(v any, prefix []any, out *[][]any) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := append(append([]any{}, prefix...), k)
			*out = append(*out, p)
			equivPaths(x[k], p, out)
		}
	case []any:
		for i := range x {
			p := append(append([]any{}, prefix...), i)
			*out = append(*out, p)
			equivPaths(x[i], p, out)
		}
	}
}

// equivEdit is a copy of doc with the value at path replaced by val, or
// removed (an array element is replaced by a marker instead).
func equivEdit(doc any, path []any, val any, remove bool) any {
	c := equivClone(doc)
	cur := c
	for i, k := range path {
		last := i == len(path)-1
		switch x := cur.(type) {
		case map[string]any:
			key := k.(string)
			if !last {
				cur = x[key]
				continue
			}
			if remove {
				delete(x, key)
			} else {
				x[key] = equivClone(val)
			}
		case []any:
			idx := k.(int)
			if !last {
				cur = x[idx]
				continue
			}
			if remove {
				x[idx] = "removed"
			} else {
				x[idx] = equivClone(val)
			}
		default:
			return c
		}
	}
	return c
}

func equivSet(doc any, dotted string, val any) any {
	var path []any
	for _, s := range strings.Split(dotted, ".") {
		path = append(path, s)
	}
	return equivEdit(doc, path, val, false)
}

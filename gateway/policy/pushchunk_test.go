package policy

import (
	"context"
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/registers"
	"github.com/ura-gateway/ura/policies"
)

// The embedded policy's read set for a push: the record id is read only
// through the namespace probe, below registers whose keys it is compared
// with, and in messages of deny.
func TestPushReadSetEmbedded(t *testing.T) {
	l, err := EmbeddedSource(policies.FS).load()
	if err != nil {
		t.Fatal(err)
	}
	rs, why := analysePush(l.modules)
	if rs == nil {
		t.Fatalf("no read set: %s", why)
	}
	t.Logf("read set of a push, embedded policy:\n%s", rs)
	paths := pathSet(rs.paths)
	for _, never := range []string{"input.", "input.record", "input.record.id"} {
		if slices.Contains(paths, never) {
			t.Errorf("read set holds %s: %v", never, paths)
		}
	}
	for _, want := range []string{"input.record.licence", "input.registers.excluded.by_id", "input.now", "input.previous"} {
		if !slices.Contains(paths, want) {
			t.Errorf("read set lacks %s: %v", want, paths)
		}
	}
	if !slices.Equal(rs.probes, []string{"data.ura.id_in_namespace"}) {
		t.Errorf("probes %v", rs.probes)
	}
	if got := pathSet(rs.conds); !slices.Equal(got, []string{"input.registers.declarations", "input.registers.items", "input.registers.transit_authorisations"}) {
		t.Errorf("conds %v", got)
	}
	if !slices.Contains(pathSet(rs.quoted), "input.record.id") || rs.denyRule != denyPath {
		t.Errorf("the record id is quoted in deny messages: quoted %v, deny rule %q", pathSet(rs.quoted), rs.denyRule)
	}
}

// Each way the id may be read is recognised for what it is, and anything
// else reads its value.
func TestPushReadSetAnalysis(t *testing.T) {
	const head = "package ura\n\ndecision := {\"allow\": allow, \"reasons\": [r | some r in deny]}\n"
	cases := []struct {
		name   string
		rules  string
		paths  []string
		probes []string
		conds  []string
		quoted []string
	}{
		{"probed through a rule", `allow if ns
ns if startswith(input.record.id, "A-")
deny contains 1 if false`, nil, []string{"data.ura.ns"}, nil, nil},
		{"read by a function", `allow if ns(input.record.kind)
ns(k) if startswith(input.record.id, k)
deny contains 1 if false`, []string{"input.record.id", "input.record.kind"}, nil, nil, nil},
		{"read by a rule", `allow if input.record.id != ""
deny contains 1 if false`, nil, []string{"data.ura.allow"}, nil, nil},
		{"read in the decision", `allow := true
decision := {"allow": input.record.id != "", "reasons": [r | some r in deny]}
deny contains 1 if false`, []string{"input.record.id"}, nil, nil, nil},
		{"a key below registers", `allow if f("x")
f(s) if input.registers.t[concat("|", [input.record.id, s])]
deny contains 1 if false`, []string{"input.registers.t"}, nil, []string{"input.registers.t"}, nil},
		{"a key computed otherwise", `allow if f("x")
f(s) if input.registers.t[upper(input.record.id)]
deny contains 1 if false`, []string{"input.record.id", "input.registers.t"}, nil, nil, nil},
		{"compared with iterated keys", `allow if f("x")
f(s) if { some id, e in input.registers.t[s]; id != input.record.id }
deny contains 1 if false`, []string{"input.registers.t"}, nil, []string{"input.registers.t"}, nil},
		{"quoted in a refusal set", `allow := true
deny contains r if { input.record.kind == "x"; some r in refusals }
refusals contains msg if { input.record.v == 1; msg := sprintf("%v", [object.get(input.record, "id", "?")]) }`,
			[]string{"input.record.kind", "input.record.v"}, nil, nil, []string{"input.record.id"}},
		{"a refusal set counted elsewhere", `allow if count(refusals) == 0
deny contains r if { some r in refusals }
refusals contains msg if { input.record.v == 1; msg := sprintf("%v", [object.get(input.record, "id", "?")]) }`,
			[]string{"input.record.v"}, []string{"data.ura.refusals"}, nil, nil},
		{"the clock is input.now", `allow if time.now_ns() > 0
deny contains 1 if false`, []string{"input.now"}, nil, nil, nil},
		{"pull bodies skipped", `allow if { input.action == "pull"; input.record.id == "x" }
deny contains 1 if false`, nil, nil, nil, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs, why := analysePush(parsedModules(t, map[string]string{"p.rego": head + tc.rules}))
			if rs == nil {
				t.Fatalf("no read set: %s", why)
			}
			eq := func(what string, got, want []string) {
				if !slices.Equal(got, want) && (len(got) != 0 || len(want) != 0) {
					t.Errorf("%s %v, want %v", what, got, want)
				}
			}
			paths := slices.DeleteFunc(pathSet(rs.paths), func(p string) bool { return p == "input.action" })
			eq("paths", paths, tc.paths)
			eq("probes", rs.probes, tc.probes)
			eq("conds", pathSet(rs.conds), tc.conds)
			eq("quoted", pathSet(rs.quoted), tc.quoted)
		})
	}
}

// licenceRegisters are the registers a pushed licence is decided against:
// the importing state's authorisation and the end-user certificate its
// conditions name.
func licenceRegisters(t testing.TB) *registers.Overlay {
	o := registers.NewOverlay(nil)
	o.Apply(record(t, "import_authorisation", nil))
	o.Apply(record(t, "end_user_certificate", nil))
	return o
}

func pushes(o *registers.Overlay, caller identity.Member, recs ...*records.Record) []Input {
	in := make([]Input, len(recs))
	for i, r := range recs {
		in[i] = Input{Caller: caller, Action: Push, Record: r, Registers: o.For(r), Now: chunkNow}
	}
	return in
}

// checkBatch decides in one after the other through a Batch, and fails on
// any difference from Decide but the decision IDs.
func checkBatch(t *testing.T, e *OPA, in []Input) []Decision {
	t.Helper()
	ctx := context.Background()
	b := NewBatch(e)
	out := make([]Decision, len(in))
	for i := range in {
		out[i] = b.Decide(ctx, in[i])
		if want := e.Decide(ctx, in[i]); !reflect.DeepEqual(withoutID(out[i]), withoutID(want)) {
			t.Errorf("question %d (record %s): batch decided\n%+v\nalone\n%+v", i, recordID(in[i]), out[i], want)
		}
	}
	return out
}

// Attack: an id in another institution's namespace, or one that only
// looks like the caller's, pushed among licences alike but for their ids,
// is refused with the namespace reason; the licences around it share one
// decision.
func TestPushChunkNamespaceAmongLookAlikes(t *testing.T) {
	e := newEngine(t, Options{Logger: discard})
	o := licenceRegisters(t)
	ids := []string{"AIM-LIC-2026-000001", "AIM-LIC-2026-000002", "MOD-LIC-2026-000003", "AIM-LIC-2026-000004", "AIMLIC-2026-000005", "aim-LIC-2026-000006", "AIM-LIC-2026-000007"}
	recs := make([]*records.Record, len(ids))
	for i, id := range ids {
		recs[i] = record(t, "licence", map[string]any{"id": id})
	}
	for _, decide := range []func(*testing.T, *OPA, []Input) []Decision{checkChunk, checkBatch} {
		before := sharedCount(e)
		got := decide(t, e, pushes(o, memberAIM, recs...))
		for i, d := range got {
			refused := i == 2 || i == 4 || i == 5
			if d.Allow == refused || refused && !hasCode(d, "id_outside_namespace") {
				t.Errorf("%s: %+v", ids[i], d)
			}
		}
		// The refusal quotes the namespace, not the id: the three
		// refused share one decision too.
		if n := sharedCount(e) - before; n != 5 {
			t.Errorf("%v decisions shared, want 5 (the AIM- licences after the first, the refused after the first)", n)
		}
	}
}

// Attack: an export declaration of an item reported stolen is refused
// next to one that is the stolen report's own new version (which the
// item's state leaves out), although the two differ only in their ids: the
// register of items holds an entry under the item, so the ids are keyed.
func TestPushChunkRegisterHitAmongMisses(t *testing.T) {
	e := newEngine(t, Options{Logger: discard})
	o := licenceRegisters(t)
	o.Apply(record(t, "licence", nil))
	own := record(t, "export", map[string]any{"id": "DPD-EVT-2026-9000001"})
	other := record(t, "export", map[string]any{"id": "DPD-EVT-2026-9000002"})
	in := pushes(o, memberDPD, own, other, own)
	stolen, err := json.Marshal(map[string]any{"type": "STOLEN", "at": "2026-05-01T00:00:00.000000000Z"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range in {
		in[i].Registers.AddKeyed("items", "ALB|KAYO|K26-000123", "DPD-EVT-2026-9000001", registers.KeyedValue{Version: 1, Value: stolen})
	}
	for _, decide := range []func(*testing.T, *OPA, []Input) []Decision{checkChunk, checkBatch} {
		got := decide(t, e, in)
		if !got[0].Allow || got[1].Allow || !hasCode(got[1], "item_stolen") || !got[2].Allow {
			t.Fatalf("decisions %+v", got)
		}
	}
	// Without the entry the ids are not keyed: the two share.
	before := sharedCount(e)
	checkChunk(t, e, pushes(o, memberDPD, own, other))
	if n := sharedCount(e) - before; n != 1 {
		t.Errorf("%v decisions shared without an item entry, want 1", n)
	}
}

// Attack: a licence whose holder is on the register of excluded entities,
// among licences alike but for their holders, is refused: its registers
// hold the exclusion, the others' do not.
func TestPushChunkExcludedHolderAmongClean(t *testing.T) {
	e := newEngine(t, Options{Logger: discard})
	o := licenceRegisters(t)
	o.Apply(record(t, "excluded", nil))
	ex, _ := record(t, "excluded", nil).Doc["excluded_entity"].(map[string]any)
	recs := []*records.Record{
		record(t, "licence", map[string]any{"id": "AIM-LIC-2026-000001"}),
		record(t, "licence", map[string]any{"id": "AIM-LIC-2026-000002", "licence.holder": map[string]any{"entity_id": ex["entity_id"], "name": ex["name"]}}),
		record(t, "licence", map[string]any{"id": "AIM-LIC-2026-000003"}),
	}
	for _, decide := range []func(*testing.T, *OPA, []Input) []Decision{checkChunk, checkBatch} {
		got := decide(t, e, pushes(o, memberAIM, recs...))
		if !got[0].Allow || got[1].Allow || !hasCode(got[1], "excluded_entity") || !got[2].Allow {
			t.Fatalf("decisions %+v", got)
		}
	}
}

// equivChunkedPushes answers the corpus's push questions through
// DecideChunk, in chunks of 100 of one caller and one registers variant,
// and through a Batch, and compares every decision but its ID with
// Decide's.
func equivChunkedPushes(t *testing.T, c *equivCorpus) {
	e := newEngine(t, Options{Logger: discard})
	type group struct{ qs []Input }
	byKey := map[string]*group{}
	var order []string
	skipped := 0
	snaps := map[int]*registers.Snapshot{}
	for _, q := range c.Questions {
		if q[2] < 0 || string(c.Values[q[2]]) != `"push"` {
			continue
		}
		in, ok := equivPullInput(c, [6]int{q[0], q[1], q[2], q[3], -1, q[5]})
		if !ok {
			skipped++
			continue
		}
		in.Action = Push
		if q[4] >= 0 && string(c.Values[q[4]]) != "null" {
			prev, ok := equivJSON(string(c.Values[q[4]])).(map[string]any)
			if !ok {
				skipped++
				continue
			}
			in.Previous = &records.Record{Doc: prev}
		}
		snap, seen := snaps[q[0]]
		if !seen {
			snap = equivSnapshot(equivJSON(string(c.Registers[c.Engines[q[0]]])))
			snaps[q[0]] = snap
		}
		in.Registers = snap
		k := fmt.Sprint(q[0], string(c.Values[max(q[1], 0)]))
		g, ok := byKey[k]
		if !ok {
			g = &group{}
			byKey[k] = g
			order = append(order, k)
		}
		g.qs = append(g.qs, in)
	}
	ctx := context.Background()
	n, mismatches := 0, 0
	sharedBefore := sharedCount(e)
	for _, k := range order {
		qs := byKey[k].qs
		for len(qs) > 0 {
			chunk := qs[:min(100, len(qs))]
			qs = qs[len(chunk):]
			got := e.DecideChunk(ctx, chunk)
			b := NewBatch(e)
			for i := range chunk {
				n++
				want := withoutID(e.Decide(ctx, chunk[i]))
				batch := withoutID(b.Decide(ctx, chunk[i]))
				if !reflect.DeepEqual(withoutID(got[i]), want) || !reflect.DeepEqual(batch, want) {
					mismatches++
					if mismatches <= 10 {
						doc, _ := json.Marshal(chunk[i].Record.Doc)
						t.Errorf("push %s, record %s: chunk decided\n%+v\nbatch\n%+v\nalone\n%+v", k, doc, got[i], batch, want)
					}
				}
			}
		}
	}
	if mismatches > 0 {
		t.Errorf("%d of %d push decisions differ between DecideChunk or Batch and Decide", mismatches, n)
	}
	t.Logf("DecideChunk and Batch: %d push questions in chunks of 100 of one caller and registers, %.0f decisions shared, %d not expressible as an engine input",
		n, sharedCount(e)-sharedBefore, skipped)
}

// equivSnapshot is a corpus's registers as the registers a push is given:
// what the snapshot can hold of them (a value of another type is left out).
func equivSnapshot(doc any) *registers.Snapshot {
	m, ok := doc.(map[string]any)
	if !ok {
		return nil
	}
	s := registers.NewSnapshot()
	str := func(v any) string { x, _ := v.(string); return x }
	obj := func(v any) map[string]any { x, _ := v.(map[string]any); return x }
	num := func(v any) (int64, bool) {
		n, ok := v.(json.Number)
		if !ok {
			return 0, false
		}
		i, err := n.Int64()
		return i, err == nil
	}
	for id, v := range obj(m["licences"]) {
		l := obj(v)
		lic := &registers.Licence{ID: id, Originator: str(l["originator"]), Type: str(l["type"]), Status: str(l["status"]),
			ValidFrom: str(l["valid_from"]), ValidUntil: str(l["valid_until"]), Destination: str(l["destination"]), Items: map[string]int64{}}
		if h := obj(l["holder"]); h != nil {
			lic.Holder = &registers.Holder{EntityID: str(h["entity_id"]), Name: str(h["name"])}
		}
		for cat, q := range obj(l["items"]) {
			if n, ok := num(q); ok {
				lic.Items[cat] = n
			}
		}
		s.Licences[id] = lic
	}
	for id, v := range obj(m["entities"]) {
		x := obj(v)
		s.Entities[id] = &registers.Entity{EntityID: id, RecordID: str(x["record_id"]), Name: str(x["name"]), Status: str(x["status"])}
	}
	ex := obj(m["excluded"])
	for key, list := range obj(ex["by_id"]) {
		for id, v := range obj(list) {
			x := obj(v)
			s.AddExclusion(&registers.Exclusion{RecordID: id, EntityID: key, From: str(x["from"]), Until: str(x["until"])})
		}
	}
	for key, list := range obj(ex["by_name"]) {
		for id, v := range obj(list) {
			x := obj(v)
			s.AddExclusion(&registers.Exclusion{RecordID: id, Name: key, From: str(x["from"]), Until: str(x["until"])})
		}
	}
	for lic, cats := range obj(m["exported"]) {
		for cat, q := range obj(cats) {
			if n, ok := num(q); ok {
				s.AddExported(lic, cat, n)
			}
		}
	}
	return s
}

// Attack: two export declarations of one item, alike but for what the
// register of items holds under the item from one other record (stored,
// then stolen: the same register, key and record id, another value), are
// refused and allowed each on its own entry. Keyed entries are decoded
// once per chunk or batch (regsDoc): by their bytes, never by where they
// are, so the second entry is never read as the first.
func TestPushChunkKeyedEntryChangesBetweenRecords(t *testing.T) {
	e := newEngine(t, Options{Logger: discard})
	o := licenceRegisters(t)
	o.Apply(record(t, "licence", nil))
	entry := func(typ string) registers.KeyedValue {
		v, err := json.Marshal(map[string]any{"type": typ, "at": "2026-05-01T00:00:00.000000000Z"})
		if err != nil {
			t.Fatal(err)
		}
		return registers.KeyedValue{Version: 1, Value: v}
	}
	recs := []*records.Record{
		record(t, "export", map[string]any{"id": "DPD-EVT-2026-9000001"}),
		record(t, "export", map[string]any{"id": "DPD-EVT-2026-9000002"}),
		record(t, "export", map[string]any{"id": "DPD-EVT-2026-9000003"}),
		record(t, "export", map[string]any{"id": "DPD-EVT-2026-9000004"}),
	}
	in := pushes(o, memberDPD, recs...)
	for i, typ := range []string{"STORED", "STOLEN", "STORED", "STOLEN"} {
		in[i].Registers.AddKeyed("items", "ALB|KAYO|K26-000123", "DPD-EVT-2026-8000001", entry(typ))
	}
	for _, decide := range []func(*testing.T, *OPA, []Input) []Decision{checkChunk, checkBatch} {
		got := decide(t, e, in)
		for i, d := range got {
			if stolen := i%2 == 1; d.Allow == stolen || stolen && !hasCode(d, "item_stolen") {
				t.Errorf("%s: %+v", recordID(in[i]), d)
			}
		}
	}
}

// The registers a push's key is built from are the registers Decide
// gives the policy: Snapshot.Doc, entry for entry, whatever the keyed
// registers hold (an entry that does not decode, a key without entries, a
// register the gateway does not know, a screening).
func TestRegsDocIsSnapshotDoc(t *testing.T) {
	o := licenceRegisters(t)
	o.Apply(record(t, "licence", nil))
	o.Apply(record(t, "excluded", nil))
	lic := record(t, "licence", nil)
	s := o.For(lic)
	s.AddKeyed("items", "ALB|KAYO|K26-000123", "DPD-EVT-2026-8000001", registers.KeyedValue{Version: 1, Value: []byte(`{"type":"STOLEN","n":1.50}`)})
	s.AddKeyed("items", "ALB|KAYO|K26-000124", "DPD-EVT-2026-8000002", registers.KeyedValue{Version: 1, Value: []byte(`{"type":`)})
	s.AddKeyed("unknown_register", "k", "DPD-EVT-2026-8000003", registers.KeyedValue{Version: 1, Value: []byte(`[1, "two", null] trailing`)})
	s.Keyed["items"]["empty"] = map[string]registers.KeyedValue{}
	s.Screening = map[string]any{"sanctions": []any{}}
	var (
		r       regsDoc
		scratch []member
	)
	for i := range 4 { // the second time from the cache; then built, the fourth time from its memo
		got, ok := r.doc(s)
		if i >= 2 {
			br := r.built(s, &scratch)
			got, ok = br.doc, br.ok
		}
		if want := s.Doc(); !ok || !reflect.DeepEqual(got, want) {
			t.Fatalf("regsDoc (convertible %v)\n%v\nSnapshot.Doc\n%v", ok, got, want)
		}
	}
	s.AddKeyed("items", "ALB|KAYO|K26-000125", "DPD-EVT-2026-8000004", registers.KeyedValue{Version: 1, Value: []byte(`{"n":1e999999999}`)})
	if _, ok := r.doc(s); ok {
		t.Error("an entry OPA cannot hold lazily was reported convertible")
	}
	if br := r.built(s, &scratch); br.ok {
		t.Error("an entry OPA cannot hold lazily was reported convertible by the memo")
	}
}

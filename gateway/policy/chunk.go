package policy

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"sort"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// chunkQuery is the decision and the size of the deny set, asked of a
// chunk's representative (readSet.denyRule).
const chunkQuery = "[" + Query + ", count(data.ura.deny)]"

// DecideEach is DecideChunk by Decide, one question at a time: what an
// engine that cannot share decisions does (the HTTP engine, test engines).
func DecideEach(ctx context.Context, e Engine, in []Input) []Decision {
	out := make([]Decision, len(in))
	for i := range in {
		out[i] = e.Decide(ctx, in[i])
	}
	return out
}

// DecideChunk decides a chunk of questions with one revision of the active
// policy, each as Decide would (gateway/ARCHITECTURE.md, "Policy
// contract"): the pulls that put the same caller, time and values at every
// path the revision's pull decision can read (its read set, readset.go) are
// decided once, by their first member, and every other member gets that
// decision under its own decision ID. A pull with a release, a push, a
// question without a time, a representative whose evaluation failed or whose
// deny set was not empty, and every question of a revision without a read
// set, are decided one by one.
func (e *OPA) DecideChunk(ctx context.Context, in []Input) []Decision {
	c := e.active.Load()
	out := make([]Decision, len(in))
	if c.pull == nil || len(in) < 2 {
		for i := range in {
			out[i] = e.decide(ctx, c, in[i])
		}
		return out
	}
	groups := map[string][]int{}
	var order []string
	var buf bytes.Buffer
	for i := range in {
		buf.Reset()
		if !c.pull.key(&buf, in[i]) {
			out[i] = e.decide(ctx, c, in[i])
			continue
		}
		k := buf.String()
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], i)
	}
	for _, k := range order {
		members := groups[k]
		d, shared := e.decideShared(ctx, c, in[members[0]])
		out[members[0]] = d
		for _, j := range members[1:] {
			if !shared {
				out[j] = e.decide(ctx, c, in[j])
				continue
			}
			out[j] = sharedCopy(d)
			e.metrics.shared.Inc()
			e.metrics.decisions.WithLabelValues(string(in[j].Action), verdictLabel(out[j])).Inc()
		}
	}
	return out
}

// sharedCopy is d under a new decision ID, its lists copied so that no two
// decisions share an array a caller may append to.
func sharedCopy(d Decision) Decision {
	d.ID = newDecisionID()
	d.Redact = slices.Clone(d.Redact)
	d.Redactions = slices.Clone(d.Redactions)
	d.Reasons = slices.Clone(d.Reasons)
	d.Translations = slices.Clone(d.Translations)
	return d
}

func verdictLabel(d Decision) string {
	if d.Allow {
		return "allow"
	}
	return "deny"
}

// decideShared decides a group's representative. shared reports whether
// its decision may be given to the group: the policy decided (no error,
// timeout, undefined or malformed result) and, when the read set leaves
// out what deny's messages quote, its deny set was empty.
func (e *OPA) decideShared(ctx context.Context, c *compiled, in Input) (_ Decision, shared bool) {
	if c.chunkQuery == nil {
		d, failed := e.decideFailed(ctx, c, in)
		return d, !failed
	}
	input, err := buildInput(in)
	if err != nil {
		return e.decide(ctx, c, in), false
	}
	start := time.Now()
	v, d, failed := e.run(ctx, *c.chunkQuery, input, Decision{ID: newDecisionID(), Revision: c.revision})
	pair, ok := v.(*ast.Array)
	if failed || !ok || pair.Len() != 2 {
		// Whatever went wrong, the representative is asked as Decide asks.
		return e.decide(ctx, c, in), false
	}
	n, isNumber := pair.Elem(1).Value.(ast.Number)
	d, failed = decided(e.log, d, pair.Elem(0).Value)
	e.metrics.observe(e.log, in, d, failed, start)
	if sc := e.shadow.Load(); sc != nil {
		e.shadowDecide(sc, in, input, d)
	}
	zero := isNumber && n.Compare(ast.Number("0")) == 0
	return d, !failed && zero
}

// decideFailed is decide, reporting a deny the policy did not choose.
func (e *OPA) decideFailed(ctx context.Context, c *compiled, in Input) (Decision, bool) {
	input, err := buildInput(in)
	if err != nil {
		return e.decide(ctx, c, in), true
	}
	start := time.Now()
	d, failed := e.eval(ctx, c, input)
	e.metrics.observe(e.log, in, d, failed, start)
	if sc := e.shadow.Load(); sc != nil {
		e.shadowDecide(sc, in, input, d)
	}
	return d, failed
}

// chunkable reports a question whose decision may be shared: a pull with
// a time, no release, no registers and no previous version (the facts the
// read set was computed under), of a record handed to OPA lazily.
func chunkable(in Input) bool {
	return in.Action == Pull && in.Release == nil && in.Registers == nil && in.Previous == nil &&
		!in.Now.IsZero() && in.Record != nil && in.Record.Doc != nil && convertible(in.Record.Doc)
}

// missing marks a path with no value; every value is written as JSON,
// which never holds a NUL byte, and ends with one.
const missing = "\x01"

// key writes the question's group key into buf: caller, action and time,
// then, for each path of the read set, the canonical JSON of its value or
// missing, and for each shape path the shape of its value. false: the
// question is decided by itself.
func (rs *readSet) key(buf *bytes.Buffer, in Input) bool {
	if !chunkable(in) {
		return false
	}
	now, _ := in.nowDoc()
	doc := map[string]any{"action": string(in.Action), "record": in.Record.Doc, "previous": nil, "now": now}
	if in.Caller.ID != "" {
		doc["caller"] = callerDoc(in.Caller)
	}
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	if enc.Encode(doc["caller"]) != nil {
		return false
	}
	buf.WriteString(string(in.Action) + "\x00" + now + "\x00")
	for _, p := range rs.paths {
		v, ok := lookup(doc, p)
		if !ok {
			buf.WriteString(missing)
		} else if enc.Encode(v) != nil {
			return false
		}
		buf.WriteByte(0)
	}
	for _, p := range rs.presence {
		v, ok := lookup(doc, p)
		if !ok {
			buf.WriteString(missing)
		} else {
			shape(buf, v)
		}
		buf.WriteByte(0)
	}
	return true
}

// lookup is the value at p below doc, walking objects only: a path through
// anything else has no value there (Rego's ref is undefined too).
func lookup(doc map[string]any, p []string) (any, bool) {
	var v any = doc
	for _, k := range p {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

// shape writes v's shape: every object's keys, every array's length, the
// type of every value (null apart), never a string's or number's value.
// Two values of one shape have a non-null value at the same paths, of the
// same type.
func shape(buf *bytes.Buffer, v any) {
	switch x := v.(type) {
	case nil:
		buf.WriteByte('z')
	case bool:
		buf.WriteByte('b')
	case string:
		buf.WriteByte('s')
	case json.Number:
		buf.WriteByte('n')
	case []any:
		buf.WriteByte('[')
		for _, e := range x {
			shape(buf, e)
			buf.WriteByte(',')
		}
		buf.WriteByte(']')
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		buf.WriteByte('{')
		for _, k := range keys {
			b, _ := json.Marshal(k)
			buf.Write(b)
			buf.WriteByte(':')
			shape(buf, x[k])
			buf.WriteByte(',')
		}
		buf.WriteByte('}')
	default:
		// chunkable let through only the types above.
		buf.WriteByte('?')
	}
}

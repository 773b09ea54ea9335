package policy

import (
	"context"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/ura-gateway/ura/gateway/identity"
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
	var kb keyer
	for i := range in {
		b, ok := kb.key(c.pull, in[i])
		if !ok {
			out[i] = e.decide(ctx, c, in[i])
			continue
		}
		g, seen := groups[string(b)]
		if !seen {
			k := string(b)
			order = append(order, k)
			groups[k] = append(g, i)
			continue
		}
		groups[string(b)] = append(g, i)
	}
	for _, k := range order {
		members := groups[k]
		d, shared := e.decideShared(ctx, c, in[members[0]])
		out[members[0]] = d
		if !shared {
			for _, j := range members[1:] {
				out[j] = e.decide(ctx, c, in[j])
			}
			continue
		}
		for _, j := range members[1:] {
			out[j] = sharedCopy(d)
		}
		e.metrics.shared.Add(float64(len(members) - 1))
		e.metrics.decisions.WithLabelValues(string(Pull), verdictLabel(d)).Add(float64(len(members) - 1))
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

// missing marks a path with no value; every value is written as JSON,
// which never holds a NUL byte, and ends with one.
const missing = "\x01"

// keyer builds group keys, its buffers kept from one question to the next,
// and the caller's form from the last question (a chunk has one caller).
type keyer struct {
	b       []byte
	scratch []member
	caller  identity.Member
	form    []byte // canonical form of caller's input.caller, or missing
}

// key is the question's group key: caller, action and time, then, for each
// path of the read set, the canonical form of its value or missing, and
// for each shape path the shape of its value. false: the question is
// decided by itself. The key is valid until the next call.
func (kb *keyer) key(rs *readSet, in Input) ([]byte, bool) {
	if in.Action != Pull || in.Release != nil || in.Registers != nil || in.Previous != nil ||
		in.Now.IsZero() || in.Record == nil || in.Record.Doc == nil {
		return nil, false
	}
	// Only a record of JSON's types is handed to OPA lazily, and keyed:
	// the key's forms tell such values apart, nothing else. The whole
	// record's shape, when keyed, checks that on its way.
	ok := true
	if !rs.recordShape && !convertible(in.Record.Doc) {
		return nil, false
	}
	if kb.form == nil || !sameMember(kb.caller, in.Caller) {
		kb.caller, kb.form = in.Caller, []byte(missing)
		if in.Caller.ID != "" {
			kb.form = canonical(nil, callerDoc(in.Caller), &kb.scratch, &ok)
		}
	}
	now, _ := in.nowDoc()
	b := append(kb.b[:0], kb.form...)
	b = append(append(append(append(b, 0), in.Action...), 0), now...)
	for _, p := range rs.paths {
		b = append(b, 0)
		if len(p) == 1 && p[0] == "caller" {
			b = append(b, kb.form...)
		} else if len(p) == 1 && (p[0] == "action" || p[0] == "now") {
			// canonical's form of the string, without boxing it.
			v := now
			if p[0] == "action" {
				v = string(in.Action)
			}
			b = strconv.AppendQuote(append(b, 's'), v)
		} else if v, found := lookupInput(in, p, now); found {
			b = canonical(b, v, &kb.scratch, &ok)
		} else {
			b = append(b, missing...)
		}
	}
	for _, p := range rs.presence {
		b = append(b, 0)
		if v, found := lookupInput(in, p, now); found {
			b = shape(b, v, &kb.scratch, &ok)
		} else {
			b = append(b, missing...)
		}
	}
	kb.b = b
	return b, ok
}

func sameMember(a, b identity.Member) bool {
	return a.ID == b.ID && a.Nation == b.Nation && a.Kind == b.Kind && a.Clearance == b.Clearance && slices.Equal(a.Roles, b.Roles) &&
		maps.EqualFunc(a.Categories, b.Categories, slices.Equal)
}

// lookupInput is the value at p below the input document lazyInput builds
// for in, without building it.
func lookupInput(in Input, p []string, now string) (any, bool) {
	if len(p) == 0 {
		doc := map[string]any{"action": string(in.Action), "record": in.Record.Doc, "previous": nil, "now": now}
		if in.Caller.ID != "" {
			doc["caller"] = callerDoc(in.Caller)
		}
		return doc, true
	}
	var root any
	switch p[0] {
	case "action":
		root = string(in.Action)
	case "record":
		root = in.Record.Doc
	case "previous":
		root = nil
	case "now":
		root = now
	case "caller":
		if in.Caller.ID == "" {
			return nil, false
		}
		root = callerDoc(in.Caller)
	default:
		return nil, false
	}
	return lookup(root, p[1:])
}

// canonical appends v in one form per value, keys sorted: equal forms are
// equal values to OPA (a number is its literal, so 1 and 1.0 differ here,
// which only shares less).
func canonical(b []byte, v any, scratch *[]member, ok *bool) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, 'z')
	case bool:
		if x {
			return append(b, 't')
		}
		return append(b, 'f')
	case string:
		return strconv.AppendQuote(append(b, 's'), x)
	case json.Number:
		if _, err := ast.NumberChecked(string(x)); err != nil {
			*ok = false
		}
		return append(append(append(b, 'n'), x...), ';')
	case []any:
		b = append(b, '[')
		for _, e := range x {
			b = append(canonical(b, e, scratch, ok), ',')
		}
		return append(b, ']')
	case map[string]any:
		members, mark := sorted(x, scratch)
		b = append(b, '{')
		for _, m := range members {
			b = append(canonical(appendKey(b, m.k), m.v, scratch, ok), ',')
		}
		*scratch = (*scratch)[:mark]
		return append(b, '}')
	}
	*ok = false
	return b
}

// shape appends v's shape: every object's keys, every array's length, the
// type of every value, never a string's or number's value. Two values of
// one shape have a non-null value at the same paths, of the same type.
func shape(b []byte, v any, scratch *[]member, ok *bool) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, 'z')
	case bool:
		return append(b, 'b')
	case string:
		return append(b, 's')
	case json.Number:
		if _, err := ast.NumberChecked(string(x)); err != nil {
			*ok = false
		}
		return append(b, 'n')
	case []any:
		b = append(b, '[')
		for _, e := range x {
			b = shape(b, e, scratch, ok)
		}
		return append(b, ']')
	case map[string]any:
		members, mark := sorted(x, scratch)
		b = append(b, '{')
		for _, m := range members {
			b = shape(appendKey(b, m.k), m.v, scratch, ok)
		}
		*scratch = (*scratch)[:mark]
		return append(b, '}')
	}
	*ok = false
	return b
}

// member is one key of an object with its value.
type member struct {
	k string
	v any
}

// sorted is m's members by key, appended to the scratch space; the caller
// gives the space back (truncates it to mark) once it has written the
// level, so a nested level appends after them and never over them.
func sorted(m map[string]any, scratch *[]member) (members []member, mark int) {
	mark = len(*scratch)
	for k, v := range m {
		*scratch = append(*scratch, member{k, v})
	}
	members = (*scratch)[mark:]
	slices.SortFunc(members, func(a, b member) int { return strings.Compare(a.k, b.k) })
	return members, mark
}

// appendKey appends an object key, its length first: no key is a prefix
// of another's form.
func appendKey(b []byte, k string) []byte {
	return append(append(strconv.AppendInt(b, int64(len(k)), 10), ':'), k...)
}

// lookup is the value at p below v, walking objects only: a path through
// anything else has no value there (Rego's ref is undefined too).
func lookup(v any, p []string) (any, bool) {
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

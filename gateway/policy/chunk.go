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
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
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
// decision under its own decision ID; so are the pushes that agree on what
// a push decision reads, their ids compared by what the policy computes
// from them (pushKey). A pull with a release, a question without a time, a
// representative whose evaluation failed or whose deny set was not empty,
// and every question of a revision without a read set for its action, are
// decided one by one.
func (e *OPA) DecideChunk(ctx context.Context, in []Input) []Decision {
	c := e.active.Load()
	out := make([]Decision, len(in))
	if c.pull == nil && c.push == nil || len(in) < 2 {
		for i := range in {
			out[i] = e.decide(ctx, c, in[i])
		}
		return out
	}
	// A group is known by its index in order: a key is copied into a
	// string once per group, not once per question (assigning to a map
	// under string(b) copies b).
	groups := map[string]int{}
	var order [][]int
	regs := make([]map[string]any, len(in))
	var kb keyer
	for i := range in {
		b, r, ok := e.groupKey(ctx, c, &kb, in[i])
		if !ok {
			out[i] = e.decide(ctx, c, in[i])
			continue
		}
		regs[i] = r
		if g, seen := groups[string(b)]; seen {
			order[g] = append(order[g], i)
			continue
		}
		groups[string(b)] = len(order)
		order = append(order, []int{i})
	}
	for _, members := range order {
		d, shared := e.decideShared(ctx, c, in[members[0]], regs[members[0]])
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
		e.metrics.decisions.WithLabelValues(string(in[members[0]].Action), verdictLabel(d)).Add(float64(len(members) - 1))
	}
	return out
}

// groupKey is the key of a question that may share its decision, with a
// push's input.registers as built for the key (nil for none); false: the
// question is decided by itself.
func (e *OPA) groupKey(ctx context.Context, c *compiled, kb *keyer, in Input) ([]byte, map[string]any, bool) {
	switch {
	case in.Action == Pull && c.pull != nil:
		b, ok := kb.key(c.pull, in)
		return b, nil, ok
	case in.Action == Push && c.push != nil:
		return e.pushKey(ctx, c, kb, in)
	}
	return nil, nil, false
}

// pushKey is a push's group key: what keyer.keyPush writes, then the values
// its probes take on this question (probeText). A probe that fails leaves
// the question to be decided by itself. The input is not built here: only
// a group's first question is evaluated (decideShared), and a probe is
// mostly answered without it.
func (e *OPA) pushKey(ctx context.Context, c *compiled, kb *keyer, in Input) ([]byte, map[string]any, bool) {
	if !pushKeyable(in) {
		return nil, nil, false
	}
	var (
		br   *builtRegs
		regs map[string]any
	)
	if in.Registers != nil {
		if br = kb.regs.built(in.Registers, &kb.scratch); !br.ok {
			return nil, nil, false
		}
		regs = br.doc
	}
	// What lazyInputChecked checks of a push's input besides its
	// registers (the caller's and the time's parts are strings), but for
	// what the key checks on its way.
	if !c.push.walked("record", in.Record.Doc) || in.Previous != nil && !c.push.walked("previous", in.Previous.Doc) {
		return nil, nil, false
	}
	now := kb.now(in)
	probe := ""
	if c.probeQuery != nil {
		var ok bool
		input := func() (ast.Value, bool) { return lazyInputChecked(in, regs, now) }
		if probe, ok = e.probeText(ctx, c, kb, in, regs, now, input); !ok {
			return nil, nil, false
		}
	}
	b, ok := kb.keyPush(c.push, in, br, probe)
	return b, regs, ok
}

// probeQuery asks the value of each probe rule, as a set of none or one
// element, so that an undefined rule is an answer, not the end of the query.
func probeQuery(rules []string) string {
	parts := make([]string, len(rules))
	for i, r := range rules {
		parts[i] = "{x | x := " + r + "}"
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// probe evaluates the probe query of one question: its value in Rego's
// syntax, one text per value. Any failure is reported, not logged: the
// question is then decided by itself, where a failure is logged once.
func (e *OPA) probe(ctx context.Context, q rego.PreparedEvalQuery, input ast.Value, now time.Time) (text string, ok bool) {
	// A panic leaves ok false.
	e.guarded(ctx, func(ctx context.Context, cancel topdown.Cancel) {
		rs, err := q.Eval(ctx, rego.EvalParsedInput(input), rego.EvalExternalCancel(cancel), rego.EvalMetrics(metrics.NoOp()),
			rego.EvalGenerateJSON(keepAST), rego.EvalTime(now))
		if err != nil || len(rs) != 1 || len(rs[0].Expressions) != 1 {
			return
		}
		if v, isValue := rs[0].Expressions[0].Value.(ast.Value); isValue {
			text, ok = v.String(), true
		}
	})
	return text, ok
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

// decideShared decides a group's representative, regs being its
// input.registers as its key was built from them (a push's, nil for none).
// shared reports whether its decision may
// be given to the group: the policy decided (no error, timeout, undefined
// or malformed result) and, when the read set leaves out what deny's
// messages quote, its deny set was empty.
func (e *OPA) decideShared(ctx context.Context, c *compiled, in Input, regs map[string]any) (_ Decision, shared bool) {
	rs := c.pull
	if in.Action == Push {
		rs = c.push
	}
	var input ast.Value
	if regs != nil {
		// Checked convertible by pushKey, registers and all.
		now, _ := in.nowDoc()
		input, _ = lazyInputChecked(in, regs, now)
	}
	if input == nil {
		var err error
		if input, err = buildInput(in); err != nil {
			return e.decide(ctx, c, in), false
		}
	}
	if c.chunkQuery == nil || rs.denyRule == "" {
		d, failed := e.decideFailed(ctx, c, in, input)
		return d, !failed
	}
	start := time.Now()
	v, d, failed := e.run(ctx, *c.chunkQuery, input, in.Now, Decision{ID: newDecisionID(), Revision: c.revision})
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

// decideFailed is decide on input, reporting a deny the policy did not
// choose.
func (e *OPA) decideFailed(ctx context.Context, c *compiled, in Input, input ast.Value) (Decision, bool) {
	start := time.Now()
	d, failed := e.eval(ctx, c, input, in.Now)
	e.metrics.observe(e.log, in, d, failed, start)
	if sc := e.shadow.Load(); sc != nil {
		e.shadowDecide(sc, in, input, d)
	}
	return d, failed
}

// missing marks a path with no value. Each path's part of a key is a NUL,
// then missing or a form of canonical or shape, which tells where it ends
// and never begins with this byte: a key is read back one way.
const missing = "\x01"

// keyer builds group keys, its buffers kept from one question to the next,
// and the caller's form and the time's text from the last question (a
// chunk has one caller and one time). It lives as long as its chunk or
// batch.
type keyer struct {
	b       []byte
	scratch []member
	caller  identity.Member
	form    []byte // canonical form of caller's input.caller, or missing
	formOK  bool   // form was written without a value canonical cannot tell apart
	ok      bool   // the key being written tells its values apart
	nowT    time.Time
	nowS    string
	regs    regsDoc
	probeB  []byte // what the probes read besides the id (probeText)
}

// now is in.nowDoc(), "" for none, formatted once per distinct time.
func (kb *keyer) now(in Input) string {
	if in.Now.IsZero() {
		return ""
	}
	if kb.nowS == "" || !in.Now.Equal(kb.nowT) {
		kb.nowT = in.Now
		kb.nowS, _ = in.nowDoc()
	}
	return kb.nowS
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
	kb.ok = true
	if !rs.recordShape && !convertible(in.Record.Doc) {
		return nil, false
	}
	b := kb.keyPaths(rs, in, nil)
	kb.b = b
	return b, kb.ok
}

// pushKeyable reports a push whose question can be keyed: one with a time,
// without a release, of a decoded record.
func pushKeyable(in Input) bool {
	return in.Action == Push && in.Release == nil && !in.Now.IsZero() && in.Record != nil && in.Record.Doc != nil &&
		(in.Previous == nil || in.Previous.Doc != nil)
}

// keyPush is a push's group key: as a pull's, over the push's read set
// (br holds input.registers, built once for the key and the input, which
// pushKey has checked convertible, registers and all; nil for none), then
// the record id's type, its value when one of the read set's conds holds
// something (what the id is compared with or looked up under is then
// there), and probe, the values of the probes on this question. The id's
// value is keyed nowhere else: where a decision reads it, it reads it
// through a probe, below an empty cond, or to quote it in a message of
// deny, which a shared decision's representative did not build.
func (kb *keyer) keyPush(rs *readSet, in Input, br *builtRegs, probe string) ([]byte, bool) {
	if !pushKeyable(in) {
		return nil, false
	}
	kb.ok = true
	b := kb.keyPaths(rs, in, br)
	var regs map[string]any
	if br != nil {
		regs = br.doc
	}
	now := kb.now(in)
	id, found := lookupInput(in, regs, rs.id, now)
	b = append(b, 0)
	if !found {
		b = append(b, missing...)
	} else {
		b = shape(b, id, &kb.scratch, &kb.ok)
		for _, p := range rs.conds {
			if v, there := lookupInput(in, regs, p, now); there && !empty(v) {
				b = canonical(append(b, '='), id, &kb.scratch, &kb.ok)
				break
			}
		}
	}
	b = append(append(b, 0), probe...)
	kb.b = b
	return b, kb.ok
}

// empty reports a value below which no key finds anything.
func empty(v any) bool {
	switch x := v.(type) {
	case nil:
		return true
	case map[string]any:
		return len(x) == 0
	case []any:
		return len(x) == 0
	}
	return false
}

// keyPaths appends caller, action and time, then each path of the read set
// and each shape path, looked up in the question's input (br holds its
// registers, nil for none). A registers path's form is written once per
// document (builtRegs.form). Paths are looked up by lookupInput itself,
// not by a function kept for the caller: that would move the question to
// the heap for every key.
func (kb *keyer) keyPaths(rs *readSet, in Input, br *builtRegs) []byte {
	now := kb.now(in)
	var regs map[string]any
	if br != nil {
		regs = br.doc
	}
	if kb.form == nil || !sameMember(kb.caller, in.Caller) {
		kb.caller, kb.form = in.Caller, []byte(missing)
		if in.Caller.ID != "" {
			// The caller's form is kept for the next question: a failure
			// here must fail every key made with it.
			formOK := true
			kb.form = canonical(nil, callerDoc(in.Caller), &kb.scratch, &formOK)
			kb.formOK = formOK
		}
	}
	kb.ok = kb.ok && (in.Caller.ID == "" || kb.formOK)
	b := append(kb.b[:0], kb.form...)
	b = append(append(append(append(b, 0), in.Action...), 0), now...)
	ok := &kb.ok
	for i, p := range rs.paths {
		b = append(b, 0)
		if br != nil && len(p) > 0 && p[0] == "registers" {
			f := br.form(rs, i, &kb.scratch)
			b = append(b, f.b...)
			kb.ok = kb.ok && f.ok
		} else if len(p) == 1 && p[0] == "caller" {
			b = append(b, kb.form...)
		} else if len(p) == 1 && (p[0] == "action" || p[0] == "now") {
			// canonical's form of the string, without boxing it.
			v := now
			if p[0] == "action" {
				v = string(in.Action)
			}
			b = appendString(b, v)
		} else if v, found := lookupInput(in, regs, p, now); found {
			b = canonical(b, v, &kb.scratch, ok)
		} else {
			b = append(b, missing...)
		}
	}
	for i, p := range rs.presence {
		b = append(b, 0)
		if br != nil && len(p) > 0 && p[0] == "registers" {
			f := br.form(rs, len(rs.paths)+i, &kb.scratch)
			b = append(b, f.b...)
			kb.ok = kb.ok && f.ok
			continue
		}
		if len(p) == 1 && p[0] == "record" {
			// The stored decoder wrote the record's shape as it read it,
			// in shape's form (records.Record.Shape): the same bytes, no
			// walk over the document, no sort.
			if s, cached := in.Record.Shape(); cached {
				b = append(b, s...)
				continue
			}
		}
		if v, found := lookupInput(in, regs, p, now); found {
			b = shape(b, v, &kb.scratch, ok)
		} else {
			b = append(b, missing...)
		}
	}
	return b
}

func sameMember(a, b identity.Member) bool {
	return a.ID == b.ID && a.Nation == b.Nation && a.Kind == b.Kind && a.Clearance == b.Clearance && slices.Equal(a.Roles, b.Roles) &&
		maps.EqualFunc(a.Categories, b.Categories, slices.Equal)
}

// lookupInput is the value at p below the input document lazyInput builds
// for in, without building it.
func lookupInput(in Input, regs map[string]any, p []string, now string) (any, bool) {
	prev := any(nil)
	if in.Previous != nil && in.Previous.Doc != nil {
		prev = in.Previous.Doc
	}
	if len(p) == 0 {
		doc := map[string]any{"action": string(in.Action), "record": in.Record.Doc, "previous": prev, "now": now}
		if in.Caller.ID != "" {
			doc["caller"] = callerDoc(in.Caller)
		}
		if in.Registers != nil {
			doc["registers"] = regs
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
		root = prev
	case "registers":
		if in.Registers == nil {
			return nil, false
		}
		root = regs
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
// which only shares less). Every form tells where it ends (a string is
// its length and bytes, a number ends with ';', a list or object with its
// bracket), so forms written one after the other are read back one way.
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
		return appendString(b, x)
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
// records.Record.Shape is this form written while decoding: the two must
// not drift apart (TestStoredShape).
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
	if len(members) > 12 {
		slices.SortFunc(members, func(a, b member) int { return strings.Compare(a.k, b.k) })
		return members, mark
	}
	// Most objects of a record are small: an insertion sort without a
	// call per comparison.
	for i := 1; i < len(members); i++ {
		for j := i; j > 0 && members[j].k < members[j-1].k; j-- {
			members[j], members[j-1] = members[j-1], members[j]
		}
	}
	return members, mark
}

// appendString appends a string's canonical form: 's', its length, then
// its bytes as they are (quoting them cost more than the rest of a key).
func appendString(b []byte, s string) []byte {
	return append(append(strconv.AppendInt(append(b, 's'), int64(len(s)), 10), ':'), s...)
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

// Batch decides the questions of one push batch, one after the other, each
// as Decide would: a question is put only once the one before it is
// decided, because what the earlier ones were allowed to do is part of it
// (its registers: registers.Overlay). A question whose group key (pushKey)
// equals an earlier one's, whose decision could be shared, gets that
// decision under its own ID without an evaluation; any other is evaluated.
// The batch decides with the revision active when it was made. An engine
// other than the embedded one decides each question itself. A Batch is
// not safe for concurrent use.
type Batch struct {
	e    Engine
	o    *OPA
	c    *compiled
	kb   keyer
	seen map[string]Decision
}

// NewBatch starts a batch of questions for e.
func NewBatch(e Engine) *Batch {
	b := &Batch{e: e}
	if o, ok := e.(*OPA); ok {
		b.o, b.c = o, o.active.Load()
	}
	return b
}

// Decide answers one question of the batch.
func (b *Batch) Decide(ctx context.Context, in Input) Decision {
	if b.o == nil {
		return b.e.Decide(ctx, in)
	}
	key, regs, ok := b.o.groupKey(ctx, b.c, &b.kb, in)
	if !ok {
		return b.o.decide(ctx, b.c, in)
	}
	if d, seen := b.seen[string(key)]; seen {
		b.o.metrics.shared.Inc()
		b.o.metrics.decisions.WithLabelValues(string(in.Action), verdictLabel(d)).Inc()
		return sharedCopy(d)
	}
	d, shared := b.o.decideShared(ctx, b.c, in, regs)
	if shared {
		if b.seen == nil {
			b.seen = map[string]Decision{}
		}
		// Kept as a copy: the decision returned is its caller's.
		b.seen[string(key)] = sharedCopy(d)
	}
	return d
}

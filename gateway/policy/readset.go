package policy

import (
	"fmt"
	"sort"
	"strings"

	"github.com/open-policy-agent/opa/v1/ast"
)

// readSet is what a pull decision of one policy revision can read of its
// input, found by reading the policy's rules before any record is decided
// (gateway/ARCHITECTURE.md, "Policy contract"). Two pull questions that put
// the same caller, time and values at every one of these paths get the same
// decision: the evaluation of one is the evaluation of the other.
type readSet struct {
	// paths are input paths whose values a pull decision may read, each a
	// list of object keys below input; a path read through a variable key
	// stops before it, so its whole subtree counts.
	paths [][]string
	// presence are input paths of which a decision reads only, at a path
	// computed by the policy, whether a non-null value is there
	// (object.get(x, path, null) != null): what counts of them is their
	// shape, every key and the type of every value, not the values.
	presence [][]string
	// quoted are paths read only to be quoted in the message of a reason
	// in data.ura.deny, through a lookup that always succeeds. They are
	// left out of the key, so a decision is shared only when its
	// representative's deny set is empty (denyEmpty): then no message was
	// built, and the other questions, whose every other read is the same,
	// build none either.
	quoted [][]string
	// recordShape is true when presence holds input.record or input: the
	// whole record's shape is keyed.
	recordShape bool
	// denyRule is the path of the rule whose messages were skipped, empty
	// when none was: then the representative's deny set is not consulted.
	denyRule string

	// Of a push only (analysePush): the record's id, which differs from
	// record to record of a batch, is keyed by what the policy computes
	// from it rather than by its value, wherever the analysis can tell
	// that this is all a decision depends on.
	//
	// id is the masked path, input.record.id; nil on a pull.
	id []string
	// probes are rules without arguments whose bodies read the id: their
	// values, asked of each question (probeQuery), are keyed instead.
	probes []string
	// keyedWhole lists what a push's key walks whole, checking on its way
	// that OPA can hold every value (canonical, shape): "" for the whole
	// input, "record" and "previous" for those documents; keyedMembers the
	// members of those documents it walks whole (readSet.walked).
	keyedWhole   map[string]bool
	keyedMembers map[string]map[string]bool
	// conds are input.registers paths below which the id is only a key
	// (input.registers.x[concat("|", [input.record.id, s])]) or only
	// compared with the keys iterated (some k, v in input.registers.x[…];
	// k != input.record.id): with nothing at such a path the id is never
	// looked at, and when something is there the id's value is keyed.
	conds [][]string
}

// denyPath is the set of reasons the decision is built from.
const denyPath = "data.ura.deny"

// nondeterministic names builtins whose answer does not depend on their
// arguments only: with any of them in a pull's rules, two equal questions
// may be answered differently, so nothing is shared.
func nondeterministic(name string) bool {
	if b, ok := ast.BuiltinMap[name]; ok && b.Nondeterministic {
		return true
	}
	switch {
	case strings.HasPrefix(name, "rand."), strings.HasPrefix(name, "uuid."), strings.HasPrefix(name, "http."),
		strings.HasPrefix(name, "net."), strings.HasPrefix(name, "opa."), strings.HasPrefix(name, "io.jwt.encode"),
		name == "time.now_ns", name == "trace", name == "print":
		return true
	}
	return false
}

// analysis walks the rules a decision of one action can reach from
// data.ura.decision.
type analysis struct {
	action Action
	// masked is the path keyed by what the policy computes from it
	// (readSet.id), nil for none.
	masked []string
	// probeRule is the rule without arguments whose definition is being
	// walked, "" in any other rule; cond the registers path the term being
	// walked is a key below, or whose iteration the expression follows.
	probeRule string
	cond      []string
	probes    map[string]bool
	conds     map[string][]string
	// feeding are set rules whose elements become elements of deny and
	// nothing else (refusalSets): their messages are quoted as deny's.
	feeding map[string]bool

	rules    map[string][]*ast.Rule // by path, e.g. data.ura.deny
	pkgs     map[string]bool        // package paths
	seen     map[string]bool
	paths    map[string][]string
	presence map[string][]string
	quoted   map[string][]string
	denySkip bool
	undef    map[string]int // 1 computing, 2 undefined under the facts, 3 not known undefined
	fail     string         // why nothing can be shared, once found
}

// analysePull computes the read set of a pull. why is non-empty when no
// read set can be given (the decision is then made one record at a time):
// a non-deterministic builtin or an input replaced by `with` in a pull's
// rules, an import of input, anything the analysis does not know.
func analysePull(mods map[string]*ast.Module) (rs *readSet, why string) {
	return analyse(mods, Pull)
}

// analysePush computes the read set of a push: as a pull's, under the facts
// of a push (input.registers and input.previous may be there, input.release
// never is, time.now_ns() is input.now: run), with the record's id masked
// (readSet.id).
func analysePush(mods map[string]*ast.Module) (rs *readSet, why string) {
	return analyse(mods, Push)
}

func analyse(mods map[string]*ast.Module, action Action) (rs *readSet, why string) {
	a, why := newAnalysis(mods, action)
	if a == nil {
		return nil, why
	}
	if action == Push {
		a.masked = []string{"record", "id"}
	}
	if len(a.rules[Query]) == 0 {
		return nil, "no " + Query
	}
	a.feeding = refusalSets(a.rules)
	a.follow(Query)
	if a.fail != "" {
		return nil, a.fail
	}
	rs = &readSet{paths: minimal(a.paths), presence: minimal(a.presence), quoted: minimal(a.quoted)}
	if a.masked != nil {
		rs.id = a.masked
		for p := range a.probes {
			rs.probes = append(rs.probes, p)
		}
		sort.Strings(rs.probes)
		rs.conds = minimal(a.conds)
	}
	if a.denySkip {
		rs.denyRule = denyPath
	}
	rs.keyedWhole, rs.keyedMembers = map[string]bool{}, map[string]map[string]bool{}
	whole := func(p []string) {
		switch len(p) {
		case 0, 1:
			rs.keyedWhole[strings.Join(p, ".")] = true
		case 2:
			if rs.keyedMembers[p[0]] == nil {
				rs.keyedMembers[p[0]] = map[string]bool{}
			}
			rs.keyedMembers[p[0]][p[1]] = true
		}
	}
	for _, p := range rs.paths {
		whole(p)
	}
	for _, p := range rs.presence {
		// A record's shape may be the decoder's (Record.Shape): not
		// walked.
		if len(p) > 1 {
			whole(p)
		}
	}
	for _, p := range rs.presence {
		rs.recordShape = rs.recordShape || len(p) == 0 || len(p) == 1 && p[0] == "record"
	}
	return rs, ""
}

// newAnalysis is an analysis of mods for action, nothing walked yet; nil
// with why when the modules name what the walk cannot see.
func newAnalysis(mods map[string]*ast.Module, action Action) (_ *analysis, why string) {
	a := &analysis{rules: map[string][]*ast.Rule{}, pkgs: map[string]bool{}, seen: map[string]bool{},
		paths: map[string][]string{}, presence: map[string][]string{}, quoted: map[string][]string{}, undef: map[string]int{},
		action: action, probes: map[string]bool{}, conds: map[string][]string{}}
	for _, m := range mods {
		a.pkgs[m.Package.Path.String()] = true
		for _, imp := range m.Imports {
			p, ok := imp.Path.Value.(ast.Ref)
			if ok && len(p) > 0 && p[0].Value.Compare(ast.InputRootDocument.Value) == 0 {
				return nil, "an import of input"
			}
			// An alias of data would name rules the walk cannot see.
			if ok && len(p) > 0 && p[0].Value.Compare(ast.DefaultRootDocument.Value) == 0 {
				return nil, "an import of data"
			}
		}
		for _, r := range m.Rules {
			p := rulePath(r)
			a.rules[p] = append(a.rules[p], r)
		}
	}
	return a, ""
}

// analyseProbes tells whether the probes of a push (readSet.probes) can be
// asked once per distinct value of what they read besides the record id
// (probe.go): each probe is a rule true or undefined, never anything else
// (every definition `p if body`, no default, no else, nothing defined
// below it), and what the probes read, walked as a push's rules are but
// with the id unmasked, is a set of input paths none of which holds the id
// but the id's own. reads are those paths, the id's left out; why says why
// not when they cannot be told.
func analyseProbes(mods map[string]*ast.Module, probes []string) (reads [][]string, why string) {
	a, why := newAnalysis(mods, Push)
	if a == nil {
		return nil, why
	}
	for _, p := range probes {
		if !booleanRule(a.rules, p) {
			return nil, p + " may have a value other than true"
		}
		a.follow(p)
	}
	if a.fail != "" {
		return nil, a.fail
	}
	id := []string{"record", "id"}
	all := map[string][]string{}
	for _, m := range []map[string][]string{a.paths, a.presence, a.quoted} {
		for k, p := range m {
			all[k] = p
		}
	}
	for _, p := range minimal(all) {
		switch {
		case slicesEqual(p, id):
		case isPrefix(p, id):
			return nil, "a probe reads " + pathKey(p) + ", which holds the id"
		default:
			reads = append(reads, p)
		}
	}
	return reads, ""
}

// booleanRule reports a rule whose every definition is `path if body`
// (value true), without default or else, with nothing defined below it:
// its value is true or undefined.
func booleanRule(rules map[string][]*ast.Rule, path string) bool {
	defs := rules[path]
	if len(defs) == 0 {
		return false
	}
	for p := range rules {
		if strings.HasPrefix(p, path+".") || strings.HasPrefix(p, path+"[") {
			return false
		}
	}
	for _, r := range defs {
		h := r.Head
		if r.Default || r.Else != nil || len(h.Args) > 0 || h.Key != nil || h.RuleKind() != ast.SingleValue ||
			!h.Ref().IsGround() || h.Value == nil || !h.Value.Equal(ast.BooleanTerm(true)) {
			return false
		}
	}
	return true
}

// rulePath is where a rule's value lives: its package and the ground
// prefix of its head ("deny" for "deny contains …", "p.q" for "p.q[k] := …").
func rulePath(r *ast.Rule) string {
	return r.Ref().GroundPrefix().String()
}

// minimal sorts paths and drops every path below another one.
func minimal(m map[string][]string) [][]string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var out [][]string
	for _, k := range keys {
		p := m[k]
		covered := false
		for _, q := range out {
			if isPrefix(q, p) {
				covered = true
				break
			}
		}
		if !covered {
			out = append(out, p)
		}
	}
	return out
}

func isPrefix(q, p []string) bool {
	if len(q) > len(p) {
		return false
	}
	for i := range q {
		if q[i] != p[i] {
			return false
		}
	}
	return true
}

func pathKey(p []string) string { return "input." + strings.Join(p, ".") }

// read records a read of p. The masked path is read conditionally below a
// registers path, or through the rule being walked when it has no
// arguments (its value is probed); anywhere else its value is read.
func (a *analysis) read(p []string) {
	if a.masked != nil && slicesEqual(p, a.masked) {
		switch {
		case a.cond != nil:
			a.conds[pathKey(a.cond)] = a.cond
			return
		case a.probeRule != "":
			a.probes[a.probeRule] = true
			return
		}
	}
	a.paths[pathKey(p)] = p
}

func slicesEqual(p, q []string) bool { return len(p) == len(q) && isPrefix(p, q) }

// follow analyses every definition of the rules at path (and below it),
// each in a context of its own: what encloses the reference to it does not
// enclose its body.
func (a *analysis) follow(path string) {
	if a.seen[path] {
		return
	}
	a.seen[path] = true
	probe, cond := a.probeRule, a.cond
	for _, r := range a.rules[path] {
		a.probeRule, a.cond = "", nil
		if a.masked != nil && len(r.Head.Args) == 0 && path != denyPath && path != Query && !a.feeding[path] &&
			r.Head.Ref().IsGround() {
			a.probeRule = path
		}
		a.rule(r)
	}
	a.probeRule, a.cond = probe, cond
}

// rule analyses one definition and its else chain: a body false under the
// facts is skipped with its head, and a body true under them ends the chain.
func (a *analysis) rule(r *ast.Rule) {
	isDeny := rulePath(r) == denyPath || a.feeding[rulePath(r)]
	for ; r != nil; r = r.Else {
		f := a.bodyFacts(r.Body)
		if f == factFalse {
			continue
		}
		a.head(r)
		a.body(r.Body, isDeny, r.Head)
		// An else is tried when the body or the head's value is undefined:
		// only a body true under the facts with a value that cannot be
		// undefined ends the chain.
		if f == factTrue && (r.Head.Value == nil || alwaysDefined(r.Head.Value)) {
			return
		}
	}
}

func (a *analysis) head(r *ast.Rule) {
	for _, t := range r.Head.Ref()[1:] {
		a.term(t)
	}
	if r.Head.Key != nil {
		a.term(r.Head.Key)
	}
	if r.Head.Value != nil {
		a.term(r.Head.Value)
	}
}

func (a *analysis) body(b ast.Body, isDeny bool, head *ast.Head) {
	it := a.iterations()
	defer it.done()
	for _, e := range b {
		it.enter(e)
		if len(e.With) > 0 {
			for _, w := range e.With {
				if w.Target.String() == "input" || strings.HasPrefix(w.Target.String(), "input.") {
					a.fail = "input replaced by with"
				}
				a.term(w.Value)
			}
		}
		if isDeny && a.message(e, b, head) {
			continue
		}
		if a.presenceTest(e) {
			continue
		}
		a.expr(e)
	}
}

func (a *analysis) expr(e *ast.Expr) {
	switch t := e.Terms.(type) {
	case *ast.Term:
		a.term(t)
	case []*ast.Term:
		a.call(t)
	case *ast.SomeDecl:
		for _, s := range t.Symbols {
			a.term(s)
		}
	case *ast.Every:
		a.term(t.Key)
		a.term(t.Value)
		a.term(t.Domain)
		for _, x := range t.Body {
			a.expr(x)
		}
	default:
		// Anything else (a logical and/or, a new form) is walked term by
		// term, every input ref in it read whole from its constant prefix.
		ast.WalkTerms(e, func(x *ast.Term) bool {
			if x == nil {
				return true
			}
			a.term(x)
			return true
		})
	}
}

// call analyses a call: a builtin (refused if non-deterministic), a
// function of the policy (followed, or read as the lookup it is), and its
// arguments.
func (a *analysis) call(ts []*ast.Term) {
	op, ok := ts[0].Value.(ast.Ref)
	if !ok {
		a.term(ts[0])
	} else if p, ok := a.inlined(ts); ok {
		a.read(p)
		return
	} else if fn := a.ruleOf(op); fn != "" {
		a.follow(fn)
	} else if name := op.String(); a.action == Push && name == "time.now_ns" {
		// A push is evaluated with input.now as OPA's clock (run).
		a.read([]string{"now"})
	} else if nondeterministic(name) {
		a.fail = "non-deterministic builtin " + name
	}
	for _, t := range ts[1:] {
		a.term(t)
	}
}

// term records every input ref in t and follows every rule it names.
func (a *analysis) term(t *ast.Term) {
	if t == nil {
		return
	}
	switch v := t.Value.(type) {
	case ast.Var:
		if v.Equal(ast.InputRootDocument.Value) {
			a.read(nil)
			return
		}
		if v.Equal(ast.DefaultRootDocument.Value) {
			a.followData(ast.Ref{t})
			return
		}
		if fn := a.ruleOf(ast.Ref{t}); fn != "" {
			a.follow(fn)
		}
	case ast.Ref:
		if v[0].Value.Compare(ast.InputRootDocument.Value) == 0 {
			p := constPrefix(v)
			a.read(p)
			if k := len(p) + 1; a.masked != nil && len(p) > 0 && p[0] == "registers" && k < len(v) && registerKey(v[k]) {
				// The masked path in the key below a registers path is
				// looked at only when something is there.
				cond := a.cond
				a.cond = p
				a.term(v[k])
				a.cond = cond
				for _, x := range v[k+1:] {
					a.term(x)
				}
				return
			}
		} else if v[0].Value.Compare(ast.DefaultRootDocument.Value) == 0 {
			a.followData(v)
		} else if fn := a.ruleOf(v[:1]); fn != "" {
			a.follow(fn)
		} else {
			a.term(v[0])
		}
		for _, x := range v[1:] {
			a.term(x)
		}
	case ast.Call:
		a.call(v)
	case *ast.Array:
		v.Foreach(a.term)
	case ast.Set:
		v.Foreach(a.term)
	case ast.Object:
		v.Foreach(func(k, x *ast.Term) { a.term(k); a.term(x) })
	case *ast.ArrayComprehension:
		a.term(v.Term)
		a.comprehension(v.Body)
	case *ast.SetComprehension:
		a.term(v.Term)
		a.comprehension(v.Body)
	case *ast.ObjectComprehension:
		a.term(v.Key)
		a.term(v.Value)
		a.comprehension(v.Body)
	case ast.Null, ast.Boolean, ast.Number, ast.String:
	default:
		a.fail = fmt.Sprintf("a term of type %T", t.Value)
	}
}

func (a *analysis) comprehension(b ast.Body) {
	it := a.iterations()
	defer it.done()
	for _, e := range b {
		it.enter(e)
		if len(e.With) > 0 {
			a.fail = "with inside a comprehension"
		}
		a.expr(e)
	}
}

// constPrefix is a ref's longest prefix of constant string keys below
// input: a variable, a number or any other term ends it.
func constPrefix(r ast.Ref) []string {
	var p []string
	for _, t := range r[1:] {
		s, ok := t.Value.(ast.String)
		if !ok {
			break
		}
		p = append(p, string(s))
	}
	return p
}

// ruleOf is the rule path a ref rooted at a bare name refers to, if a rule
// of a package of the policy has that name: a local variable of the same
// name is followed too, which only adds reads.
func (a *analysis) ruleOf(r ast.Ref) string {
	if len(r) == 0 {
		return ""
	}
	if r[0].Value.Compare(ast.DefaultRootDocument.Value) == 0 {
		a.followData(r)
		return ""
	}
	v, ok := r[0].Value.(ast.Var)
	if !ok {
		return ""
	}
	found := ""
	for pkg := range a.pkgs {
		p := pkg + "." + string(v)
		if _, ok := a.rules[p]; ok {
			if found != "" {
				a.follow(p)
				continue
			}
			found = p
		}
	}
	return found
}

// followData follows every rule a data ref can reach: those at or below
// its constant prefix, and those above it.
func (a *analysis) followData(r ast.Ref) {
	prefix := r.ConstantPrefix().String()
	for p := range a.rules {
		if p == prefix || strings.HasPrefix(p, prefix+".") || strings.HasPrefix(p, prefix+"[") || strings.HasPrefix(prefix, p+".") || strings.HasPrefix(prefix, p+"[") {
			a.follow(p)
		}
	}
}

// Facts.

type fact int

const (
	factUnknown fact = iota
	factTrue
	factFalse
)

// bodyFacts is what the facts of a chunk say of a body: false when one of
// its expressions is false (the body never succeeds), true when each is
// true, unknown otherwise.
func (a *analysis) bodyFacts(b ast.Body) fact {
	all := true
	for _, e := range b {
		switch a.exprFact(e) {
		case factFalse:
			return factFalse
		case factUnknown:
			all = false
		}
	}
	if all {
		return factTrue
	}
	return factUnknown
}

func (a *analysis) exprFact(e *ast.Expr) fact {
	if len(e.With) > 0 {
		return factUnknown
	}
	f := a.positiveFact(e)
	if e.Negated {
		switch f {
		case factTrue:
			return factFalse
		case factFalse:
			return factTrue
		}
	}
	return f
}

func (a *analysis) positiveFact(e *ast.Expr) fact {
	// A ref into input.release, input.registers or below input.previous
	// (null), outside any comprehension, is undefined on a pull, and so is
	// the expression that holds it; on a push only input.release is.
	if absentRef(e, a.action) {
		return factFalse
	}
	switch t := e.Terms.(type) {
	case *ast.Term:
		if t.Value.Compare(ast.Boolean(true)) == 0 {
			return factTrue
		}
		if r, ok := t.Value.(ast.Ref); ok && a.neverDefined(r) {
			return factFalse
		}
		if _, ok := t.Value.(ast.Var); ok && a.neverDefined(ast.Ref{t}) {
			return factFalse
		}
	case []*ast.Term:
		op := t[0].String()
		switch {
		case (op == "equal" || op == "neq") && len(t) == 3:
			s, isAction := actionCompare(t[1], t[2])
			if !isAction {
				break
			}
			if (s == string(a.action)) == (op == "equal") {
				return factTrue
			}
			return factFalse
		case op == "is_string" && len(t) == 2 && t[1].String() == "input.now":
			return factTrue
		}
	}
	return factUnknown
}

// actionCompare reports a comparison of input.action with a string.
func actionCompare(x, y *ast.Term) (string, bool) {
	if x.String() != "input.action" {
		x, y = y, x
	}
	s, ok := y.Value.(ast.String)
	return string(s), ok && x.String() == "input.action"
}

// absentRef reports a ref, among e's terms outside comprehensions and
// every bodies, through input.release, input.registers or a member of
// input.previous.
func absentRef(e *ast.Expr, action Action) bool {
	var ts []*ast.Term
	switch t := e.Terms.(type) {
	case *ast.Term:
		ts = []*ast.Term{t}
	case []*ast.Term:
		ts = t[1:]
	default:
		return false
	}
	found := false
	var visit func(t *ast.Term)
	visit = func(t *ast.Term) {
		if found || t == nil {
			return
		}
		switch v := t.Value.(type) {
		case ast.Ref:
			if v[0].Value.Compare(ast.InputRootDocument.Value) == 0 {
				p := constPrefix(v)
				if len(p) > 0 && p[0] == "release" ||
					action == Pull && (len(p) > 0 && p[0] == "registers" || len(v) > 2 && len(p) > 0 && p[0] == "previous") {
					found = true
					return
				}
			}
			for _, x := range v[1:] {
				visit(x)
			}
		case ast.Call:
			for _, x := range v[1:] {
				visit(x)
			}
		case *ast.Array:
			v.Foreach(visit)
		case ast.Object:
			v.Foreach(func(k, x *ast.Term) { visit(k); visit(x) })
		case ast.Set:
			v.Foreach(visit)
		}
	}
	for _, t := range ts {
		visit(t)
	}
	return found
}

// alwaysDefined reports a value built of constants, input.now (a string
// under the facts) and calls of builtins on them, which are defined or
// fail with an error (strict builtin errors), never undefined.
func alwaysDefined(t *ast.Term) bool {
	ok := true
	ast.WalkTerms(t, func(x *ast.Term) bool {
		switch v := x.Value.(type) {
		case ast.Call:
			op := v[0].String()
			if b, builtin := ast.BuiltinMap[op]; !builtin || b.Relation {
				ok = false
			}
			for _, y := range v[1:] {
				ok = ok && alwaysDefined(y)
			}
			return true
		case ast.Ref:
			ok = ok && x.String() == "input.now"
			return true
		case ast.Var:
			ok = false
		}
		return !ok
	})
	return ok
}

// neverDefined reports a single-value rule without a default none of whose
// definitions can succeed under the facts.
func (a *analysis) neverDefined(r ast.Ref) bool {
	if len(r) != 1 {
		return false
	}
	p := ""
	if v, ok := r[0].Value.(ast.Var); ok {
		for pkg := range a.pkgs {
			if _, ok := a.rules[pkg+"."+string(v)]; ok {
				if p != "" {
					return false
				}
				p = pkg + "." + string(v)
			}
		}
	}
	if p == "" {
		return false
	}
	switch a.undef[p] {
	case 1, 3:
		return false
	case 2:
		return true
	}
	a.undef[p] = 1
	never := true
	for _, d := range a.rules[p] {
		// A set or object rule is an empty collection, defined, when no
		// body succeeds: only a single value can be undefined.
		if d.Default || len(d.Head.Args) > 0 || d.Head.RuleKind() != ast.SingleValue || len(d.Head.Ref()) != 1 {
			never = false
			break
		}
		for x := d; x != nil; x = x.Else {
			if a.bodyFacts(x.Body) != factFalse {
				never = false
			}
		}
	}
	a.undef[p] = 3
	if never {
		a.undef[p] = 2
	}
	return never
}

// Patterns read precisely.

// quoteFn is a function of the policy that only looks a path up below input
// or input.record, with a default: object.get(base, path, default).
type quoteFn struct {
	base   []string
	params []string
	path   *ast.Term
	def    *ast.Term
}

func (a *analysis) quoteFunction(op ast.Ref) (*quoteFn, bool) {
	p := a.ruleOf(op)
	if p == "" {
		return nil, false
	}
	defs := a.rules[p]
	if len(defs) != 1 || defs[0].Else != nil || len(defs[0].Body) != 1 || !defs[0].Body[0].Equal(ast.NewExpr(ast.BooleanTerm(true))) {
		return nil, false
	}
	h := defs[0].Head
	call, ok := h.Value.Value.(ast.Call)
	if !ok || len(call) != 4 || call[0].String() != "object.get" {
		return nil, false
	}
	base, ok := objectBase(call[1])
	if !ok || !call[3].IsGround() {
		return nil, false
	}
	f := &quoteFn{base: base, path: call[2], def: call[3]}
	for _, t := range h.Args {
		v, ok := t.Value.(ast.Var)
		if !ok {
			return nil, false
		}
		f.params = append(f.params, string(v))
	}
	return f, true
}

// objectBase is input or input.record: the two refs every question the
// engine builds holds an object at.
func objectBase(t *ast.Term) ([]string, bool) {
	switch t.String() {
	case "input":
		return []string{}, true
	case "input.record":
		return []string{"record"}, true
	}
	return nil, false
}

// inlined reads a call that is an object.get below input or input.record
// with a constant path and default, directly or through a quote function
// called with constant arguments, as the one path it looks up.
func (a *analysis) inlined(ts []*ast.Term) ([]string, bool) {
	if len(ts) < 1 {
		return nil, false
	}
	op, ok := ts[0].Value.(ast.Ref)
	if !ok {
		return nil, false
	}
	var base []string
	var path *ast.Term
	if op.String() == "object.get" {
		if len(ts) != 4 || !ts[2].IsGround() || !ts[3].IsGround() {
			return nil, false
		}
		if base, ok = objectBase(ts[1]); !ok {
			return nil, false
		}
		path = ts[2]
	} else {
		f, ok := a.quoteFunction(op)
		if !ok || len(ts)-1 != len(f.params) {
			return nil, false
		}
		sub := map[string]*ast.Term{}
		for i, p := range f.params {
			if !ts[i+1].IsGround() {
				return nil, false
			}
			sub[p] = ts[i+1]
		}
		if path, ok = substitutePath(f.path, sub); !ok {
			return nil, false
		}
		base = f.base
	}
	keys, ok := stringKeys(path)
	if !ok {
		return nil, false
	}
	return append(append([]string{}, base...), keys...), true
}

// substitutePath is a quote function's path with its parameters replaced:
// a parameter, an array of constants and parameters, or array.concat of two
// of those.
func substitutePath(t *ast.Term, sub map[string]*ast.Term) (*ast.Term, bool) {
	switch v := t.Value.(type) {
	case ast.Var:
		x, ok := sub[string(v)]
		return x, ok
	case *ast.Array:
		out := make([]*ast.Term, 0, v.Len())
		ok := true
		v.Foreach(func(e *ast.Term) {
			x, good := substitutePath(e, sub)
			ok = ok && good
			out = append(out, x)
		})
		return ast.ArrayTerm(out...), ok
	case ast.Call:
		if len(v) != 3 || v[0].String() != "array.concat" {
			return nil, false
		}
		l, ok1 := substitutePath(v[1], sub)
		r, ok2 := substitutePath(v[2], sub)
		la, ok3 := l.Value.(*ast.Array)
		ra, ok4 := r.Value.(*ast.Array)
		if !ok1 || !ok2 || !ok3 || !ok4 {
			return nil, false
		}
		out := make([]*ast.Term, 0, la.Len()+ra.Len())
		la.Foreach(func(e *ast.Term) { out = append(out, e) })
		ra.Foreach(func(e *ast.Term) { out = append(out, e) })
		return ast.ArrayTerm(out...), true
	}
	if t.IsGround() {
		return t, true
	}
	return nil, false
}

// stringKeys is a constant path of object.get as keys: a string, or an
// array of strings.
func stringKeys(t *ast.Term) ([]string, bool) {
	switch v := t.Value.(type) {
	case ast.String:
		return []string{string(v)}, true
	case *ast.Array:
		keys := make([]string, 0, v.Len())
		ok := true
		v.Foreach(func(e *ast.Term) {
			s, good := e.Value.(ast.String)
			ok = ok && good
			keys = append(keys, string(s))
		})
		return keys, ok
	}
	return nil, false
}

// message handles, in a rule of data.ura.deny, `msg := sprintf(format,
// [args])` whose msg the body uses nowhere else: every argument that is a
// constant lookup (inlined) always succeeds and only makes the message's
// text, so its path is quoted rather than read. Other arguments are read.
func (a *analysis) message(e *ast.Expr, b ast.Body, head *ast.Head) bool {
	if e.Negated || !e.IsAssignment() && !e.IsEquality() {
		return false
	}
	ts := e.Terms.([]*ast.Term)
	lhs, rhs := ts[1], ts[2]
	v, ok := lhs.Value.(ast.Var)
	if !ok {
		return false
	}
	call, ok := rhs.Value.(ast.Call)
	if !ok || len(call) != 3 || call[0].String() != "sprintf" || !call[1].IsGround() {
		return false
	}
	args, ok := call[2].Value.(*ast.Array)
	if !ok {
		return false
	}
	for _, x := range b {
		if x == e {
			continue
		}
		used := false
		ast.WalkVars(x, func(w ast.Var) bool { used = used || w.Equal(v); return used })
		if used {
			return false
		}
	}
	args.Foreach(func(t *ast.Term) {
		if c, ok := t.Value.(ast.Call); ok {
			if p, ok := a.inlined(c); ok {
				a.quoted[pathKey(p)] = p
				a.denySkip = true
				return
			}
		}
		a.term(t)
	})
	return true
}

// presenceTest handles object.get(base, path, null) != null (or ==) with
// base a constant ref below input: it tells only whether a non-null value
// is at path, so base's shape is read, and path's own reads.
func (a *analysis) presenceTest(e *ast.Expr) bool {
	ts, ok := e.Terms.([]*ast.Term)
	if !ok || len(ts) != 3 || len(e.With) > 0 {
		return false
	}
	if op := ts[0].String(); op != "neq" && op != "equal" {
		return false
	}
	get, other := ts[1], ts[2]
	if _, isCall := get.Value.(ast.Call); !isCall {
		get, other = other, get
	}
	call, ok := get.Value.(ast.Call)
	if !ok || len(call) != 4 || call[0].String() != "object.get" || !other.Equal(ast.NullTerm()) || !call[3].Equal(ast.NullTerm()) {
		return false
	}
	r, ok := call[1].Value.(ast.Ref)
	if ok && r[0].Value.Compare(ast.InputRootDocument.Value) == 0 && len(constPrefix(r)) == len(r)-1 {
		p := constPrefix(r)
		a.presence[pathKey(p)] = p
	} else if call[1].String() == "input" {
		a.presence["input."] = []string{}
	} else {
		return false
	}
	a.term(call[2])
	return true
}

// String lists the read set, one path a line, for logs and tests.
func (rs *readSet) String() string {
	var b strings.Builder
	for _, p := range rs.paths {
		fmt.Fprintf(&b, "read     %s\n", pathKey(p))
	}
	for _, p := range rs.presence {
		fmt.Fprintf(&b, "shape    %s\n", pathKey(p))
	}
	for _, p := range rs.quoted {
		fmt.Fprintf(&b, "quoted   %s\n", pathKey(p))
	}
	for _, p := range rs.probes {
		fmt.Fprintf(&b, "probe    %s\n", p)
	}
	for _, p := range rs.conds {
		fmt.Fprintf(&b, "id if    %s\n", pathKey(p))
	}
	if rs.denyRule != "" {
		fmt.Fprintf(&b, "shared only when %s is empty\n", rs.denyRule)
	}
	return b.String()
}

// Masking (readSet.id).

// registerKey reports a key term below a registers path whose evaluation
// can fail only by the types of its parts, never by their values: a ref, or
// concat of a separator and an array literal.
func registerKey(t *ast.Term) bool {
	switch v := t.Value.(type) {
	case ast.Ref:
		return true
	case ast.Call:
		if len(v) != 3 || v[0].String() != "concat" {
			return false
		}
		_, isArray := v[2].Value.(*ast.Array)
		return isArray
	}
	return false
}

// iterations tracks, along one body, the variables bound by an iteration
// over a registers path (some k, v in input.registers.x[…]): an expression
// that uses one of them runs only when something is at that path, so the
// masked path read in it is read conditionally.
type iterations struct {
	a     *analysis
	saved []string
	bound map[ast.Var][]string
}

func (a *analysis) iterations() *iterations {
	return &iterations{a: a, saved: a.cond}
}

// enter sets the context of e, the body's next expression.
func (it *iterations) enter(e *ast.Expr) {
	it.a.cond = it.saved
	if it.a.masked == nil {
		return
	}
	if vars, p, ok := registerIteration(e); ok {
		if it.bound == nil {
			it.bound = map[ast.Var][]string{}
		}
		for _, v := range vars {
			it.bound[v] = p
		}
		return
	}
	if len(it.bound) == 0 {
		return
	}
	ast.WalkVars(e, func(v ast.Var) bool {
		if p, ok := it.bound[v]; ok {
			it.a.cond = p
			return true
		}
		return false
	})
}

func (it *iterations) done() { it.a.cond = it.saved }

// registerIteration reports `some v in D` or `some k, v in D` with D a ref
// below input.registers: the variables it binds and D's constant path.
func registerIteration(e *ast.Expr) ([]ast.Var, []string, bool) {
	d, ok := e.Terms.(*ast.SomeDecl)
	if !ok || len(d.Symbols) != 1 || e.Negated || len(e.With) > 0 {
		return nil, nil, false
	}
	call, ok := d.Symbols[0].Value.(ast.Call)
	if !ok || len(call) < 3 || len(call) > 4 {
		return nil, nil, false
	}
	if op := call[0].String(); op != "internal.member_2" && op != "internal.member_3" {
		return nil, nil, false
	}
	dom, ok := call[len(call)-1].Value.(ast.Ref)
	if !ok || dom[0].Value.Compare(ast.InputRootDocument.Value) != 0 {
		return nil, nil, false
	}
	p := constPrefix(dom)
	if len(p) < 2 || p[0] != "registers" {
		return nil, nil, false
	}
	var vars []ast.Var
	for _, t := range call[1 : len(call)-1] {
		v, ok := t.Value.(ast.Var)
		if !ok || v.IsWildcard() {
			continue
		}
		vars = append(vars, v)
	}
	return vars, p, len(vars) > 0
}

// refusalSets are the set rules without arguments whose every use in the
// policy is `some r in S` in a body of deny, or of another such set, whose
// head adds r and which uses r nowhere else: their elements become elements
// of deny and nothing else, so that a message quoted in one of them is
// quoted as in deny, and is built only when deny is not empty.
func refusalSets(rules map[string][]*ast.Rule) map[string]bool {
	byName := map[string][]string{}
	cand := map[string]bool{}
	for p, defs := range rules {
		ok := p != denyPath && p != Query
		for _, r := range defs {
			ok = ok && len(r.Head.Args) == 0 && r.Head.RuleKind() == ast.MultiValue && r.Head.Ref().IsGround() && !r.Default && r.Else == nil
		}
		if ok {
			cand[p] = true
			name := p[strings.LastIndex(p, ".")+1:]
			byName[name] = append(byName[name], p)
		}
	}
	consumers := map[string]map[string]bool{}
	escapes := map[string]bool{}
	escape := func(x any) {
		ast.WalkTerms(x, func(t *ast.Term) bool {
			switch v := t.Value.(type) {
			case ast.Var:
				for _, p := range byName[string(v)] {
					escapes[p] = true
				}
			case ast.String:
				for _, p := range byName[string(v)] {
					escapes[p] = true
				}
			}
			return false
		})
	}
	for p, defs := range rules {
		for _, r := range defs {
			for x := r; x != nil; x = x.Else {
				h := x.Head
				for _, t := range h.Ref()[1:] {
					escape(t)
				}
				for _, t := range h.Args {
					escape(t)
				}
				if h.Key != nil {
					escape(h.Key)
				}
				if h.Value != nil {
					escape(h.Value)
				}
				for _, e := range x.Body {
					if names, ok := consumedSet(e, x); ok {
						for _, q := range byName[names] {
							if consumers[q] == nil {
								consumers[q] = map[string]bool{}
							}
							consumers[q][p] = true
						}
						continue
					}
					escape(e)
				}
			}
		}
	}
	feeding := map[string]bool{}
	for p := range cand {
		if !escapes[p] && len(consumers[p]) > 0 {
			feeding[p] = true
		}
	}
	for changed := true; changed; {
		changed = false
		for p := range feeding {
			for c := range consumers[p] {
				if c != denyPath && !feeding[c] {
					delete(feeding, p)
					changed = true
					break
				}
			}
		}
	}
	return feeding
}

// consumedSet reports `some r in S` in r's body, S a bare name, whose head
// adds r, r used by no other expression of the body: the name S.
func consumedSet(e *ast.Expr, r *ast.Rule) (string, bool) {
	d, ok := e.Terms.(*ast.SomeDecl)
	if !ok || len(d.Symbols) != 1 || e.Negated || len(e.With) > 0 || r.Head.Key == nil || r.Head.Value != nil {
		return "", false
	}
	call, ok := d.Symbols[0].Value.(ast.Call)
	if !ok || len(call) != 3 || call[0].String() != "internal.member_2" {
		return "", false
	}
	v, ok1 := call[1].Value.(ast.Var)
	s, ok2 := call[2].Value.(ast.Var)
	if !ok1 || !ok2 || !r.Head.Key.Equal(call[1]) {
		return "", false
	}
	for _, x := range r.Body {
		if x == e {
			continue
		}
		used := false
		ast.WalkVars(x, func(w ast.Var) bool { used = used || w.Equal(v); return used })
		if used {
			return "", false
		}
	}
	return string(s), true
}

// walked reports whether doc, the document at input.<base> ("record" or
// "previous"), is OPA's to hold (convertible) in every part the key does
// not walk whole: those the key walks fail the key themselves when they
// are not (canonical, shape).
func (rs *readSet) walked(base string, doc map[string]any) bool {
	if rs.keyedWhole[""] || rs.keyedWhole[base] {
		return true
	}
	members := rs.keyedMembers[base]
	for k, v := range doc {
		if !members[k] && !convertible(v) {
			return false
		}
	}
	return true
}

package policy

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/topdown"
)

// probeMemoSize bounds the residuals a revision keeps: one per distinct
// value of what its probes read besides the id, in practice one per
// originator. Past it, a question's probes are evaluated whole.
const probeMemoSize = 1024

// idUnknown is the term the partial evaluation leaves unknown.
var idUnknown = []*ast.Term{ast.MustParseTerm("input.record.id")}

// probeResiduals asks a push's probes once per distinct value of what they
// read besides the record id, rather than once per question
// (gateway/ARCHITECTURE.md, "Deciding pushes a chunk at a time"). The
// probes, each true or undefined (analyseProbes), are partially evaluated
// with the id unknown and everything else as the question has it; what
// remains of each is a disjunction of tests of the id against constant
// strings (startswith(input.record.id, "AIM-")), which the gateway checks
// itself on every question that puts the same values at reads. A residual
// of any other form is not checked here: every question of that value
// has its probes evaluated whole (OPA.probe), as has any question whose
// id is not a string. Either way the probe's text is the one OPA.probe
// writes, so a key is the same whichever way it was made.
type probeResiduals struct {
	reads   [][]string
	queries []rego.PreparedPartialQuery // one per probe: data.<probe>, the id unknown

	mu   sync.Mutex
	memo map[string]*residual // nil: evaluate whole
}

// residual is, per probe, the alternatives of which one holding makes the
// probe true; none: never true; an empty one: always true.
type residual [][][]idTest

// idTest is one test of a residual: op(a, b) with each argument the id or
// a constant, negated or not.
type idTest struct {
	op      string
	negated bool
	args    [2]idArg
}

type idArg struct {
	id bool
	s  string
}

// newProbeResiduals prepares the partial evaluation of each probe, nil when
// the probes cannot be asked this way (why).
func newProbeResiduals(ctx context.Context, opts []func(*rego.Rego), mods map[string]*ast.Module, probes []string) (_ *probeResiduals, why string) {
	reads, why := analyseProbes(mods, probes)
	if why != "" {
		return nil, why
	}
	pr := &probeResiduals{reads: reads, memo: map[string]*residual{}}
	for _, p := range probes {
		opts[0] = rego.Query(p)
		pq, err := rego.New(opts...).PrepareForPartial(ctx)
		if err != nil {
			return nil, "the partial evaluation of " + p + " does not compile: " + err.Error()
		}
		pr.queries = append(pr.queries, pq)
	}
	return pr, ""
}

// residualFor is the residual of the probes on in, from the memo or made
// now; nil: in's probes are evaluated whole. memoKey is what the probes
// read besides the id, in canonical form.
func (e *OPA) residualFor(ctx context.Context, pr *probeResiduals, memoKey []byte, in Input, regs map[string]any, now string) *residual {
	pr.mu.Lock()
	r, seen := pr.memo[string(memoKey)]
	full := len(pr.memo) >= probeMemoSize
	pr.mu.Unlock()
	if seen || full {
		return r
	}
	if ctx.Err() != nil {
		return nil
	}
	r, cut := e.partialProbes(ctx, pr, in, regs, now)
	// A partial evaluation cut short by the caller's deadline or
	// cancellation, or by the engine's own timeout, says nothing about the
	// policy: it is not remembered, or one slow moment would send every
	// later push of these reads to whole evaluation for the rest of the
	// revision.
	if r == nil && (cut || ctx.Err() != nil) {
		return nil
	}
	pr.mu.Lock()
	if len(pr.memo) < probeMemoSize {
		pr.memo[string(memoKey)] = r
	}
	pr.mu.Unlock()
	return r
}

// partialProbes evaluates each probe on in with the id unknown (and gone
// from the input, so that nothing of it is kept); nil when any probe
// fails or leaves a residual not made of idTests. cut reports an
// evaluation that ran out of time (the engine's timeout or ctx's end).
func (e *OPA) partialProbes(ctx context.Context, pr *probeResiduals, in Input, regs map[string]any, now string) (out *residual, cut bool) {
	// A panic leaves out nil.
	e.guarded(ctx, func(ctx context.Context, cancel topdown.Cancel) {
		out = partialResidual(ctx, cancel, pr, in, regs, now)
		cut = ctx.Err() != nil
	})
	return out, cut
}

// partialResidual is the work of partialProbes, within its guard.
func partialResidual(ctx context.Context, cancel topdown.Cancel, pr *probeResiduals, in Input, regs map[string]any, now string) *residual {
	rec := make(map[string]any, len(in.Record.Doc))
	for k, v := range in.Record.Doc {
		if k != "id" {
			rec[k] = v
		}
	}
	doc := inputDoc(in, regs, now)
	doc["record"] = rec
	if !convertible(doc) {
		return nil
	}
	input := ast.LazyObject(doc)
	r := make(residual, len(pr.queries))
	for i, q := range pr.queries {
		pqs, err := q.Partial(ctx, rego.EvalParsedInput(input), rego.EvalParsedUnknowns(idUnknown),
			rego.EvalExternalCancel(cancel), rego.EvalMetrics(metrics.NoOp()), rego.EvalTime(in.Now))
		if err != nil || len(pqs.Support) > 0 {
			return nil
		}
		for _, body := range pqs.Queries {
			alt := make([]idTest, 0, len(body))
			for _, x := range body {
				t, ok := residualTest(x)
				if !ok {
					return nil
				}
				alt = append(alt, t)
			}
			r[i] = append(r[i], alt)
		}
	}
	return &r
}

// residualTest reads one expression of a residual as an idTest: a call of
// a string test on the id and constant strings, nothing else.
func residualTest(x *ast.Expr) (idTest, bool) {
	ts, ok := x.Terms.([]*ast.Term)
	if !ok || len(ts) != 3 || len(x.With) > 0 {
		return idTest{}, false
	}
	t := idTest{op: ts[0].String(), negated: x.Negated}
	switch t.op {
	case "startswith", "endswith", "contains", "equal", "neq", "eq":
	default:
		return idTest{}, false
	}
	for i, a := range ts[1:] {
		switch v := a.Value.(type) {
		case ast.String:
			t.args[i] = idArg{s: string(v)}
		case ast.Ref:
			if !v.Equal(idUnknown[0].Value) {
				return idTest{}, false
			}
			t.args[i] = idArg{id: true}
		default:
			return idTest{}, false
		}
	}
	return t, true
}

// value is the probes' text on a question of id, as OPA.probe writes it;
// false for an id that is not a string (it is then evaluated whole).
func (r *residual) value(id any) (string, bool) {
	s, ok := id.(string)
	if !ok {
		return "", false
	}
	var b strings.Builder
	b.WriteByte('[')
	for i, alts := range *r {
		if i > 0 {
			b.WriteString(", ")
		}
		holds := false
		for _, alt := range alts {
			if holds = allHold(alt, s); holds {
				break
			}
		}
		if holds {
			b.WriteString("{true}")
		} else {
			b.WriteString("set()")
		}
	}
	b.WriteByte(']')
	return b.String(), true
}

func allHold(alt []idTest, id string) bool {
	for _, t := range alt {
		a, b := t.args[0].s, t.args[1].s
		if t.args[0].id {
			a = id
		}
		if t.args[1].id {
			b = id
		}
		var v bool
		switch t.op {
		case "startswith":
			v = strings.HasPrefix(a, b)
		case "endswith":
			v = strings.HasSuffix(a, b)
		case "contains":
			v = strings.Contains(a, b)
		case "equal", "eq":
			v = a == b
		case "neq":
			v = a != b
		default:
			panic(fmt.Sprintf("residual test %s", t.op))
		}
		if v == t.negated {
			return false
		}
	}
	return true
}

// probeText is the probes' text on in: from its residual when the memo
// has one, else evaluated whole on the input input builds.
func (e *OPA) probeText(ctx context.Context, c *compiled, kb *keyer, in Input, regs map[string]any, now string, input func() (ast.Value, bool)) (string, bool) {
	if pr := c.probeResiduals; pr != nil {
		kb.ok = true
		b := kb.probeB[:0]
		for _, p := range pr.reads {
			b = append(b, 0)
			if v, found := lookupInput(in, regs, p, now); found {
				b = canonical(b, v, &kb.scratch, &kb.ok)
			} else {
				b = append(b, missing...)
			}
		}
		kb.probeB = b
		if kb.ok {
			if r := e.residualFor(ctx, pr, b, in, regs, now); r != nil {
				id, _ := lookup(in.Record.Doc, []string{"id"})
				if s, ok := r.value(id); ok {
					return s, true
				}
			}
		}
	}
	v, ok := input()
	if !ok {
		return "", false
	}
	return e.probe(ctx, *c.probeQuery, v, in.Now)
}

package policy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/metrics"
	"github.com/open-policy-agent/opa/v1/rego"
	"github.com/open-policy-agent/opa/v1/storage"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/topdown"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ura-gateway/ura/gateway/verdict"
	"github.com/ura-gateway/ura/policies"
)

// Query is what the gateway asks of every policy.
const Query = "data.ura.decision"

// Reason codes of decisions the policy itself could not make. Each is a deny.
const (
	ReasonUndefined = "policy_undefined"
	ReasonError     = "policy_error"
	ReasonTimeout   = "policy_timeout"
	ReasonMalformed = "policy_malformed"
	// ReasonDenied is added when a policy denies without saying why.
	ReasonDenied = "policy_denied"
)

// DefaultTimeout bounds one evaluation unless configured otherwise.
const DefaultTimeout = 50 * time.Millisecond

// unsafeBuiltins are refused at compile time: a decision depends on its input
// (the registers included) and the bundle's data only, never on the network.
var unsafeBuiltins = map[string]struct{}{
	"http.send":          {},
	"net.lookup_ip_addr": {},
}

// Options configure an OPA engine.
type Options struct {
	// Source is the active policy; the zero value is the embedded bundle.
	Source Source
	// Shadow is an optional candidate evaluated beside the active policy.
	Shadow *Source
	// Timeout bounds each evaluation; DefaultTimeout if zero.
	Timeout time.Duration
	// ShadowKeep is how many divergences are kept in memory (default 1000).
	ShadowKeep int
	Logger     *slog.Logger
}

// OPA is the policy engine: Rego prepared once per revision, evaluated per
// record against an AST input that carries the registers the record refers
// to (input.registers).
type OPA struct {
	timeout time.Duration
	log     *slog.Logger
	metrics *opaMetrics

	activeSrc Source
	shadowSrc *Source
	active    atomic.Pointer[compiled]
	shadow    atomic.Pointer[compiled]

	ring       *divergenceRing
	shadowJobs chan shadowJob
	shadowWG   sync.WaitGroup
	stop       chan struct{}
	stopOnce   sync.Once

	reloadMu   sync.Mutex
	failed     map[string]string // target → revision that failed to load
	lastReload atomic.Pointer[ReloadInfo]
}

var (
	_ Engine               = (*OPA)(nil)
	_ prometheus.Collector = (*OPA)(nil)
)

// compiled is one policy revision ready to evaluate, immutable once swapped
// in: its store holds the bundle's data only.
type compiled struct {
	source           Source
	revision         string
	manifestRevision string
	loadedAt         time.Time
	store            storage.Store
	query            rego.PreparedEvalQuery
	// pull is what a pull decision of this revision reads, nil when it
	// cannot be told (noShare says why): DecideChunk then decides every
	// record by itself.
	pull    *readSet
	noShare string
	// chunkQuery asks for the decision and the size of data.ura.deny at
	// once, for a representative of a chunk when the read set leaves out
	// paths quoted in deny's messages (readSet.denyRule).
	chunkQuery *rego.PreparedEvalQuery
	// push is what a push decision of this revision reads, the record's id
	// masked (readSet.id); nil when it cannot be told (pushNoShare says
	// why). probeQuery asks the values of its probes of one question.
	push        *readSet
	pushNoShare string
	probeQuery  *rego.PreparedEvalQuery
	// probeResiduals asks the probes once per distinct value of what they
	// read besides the id; nil when they cannot be asked so (probeNoMemo
	// says why).
	probeResiduals *probeResiduals
	probeNoMemo    string
}

// New loads and compiles the active (and shadow) policy. A policy that does
// not load is an error here; later reloads keep the running policy instead.
func New(ctx context.Context, opts Options) (*OPA, error) {
	if opts.Source.Kind == "" {
		opts.Source = EmbeddedSource(policies.FS)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.ShadowKeep <= 0 {
		opts.ShadowKeep = 1000
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	e := &OPA{
		timeout:   opts.Timeout,
		log:       opts.Logger.With("component", "policy"),
		metrics:   newOPAMetrics(),
		activeSrc: opts.Source,
		shadowSrc: opts.Shadow,
		ring:      newDivergenceRing(opts.ShadowKeep),
		stop:      make(chan struct{}),
		failed:    map[string]string{},
	}
	c, err := e.build(ctx, opts.Source)
	if err != nil {
		return nil, fmt.Errorf("policy: %w", err)
	}
	e.active.Store(c)
	if opts.Shadow != nil {
		sc, err := e.build(ctx, *opts.Shadow)
		if err != nil {
			return nil, fmt.Errorf("shadow policy: %w", err)
		}
		e.shadow.Store(sc)
		e.shadowJobs = make(chan shadowJob, shadowQueue)
		for range max(1, runtime.GOMAXPROCS(0)) {
			go e.shadowWorker()
		}
	}
	e.log.Info("policy loaded", "source", c.source.Kind, "revision", c.revision, "shadow", e.shadowRevision())
	return e, nil
}

func (e *OPA) shadowRevision() string {
	if sc := e.shadow.Load(); sc != nil {
		return sc.revision
	}
	return ""
}

// build reads, verifies and compiles a source into a new revision without
// touching the running one.
func (e *OPA) build(ctx context.Context, src Source) (*compiled, error) {
	l, err := src.load()
	if err != nil {
		return nil, err
	}
	return compile(ctx, l)
}

func compile(ctx context.Context, l *loaded) (*compiled, error) {
	st := inmem.NewFromObjectWithOpts(l.data, inmem.OptRoundTripOnWrite(false), inmem.OptReturnASTValuesOnRead(true))
	opts := []func(*rego.Rego){
		rego.Query(Query),
		rego.Store(st),
		rego.StrictBuiltinErrors(true),
		rego.UnsafeBuiltins(unsafeBuiltins),
		rego.SetRegoVersion(ast.RegoV1),
	}
	paths := make([]string, 0, len(l.modules))
	for p := range l.modules {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	for _, p := range paths {
		opts = append(opts, rego.ParsedModule(l.modules[p]))
	}
	pq, err := rego.New(opts...).PrepareForEval(ctx)
	if err != nil {
		return nil, fmt.Errorf("compile %s: %w", l.source, err)
	}
	if !definesDecision(l.modules) {
		return nil, fmt.Errorf("%s defines no %s rule", l.source, Query)
	}
	c := &compiled{
		source:           l.source,
		revision:         l.revision,
		manifestRevision: l.manifestRevision,
		loadedAt:         time.Now().UTC(),
		store:            st,
		query:            pq,
	}
	c.pull, c.noShare = analysePull(l.modules)
	c.push, c.pushNoShare = analysePush(l.modules)
	if c.pull != nil && c.pull.denyRule != "" || c.push != nil && c.push.denyRule != "" {
		// Same modules, same store, another query: one more prepared
		// query per revision, never shared across revisions.
		opts[0] = rego.Query(chunkQuery)
		cq, err := rego.New(opts...).PrepareForEval(ctx)
		if err != nil {
			c.pull, c.noShare = nil, "the chunk query does not compile: "+err.Error()
			c.push, c.pushNoShare = nil, c.noShare
		} else {
			c.chunkQuery = &cq
		}
	}
	if c.push != nil && len(c.push.probes) > 0 {
		opts[0] = rego.Query(probeQuery(c.push.probes))
		pq, err := rego.New(opts...).PrepareForEval(ctx)
		if err != nil {
			c.push, c.pushNoShare = nil, "the probe query does not compile: "+err.Error()
		} else {
			c.probeQuery = &pq
			c.probeResiduals, c.probeNoMemo = newProbeResiduals(ctx, opts, l.modules, c.push.probes)
		}
	}
	return c, nil
}

func definesDecision(mods map[string]*ast.Module) bool {
	want := ast.MustParseRef(Query)
	for _, m := range mods {
		for _, r := range m.Rules {
			// The ground prefix of the rule's full ref is what the
			// deprecated Rule.Path returned: data.ura.decision both for
			// "decision := …" and for "decision[k] := …" or "decision
			// contains …", whose keys are variables.
			if r.Ref().GroundPrefix().Equal(want) {
				return true
			}
		}
	}
	return false
}

// Decide evaluates the active policy for one record. It never fails: every
// way the policy cannot answer is a deny with a reason code.
func (e *OPA) Decide(ctx context.Context, in Input) Decision {
	return e.decide(ctx, e.active.Load(), in)
}

// decide is Decide with revision c.
func (e *OPA) decide(ctx context.Context, c *compiled, in Input) Decision {
	input, err := buildInput(in)
	if err != nil {
		d := Decision{ID: newDecisionID(), Revision: c.revision}
		d.Reasons = []verdict.Reason{{Code: ReasonError, Message: "the question could not be put to the policy"}}
		e.log.Error("policy input", "decision_id", d.ID, "error", err)
		e.metrics.decisions.WithLabelValues(string(in.Action), "error").Inc()
		return d
	}
	start := time.Now()
	d, failed := e.eval(ctx, c, input, in.Now)
	e.metrics.observe(e.log, in, d, failed, start)
	if sc := e.shadow.Load(); sc != nil {
		e.shadowDecide(sc, in, input, d)
	}
	return d
}

func recordID(in Input) string {
	if in.Record == nil {
		return ""
	}
	return in.Record.ID
}

// eval runs one prepared query with the engine's deadline. failed reports a
// deny the policy did not choose (undefined, error, timeout, malformed).
func (e *OPA) eval(ctx context.Context, c *compiled, input ast.Value, now time.Time) (Decision, bool) {
	d := Decision{ID: newDecisionID(), Revision: c.revision}
	v, d, failed := e.run(ctx, c.query, input, now, d)
	if failed {
		return d, true
	}
	return decided(e.log, d, v)
}

// run evaluates q on input with the engine's deadline and returns the value
// of its first expression; failed (with d a deny saying why) when it has
// none: an error, a timeout, a panic, an undefined result. A question with
// a time (Input.Now) is evaluated with it as OPA's clock, so that
// time.now_ns() is input.now: the decision is a function of its input, and
// the questions of a push chunk that agree on it may share one
// (gateway/ARCHITECTURE.md, "Deciding pushes a chunk at a time").
func (e *OPA) run(ctx context.Context, q rego.PreparedEvalQuery, input ast.Value, now time.Time, d Decision) (v any, _ Decision, failed bool) {
	var (
		rs          rego.ResultSet
		err, ctxErr error
	)
	if p := e.guarded(ctx, func(ctx context.Context, cancel topdown.Cancel) {
		// Its metrics are not collected, and the decision is handed back
		// as the AST OPA computed: parseResult reads it without a round
		// trip through map[string]any.
		opts := []rego.EvalOption{
			rego.EvalParsedInput(input),
			rego.EvalExternalCancel(cancel),
			rego.EvalMetrics(metrics.NoOp()),
			rego.EvalGenerateJSON(keepAST),
		}
		if !now.IsZero() {
			opts = append(opts, rego.EvalTime(now))
		}
		rs, err = q.Eval(ctx, opts...)
		ctxErr = ctx.Err()
	}); p != nil {
		e.log.Error("policy evaluation panicked", "decision_id", d.ID, "panic", fmt.Sprint(p))
		return nil, deny(d, ReasonError, "the policy failed while deciding"), true
	}
	switch {
	case err != nil && errors.Is(ctxErr, context.DeadlineExceeded):
		return nil, deny(d, ReasonTimeout, fmt.Sprintf("the policy did not decide within %s", e.timeout)), true
	case err != nil:
		// The error text can quote input values; the log gets its code and
		// location only.
		attrs := []any{"decision_id", d.ID}
		var te *topdown.Error
		if errors.As(err, &te) {
			attrs = append(attrs, "code", te.Code)
			if te.Location != nil {
				attrs = append(attrs, "location", te.Location.String())
			}
		}
		if ctxErr != nil {
			attrs = append(attrs, "cancelled", true)
		}
		e.log.Warn("policy evaluation error", attrs...)
		return nil, deny(d, ReasonError, "the policy failed while deciding"), true
	case len(rs) == 0 || len(rs[0].Expressions) == 0:
		return nil, deny(d, ReasonUndefined, "the policy gave no decision for this record"), true
	}
	return rs[0].Expressions[0].Value, d, false
}

// guarded calls eval under the engine's deadline, with a topdown cancel
// that the deadline (or the caller's cancellation) fires from a callback on
// ctx rather than from the goroutine OPA would start per query. A panic in
// eval is recovered and handed back; what it means is the caller's to say.
func (e *OPA) guarded(ctx context.Context, eval func(ctx context.Context, cancel topdown.Cancel)) (panicked any) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	defer func() { panicked = recover() }()
	c := topdown.NewCancel()
	stop := context.AfterFunc(ctx, c.Cancel)
	defer stop()
	eval(ctx, c)
	return nil
}

// decided fills d from the policy's result v, for either engine. failed
// reports a malformed result, which denies: among malformed results, an
// allow whose redactions do not name exactly the pointers it redacts, since
// the signed delivery would then misstate why a field is missing. A denial
// keeps no redactions and always carries a reason.
func decided(log *slog.Logger, d Decision, v any) (_ Decision, failed bool) {
	res, err := parseResult(v)
	if err == nil && res.allow && !provenanceMatches(res.redact, res.redactions) {
		err = errors.New("redactions do not name exactly the pointers of redact")
	}
	if err != nil {
		log.Warn("policy result malformed", "decision_id", d.ID, "error", err)
		return deny(d, ReasonMalformed, "the policy's decision is not in the expected shape"), true
	}
	d.Allow, d.Redact, d.Redactions, d.Reasons = res.allow, res.redact, res.redactions, res.reasons
	// Only a refusal can be released by authority.
	d.ReleasableByAuthority = res.byAuthority && !res.allow
	d.Translations = res.translations
	if !d.Allow {
		d.Redact, d.Redactions, d.Translations = nil, nil, nil
		if len(d.Reasons) == 0 {
			d.Reasons = []verdict.Reason{{Code: ReasonDenied, Message: "the policy denied this record without a reason"}}
		}
	}
	return d, false
}

func deny(d Decision, code, msg string) Decision {
	d.Allow = false
	d.Redact, d.Redactions, d.Translations = nil, nil, nil
	d.Reasons = []verdict.Reason{{Code: code, Message: msg}}
	return d
}

// parseResult checks the decision's shape: {allow: bool, redact: [pointer],
// redactions: [{pointer, rule}], reasons: [{code, message}]}. Anything else
// is malformed, never guessed at. v is the decision as JSON, or as the AST
// the embedded engine computed.
func parseResult(v any) (res result, err error) {
	if av, isAST := v.(ast.Value); isAST {
		if res, ok := parseDecisionAST(av); ok {
			return res, nil
		}
		if v, err = ast.JSON(av); err != nil {
			return result{}, fmt.Errorf("decision is not JSON: %w", err)
		}
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return result{}, fmt.Errorf("decision is %T, not an object", v)
	}
	res.allow, ok = obj["allow"].(bool)
	if !ok {
		return result{}, errors.New("allow is not a boolean")
	}
	if raw, present := obj["releasable_by_authority"]; present {
		if res.byAuthority, ok = raw.(bool); !ok {
			return result{}, errors.New("releasable_by_authority is not a boolean")
		}
	}
	if raw, present := obj["redact"]; present && raw != nil {
		list, ok := raw.([]any)
		if !ok {
			return result{}, errors.New("redact is not an array")
		}
		for i, p := range list {
			s, ok := p.(string)
			if !ok || !isPointer(s) {
				return result{}, fmt.Errorf("redact[%d] is not a JSON pointer below the root", i)
			}
			res.redact = append(res.redact, s)
		}
	}
	if raw, present := obj["redactions"]; present && raw != nil {
		list, ok := raw.([]any)
		if !ok {
			return result{}, errors.New("redactions is not an array")
		}
		for i, r := range list {
			m, ok := r.(map[string]any)
			if !ok {
				return result{}, fmt.Errorf("redactions[%d] is not an object", i)
			}
			pointer, ok1 := m["pointer"].(string)
			rule, ok2 := m["rule"].(string)
			if !ok1 || !ok2 || !isPointer(pointer) || rule == "" {
				return result{}, fmt.Errorf("redactions[%d] needs a JSON pointer below the root and a rule", i)
			}
			res.redactions = append(res.redactions, verdict.Redaction{Pointer: pointer, Rule: rule})
		}
	}
	if raw, present := obj["reasons"]; present && raw != nil {
		list, ok := raw.([]any)
		if !ok {
			return result{}, errors.New("reasons is not an array")
		}
		for i, r := range list {
			m, ok := r.(map[string]any)
			if !ok {
				return result{}, fmt.Errorf("reasons[%d] is not an object", i)
			}
			code, ok1 := m["code"].(string)
			msg, ok2 := m["message"].(string)
			if !ok1 || !ok2 || code == "" {
				return result{}, fmt.Errorf("reasons[%d] needs a code and a message", i)
			}
			res.reasons = append(res.reasons, verdict.Reason{Code: code, Message: msg})
		}
	}
	if raw, present := obj["translations"]; present && raw != nil {
		if res.translations, err = parseTranslations(raw); err != nil {
			return result{}, err
		}
	}
	return res, nil
}

// parseTranslations reads the decision's translations: each step from one
// marking to another with the rule that made it, each starting where the
// one before it ended, so that the label delivered is the last step's.
func parseTranslations(raw any) ([]verdict.Translation, error) {
	list, ok := raw.([]any)
	if !ok {
		return nil, errors.New("translations is not an array")
	}
	marking := func(v any) (verdict.Marking, bool) {
		m, _ := v.(map[string]any)
		p, ok1 := m["policy_id"].(string)
		c, ok2 := m["classification"].(string)
		return verdict.Marking{PolicyID: p, Classification: c}, ok1 && ok2 && p != "" && c != ""
	}
	var out []verdict.Translation
	for i, t := range list {
		m, _ := t.(map[string]any)
		from, ok1 := marking(m["from"])
		to, ok2 := marking(m["to"])
		rule, ok3 := m["rule"].(string)
		if !ok1 || !ok2 || !ok3 || rule == "" {
			return nil, fmt.Errorf("translations[%d] needs from and to markings (policy_id, classification) and a rule", i)
		}
		if i > 0 && out[i-1].To != from {
			return nil, fmt.Errorf("translations[%d] does not start where translations[%d] ends", i, i-1)
		}
		out = append(out, verdict.Translation{From: from, To: to, Rule: rule})
	}
	return out, nil
}

// newDecisionID is a UUIDv7: unique, and sortable by time in the audit log.
func newDecisionID() string {
	id, err := uuid.NewV7()
	if err != nil {
		return uuid.NewString()
	}
	return id.String()
}

// buildInput is the question as an OPA value, built directly from the
// decoded record: no JSON encoding and parsing per record. A record of the
// types the JSON decoder produces, which is every record the gateway
// decodes, is handed over lazily (see lazyInput); anything else is converted
// here, whole.
func buildInput(in Input) (ast.Value, error) {
	if in.Record == nil || in.Record.Doc == nil {
		return nil, errors.New("no record")
	}
	if v, ok := lazyInput(in); ok {
		return v, nil
	}
	rec, err := ast.InterfaceToValue(in.Record.Doc)
	if err != nil {
		return nil, fmt.Errorf("record %s: %w", in.Record.ID, err)
	}
	prev := ast.Value(ast.NullValue)
	if in.Previous != nil && in.Previous.Doc != nil {
		if prev, err = ast.InterfaceToValue(in.Previous.Doc); err != nil {
			return nil, fmt.Errorf("previous %s: %w", in.Previous.ID, err)
		}
	}
	kvs := [][2]*ast.Term{
		{ast.InternedTerm("action"), ast.StringTerm(string(in.Action))},
		{ast.InternedTerm("record"), ast.NewTerm(rec)},
		{ast.InternedTerm("previous"), ast.NewTerm(prev)},
	}
	// Only a registered member has a caller object; the policy treats its
	// absence as "not a member".
	if in.Caller.ID != "" {
		roles := make([]*ast.Term, len(in.Caller.Roles))
		for i, r := range in.Caller.Roles {
			roles[i] = ast.StringTerm(r)
		}
		caller := ast.NewObject(
			[2]*ast.Term{ast.InternedTerm("member"), ast.StringTerm(in.Caller.ID)},
			[2]*ast.Term{ast.InternedTerm("nation"), ast.StringTerm(in.Caller.Nation)},
			[2]*ast.Term{ast.InternedTerm("kind"), ast.StringTerm(in.Caller.Kind)},
			[2]*ast.Term{ast.InternedTerm("clearance"), ast.StringTerm(in.Caller.Clearance)},
			[2]*ast.Term{ast.InternedTerm("roles"), ast.ArrayTerm(roles...)},
		)
		if len(in.Caller.Categories) > 0 {
			cats, err := ast.InterfaceToValue(in.Caller.Categories)
			if err != nil {
				return nil, fmt.Errorf("caller categories: %w", err)
			}
			caller.Insert(ast.InternedTerm("categories"), ast.NewTerm(cats))
		}
		kvs = append(kvs, [2]*ast.Term{ast.InternedTerm("caller"), ast.NewTerm(caller)})
	}
	if in.Registers != nil {
		regs, err := ast.InterfaceToValue(in.Registers.Doc())
		if err != nil {
			return nil, fmt.Errorf("registers: %w", err)
		}
		kvs = append(kvs, [2]*ast.Term{ast.InternedTerm("registers"), ast.NewTerm(regs)})
	}
	if in.Release != nil {
		rel, err := ast.InterfaceToValue(in.Release.doc())
		if err != nil {
			return nil, fmt.Errorf("release: %w", err)
		}
		kvs = append(kvs, [2]*ast.Term{ast.InternedTerm("release"), ast.NewTerm(rel)})
	}
	if now, ok := in.nowDoc(); ok {
		kvs = append(kvs, [2]*ast.Term{ast.InternedTerm("now"), ast.StringTerm(now)})
	}
	return ast.NewObject(kvs...), nil
}

// Revision is the active policy's bundle hash.
func (e *OPA) Revision() string { return e.active.Load().revision }

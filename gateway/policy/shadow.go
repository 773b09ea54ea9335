package policy

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
)

// Outcome is one policy's answer in a divergence: what it decided, never
// the record it decided on.
type Outcome struct {
	DecisionID string   `json:"decision_id"`
	Revision   string   `json:"revision"`
	Allow      bool     `json:"allow"`
	Redact     []string `json:"redact"`
	Reasons    []string `json:"reasons"`
}

// Divergence is a decision where the shadow policy would have answered
// differently from the active one.
type Divergence struct {
	Time          time.Time `json:"time"`
	Member        string    `json:"member"`
	Action        Action    `json:"action"`
	RecordKind    string    `json:"record_kind"`
	RecordID      string    `json:"record_id"`
	RecordVersion int       `json:"record_version"`
	Active        Outcome   `json:"active"`
	Shadow        Outcome   `json:"shadow"`
}

// DivergenceLister is implemented by engines that run a shadow policy.
type DivergenceLister interface {
	Divergences() []Divergence
}

var _ DivergenceLister = (*OPA)(nil)

// shadowQueue is how many comparisons may wait for a shadow worker; beyond
// it they are skipped (and counted) rather than slowing requests down.
const shadowQueue = 4096

type shadowJob struct {
	sc     *compiled
	in     Input
	input  ast.Value
	active Decision
}

// shadowDecide queues the candidate's evaluation of the same input, off the
// request path: its answer is compared and recorded, never returned.
func (e *OPA) shadowDecide(sc *compiled, in Input, input ast.Value, active Decision) {
	e.shadowWG.Add(1)
	select {
	case e.shadowJobs <- shadowJob{sc: sc, in: in, input: input, active: active}:
	default:
		e.shadowWG.Done()
		e.metrics.shadowSkipped.Inc()
	}
}

func (e *OPA) shadowWorker() {
	for {
		select {
		case <-e.stop:
			return
		case job := <-e.shadowJobs:
			e.compare(job)
			e.shadowWG.Done()
		}
	}
}

func (e *OPA) compare(job shadowJob) {
	in, active := job.in, job.active
	sd, _ := e.eval(context.Background(), job.sc, job.input, in.Now)
	if sd.Allow == active.Allow && sameSet(sd.Redact, active.Redact) {
		return
	}
	dv := Divergence{
		Time:          time.Now().UTC(),
		Member:        in.Caller.ID,
		Action:        in.Action,
		RecordKind:    in.Record.Kind,
		RecordID:      in.Record.ID,
		RecordVersion: in.Record.Version,
		Active:        outcomeOf(active),
		Shadow:        outcomeOf(sd),
	}
	e.ring.add(dv)
	e.metrics.divergences.Inc()
	e.log.Warn("shadow policy diverges",
		"member", dv.Member, "action", string(dv.Action), "record_id", dv.RecordID, "record_version", dv.RecordVersion,
		"decision_id", dv.Active.DecisionID, "shadow_decision_id", dv.Shadow.DecisionID,
		"allow", dv.Active.Allow, "shadow_allow", dv.Shadow.Allow,
		"redact", dv.Active.Redact, "shadow_redact", dv.Shadow.Redact,
		"reasons", dv.Active.Reasons, "shadow_reasons", dv.Shadow.Reasons,
		"revision", dv.Active.Revision, "shadow_revision", dv.Shadow.Revision)
}

func outcomeOf(d Decision) Outcome {
	o := Outcome{DecisionID: d.ID, Revision: d.Revision, Allow: d.Allow,
		Redact: slices.Clone(d.Redact), Reasons: make([]string, len(d.Reasons))}
	if o.Redact == nil {
		o.Redact = []string{}
	}
	for i, r := range d.Reasons {
		o.Reasons[i] = r.Code
	}
	return o
}

func sameSet(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	x, y := slices.Clone(a), slices.Clone(b)
	slices.Sort(x)
	slices.Sort(y)
	return slices.Equal(x, y)
}

// Divergences lists the most recent divergences, oldest first.
func (e *OPA) Divergences() []Divergence { return e.ring.list() }

// DivergenceCount is how many divergences were seen since start.
func (e *OPA) DivergenceCount() uint64 {
	e.ring.mu.Lock()
	defer e.ring.mu.Unlock()
	return e.ring.total
}

// divergenceRing keeps the last n divergences.
type divergenceRing struct {
	mu    sync.Mutex
	buf   []Divergence
	next  int
	total uint64
}

func newDivergenceRing(n int) *divergenceRing {
	return &divergenceRing{buf: make([]Divergence, 0, n)}
}

func (r *divergenceRing) add(d Divergence) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.total++
	if len(r.buf) < cap(r.buf) {
		r.buf = append(r.buf, d)
		return
	}
	r.buf[r.next] = d
	r.next = (r.next + 1) % len(r.buf)
}

func (r *divergenceRing) list() []Divergence {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]Divergence, 0, len(r.buf))
	out = append(out, r.buf[r.next:]...)
	return append(out, r.buf[:r.next]...)
}

// waitShadow waits for the queued shadow evaluations (tests, shutdown).
func (e *OPA) waitShadow() { e.shadowWG.Wait() }

// Close finishes the queued shadow comparisons and stops the shadow
// workers. Decisions still work after it; their comparisons are skipped.
func (e *OPA) Close() {
	e.waitShadow()
	e.stopOnce.Do(func() { close(e.stop) })
}

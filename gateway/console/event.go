package console

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/sign"
)

// Proof states shown on a decision's page.
const (
	proofVerified = "verified"
	proofUnsigned = "unsigned"
	proofPending  = "pending"
	proofFailed   = "failed"
)

type eventData struct {
	E     audit.Event
	Proof *audit.Proof
	// ProofState is verified, unsigned (no keys to check the checkpoint's
	// signature with), pending (no checkpoint covers the event yet) or
	// failed, with ProofDetail saying why.
	ProofState    string
	ProofDetail   string
	CheckpointKID string
	Following     int
	Prev, Next    string
	RecordHref    string
	MemberHref    string
	RequestHref   string
}

// Event shows one decision in full with its proof of inclusion in the
// signed chain, checked here against the gateway's keys.
func (c *Console) Event(ctx context.Context, v *Viewer, seqParam string) (*Page, error) {
	r, err := c.reader()
	if err != nil {
		return nil, err
	}
	seq, err := strconv.ParseInt(seqParam, 10, 64)
	if err != nil || seq < 1 {
		return nil, problem.New(http.StatusBadRequest, problem.TypeBadRequest, "the event number must be a positive integer")
	}
	p, err := r.Proof(ctx, seq)
	switch {
	case errors.Is(err, audit.ErrNotFound):
		return nil, problem.New(http.StatusNotFound, problem.TypeNotFound, "no audit event with this number")
	case err != nil:
		return nil, problem.Unavailable("the audit log cannot be read now", err)
	}
	d := eventData{E: p.Event, Proof: p, Following: len(p.Following)}
	d.ProofState, d.ProofDetail = c.checkProof(ctx, p)
	if p.Checkpoint != nil {
		d.CheckpointKID = sign.KeyID(p.Checkpoint.JWS)
	}
	if seq > 1 {
		d.Prev = c.eventHref(seq - 1)
	}
	if seq < r.Head().Count {
		d.Next = c.eventHref(seq + 1)
	}
	if p.Event.RecordID != "" {
		d.RecordHref = c.searchHref(url.Values{"record_id": {p.Event.RecordID}})
	}
	if p.Event.Member != "" {
		d.MemberHref = c.searchHref(url.Values{"member": {p.Event.Member}})
	}
	pg, err := c.render("event", "Decision #"+strconv.FormatInt(seq, 10), v, 200, d)
	if err != nil {
		return nil, err
	}
	pg.Access.RecordID, pg.Access.Events = p.Event.RecordID, 1
	return pg, nil
}

func (c *Console) checkProof(ctx context.Context, p *audit.Proof) (state, detail string) {
	if p.Pending || p.Checkpoint == nil {
		return proofPending, "no signed checkpoint covers this event yet; it will after the next one"
	}
	if c.opts.Keys == nil {
		return proofUnsigned, "this gateway has no signing keys configured, so the checkpoint's signature cannot be checked"
	}
	keys, err := c.opts.Keys(ctx)
	if err != nil {
		c.log.Warn("signing keys unavailable for a proof", "error", err)
		return proofUnsigned, "the signing keys are unavailable right now, so the checkpoint's signature was not checked"
	}
	if err := audit.VerifyProof(p, keys); err != nil {
		return proofFailed, err.Error()
	}
	return proofVerified, ""
}

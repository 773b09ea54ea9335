// Package releaseapi serves two-person release authority
// (gateway/ARCHITECTURE.md, "Release authority") under /v1/releases:
//
//	POST /v1/releases               request a release: the record's
//	                                originator (an agency or ministry) or a
//	                                release officer
//	GET  /v1/releases               the queue, newest first: release officers
//	POST /v1/releases/{id}/approve  approve: release officers, each once,
//	                                never their own request
//	POST /v1/releases/{id}/revoke   revoke: release officers
//
// A release officer is a member of kind auditor holding the role
// "release" (authority.MayDecide). Every step is audited before it is
// answered; every refusal too. The console's release queue runs the same
// steps (Approve, Revoke, List), so an approval means the same through
// either.
package releaseapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/google/uuid"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/upstream"
	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/authority"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// Audit actions of the release steps.
const (
	ActionRequest = "release.request"
	ActionApprove = "release.approve"
	ActionRevoke  = "release.revoke"
	ActionList    = "release.list"
)

// Audit reason codes of refused release requests.
const (
	ReasonNotRequester   = "not_release_requester"
	ReasonNotOfficer     = "not_release_officer"
	ReasonNotReleasable  = "not_releasable_by_authority"
	ReasonAlreadyAllowed = "released_by_policy"
)

// Deps are what the release steps run on.
type Deps struct {
	Store    store.Store
	Policy   policy.Engine
	Registry *identity.Registry
	// Forwarder is optional: on a release's second approval the record is
	// queued for the destinations whose member is the recipient.
	Forwarder upstream.Forwarder
	TTL       time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Handlers serve the release routes and the console's release queue.
type Handlers struct {
	kit  *chain.Kit
	deps Deps
}

// New builds the handlers.
func New(kit *chain.Kit, deps Deps) *Handlers {
	if deps.TTL <= 0 {
		deps.TTL = authority.DefaultTTL
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	return &Handlers{kit: kit, deps: deps}
}

// View is a request as the API and the console show it: the stored request
// and its status now.
type View struct {
	authority.Request
	Status string `json:"status"`
}

func (h *Handlers) view(r authority.Request) View {
	if r.Approvals == nil {
		r.Approvals = []authority.Approval{}
	}
	return View{Request: r, Status: r.Status(h.deps.Now())}
}

func (h *Handlers) ready() error {
	if h.deps.Store == nil || h.deps.Policy == nil || h.deps.Registry == nil {
		return problem.Unavailable("release authority is not available on this gateway", errors.New("releaseapi: no store, policy or registry"))
	}
	return nil
}

// RequireOfficer admits release officers only (the queue, approve,
// revoke); anyone else is refused 403, audited first.
func (h *Handlers) RequireOfficer(c *gin.Context) error {
	m := chain.Caller(c)
	if authority.MayDecide(m) {
		return nil
	}
	return h.kit.Refuse(c, chain.NewRequest(c, actionOf(c), ""),
		problem.New(http.StatusForbidden, problem.TypeForbidden, "release authority is for security officers holding the release role"),
		verdict.Reason{Code: ReasonNotOfficer, Message: "member kind " + m.Kind + " without the release role may not decide releases"})
}

// actionOf names a route's step for the audit log.
func actionOf(c *gin.Context) string {
	switch {
	case strings.HasSuffix(c.FullPath(), "/approve"):
		return ActionApprove
	case strings.HasSuffix(c.FullPath(), "/revoke"):
		return ActionRevoke
	case c.Request.Method == http.MethodGet:
		return ActionList
	}
	return ActionRequest
}

// maxBody bounds a request's JSON body.
const maxBody = 8 << 10

type requestBody struct {
	RecordID      string `json:"record_id"`
	Version       int    `json:"version"`
	Recipient     string `json:"recipient"`
	Justification string `json:"justification"`
}

// Create is POST /v1/releases.
func (h *Handlers) Create(c *gin.Context) error {
	if err := h.ready(); err != nil {
		return err
	}
	m := chain.Caller(c)
	req := chain.NewRequest(c, ActionRequest, "")
	officer := authority.MayDecide(m)
	if !officer && m.Kind != identity.KindAgency && m.Kind != identity.KindMinistry {
		return h.kit.Refuse(c, req, problem.New(http.StatusForbidden, problem.TypeForbidden,
			"a release is requested by the record's originator or a security officer holding the release role"),
			verdict.Reason{Code: ReasonNotRequester, Message: "member kind " + m.Kind + " may not request releases"})
	}
	raw, err := io.ReadAll(http.MaxBytesReader(c.Writer, c.Request.Body, maxBody))
	if err != nil {
		return h.kit.Refuse(c, req, problem.New(http.StatusRequestEntityTooLarge, problem.TypeBodyTooLarge,
			fmt.Sprintf("a release request is at most %d bytes", maxBody)))
	}
	req.DigestOf(raw)
	var body requestBody
	if p := decodeBody(raw, &body); p != nil {
		return h.kit.Refuse(c, req, p)
	}
	if p := h.checkBody(&body); p != nil {
		return h.kit.Refuse(c, req, p)
	}
	ctx := c.Request.Context()
	// What a requester may not see answers as what is not stored: an
	// agency names only its own records.
	notFound := problem.New(http.StatusNotFound, problem.TypeNotFound, "no such record")
	rec, err := h.deps.Store.Get(ctx, body.RecordID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return h.kit.Refuse(c, req, notFound)
	case err != nil:
		return problem.Unavailable("the record store is unavailable", err)
	case !officer && rec.Label.Originator != m.ID:
		return h.kit.Refuse(c, req, notFound)
	case rec.Version != body.Version:
		return h.kit.Refuse(c, req, problem.New(http.StatusConflict, problem.TypeConflict,
			fmt.Sprintf("version %d is not the stored version of %s (%d): a release names the version it releases", body.Version, rec.ID, rec.Version)))
	}
	recipient, _ := h.deps.Registry.Lookup(body.Recipient)
	d := h.deps.Policy.Decide(ctx, policy.Input{Caller: recipient, Action: policy.Pull, Record: rec})
	if d.Allow {
		return h.kit.Refuse(c, req, problem.New(http.StatusConflict, problem.TypeConflict,
			"the policy releases this record to the recipient already"), verdict.Reason{Code: ReasonAlreadyAllowed, Message: "nothing to release"})
	}
	if !d.ReleasableByAuthority {
		codes := reasonCodes(d.Reasons)
		return h.kit.Refuse(c, req, problem.New(http.StatusConflict, problem.TypeConflict,
			"the policy withholds this record from the recipient for reasons no officer may release: "+codes),
			verdict.Reason{Code: ReasonNotReleasable, Message: codes})
	}
	id, err := uuid.NewV7()
	if err != nil {
		return problem.Internal(err)
	}
	r := authority.New(id.String(), rec.ID, rec.Version, body.Recipient, body.Justification, m.ID, h.deps.Now(), h.deps.TTL)
	if err := h.deps.Store.CreateRelease(ctx, r); err != nil {
		return problem.Unavailable("the release could not be stored", err)
	}
	ev := event(req, rec.Kind, r, http.StatusCreated, "release_requested", "requested: "+r.Summary())
	ev.DecisionID, ev.PolicyRevision = d.ID, d.Revision
	if err := h.kit.Record(c, ev); err != nil {
		return err
	}
	c.JSON(http.StatusCreated, h.view(r))
	return nil
}

// decodeBody reads a release request strictly: one JSON object, no unknown
// member.
func decodeBody(raw []byte, body *requestBody) *problem.Error {
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(body); err != nil || dec.More() {
		return problem.New(http.StatusBadRequest, problem.TypeBadRequest,
			"the body must be one JSON object {record_id, version, recipient, justification}")
	}
	return nil
}

func (h *Handlers) checkBody(b *requestBody) *problem.Error {
	var errs []problem.FieldError
	if !records.ValidID(b.RecordID) {
		errs = append(errs, problem.FieldError{Pointer: "/record_id", Detail: "a record id"})
	}
	if b.Version < 1 {
		errs = append(errs, problem.FieldError{Pointer: "/version", Detail: "the record version to release, from 1"})
	}
	if _, ok := h.deps.Registry.Lookup(b.Recipient); !ok {
		errs = append(errs, problem.FieldError{Pointer: "/recipient", Detail: "a registered member"})
	}
	if j := strings.TrimSpace(b.Justification); j == "" || len(b.Justification) > authority.MaxJustification {
		errs = append(errs, problem.FieldError{Pointer: "/justification", Detail: fmt.Sprintf("why the record is released: 1 to %d bytes", authority.MaxJustification)})
	}
	if len(errs) == 0 {
		return nil
	}
	p := problem.New(http.StatusUnprocessableEntity, problem.TypeBadRequest, "the release request is not valid")
	p.Errors = errs
	return p
}

func reasonCodes(rs []verdict.Reason) string {
	codes := make([]string, len(rs))
	for i, r := range rs {
		codes[i] = r.Code
	}
	return strings.Join(codes, ", ")
}

// event is the audit event of one release step on r.
func event(req *chain.Request, kind string, r authority.Request, status int, code, msg string) audit.Event {
	ev := req.Event(audit.DecisionAllow, status)
	ev.RecordKind, ev.RecordID, ev.RecordVersion = kind, r.RecordID, r.Version
	ev.Reasons = []verdict.Reason{{Code: code, Message: msg}}
	return ev
}

// List is GET /v1/releases: every request, newest first, with its status
// now; ?status= keeps one status.
func (h *Handlers) List(c *gin.Context) error {
	if err := h.ready(); err != nil {
		return err
	}
	req := chain.NewRequest(c, ActionList, "").DigestURI(c.Request)
	status := c.Query("status")
	if status != "" && !slices.Contains([]string{authority.StatusPending, authority.StatusApproved, authority.StatusExpired, authority.StatusRevoked}, status) {
		p := problem.New(http.StatusBadRequest, problem.TypeBadRequest, "status is pending, approved, expired or revoked")
		return h.kit.Refuse(c, req, p)
	}
	views, err := h.Views(c.Request.Context())
	if err != nil {
		return err
	}
	if status != "" {
		views = slices.DeleteFunc(views, func(v View) bool { return v.Status != status })
	}
	ev := req.Event(audit.DecisionAllow, http.StatusOK)
	ev.Records = len(views)
	if err := h.kit.Record(c, ev); err != nil {
		return err
	}
	c.JSON(http.StatusOK, gin.H{"releases": views})
	return nil
}

// maxListed bounds how many requests a list shows.
const maxListed = 1000

// Views lists the newest requests with their status now (the console's
// queue reads them here too).
func (h *Handlers) Views(ctx context.Context) ([]View, error) {
	views := []View{}
	errEnough := errors.New("enough")
	err := h.deps.Store.ListReleases(ctx, func(r authority.Request) error {
		views = append(views, h.view(r))
		if len(views) == maxListed {
			return errEnough
		}
		return nil
	})
	if err != nil && !errors.Is(err, errEnough) {
		return nil, problem.Unavailable("the release requests cannot be read", err)
	}
	return views, nil
}

// Approve is POST /v1/releases/{id}/approve.
func (h *Handlers) Approve(c *gin.Context) error {
	v, err := h.Decide(c, c.Param("id"), ActionApprove, "")
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, v)
	return nil
}

// Revoke is POST /v1/releases/{id}/revoke.
func (h *Handlers) Revoke(c *gin.Context) error {
	v, err := h.Decide(c, c.Param("id"), ActionRevoke, "")
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, v)
	return nil
}

// Decide approves or revokes (action) request id as the calling officer,
// audited under route (c's route pattern when empty): the one copy of
// both steps, for the API and the console. A refusal is audited and
// returned as the problem to answer.
func (h *Handlers) Decide(c *gin.Context, id, action, route string) (View, error) {
	if err := h.ready(); err != nil {
		return View{}, err
	}
	m := chain.Caller(c)
	req := chain.NewRequest(c, action, route)
	if !authority.MayDecide(m) {
		return View{}, h.kit.Refuse(c, req, problem.New(http.StatusForbidden, problem.TypeForbidden,
			"release authority is for security officers holding the release role"),
			verdict.Reason{Code: ReasonNotOfficer, Message: "member kind " + m.Kind + " without the release role may not decide releases"})
	}
	now := h.deps.Now()
	ctx := c.Request.Context()
	r, err := h.deps.Store.UpdateRelease(ctx, id, func(r *authority.Request) error {
		if action == ActionRevoke {
			return r.Revoke(m, now)
		}
		return r.Approve(m, now, h.deps.TTL)
	})
	if err != nil {
		p, code := refusal(err)
		if p == nil {
			return View{}, problem.Unavailable("the release requests cannot be changed", err)
		}
		if errors.Is(err, authority.ErrNotFound) {
			return View{}, h.kit.Refuse(c, req, p)
		}
		reason := verdict.Reason{Code: code, Message: "release " + id + ": " + err.Error()}
		if r, rerr := h.deps.Store.Release(ctx, id); rerr == nil {
			// The refusal names the record, so a search by record id finds
			// every step of its releases, refused ones too.
			ev := event(req, "", r, p.Status, code, reason.Message)
			ev.Decision = audit.DecisionDeny
			if err := h.kit.Record(c, ev); err != nil {
				return View{}, err
			}
			return View{}, p
		}
		return View{}, h.kit.Refuse(c, req, p, reason)
	}
	kind := ""
	rec, gerr := h.deps.Store.Get(ctx, r.RecordID)
	if gerr == nil {
		kind = rec.Kind
	}
	code, what := "release_approved", "approved by "+m.ID+": "
	if action == ActionRevoke {
		code, what = "release_revoked", "revoked by "+m.ID+": "
	}
	ev := event(req, kind, r, http.StatusOK, code, what+r.Summary())
	if err := h.kit.Record(c, ev); err != nil {
		return View{}, err
	}
	if action == ActionApprove && r.Status(now) == authority.StatusApproved {
		h.forward(ctx, r, rec)
	}
	return h.view(r), nil
}

// forward queues a release just put in force for the outbox destinations
// whose member is its recipient, when the record is still at the released
// version: the outbox decides it again at delivery, under the release. A
// failure is logged; the recipient can still pull the record.
func (h *Handlers) forward(ctx context.Context, r authority.Request, rec *records.Record) {
	if h.deps.Forwarder == nil || rec == nil || rec.Version != r.Version {
		return
	}
	if err := h.deps.Forwarder.EnqueueDecided(ctx, []upstream.Decided{{Record: rec, Recipient: r.Recipient}}); err != nil {
		h.kit.Log.Warn("a released record could not be queued for its recipient's destination", "component", "release",
			"release_id", r.ID, "record_id", r.RecordID, "error", err)
	}
}

// refusal is the answer and audit reason code of a refused transition.
func refusal(err error) (*problem.Error, string) {
	switch {
	case errors.Is(err, authority.ErrNotFound):
		return problem.New(http.StatusNotFound, problem.TypeNotFound, "no such release request"), ""
	case errors.Is(err, authority.ErrNotOfficer):
		return problem.New(http.StatusForbidden, problem.TypeForbidden, err.Error()), ReasonNotOfficer
	case errors.Is(err, authority.ErrSameOfficer):
		return problem.New(http.StatusConflict, problem.TypeConflict, err.Error()), "release_same_officer"
	case errors.Is(err, authority.ErrOwnRequest):
		return problem.New(http.StatusConflict, problem.TypeConflict, err.Error()), "release_own_request"
	case errors.Is(err, authority.ErrRevoked):
		return problem.New(http.StatusConflict, problem.TypeConflict, err.Error()), "release_revoked"
	case errors.Is(err, authority.ErrExpired):
		return problem.New(http.StatusConflict, problem.TypeConflict, err.Error()), "release_expired"
	case errors.Is(err, authority.ErrAlreadyApproved):
		return problem.New(http.StatusConflict, problem.TypeConflict, err.Error()), "release_already_approved"
	}
	return nil, ""
}

// Package ops serves what the gateway says about itself: liveness and
// readiness, the caller as the gateway sees it, the signing keys (JWKS),
// the policy in force, the record schemas and the OpenAPI description.
package ops

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/sign"
)

// Checker is one dependency that /readyz asks.
type Checker interface {
	Name() string
	Check(ctx context.Context) error
}

// Handlers serve the ops routes.
type Handlers struct {
	kit    *chain.Kit
	checks []Checker
	signer sign.Signer   // nil: no signing keys
	policy policy.Engine // nil: no policy
	// jwksTTL is how long a JWKS answer may be cached (sign.jwks_cache_ttl).
	jwksTTL time.Duration
	openapi []byte

	// failing is each failing check's reason as last logged. A balancer
	// probes every few hundred milliseconds, and a replica that drains
	// after SIGTERM (check shutdown) or a dependency that is down fails
	// every probe: its failure is logged when it begins or its reason
	// changes, its recovery once, never each probe.
	mu      sync.Mutex
	failing map[string]string
}

// Options are what the ops routes report on.
type Options struct {
	Checks  []Checker
	Signer  sign.Signer
	Policy  policy.Engine
	JWKSTTL time.Duration
	// OpenAPI is the OpenAPI 3.1 description of every route.
	OpenAPI []byte
}

// New builds the ops handlers.
func New(kit *chain.Kit, o Options) *Handlers {
	return &Handlers{kit: kit, checks: o.Checks, signer: o.Signer, policy: o.Policy, jwksTTL: o.JWKSTTL, openapi: o.OpenAPI,
		failing: map[string]string{}}
}

// Healthz answers while the process serves; a cached "ok" would say
// nothing about now.
func (h *Handlers) Healthz(c *gin.Context) {
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// Readyz asks every configured dependency in parallel. Failure details go
// to the log, once per failure (noteCheck); the response names only which
// dependency is not ready.
func (h *Handlers) Readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	results := make(map[string]string, len(h.checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	ready := true
	for _, chk := range h.checks {
		wg.Go(func() {
			err := chk.Check(ctx)
			h.noteCheck(chk.Name(), err)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				ready = false
				results[chk.Name()] = "unavailable"
				return
			}
			results[chk.Name()] = "ok"
		})
	}
	wg.Wait()
	status, code := "ready", http.StatusOK
	if !ready {
		status, code = "not ready", http.StatusServiceUnavailable
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(code, gin.H{"status": status, "checks": results})
}

// noteCheck logs a check's change of state: a failure when it begins or
// its reason changes, a recovery once.
func (h *Handlers) noteCheck(name string, err error) {
	h.mu.Lock()
	prev, was := h.failing[name]
	switch {
	case err == nil && was:
		delete(h.failing, name)
		h.mu.Unlock()
		h.kit.Log.Info("readiness check recovered", "check", name)
	case err != nil && (!was || prev != err.Error()):
		h.failing[name] = err.Error()
		h.mu.Unlock()
		h.kit.Log.Warn("readiness check failed; logged again when it recovers or its reason changes", "check", name, "error", err)
	default:
		h.mu.Unlock()
	}
}

// whoamiResponse is the caller as the gateway sees it.
type whoamiResponse struct {
	identity.Member
	Certificate certificateInfo `json:"certificate"`
}

type certificateInfo struct {
	Serial   string    `json:"serial"`
	Issuer   string    `json:"issuer"`
	NotAfter time.Time `json:"not_after"`
}

// Whoami is GET /v1/whoami.
func (h *Handlers) Whoami(c *gin.Context) {
	leaf := c.Request.TLS.PeerCertificates[0]
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, whoamiResponse{
		Member: chain.Caller(c),
		Certificate: certificateInfo{
			Serial:   fmt.Sprintf("%x", leaf.SerialNumber),
			Issuer:   leaf.Issuer.CommonName,
			NotAfter: leaf.NotAfter.UTC(),
		},
	})
}

// RequireMetricsReader admits security officers and members with the
// metrics role: the series name members.
func (h *Handlers) RequireMetricsReader(c *gin.Context) error {
	if m := chain.Caller(c); m.Kind != identity.KindAuditor && !m.HasRole("metrics") {
		return problem.New(http.StatusForbidden, problem.TypeForbidden, "metrics are for security officers and members with the metrics role")
	}
	return nil
}

// jwksContentType is the media type of a JWK Set (RFC 7517 §8.5).
const jwksContentType = "application/jwk-set+json"

// JWKS serves the public key of every signing key version still in its
// verification window, so that a signature made before a rotation still
// verifies. It needs a member certificate like every other route: partners
// fetch it over the same mutual TLS as their data.
func (h *Handlers) JWKS(c *gin.Context) error {
	if h.signer == nil {
		return problem.Unavailable("this gateway has no signing keys configured", errors.New("no signer"))
	}
	set, err := h.signer.Keys(c.Request.Context())
	if err != nil {
		return problem.Unavailable("the signing keys cannot be read right now", err)
	}
	// Whatever the signer hands over, only public halves leave.
	pub, err := jwk.PublicSetOf(set)
	if err != nil {
		return fmt.Errorf("jwks: %w", err)
	}
	body, err := json.Marshal(pub)
	if err != nil {
		return fmt.Errorf("jwks: %w", err)
	}
	// Caching for as long as the signer reuses its read bounds how late a
	// verifier sees a new version; verifiers refetch on an unknown kid.
	c.Header("Cache-Control", fmt.Sprintf("public, max-age=%d", int(h.jwksTTL.Seconds())))
	c.Data(http.StatusOK, jwksContentType, body)
	return nil
}

// statusResponse is GET /v1/policy: which policy decides this member's
// records, so that a partner can tell which revision a signed decision came
// from.
type statusResponse struct {
	Active            policy.PolicyInfo  `json:"active"`
	Shadow            *policy.PolicyInfo `json:"shadow"`
	ShadowDivergences uint64             `json:"shadow_divergences"`
	LastReload        *reloadView        `json:"last_reload,omitempty"`
	Timeout           string             `json:"timeout"`
}

type reloadView struct {
	At       time.Time `json:"at"`
	Target   string    `json:"target"`
	Result   string    `json:"result"`
	Revision string    `json:"revision,omitempty"`
}

// Policy is GET /v1/policy.
func (h *Handlers) Policy(c *gin.Context) error {
	rep, ok := h.policy.(policy.StatusReporter)
	if !ok {
		return problem.New(http.StatusNotFound, problem.TypeNotFound, "this gateway runs no policy engine that reports its state")
	}
	st := rep.Status()
	out := statusResponse{Active: st.Active, Shadow: st.Shadow, ShadowDivergences: st.ShadowDivergences, Timeout: st.Timeout}
	if st.LastReload != nil {
		out.LastReload = &reloadView{At: st.LastReload.At, Target: st.LastReload.Target, Result: st.LastReload.Result, Revision: st.LastReload.Revision}
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
	return nil
}

// schemaType is the media type of a JSON Schema document.
const schemaType = "application/schema+json"

// Schema is GET /v1/schemas/{kind}: the JSON Schema every pushed record of
// that kind is validated against, exactly as compiled.
func (h *Handlers) Schema(c *gin.Context) error {
	doc, ok, err := records.Schema(c.Param("kind"))
	if err != nil {
		return err
	}
	if !ok {
		p := problem.New(http.StatusNotFound, problem.TypeNotFound, "no schema for this kind")
		p.Extra = map[string]any{"kinds": records.Kinds}
		return p
	}
	revalidated(c, schemaType, doc)
	return nil
}

// OpenAPI is GET /v1/openapi.json.
func (h *Handlers) OpenAPI(c *gin.Context) {
	revalidated(c, "application/json", h.openapi)
}

// revalidated answers a document that is the same bytes for every member
// and names none of them, nor any record (the OpenAPI description, a record
// schema): unlike every other answer it may be kept, but only revalidated
// (no-cache), and its strong ETag (the first 128 bits of its SHA-256) makes
// the revalidation a 304 when nothing changed.
func revalidated(c *gin.Context, contentType string, body []byte) {
	sum := sha256.Sum256(body)
	etag := `"` + hex.EncodeToString(sum[:16]) + `"`
	c.Header("Cache-Control", "no-cache")
	c.Header("ETag", etag)
	if noneMatch(c.GetHeader("If-None-Match"), etag) {
		c.Status(http.StatusNotModified)
		return
	}
	c.Data(http.StatusOK, contentType, body)
}

// noneMatch reports whether an If-None-Match header names etag (RFC 9110
// 13.1.2: "*", or a list compared weakly).
func noneMatch(header, etag string) bool {
	for _, tag := range strings.Split(header, ",") {
		tag = strings.TrimSpace(tag)
		if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
			return true
		}
	}
	return false
}

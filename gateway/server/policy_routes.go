package server

import (
	"fmt"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/problem"
)

// polStatusResponse is GET /v1/policy: which policy decides this member's
// records, so that a partner can tell which revision a signed decision came
// from. Register sizes are for security officers only.
type polStatusResponse struct {
	Active            policy.PolicyInfo      `json:"active"`
	Shadow            *policy.PolicyInfo     `json:"shadow"`
	ShadowDivergences uint64                 `json:"shadow_divergences"`
	LastReload        *polReloadView         `json:"last_reload,omitempty"`
	Timeout           string                 `json:"timeout"`
	Registers         *policy.RegisterCounts `json:"registers,omitempty"`
}

type polReloadView struct {
	At       time.Time `json:"at"`
	Target   string    `json:"target"`
	Result   string    `json:"result"`
	Revision string    `json:"revision,omitempty"`
}

func (s *Server) polStatus(c *gin.Context) {
	rep, ok := s.deps.Policy.(policy.StatusReporter)
	if !ok {
		s.fail(c, problem.New(http.StatusNotFound, problem.TypeNotFound, "this gateway runs no policy engine that reports its state"))
		return
	}
	st := rep.Status()
	out := polStatusResponse{Active: st.Active, Shadow: st.Shadow, ShadowDivergences: st.ShadowDivergences, Timeout: st.Timeout}
	if st.LastReload != nil {
		out.LastReload = &polReloadView{At: st.LastReload.At, Target: st.LastReload.Target, Result: st.LastReload.Result, Revision: st.LastReload.Revision}
	}
	if m, _ := identity.FromContext(c.Request.Context()); m.Kind == identity.KindAuditor {
		out.Registers = &st.Registers
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, out)
}

// polRegisterMetrics puts the policy engine's series on the server's
// registry when the engine keeps any.
func polRegisterMetrics(reg prometheus.Registerer, e policy.Engine) error {
	if _, err := registerIfCollector(reg, e); err != nil {
		return fmt.Errorf("policy metrics: %w", err)
	}
	return nil
}

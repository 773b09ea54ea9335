package server

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/gateway/identity"
)

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

func (s *Server) whoami(c *gin.Context) {
	m, _ := identity.FromContext(c.Request.Context())
	leaf := c.Request.TLS.PeerCertificates[0]
	c.JSON(http.StatusOK, whoamiResponse{
		Member: m,
		Certificate: certificateInfo{
			Serial:   fmt.Sprintf("%x", leaf.SerialNumber),
			Issuer:   leaf.Issuer.CommonName,
			NotAfter: leaf.NotAfter.UTC(),
		},
	})
}

func (s *Server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

// readyz asks every configured dependency in parallel. Failure details go to
// the log; the response names only which dependency is not ready.
func (s *Server) readyz(c *gin.Context) {
	ctx, cancel := context.WithTimeout(c.Request.Context(), 3*time.Second)
	defer cancel()
	results := make(map[string]string, len(s.deps.Checks))
	var mu sync.Mutex
	var wg sync.WaitGroup
	ready := true
	for _, chk := range s.deps.Checks {
		wg.Go(func() {
			err := chk.Check(ctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				ready = false
				results[chk.Name()] = "unavailable"
				s.log.Warn("readiness check failed", "check", chk.Name(), "error", err)
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

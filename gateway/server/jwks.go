package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"
	"github.com/lestrrat-go/jwx/v2/jwk"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ura-gateway/ura/gateway/problem"
)

// jwksContentType is the media type of a JWK Set (RFC 7517 §8.5).
const jwksContentType = "application/jwk-set+json"

// jwks serves the public key of every signing key version still in its
// verification window, so that a signature made before a rotation still
// verifies. It needs a member certificate like every other route: partners
// fetch it over the same mutual TLS as their data.
func (s *Server) jwks(c *gin.Context) {
	if s.deps.Signer == nil {
		s.fail(c, problem.Unavailable("this gateway has no signing keys configured", errors.New("no signer")))
		return
	}
	set, err := s.deps.Signer.Keys(c.Request.Context())
	if err != nil {
		s.fail(c, problem.Unavailable("the signing keys cannot be read right now", err))
		return
	}
	// Whatever the signer hands over, only public halves leave.
	pub, err := jwk.PublicSetOf(set)
	if err != nil {
		s.fail(c, problem.Internal(fmt.Errorf("jwks: %w", err)))
		return
	}
	body, err := json.Marshal(pub)
	if err != nil {
		s.fail(c, problem.Internal(fmt.Errorf("jwks: %w", err)))
		return
	}
	// Caching for as long as the signer reuses its read bounds how late a
	// verifier sees a new version; verifiers refetch on an unknown kid.
	c.Header("Cache-Control", fmt.Sprintf("public, max-age=%d", int(s.cfg.Sign.JWKSCacheTTL.Seconds())))
	c.Data(http.StatusOK, jwksContentType, body)
}

// jwksRegisterMetrics puts the signing series (signer, Vault login, peer
// verification) on the server's registry when the signer or the peer
// verifier keeps any. They share one set, so the first collector found is
// enough.
func jwksRegisterMetrics(reg prometheus.Registerer, deps Deps) error {
	for _, dep := range []any{deps.Signer, deps.Peers} {
		found, err := registerIfCollector(reg, dep)
		if err != nil {
			return fmt.Errorf("signing metrics: %w", err)
		}
		if found {
			return nil
		}
	}
	return nil
}

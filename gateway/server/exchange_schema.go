package server

import (
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/records"
)

// exSchemaType is the media type of a JSON Schema document.
const exSchemaType = "application/schema+json"

// schema is GET /v1/schemas/{kind}: the JSON Schema every pushed record of
// that kind is validated against, exactly as compiled.
func (h *exHandlers) schema(c *gin.Context) {
	doc, ok, err := records.Schema(c.Param("kind"))
	if err != nil {
		h.s.fail(c, problem.Internal(err))
		return
	}
	if !ok {
		p := problem.New(http.StatusNotFound, problem.TypeNotFound, "no schema for this kind")
		p.Extra = map[string]any{"kinds": records.Kinds}
		h.s.fail(c, p)
		return
	}
	c.Header("Cache-Control", "no-cache")
	c.Data(http.StatusOK, exSchemaType, doc)
}

package exchange

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ura-gateway/ura/gateway/api/apitest"
	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/ratelimit"
)

// BenchmarkPullChunk is the pull path of one chunk with fakes: policy per
// record, redaction for a customs caller, one signer call, one audit append;
// under the jws proof profile (allow, redact: a JWS per record) and the
// chunk profile (…/chunk: one JWS over the chunk's Merkle root, a proof per
// record).
// It measures the gateway's own work, not Vault's, OPA's or the disk's.
func BenchmarkPullChunk(b *testing.B) {
	for _, tc := range []struct {
		name   string
		member identity.Member
		proof  string
	}{
		{"allow", identity.Member{ID: "AL/GOV/MOD", Nation: "ALB", Kind: "ministry"}, config.ProofJWS},
		{"redact", identity.Member{ID: "AL/GOV/DPD", Nation: "ALB", Kind: "customs"}, config.ProofJWS},
		{"allow/chunk", identity.Member{ID: "AL/GOV/MOD", Nation: "ALB", Kind: "ministry"}, config.ProofChunk},
		{"redact/chunk", identity.Member{ID: "AL/GOV/DPD", Nation: "ALB", Kind: "customs"}, config.ProofChunk},
	} {
		b.Run(tc.name, func(b *testing.B) {
			kit := &chain.Kit{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			cfg := config.Default()
			cfg.Sign.Proof = tc.proof
			h, err := New(kit, cfg, Deps{Policy: &apitest.Policy{}, Signer: &apitest.Signer{}, Audit: &apitest.Audit{Discard: true}},
				prometheus.NewRegistry())
			if err != nil {
				b.Fatal(err)
			}
			chunk := benchChunk(b)
			req := &chain.Request{Member: tc.member, ID: "bench", Route: "/v1/records", Action: "pull"}
			c, _ := gin.CreateTestContext(httptest.NewRecorder())
			c.Request = httptest.NewRequest(http.MethodGet, "/v1/records", nil)
			b.ReportAllocs()
			for b.Loop() {
				p := h.pipeline(c, req, ratelimit.ClassPull)
				p.lead = nil
				d, events, err := p.deliver(chunk)
				if err != nil || len(d) != Chunk {
					b.Fatal(err, len(d))
				}
				if err := p.commit(events); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(Chunk*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func benchBody(b testing.TB) []byte {
	raw, err := os.ReadFile(filepath.Join("..", "..", "records", "testdata", "valid", "licence.json"))
	if err != nil {
		b.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		b.Fatal(err)
	}
	docs := make([]any, Chunk)
	for i := range docs {
		doc["id"] = fmt.Sprintf("AIM-LIC-2026-%06d", i)
		one, _ := json.Marshal(doc)
		docs[i] = json.RawMessage(one)
	}
	body, _ := json.Marshal(docs)
	return body
}

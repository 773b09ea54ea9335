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
	"github.com/ura-gateway/ura/gateway/records"
)

// BenchmarkPullChunk is the pull path of one chunk with fakes: policy per
// record, redaction for a customs caller, one signer call, one audit append.
// It measures the gateway's own work, not Vault's, OPA's or the disk's.
func BenchmarkPullChunk(b *testing.B) {
	for _, tc := range []struct {
		name   string
		member identity.Member
	}{
		{"allow", identity.Member{ID: "AL/GOV/MOD", Nation: "ALB", Kind: "ministry"}},
		{"redact", identity.Member{ID: "AL/GOV/DPD", Nation: "ALB", Kind: "customs"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			kit := &chain.Kit{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			h, err := New(kit, config.Default(), Deps{Policy: &apitest.Policy{}, Signer: &apitest.Signer{}, Audit: &apitest.Audit{Discard: true}},
				prometheus.NewRegistry())
			if err != nil {
				b.Fatal(err)
			}
			checked, err := records.DecodeBatch(benchBody(b), records.FormatJSON, records.Limits{MaxRecords: Chunk, MaxDepth: 16, MaxStringLength: 8192})
			if err != nil {
				b.Fatal(err)
			}
			chunk := make([]*records.Record, len(checked))
			for i, c := range checked {
				chunk[i] = c.Record
			}
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

func benchBody(b *testing.B) []byte {
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

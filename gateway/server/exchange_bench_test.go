package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/records"
)

// BenchmarkExPullChunk is the pull path of one chunk with fakes: policy per
// record, redaction for a customs caller, one signer call, one audit append.
// It measures the gateway's own work, not Vault's, OPA's or the disk's.
func BenchmarkExPullChunk(b *testing.B) {
	for _, tc := range []struct {
		name   string
		member identity.Member
	}{
		{"allow", identity.Member{ID: "AL/GOV/MOD", Nation: "ALB", Kind: "ministry"}},
		{"redact", identity.Member{ID: "AL/GOV/DPD", Nation: "ALB", Kind: "customs"}},
	} {
		b.Run(tc.name, func(b *testing.B) {
			s := &Server{cfg: config.Default(), log: slog.New(slog.NewTextHandler(io.Discard, nil)), metrics: newMetrics(),
				deps: Deps{Policy: &exFakePolicy{}, Signer: &exFakeSigner{}, Audit: &exFakeAudit{discard: true}}}
			h := s.exchange()
			checked, err := records.DecodeBatch(exBenchBody(b), records.FormatJSON, records.Limits{MaxRecords: exChunk, MaxDepth: 16, MaxStringLength: 8192})
			if err != nil {
				b.Fatal(err)
			}
			chunk := make([]*records.Record, len(checked))
			for i, c := range checked {
				chunk[i] = c.Record
			}
			req := &exRequest{member: tc.member, id: "bench", route: "/v1/records", action: "pull"}
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				d, events, err := h.deliver(ctx, req, chunk)
				if err != nil || len(d) != exChunk {
					b.Fatal(err, len(d))
				}
				if err := h.commit(ctx, "pull", nil, events); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(exChunk*b.N)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

func exBenchBody(b *testing.B) []byte {
	raw, err := os.ReadFile(filepath.Join("..", "records", "testdata", "valid", "licence.json"))
	if err != nil {
		b.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		b.Fatal(err)
	}
	docs := make([]any, exChunk)
	for i := range docs {
		doc["id"] = fmt.Sprintf("AIM-LIC-2026-%06d", i)
		one, _ := json.Marshal(doc)
		docs[i] = json.RawMessage(one)
	}
	body, _ := json.Marshal(docs)
	return body
}

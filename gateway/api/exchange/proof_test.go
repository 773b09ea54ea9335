package exchange

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
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

// countingSigner counts signer calls and the signatures they asked for:
// what Vault Transit is asked to do.
type countingSigner struct {
	*apitest.Signer
	signatures atomic.Int64
}

func (s *countingSigner) SignTyped(ctx context.Context, typ string, payloads [][]byte) ([]string, error) {
	return s.SignLabelled(ctx, typ, payloads, nil)
}

func (s *countingSigner) SignLabelled(ctx context.Context, typ string, payloads [][]byte, labels []json.RawMessage) ([]string, error) {
	s.signatures.Add(int64(len(payloads)))
	return s.Signer.SignLabelled(ctx, typ, payloads, labels)
}

// TestSignerCallsPer10000: 10,000 released records of a stream cost one
// signer call per chunk of Chunk records and one for the trailer under
// either profile; under chunk each call is one signature, under jws one
// per record.
func TestSignerCallsPer10000(t *testing.T) {
	const n = 10000
	one := benchChunk(t)
	for _, tc := range []struct {
		proof             string
		calls, signatures int64
	}{
		{config.ProofChunk, (n+Chunk-1)/Chunk + 1, (n+Chunk-1)/Chunk + 1},
		{config.ProofJWS, (n+Chunk-1)/Chunk + 1, n + 1},
	} {
		t.Run(tc.proof, func(t *testing.T) {
			s := &countingSigner{Signer: &apitest.Signer{}}
			cfg := config.Default()
			cfg.Sign.Proof = tc.proof
			h, err := New(&chain.Kit{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, cfg,
				Deps{Policy: &apitest.Policy{}, Signer: s, Audit: &apitest.Audit{Discard: true}}, prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			c, _ := gin.CreateTestContext(httptest.NewRecorder())
			c.Request = httptest.NewRequest(http.MethodGet, "/v1/records", nil)
			req := &chain.Request{Member: identity.Member{ID: "AL/GOV/MOD", Nation: "ALB", Kind: "ministry"}, ID: "count", Route: "/v1/records", Action: "pull"}
			p := h.pipeline(c, req, ratelimit.ClassPull)
			sent := 0
			for sent < n {
				chunk := one[:min(Chunk, n-sent)]
				d, events, err := p.deliver(chunk)
				if err != nil || len(d) != len(chunk) {
					t.Fatal(err, len(d))
				}
				if err := p.commit(events); err != nil {
					t.Fatal(err)
				}
				sent += len(d)
			}
			h.endStream(p, Trailer{Complete: true, Records: sent})
			calls, sigs := s.Calls.Load(), s.signatures.Load()
			t.Logf("proof %s: %d records, %d signer calls, %d signatures", tc.proof, n, calls, sigs)
			if calls != tc.calls || sigs != tc.signatures {
				t.Errorf("%d calls and %d signatures, want %d and %d", calls, sigs, tc.calls, tc.signatures)
			}
		})
	}
}

// benchChunk is Chunk distinct licences.
func benchChunk(tb testing.TB) []*records.Record {
	tb.Helper()
	checked, err := records.DecodeBatch(benchBody(tb), records.FormatJSON, records.Limits{MaxRecords: Chunk, MaxDepth: 16, MaxStringLength: 8192})
	if err != nil {
		tb.Fatal(err)
	}
	out := make([]*records.Record, len(checked))
	for i, c := range checked {
		out[i] = c.Record
	}
	return out
}

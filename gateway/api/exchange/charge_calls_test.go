package exchange

import (
	"bytes"
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
)

// countingLimiter counts the limiter calls a request makes: each is a
// round trip to Redis in production.
type countingLimiter struct {
	apitest.Limiter
	calls atomic.Int64
}

func (l *countingLimiter) Take(ctx context.Context, m identity.Member, class ratelimit.Class, cost int) (ratelimit.Result, error) {
	l.calls.Add(1)
	return l.Limiter.Take(ctx, m, class, cost)
}

// TestPushLimiterCalls: a push of one record is one limiter call (its
// minimum and declared size together, which its one record does not
// exceed); a push of many is two, the declared size before the body is
// read and the records beyond it after. Each record is paid once.
func TestPushLimiterCalls(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	lim := &countingLimiter{}
	kit := &chain.Kit{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Limiter: lim}
	h, err := New(kit, config.Default(), Deps{Store: apitest.NewStore(), Policy: &apitest.Policy{}, Signer: &apitest.Signer{},
		Audit: &apitest.Audit{Discard: true}}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	member := identity.Member{ID: "AL/GOV/AIM", Nation: "ALB", Kind: "agency", Clearance: "SECRET"}
	r := gin.New()
	r.POST("/v1/records", func(c *gin.Context) {
		c.Request = c.Request.WithContext(identity.NewContext(c.Request.Context(), member))
	}, kit.Charge(ratelimit.ClassPush), kit.Wrap(h.Push))

	var all []json.RawMessage
	if err := json.Unmarshal(benchBody(t), &all); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		records   int
		wantCalls int64
	}{{1, 1}, {100, 2}} {
		body, _ := json.Marshal(all[:tc.records])
		lim.calls.Store(0)
		before := lim.Counts(ratelimit.ClassPush)
		req := httptest.NewRequest(http.MethodPost, "/v1/records", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		r.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			t.Fatalf("%d records: %d %s", tc.records, w.Code, w.Body)
		}
		if got := lim.calls.Load(); got != tc.wantCalls {
			t.Errorf("%d records: %d limiter calls, want %d", tc.records, got, tc.wantCalls)
		}
		if paid := lim.Counts(ratelimit.ClassPush) - before; paid != tc.records {
			t.Errorf("%d records: paid %d", tc.records, paid)
		}
	}
}

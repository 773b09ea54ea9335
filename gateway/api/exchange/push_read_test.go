package exchange

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ura-gateway/ura/gateway/api/apitest"
	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/problem"
)

// prevPolicy is the test policy, noting the previous version each pushed
// record was decided against (0: none).
type prevPolicy struct {
	apitest.Policy
	mu   sync.Mutex
	prev map[string][]int // record id → previous version, per decision
}

func (p *prevPolicy) Decide(ctx context.Context, in policy.Input) policy.Decision {
	if in.Action == policy.Push {
		v := 0
		if in.Previous != nil {
			v = in.Previous.Version
		}
		p.mu.Lock()
		p.prev[in.Record.ID] = append(p.prev[in.Record.ID], v)
		p.mu.Unlock()
	}
	return p.Policy.Decide(ctx, in)
}

func (p *prevPolicy) DecideChunk(ctx context.Context, in []policy.Input) []policy.Decision {
	return policy.DecideEach(ctx, p, in)
}

// TestPushReadsPreviousVersions: every record of a push is decided against
// its stored version, read for the whole push at once (nil when none; a
// record pushed twice in one push is decided twice against what is
// stored, not against its twin), and a store that cannot be read fails the
// whole push with 503, nothing stored.
func TestPushReadsPreviousVersions(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	st := apitest.NewStore()
	pol := &prevPolicy{prev: map[string][]int{}}
	h, err := New(&chain.Kit{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, config.Default(),
		Deps{Store: st, Policy: pol, Signer: &apitest.Signer{}, Audit: &apitest.Audit{Discard: true}}, prometheus.NewRegistry())
	if err != nil {
		t.Fatal(err)
	}
	member := identity.Member{ID: "AL/GOV/AIM", Nation: "ALB", Kind: "agency", Clearance: "SECRET"}
	push := func(recs ...[2]any) *httptest.ResponseRecorder {
		body := []byte{'['}
		for i, r := range recs {
			if i > 0 {
				body = append(body, ',')
			}
			lic := benchLicence(nil, r[0].(string))
			if v := r[1].(int); v > 1 { // a later version renews it: renewed may follow issued and itself
				lic = bytes.Replace(lic, []byte(`"version":1`), []byte(`"version":`+strconv.Itoa(v)), 1)
				lic = bytes.Replace(lic, []byte(`"status":"issued"`), []byte(`"status":"renewed"`), 1)
			}
			body = append(body, lic...)
		}
		body = append(body, ']')
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		r := httptest.NewRequest(http.MethodPost, "/v1/records", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		c.Request = r.WithContext(identity.NewContext(r.Context(), member))
		if err := h.Push(c); err != nil {
			// What the one renderer would send: status, type, detail.
			var p *problem.Error
			if !errors.As(err, &p) {
				t.Fatalf("push: %v", err)
			}
			w.Code = p.Status
			w.Body.Reset()
			_ = json.NewEncoder(w.Body).Encode(map[string]any{"type": p.Type, "detail": p.Detail})
		}
		return w
	}
	const a, b, c = "AIM-LIC-2026-PREV-A", "AIM-LIC-2026-PREV-B", "AIM-LIC-2026-PREV-C"
	if w := push([2]any{a, 1}, [2]any{b, 1}); w.Code != http.StatusOK {
		t.Fatalf("first push: %d %s", w.Code, w.Body)
	}
	if w := push([2]any{c, 1}, [2]any{a, 2}, [2]any{b, 2}, [2]any{a, 3}); w.Code != http.StatusOK || strings.Count(w.Body.String(), `"status":"accepted"`) != 4 {
		t.Fatalf("second push: %d %s", w.Code, w.Body)
	}
	want := map[string][]int{a: {0, 1, 1}, b: {0, 1}, c: {0}}
	for id, w := range want {
		if got := pol.prev[id]; !slicesEqual(got, w) {
			t.Errorf("%s decided against previous versions %v, want %v", id, got, w)
		}
	}

	st.GetErr = errors.New("connection refused")
	w := push([2]any{a, 4}, [2]any{"AIM-LIC-2026-PREV-D", 1})
	st.GetErr = nil
	if w.Code != http.StatusServiceUnavailable || !strings.Contains(w.Body.String(), problem.TypeUnavailable) ||
		!strings.Contains(w.Body.String(), "the record store is unavailable; nothing was stored, retry the batch") {
		t.Fatalf("push with the store unreadable: %d %s, want 503 nothing was stored", w.Code, w.Body)
	}
	if strings.Contains(w.Body.String(), "connection refused") {
		t.Error("the store's error reached the caller")
	}
	if got, err := st.Get(context.Background(), a); err != nil || got.Version != 3 {
		t.Errorf("after the failed push %s is %v, %v; want v3", a, got, err)
	}
	if _, err := st.Get(context.Background(), "AIM-LIC-2026-PREV-D"); err == nil {
		t.Error("a record of the failed push was stored")
	}
}

func slicesEqual(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

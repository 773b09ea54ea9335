package server

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/gateway/api/apitest"
	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/ratelimit"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// rlRoutes mounts a test-only data route that charges through take:
// POST /rltest?cost=N charges N push records; GET /rltest?reserve=N charges
// N pull records.
func rlRoutes(srv *Server) {
	// charge takes the number in query parameter param from class and
	// answers it under key.
	charge := func(class ratelimit.Class, param, key string) gin.HandlerFunc {
		return srv.kit.Wrap(func(c *gin.Context) error {
			n, _ := strconv.Atoi(c.Query(param))
			if err := srv.kit.Take(c, class, n); err != nil {
				return err
			}
			c.JSON(http.StatusOK, gin.H{key: n})
			return nil
		})
	}
	data := srv.engine.Group("/", srv.kit.Wrap(srv.identify))
	data.POST("/rltest", charge(ratelimit.ClassPush, "cost", "accepted"))
	data.GET("/rltest", charge(ratelimit.ClassPull, "reserve", "charged"))
}

// rlMembers adds an agency and a partner with IDs no other run shares, so
// that their counters on a shared Redis start empty, and sets their rate
// limits with limits.
func rlMembers(limits func(rl *config.RateLimit, agency, partner string)) (opt gatewayOption, agency, partner string) {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	run := strings.ToUpper(hex.EncodeToString(b))
	agency, partner = "AL/GOV/RL"+run, "IT/GOV/RL"+run
	return withConfig(func(cfg *config.Config) {
		cfg.Members = append(cfg.Members,
			config.Member{ID: agency, Name: "Agency under test", Nation: "ALB", Kind: "agency", Clearance: "SECRET"},
			config.Member{ID: partner, Name: "Partner under test", Nation: "ITA", Kind: "partner", Clearance: "CONFIDENTIAL"},
		)
		limits(&cfg.RateLimit, agency, partner)
	}), agency, partner
}

type rlResponse struct {
	status int
	header http.Header
	body   map[string]any
}

func rlCall(t *testing.T, c *memberClient, method, path string) rlResponse {
	t.Helper()
	r := c.do(method, path, "", "", nil)
	var body map[string]any
	if len(r.body) > 0 && r.header.Get("Content-Type") != "text/plain; charset=utf-8" {
		if err := json.Unmarshal(r.body, &body); err != nil {
			t.Fatalf("%s %s: body is not JSON: %q", method, path, r.body)
		}
	}
	return rlResponse{status: r.status, header: r.header, body: body}
}

var rlHeaderShape = regexp.MustCompile(`^"(push|pull)";r=(\d+);t=(\d+)$`)

// rlRemaining parses r= from the RateLimit header.
func rlRemaining(t *testing.T, h http.Header) int {
	t.Helper()
	m := rlHeaderShape.FindStringSubmatch(h.Get("RateLimit"))
	if m == nil {
		t.Fatalf("RateLimit header %q malformed", h.Get("RateLimit"))
	}
	r, _ := strconv.Atoi(m[2])
	return r
}

// TestRateLimitOverMTLS: over real mutual TLS, against the shared Redis, a
// partner that floods is refused with 429 while the agency is unaffected.
func TestRateLimitOverMTLS(t *testing.T) {
	addr, pw := testenv.Redis(t)
	members, agency, partner := rlMembers(func(rl *config.RateLimit, _, partner string) {
		tiny := &config.Rate{Rate: 1, Burst: 3, Period: time.Minute}
		rl.Members = map[string]config.MemberRateLimit{
			partner: {RateClasses: config.RateClasses{Push: tiny, Pull: &config.Rate{Rate: 1, Burst: 10, Period: time.Minute}}},
		}
	})
	e := startGateway(t, members, withRealLimiter(addr, pw), beforeRun(rlRoutes))
	partnerC, agencyC := e.as(partner), e.as(agency)

	// The partner's burst of 3 records: allowed, with both headers.
	for i := range 3 {
		r := rlCall(t, partnerC, http.MethodPost, "/rltest?cost=1")
		if r.status != http.StatusOK {
			t.Fatalf("partner request %d: %d %v", i+1, r.status, r.body)
		}
		if got := r.header.Get("RateLimit-Policy"); got != `"push";q=1;w=60` {
			t.Errorf("RateLimit-Policy = %q", got)
		}
		if got := rlRemaining(t, r.header); got != 2-i {
			t.Errorf("request %d: r=%d, want %d", i+1, got, 2-i)
		}
		if r.header.Get("Retry-After") != "" {
			t.Error("Retry-After on an allowed response")
		}
	}

	// The fourth is refused: 429 problem with Retry-After and the headers.
	r := rlCall(t, partnerC, http.MethodPost, "/rltest?cost=1")
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("partner over its limit: %d %v", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != problem.ContentType {
		t.Errorf("Content-Type = %q", ct)
	}
	if r.body["type"] != problem.TypeRateLimited {
		t.Errorf("problem type = %v", r.body["type"])
	}
	retry, err := strconv.Atoi(r.header.Get("Retry-After"))
	if err != nil || retry < 1 || retry > 60 {
		t.Errorf("Retry-After = %q, want whole seconds in [1, 60]", r.header.Get("Retry-After"))
	}
	if r.body["retry_after"] != float64(retry) {
		t.Errorf("problem retry_after %v differs from Retry-After %d", r.body["retry_after"], retry)
	}
	if r.header.Get("RateLimit-Policy") == "" || rlRemaining(t, r.header) != 0 {
		t.Errorf("refusal headers: policy %q, ratelimit %q", r.header.Get("RateLimit-Policy"), r.header.Get("RateLimit"))
	}

	// A batch larger than the burst is refused up front: no Retry-After,
	// and the problem says the largest batch.
	r = rlCall(t, partnerC, http.MethodPost, "/rltest?cost=5")
	if r.status != http.StatusTooManyRequests || r.body["max_batch"] != float64(3) {
		t.Errorf("over-burst batch: %d %v", r.status, r.body)
	}
	if r.header.Get("Retry-After") != "" {
		t.Errorf("Retry-After %q on a batch that can never fit", r.header.Get("Retry-After"))
	}
	if !strings.Contains(r.body["detail"].(string), "at most 3") {
		t.Errorf("detail does not give the max batch: %v", r.body["detail"])
	}

	// Meanwhile the agency is unaffected.
	for i := range 10 {
		r := rlCall(t, agencyC, http.MethodPost, "/rltest?cost=50")
		if r.status != http.StatusOK {
			t.Fatalf("agency request %d refused while the partner floods: %d %v", i+1, r.status, r.body)
		}
		if r.header.Get("RateLimit-Policy") != `"push";q=6000;w=60` {
			t.Errorf("agency policy %q", r.header.Get("RateLimit-Policy"))
		}
	}

	// A pull is charged what it asks for, whatever it returns (what policy
	// withheld must not show in the quota).
	r = rlCall(t, partnerC, http.MethodGet, "/rltest?reserve=10")
	if r.status != http.StatusOK || rlRemaining(t, r.header) != 0 {
		t.Fatalf("pull: %d r=%q", r.status, r.header.Get("RateLimit"))
	}
	if r = rlCall(t, partnerC, http.MethodGet, "/rltest?reserve=1"); r.status != http.StatusTooManyRequests {
		t.Errorf("more than the 10 charged allowed: %d", r.status)
	}

	// Routes that are not data routes carry no rate-limit headers.
	resp, _, err := whoami(t, partnerC.http, e.addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.Header.Get("RateLimit") != "" || resp.Header.Get("RateLimit-Policy") != "" {
		t.Error("whoami is rate limited")
	}

	// The limiter's series are on the server's /metrics.
	raw := e.as("AL/GOV/AUDIT").get("/metrics").body
	for _, want := range []string{
		`ura_ratelimit_requests_total{class="push",member="` + partner + `",result="limited"} 2`,
		`ura_ratelimit_requests_total{class="push",member="` + partner + `",result="allowed"} 3`,
		`ura_ratelimit_requests_total{class="push",member="` + agency + `",result="allowed"} 10`,
		`ura_ratelimit_records_total{class="push",member="` + agency + `"} 500`,
		`ura_ratelimit_mode{mode="redis"} 1`,
	} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestRateLimitRedisDownOverMTLS: with Redis unreachable, a fail-closed
// partner gets 503 and nothing is processed, while a fail-local agency is
// still limited in-process.
func TestRateLimitRedisDownOverMTLS(t *testing.T) {
	srvRedis := testenv.StartRedis(t)
	members, agency, partner := rlMembers(func(rl *config.RateLimit, agency, _ string) {
		rl.FailByKind = map[string]string{"agency": config.FailLocal}
		rl.Members = map[string]config.MemberRateLimit{
			agency: {RateClasses: config.RateClasses{Push: &config.Rate{Rate: 1, Burst: 4, Period: time.Minute}}},
		}
		rl.Replicas = 2
	})
	e := startGateway(t, members, withRealLimiter(srvRedis.Addr, srvRedis.Password), beforeRun(rlRoutes))
	partnerC, agencyC := e.as(partner), e.as(agency)

	if r := rlCall(t, partnerC, http.MethodPost, "/rltest?cost=1"); r.status != http.StatusOK {
		t.Fatalf("before the outage: %d", r.status)
	}
	srvRedis.Stop()

	r := rlCall(t, partnerC, http.MethodPost, "/rltest?cost=1")
	if r.status != http.StatusServiceUnavailable || r.body["type"] != problem.TypeUnavailable {
		t.Fatalf("fail closed with Redis down: %d %v", r.status, r.body)
	}
	if !strings.Contains(r.body["detail"].(string), "rate limiter is unavailable") {
		t.Errorf("detail = %v", r.body["detail"])
	}
	if _, leaked := r.body["accepted"]; leaked {
		t.Error("the handler ran although the limiter could not decide")
	}

	// burst 4 / 2 replicas = 2 per process while Redis is away.
	for i := range 2 {
		if r := rlCall(t, agencyC, http.MethodPost, "/rltest?cost=1"); r.status != http.StatusOK {
			t.Fatalf("agency local decision %d: %d %v", i+1, r.status, r.body)
		}
	}
	if r := rlCall(t, agencyC, http.MethodPost, "/rltest?cost=1"); r.status != http.StatusTooManyRequests {
		t.Errorf("fail local allowed more than limit/replicas: %d", r.status)
	}
}

func TestTakeAnswers(t *testing.T) {
	member := identity.Member{ID: "IT/GOV/MOD", Kind: "partner"}
	cases := []struct {
		name       string
		limiter    ratelimit.Limiter
		noMember   bool
		cost       int
		wantOK     bool
		wantStatus int
		wantType   string
		wantRetry  string
		wantRL     string
	}{
		{name: "no limiter configured allows", limiter: nil, cost: 5, wantOK: true},
		{name: "allowed", cost: 1, wantOK: true, wantRL: `"push";r=9;t=6`,
			limiter: &apitest.Limiter{Result: &ratelimit.Result{Allowed: true, Limit: 10, Burst: 10, Remaining: 9, ResetAfter: 5100 * time.Millisecond, Policy: `"push";q=10;w=60`}}},
		{name: "refused rounds Retry-After up", cost: 1, wantStatus: 429, wantType: problem.TypeRateLimited, wantRetry: "3", wantRL: `"push";r=0;t=60`,
			limiter: &apitest.Limiter{Result: &ratelimit.Result{Limit: 10, Burst: 10, Window: time.Minute, RetryAfter: 2001 * time.Millisecond, ResetAfter: 59500 * time.Millisecond, Policy: `"push";q=10;w=60`}}},
		{name: "limiter unavailable is 503", cost: 1, wantStatus: 503, wantType: problem.TypeUnavailable,
			limiter: &apitest.Limiter{Err: ratelimit.ErrUnavailable}},
		{name: "other limiter error is 500, not allowed", cost: 1, wantStatus: 500, wantType: problem.TypeInternal,
			limiter: &apitest.Limiter{Err: errors.New("bad key")}},
		{name: "no member in context is never unlimited", noMember: true, cost: 1, wantStatus: 500, wantType: problem.TypeInternal,
			limiter: &apitest.Limiter{Result: &ratelimit.Result{Allowed: true}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			gin.SetMode(gin.ReleaseMode)
			kit := &chain.Kit{Limiter: tc.limiter, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
			w := httptest.NewRecorder()
			c, _ := gin.CreateTestContext(w)
			c.Request = httptest.NewRequest(http.MethodPost, "/", nil)
			if !tc.noMember {
				c.Request = c.Request.WithContext(identity.NewContext(c.Request.Context(), member))
			}
			err := kit.Take(c, ratelimit.ClassPush, tc.cost)
			if err != nil {
				kit.Fail(c, err)
			}
			ok := err == nil
			if ok != tc.wantOK {
				t.Fatalf("take = %v, want %v (status %d, %s)", ok, tc.wantOK, w.Code, w.Body)
			}
			if tc.wantRL != "" && w.Header().Get("RateLimit") != tc.wantRL {
				t.Errorf("RateLimit = %q, want %q", w.Header().Get("RateLimit"), tc.wantRL)
			}
			if got := w.Header().Get("Retry-After"); got != tc.wantRetry {
				t.Errorf("Retry-After = %q, want %q", got, tc.wantRetry)
			}
			if tc.wantOK {
				return
			}
			if w.Code != tc.wantStatus {
				t.Errorf("status %d, want %d", w.Code, tc.wantStatus)
			}
			var body map[string]any
			_ = json.Unmarshal(w.Body.Bytes(), &body)
			if body["type"] != tc.wantType {
				t.Errorf("type %v, want %s", body["type"], tc.wantType)
			}
			if strings.Contains(w.Body.String(), "bad key") {
				t.Error("an internal cause reached the caller")
			}
		})
	}
}

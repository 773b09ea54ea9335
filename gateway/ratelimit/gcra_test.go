package ratelimit

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/redis/go-redis/v9"

	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// runID keeps this run's keys apart from every other run on the shared Redis.
var runID = func() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return strings.ToUpper(hex.EncodeToString(b))
}()

var memberSeq atomic.Int64

// testMember is a member no other test (or run) uses.
func testMember(kind string) identity.Member {
	id := fmt.Sprintf("ZZ/TEST/R%s-%d", runID, memberSeq.Add(1))
	return identity.Member{ID: id, Kind: kind, Name: id, Nation: "ALB", Clearance: "SECRET"}
}

func sharedRedis(t testing.TB) redis.UniversalClient {
	t.Helper()
	addr, pw := testenv.Redis(t)
	return client(t, addr, pw)
}

func client(t testing.TB, addr, password string) redis.UniversalClient {
	t.Helper()
	rc, err := NewClient(config.Redis{Addrs: []string{addr}, Password: password, Timeout: 2 * time.Second}, func(s string) string { return s })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = rc.Close() })
	return rc
}

// logBuffer collects log output from concurrent goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) count(substr string) int { return strings.Count(b.String(), substr) }

// limits is a rate-limit config giving each member the same limit on every class.
func limits(r config.Rate, members ...identity.Member) config.RateLimit {
	rl := config.Default().RateLimit
	rl.Members = map[string]config.MemberRateLimit{}
	for _, m := range members {
		rl.Members[m.ID] = config.MemberRateLimit{RateClasses: config.RateClasses{Push: &r, Pull: &r, Trace: &r, Audit: &r}}
	}
	return rl
}

func newTestGCRA(t testing.TB, rdb redis.UniversalClient, rl config.RateLimit) (*GCRA, *logBuffer) {
	t.Helper()
	logs := &logBuffer{}
	g := NewGCRA(rdb, rl, slog.New(slog.NewTextHandler(logs, nil)))
	if rdb != nil {
		t.Cleanup(func() { assertKeysExpire(t, rdb) })
	}
	return g, logs
}

// assertKeysExpire scans this run's keys: every one must have a TTL.
func assertKeysExpire(t testing.TB, rdb redis.UniversalClient) {
	t.Helper()
	ctx := context.Background()
	if rdb.Ping(ctx).Err() != nil {
		return // a test that stopped its own Redis
	}
	keys, err := scanKeys(ctx, rdb, KeyPrefix+"ZZ/TEST/R"+runID+"-*")
	if err != nil {
		t.Errorf("scan: %v", err)
		return
	}
	for _, k := range keys {
		ttl, err := rdb.TTL(ctx, k).Result()
		if err != nil {
			t.Errorf("TTL %s: %v", k, err)
			continue
		}
		// -2 (gone since the scan) is fine; -1 (no expiry) never is.
		if ttl == -1 || (ttl < 0 && ttl != -2) {
			t.Errorf("key %s has no TTL (%v)", k, ttl)
		}
	}
}

func scanKeys(ctx context.Context, rdb redis.UniversalClient, pattern string) ([]string, error) {
	var out []string
	var cursor uint64
	for {
		keys, next, err := rdb.Scan(ctx, cursor, pattern, 1000).Result()
		if err != nil {
			return nil, err
		}
		out = append(out, keys...)
		if cursor = next; cursor == 0 {
			return out, nil
		}
	}
}

func take(t *testing.T, g *GCRA, m identity.Member, class Class, cost int) Result {
	t.Helper()
	res, err := g.Take(context.Background(), m, class, cost)
	if err != nil {
		t.Fatalf("Take(%s, %s, %d): %v", m.ID, class, cost, err)
	}
	return res
}

// slow is a limit that refills one record a minute: within a test, what was
// charged stays charged, so counts are exact.
var slow = config.Rate{Rate: 1, Burst: 5, Period: time.Minute}

func TestLimitsPerMemberAndClass(t *testing.T) {
	rdb := sharedRedis(t)
	partner, agency := testMember("partner"), testMember("agency")
	g, _ := newTestGCRA(t, rdb, limits(slow, partner, agency))

	for i := range 5 {
		res := take(t, g, partner, ClassPush, 1)
		if !res.Allowed || res.Remaining != 4-i {
			t.Fatalf("push %d: %+v, want allowed with %d remaining", i+1, res, 4-i)
		}
	}
	res := take(t, g, partner, ClassPush, 1)
	if res.Allowed {
		t.Fatal("sixth push allowed over a burst of 5")
	}
	if res.RetryAfter <= 0 || res.RetryAfter > time.Minute {
		t.Errorf("RetryAfter = %s, want (0, 1m]", res.RetryAfter)
	}
	if res.Policy != `"push";q=1;w=60` || res.Limit != 1 || res.Burst != 5 || res.Window != time.Minute {
		t.Errorf("policy %q limit %d burst %d window %s", res.Policy, res.Limit, res.Burst, res.Window)
	}
	if res.ResetAfter <= 4*time.Minute || res.ResetAfter > 5*time.Minute {
		t.Errorf("ResetAfter = %s, want about 5m", res.ResetAfter)
	}

	// Another class of the same member, and another member, are untouched.
	if res := take(t, g, partner, ClassPull, 5); !res.Allowed {
		t.Errorf("partner pull limited by its pushes: %+v", res)
	}
	if res := take(t, g, agency, ClassPush, 5); !res.Allowed {
		t.Errorf("agency push limited by the partner: %+v", res)
	}

	if got := testutil.ToFloat64(g.metrics.requests.WithLabelValues(partner.ID, "push", resultAllowed)); got != 5 {
		t.Errorf("allowed counter = %v, want 5", got)
	}
	if got := testutil.ToFloat64(g.metrics.requests.WithLabelValues(partner.ID, "push", resultLimited)); got != 1 {
		t.Errorf("limited counter = %v, want 1", got)
	}
	if got := testutil.ToFloat64(g.metrics.mode.WithLabelValues(modeRedis)); got != 1 {
		t.Errorf("mode gauge redis = %v, want 1", got)
	}
	// The state is in Redis under the documented key.
	key, _ := Key(partner.ID, ClassPush)
	if n, err := rdb.Exists(context.Background(), key).Result(); err != nil || n != 1 {
		t.Errorf("key %s not in Redis (%d, %v)", key, n, err)
	}
}

func TestDefaultLimitsByKind(t *testing.T) {
	rdb := sharedRedis(t)
	partner, agency := testMember("partner"), testMember("agency")
	g, _ := newTestGCRA(t, rdb, config.Default().RateLimit)
	// A partner's push burst is 200 by default; the agency's is 2000.
	if res := take(t, g, partner, ClassPush, 201); res.Allowed || res.Burst != 200 {
		t.Errorf("partner push of 201: %+v, want refused with burst 200", res)
	}
	if res := take(t, g, agency, ClassPush, 1000); !res.Allowed || res.Burst != 2000 {
		t.Errorf("agency push of 1000: %+v, want allowed with burst 2000", res)
	}
}

func TestRefillsAtTheRate(t *testing.T) {
	rdb := sharedRedis(t)
	m := testMember("customs")
	// One record every 100ms, one at a time.
	g, _ := newTestGCRA(t, rdb, limits(config.Rate{Rate: 10, Burst: 1, Period: time.Second}, m))
	if res := take(t, g, m, ClassTrace, 1); !res.Allowed {
		t.Fatalf("first: %+v", res)
	}
	// Redis' clock moves on whatever the load here: after 300ms at least
	// one record has been earned back.
	time.Sleep(300 * time.Millisecond)
	if res := take(t, g, m, ClassTrace, 1); !res.Allowed {
		t.Fatalf("after 300ms at 10/s: %+v", res)
	}
}

func TestRecordWeighting(t *testing.T) {
	rdb := sharedRedis(t)
	m := testMember("ministry")
	g, _ := newTestGCRA(t, rdb, limits(config.Rate{Rate: 1, Burst: 10, Period: time.Minute}, m))

	steps := []struct {
		cost      int
		allowed   bool
		remaining int
	}{
		{7, true, 3},
		{4, false, 3}, // would overdraw: refused, and nothing is charged
		{3, true, 0},
		{1, false, 0},
	}
	for i, s := range steps {
		res := take(t, g, m, ClassPush, s.cost)
		if res.Allowed != s.allowed || res.Remaining != s.remaining {
			t.Fatalf("step %d (cost %d): allowed %v remaining %d, want %v %d", i, s.cost, res.Allowed, res.Remaining, s.allowed, s.remaining)
		}
		if !s.allowed && res.RetryAfter <= 0 {
			t.Errorf("step %d: refused without a retry time", i)
		}
	}
	if got := testutil.ToFloat64(g.metrics.records.WithLabelValues(m.ID, "push")); got != 10 {
		t.Errorf("records counter = %v, want 10", got)
	}
}

func TestCostOverBurstRefusedUpFront(t *testing.T) {
	rdb := sharedRedis(t)
	m := testMember("partner")
	g, _ := newTestGCRA(t, rdb, limits(config.Rate{Rate: 1, Burst: 10, Period: time.Minute}, m))

	take(t, g, m, ClassPush, 2)
	res := take(t, g, m, ClassPush, 11)
	if res.Allowed || !res.OverBurst(11) {
		t.Fatalf("cost 11 over burst 10: %+v", res)
	}
	if res.RetryAfter != 0 {
		t.Errorf("RetryAfter = %s; waiting cannot help a cost over the burst", res.RetryAfter)
	}
	if res.Remaining != 8 {
		t.Errorf("Remaining = %d, want 8 (the refusal charged nothing)", res.Remaining)
	}
	if res := take(t, g, m, ClassPush, 8); !res.Allowed {
		t.Errorf("the remaining 8 were not available after the refusal: %+v", res)
	}
}

func TestInvalidMemberRefused(t *testing.T) {
	g, _ := newTestGCRA(t, nil, config.Default().RateLimit)
	for _, id := range []string{"AL/GOV/AIM:pull", "*", "AL/GOV/AIM\r\nFLUSHALL"} {
		_, err := g.Take(context.Background(), identity.Member{ID: id, Kind: "agency"}, ClassPush, 1)
		if err == nil {
			t.Errorf("member %q accepted", id)
		}
	}
	if _, err := g.Take(context.Background(), identity.Member{ID: "AL/GOV/AIM", Kind: "agency"}, ClassPush, -1); err == nil {
		t.Error("negative cost accepted")
	}
}

// TestThreeReplicas: three limiters, each with its own connection pool as
// three gateway processes would have, hammer one member at once. Together
// they must allow what one limit allows: burst + rate × elapsed.
func TestThreeReplicas(t *testing.T) {
	addr, pw := testenv.Redis(t)
	m := testMember("partner")
	limit := config.Rate{Rate: 200, Burst: 20, Period: time.Second}
	rl := limits(limit, m)
	rl.Replicas = 3

	const window = 3 * time.Second
	var allowed, refused, failed atomic.Int64
	var replicas []*GCRA
	for range 3 {
		g, _ := newTestGCRA(t, client(t, addr, pw), rl)
		replicas = append(replicas, g)
	}
	ctx := context.Background()
	var wg, ready sync.WaitGroup
	begin := make(chan struct{})
	var start time.Time
	var lastMu sync.Mutex
	var last time.Time
	for _, g := range replicas {
		for range 4 {
			ready.Add(1)
			wg.Go(func() {
				// Dialling, AUTH and loading the script happen before the
				// clock starts, on a member of their own: the window
				// measures limiting, not connection set-up.
				if _, err := g.Take(ctx, testMember("partner"), ClassPush, 1); err != nil {
					failed.Add(1)
				}
				ready.Done()
				<-begin
				for time.Since(start) < window {
					res, err := g.Take(ctx, m, ClassPush, 1)
					now := time.Now()
					switch {
					case err != nil:
						failed.Add(1)
					case res.Allowed:
						allowed.Add(1)
					default:
						refused.Add(1)
					}
					lastMu.Lock()
					if now.After(last) {
						last = now
					}
					lastMu.Unlock()
				}
			})
		}
	}
	ready.Wait()
	start = time.Now()
	close(begin)
	wg.Wait()
	elapsed := last.Sub(start)
	theory := float64(limit.Burst) + float64(limit.Rate)*elapsed.Seconds()
	got := float64(allowed.Load())
	dev := (got - theory) / theory
	t.Logf("three replicas: allowed %d, refused %d, errors %d over %s; theoretical %.1f; deviation %+.2f%%",
		allowed.Load(), refused.Load(), failed.Load(), elapsed.Round(time.Millisecond), theory, dev*100)
	if failed.Load() > 0 {
		t.Errorf("%d decisions failed", failed.Load())
	}
	if refused.Load() == 0 {
		t.Fatal("the replicas never hit the limit: the test did not saturate it")
	}
	if math.Abs(dev) > 0.05 {
		t.Errorf("combined allowed %d deviates %.2f%% from the limit's %.1f (more than 5%%)", allowed.Load(), dev*100, theory)
	}
	for i, g := range replicas {
		if g.Local() {
			t.Errorf("replica %d fell back to local mode", i)
		}
	}
}

// TestRedisStoppedMidRun stops a private Redis in the middle of a run and
// starts it again, once per failure mode.
func TestRedisStoppedMidRun(t *testing.T) {
	cases := []struct {
		name string
		fail string
	}{
		{"closed", config.FailClosed},
		{"local", config.FailLocal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := testenv.StartRedis(t)
			rdb := client(t, srv.Addr, srv.Password)
			m := testMember("partner")
			rl := limits(config.Rate{Rate: 1, Burst: 10, Period: time.Minute}, m)
			rl.Fail = tc.fail
			rl.FailByKind = nil
			rl.Replicas = 2
			rl.ProbeInterval = 100 * time.Millisecond
			g, logs := newTestGCRA(t, rdb, rl)
			ctx := context.Background()

			if res := take(t, g, m, ClassPush, 4); !res.Allowed || res.Local {
				t.Fatalf("before the outage: %+v", res)
			}
			srv.Stop()

			switch tc.fail {
			case config.FailClosed:
				for range 5 {
					_, err := g.Take(ctx, m, ClassPush, 1)
					if !errors.Is(err, ErrUnavailable) {
						t.Fatalf("fail closed with Redis down: err = %v, want ErrUnavailable", err)
					}
				}
				if got := testutil.ToFloat64(g.metrics.requests.WithLabelValues(m.ID, "push", resultError)); got != 5 {
					t.Errorf("error counter = %v, want 5", got)
				}
			case config.FailLocal:
				// This process's share: burst 10 / 2 replicas = 5, then refused.
				for i := range 5 {
					res := take(t, g, m, ClassPush, 1)
					if !res.Allowed || !res.Local {
						t.Fatalf("local decision %d: %+v", i+1, res)
					}
					if res.Burst != 5 || res.Policy != `"push";q=1;w=60` {
						t.Errorf("local limit: burst %d policy %q, want burst 5 (10/2)", res.Burst, res.Policy)
					}
				}
				if res := take(t, g, m, ClassPush, 1); res.Allowed {
					t.Fatal("fail: local allowed more than limit/replicas: unlimited in disguise")
				}
				if res := take(t, g, m, ClassPush, 6); res.Allowed || !res.OverBurst(6) {
					t.Errorf("cost 6 over the local burst of 5: %+v", res)
				}
			}
			if !g.Local() {
				t.Error("limiter does not report local mode")
			}
			if got := testutil.ToFloat64(g.metrics.mode.WithLabelValues(modeLocal)); got != 1 {
				t.Errorf("mode gauge local = %v, want 1", got)
			}
			if n := logs.count("switched to local mode"); n != 1 {
				t.Errorf("%d log lines for the switch to local, want exactly 1:\n%s", n, logs)
			}

			srv.Restart()
			deadline := time.Now().Add(10 * time.Second)
			for g.Local() && time.Now().Before(deadline) {
				_, _ = g.Take(ctx, m, ClassPush, 1)
				time.Sleep(20 * time.Millisecond)
			}
			if g.Local() {
				t.Fatal("did not switch back to redis after Redis returned")
			}
			res := take(t, g, m, ClassPush, 1)
			if !res.Allowed || res.Local || res.Burst != 10 {
				t.Errorf("after recovery: %+v, want a shared decision with the full burst", res)
			}
			if got := testutil.ToFloat64(g.metrics.mode.WithLabelValues(modeRedis)); got != 1 {
				t.Errorf("mode gauge redis = %v, want 1", got)
			}
			if n := logs.count("switched back to redis mode"); n != 1 {
				t.Errorf("%d log lines for the switch back, want exactly 1:\n%s", n, logs)
			}
			if got := testutil.ToFloat64(g.metrics.switches.WithLabelValues(modeLocal)); got != 1 {
				t.Errorf("switches to local = %v, want 1", got)
			}
			assertKeysExpire(t, rdb)
			if strings.Contains(logs.String(), srv.Password) {
				t.Error("the Redis password appears in the log")
			}
		})
	}
}

// TestWrongPassword: an authentication failure is an unavailable limiter,
// never an unlimited one.
func TestWrongPassword(t *testing.T) {
	addr, pw := testenv.Redis(t)
	bad := "not-the-password-" + runID
	rdb := client(t, addr, bad)
	m := testMember("partner")
	for _, fail := range []string{config.FailClosed, config.FailLocal} {
		t.Run(fail, func(t *testing.T) {
			rl := limits(config.Rate{Rate: 1, Burst: 3, Period: time.Minute}, m)
			rl.Fail = fail
			g, logs := newTestGCRA(t, rdb, rl)
			_, err := g.Take(context.Background(), m, ClassPush, 1)
			if fail == config.FailClosed {
				if !errors.Is(err, ErrUnavailable) {
					t.Fatalf("err = %v, want ErrUnavailable", err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				for range 2 {
					take(t, g, m, ClassPush, 1)
				}
				if res := take(t, g, m, ClassPush, 1); res.Allowed {
					t.Fatal("a fourth record allowed with a burst of 3: unlimited when Redis refuses the password")
				}
			}
			if strings.Contains(logs.String(), bad) || strings.Contains(logs.String(), pw) {
				t.Error("a password appears in the log")
			}
			if logs.count("switched to local mode") != 1 {
				t.Errorf("want one switch log line:\n%s", logs)
			}
		})
	}
	if err := (Pinger{Client: rdb}).Check(context.Background()); err == nil {
		t.Error("readiness check passes with a wrong password")
	}
}

func TestNoRedisLimitsPerProcess(t *testing.T) {
	m := testMember("partner")
	rl := limits(config.Rate{Rate: 1, Burst: 6, Period: time.Minute}, m)
	rl.Replicas = 3
	g, logs := newTestGCRA(t, nil, rl)
	for range 2 {
		if res := take(t, g, m, ClassPush, 1); !res.Allowed || !res.Local {
			t.Fatalf("%+v", res)
		}
	}
	if res := take(t, g, m, ClassPush, 1); res.Allowed {
		t.Fatal("no Redis configured must mean limit/replicas per process, not unlimited")
	}
	if !strings.Contains(logs.String(), "no redis configured") {
		t.Errorf("start-up log does not say limits are per process:\n%s", logs)
	}
	if got := testutil.ToFloat64(g.metrics.mode.WithLabelValues(modeLocal)); got != 1 {
		t.Errorf("mode gauge local = %v", got)
	}
}

func TestNewClientOptions(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	notPEM := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(notPEM, []byte("hello"), 0o600); err != nil {
		t.Fatal(err)
	}
	id := func(s string) string { return s }
	rc, err := NewClient(config.Redis{Addrs: []string{"127.0.0.1:1"}, PasswordFile: pwFile, Timeout: time.Second}, id)
	if err != nil {
		t.Fatal(err)
	}
	_ = rc.Close()
	if _, err := NewClient(config.Redis{Addrs: []string{"127.0.0.1:1"}, PasswordFile: filepath.Join(dir, "missing")}, id); err == nil {
		t.Error("missing password_file accepted")
	}
	c := config.Redis{Addrs: []string{"127.0.0.1:1"}}
	c.TLS = config.RedisTLS{Enabled: true, CAFile: notPEM}
	if _, err := NewClient(c, id); err == nil {
		t.Error("a tls.ca_file without a certificate accepted")
	}
}

// TestMain checks, after every test, that no key under the limiter's prefix
// on the shared Redis is left without a TTL, from this run or any other.
func TestMain(m *testing.M) {
	code := m.Run()
	if addr := os.Getenv("URA_REDIS_ADDR"); addr != "" && code == 0 {
		rdb := redis.NewClient(&redis.Options{Addr: addr, Password: os.Getenv("URA_REDIS_PASSWORD")})
		ctx := context.Background()
		keys, err := scanKeys(ctx, rdb, KeyPrefix+"*")
		if err != nil {
			fmt.Fprintln(os.Stderr, "scan:", err)
			code = 1
		}
		for _, k := range keys {
			if ttl, err := rdb.TTL(ctx, k).Result(); err == nil && ttl == -1 {
				fmt.Fprintf(os.Stderr, "key %s has no TTL\n", k)
				code = 1
			}
		}
		fmt.Fprintf(os.Stderr, "ratelimit: %d keys under %s* checked, each with a TTL\n", len(keys), KeyPrefix)
		_ = rdb.Close()
	}
	os.Exit(code)
}

package server

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/config"
)

// TestGetTimingHiddenVsMissing shows the two timing distributions of
// GET /v1/records/{id} for a partner: a record it may not see against an id
// nothing has, over mutual TLS, with the embedded policy and a durable audit
// log (a real file store, fsync per group commit). Requests alternate, so
// load on the machine falls on both alike. The percentiles are logged, never
// asserted (timings are not a test); the work behind them is asserted equal
// in TestOracleGetHiddenEqualsMissing. More samples:
//
//	URA_TIMING_SAMPLES=4000 go test -run TestGetTimingHiddenVsMissing -v ./gateway/server/
func TestGetTimingHiddenVsMissing(t *testing.T) {
	n := 200
	if v, err := strconv.Atoi(os.Getenv("URA_TIMING_SAMPLES")); err == nil && v > 1 {
		n = v
	}
	st, err := audit.OpenFileStore(filepath.Join(t.TempDir(), "audit"), audit.FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	chain, err := audit.Open(context.Background(), audit.Options{Store: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = chain.Close() })
	e, id := oracleEnv(t, withAuditLog(chain), withConfig(func(cfg *config.Config) {
		unlimited := &config.Rate{Rate: 1 << 30, Burst: 1 << 20, Period: time.Second}
		if cfg.RateLimit.Members == nil {
			cfg.RateLimit.Members = map[string]config.MemberRateLimit{}
		}
		for _, m := range []string{"IT/GOV/HIDDEN", "IT/GOV/MISSING"} {
			cfg.RateLimit.Members[m] = config.MemberRateLimit{RateClasses: config.RateClasses{Pull: unlimited}}
		}
	}))
	missingID := id[:len(id)-1] + "9"
	hidden, missing := e.as("IT/GOV/HIDDEN"), e.as("IT/GOV/MISSING")
	var th, tm []time.Duration
	for i := range 2 * n {
		c, p := hidden, "/v1/records/"+id
		if i%2 == 1 {
			c, p = missing, "/v1/records/"+missingID
		}
		start := time.Now()
		r := c.get(p)
		d := time.Since(start)
		if r.status != 404 {
			t.Fatalf("%s: %d", p, r.status)
		}
		if i < 20 {
			continue // connections and caches warm up
		}
		if i%2 == 0 {
			th = append(th, d)
		} else {
			tm = append(tm, d)
		}
	}
	q := func(ds []time.Duration, p float64) time.Duration {
		slices.Sort(ds)
		return ds[int(p*float64(len(ds)-1))]
	}
	for _, s := range []struct {
		name string
		ds   []time.Duration
	}{{"hidden ", th}, {"missing", tm}} {
		t.Logf("%s n=%d  p10 %v  p50 %v  p90 %v  p99 %v", s.name, len(s.ds), q(s.ds, .1), q(s.ds, .5), q(s.ds, .9), q(s.ds, .99))
	}
	t.Logf("median hidden/missing = %.3f", float64(q(th, .5))/float64(q(tm, .5)))
}

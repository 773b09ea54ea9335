package server

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ura-gateway/ura/gateway/api/exchange"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// TestCacheControlEveryRoute: every answer is no-store, errors and probes
// included, except three documents that are the same public bytes for
// every member: the JWKS (public, max-age: verifiers fetch it often) and
// the OpenAPI description and the record schemas (no-cache, revalidated by
// ETag).
func TestCacheControlEveryRoute(t *testing.T) {
	ops := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	e := startGateway(t, withEmbeddedPolicy(), withAuditChain(1000), withConfig(func(c *config.Config) { c.OpsListen, c.OpsMetrics = ops, true }))
	aim, mod, officer := e.as("AL/GOV/AIM"), e.as("AL/GOV/MOD"), e.as("AL/GOV/AUDIT")
	licence, _ := records.Canonical(exSample(t, records.KindLicence))
	cases := []struct {
		name   string
		do     func() memberResponse
		status int // 0: any
		want   string
	}{
		{"healthz", func() memberResponse { return mod.get("/healthz") }, 200, "no-store"},
		{"readyz", func() memberResponse { return mod.get("/readyz") }, 0, "no-store"},
		{"whoami", func() memberResponse { return mod.get("/v1/whoami") }, 200, "no-store"},
		{"policy", func() memberResponse { return mod.get("/v1/policy") }, 200, "no-store"},
		{"metrics", func() memberResponse { return officer.get("/metrics") }, 200, "no-store"},
		{"metrics refused", func() memberResponse { return mod.get("/metrics") }, 403, "no-store"},
		{"push", func() memberResponse {
			return aim.do(http.MethodPost, "/v1/records", "application/json", "", append(append([]byte("["), licence...), ']'))
		}, 200, "no-store"},
		{"pull page", func() memberResponse { return mod.get("/v1/records") }, 200, "no-store"},
		{"pull stream", func() memberResponse { return mod.do(http.MethodGet, "/v1/records", "", exchange.NDJSON, nil) }, 200, "no-store"},
		{"get missing", func() memberResponse { return mod.get("/v1/records/AIM-LIC-2026-999999") }, 404, "no-store"},
		{"trace", func() memberResponse { return mod.get("/v1/items/ALB/KAYO/K26-X/trace") }, 0, "no-store"},
		{"audit search", func() memberResponse { return officer.get("/v1/audit/events") }, 200, "no-store"},
		{"audit refused", func() memberResponse { return mod.get("/v1/audit/events") }, 403, "no-store"},
		{"console", func() memberResponse { return officer.get("/console/") }, 200, "no-store"},
		{"unknown route", func() memberResponse { return mod.get("/v1/nothing") }, 404, "no-store"},
		{"wrong method", func() memberResponse { return mod.do(http.MethodDelete, "/v1/whoami", "", "", nil) }, 405, "no-store"},
		{"unknown schema", func() memberResponse { return mod.get("/v1/schemas/nothing") }, 404, "no-store"},
		{"schema", func() memberResponse { return mod.get("/v1/schemas/licence") }, 200, "no-cache"},
		{"openapi", func() memberResponse { return mod.get("/v1/openapi.json") }, 200, "no-cache"},
		{"jwks", func() memberResponse { return mod.get("/.well-known/jwks.json") }, 200, fmt.Sprintf("public, max-age=%d", int(e.cfg.Sign.JWKSCacheTTL.Seconds()))},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.do()
			if tc.status != 0 && r.status != tc.status {
				t.Fatalf("status %d, want %d: %.300s", r.status, tc.status, r.body)
			}
			if got := r.header.Get("Cache-Control"); got != tc.want {
				t.Errorf("Cache-Control %q, want %q", got, tc.want)
			}
		})
	}
	// The ops listener's probes and metrics, without a certificate.
	for _, path := range []string{"/healthz", "/readyz", "/metrics"} {
		var resp *http.Response
		var err error
		waitFor(t, func() bool { resp, err = http.Get("http://" + ops + path); return err == nil })
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if got := resp.Header.Get("Cache-Control"); got != "no-store" {
			t.Errorf("ops %s: Cache-Control %q, want no-store", path, got)
		}
	}
}

// TestPublicDocumentsRevalidate: the documents that may be cached carry a
// strong ETag, and asking again with it costs a 304 and no body.
func TestPublicDocumentsRevalidate(t *testing.T) {
	e := startGateway(t)
	mod := e.as("AL/GOV/MOD")
	for _, path := range []string{"/v1/openapi.json", "/v1/schemas/licence", "/v1/schemas/tracking_event"} {
		t.Run(path, func(t *testing.T) {
			first := mod.get(path)
			etag := first.header.Get("ETag")
			if first.status != 200 || len(etag) != 34 || !strings.HasPrefix(etag, `"`) {
				t.Fatalf("status %d, ETag %q", first.status, etag)
			}
			for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
				req, _ := http.NewRequest(http.MethodGet, mod.base+path, nil)
				req.Header.Set("If-None-Match", inm)
				r := mod.send(req)
				if r.status != http.StatusNotModified || len(r.body) != 0 || r.header.Get("ETag") != etag || r.header.Get("Cache-Control") != "no-cache" {
					t.Errorf("If-None-Match %s: status %d, %d bytes, ETag %q, Cache-Control %q", inm, r.status, len(r.body), r.header.Get("ETag"), r.header.Get("Cache-Control"))
				}
			}
			req, _ := http.NewRequest(http.MethodGet, mod.base+path, nil)
			req.Header.Set("If-None-Match", `"0123456789abcdef0123456789abcdef"`)
			if r := mod.send(req); r.status != 200 || string(r.body) != string(first.body) {
				t.Errorf("a stale ETag: status %d", r.status)
			}
		})
	}
	if a, b := mod.get("/v1/schemas/licence").header.Get("ETag"), mod.get("/v1/schemas/entity").header.Get("ETag"); a == b {
		t.Error("two schemas share an ETag")
	}
}

// TestHTTPMetricsCarryMethod: the request counter and the latency
// histogram are by route and method; a made-up method is "other", never a
// series of its own.
func TestHTTPMetricsCarryMethod(t *testing.T) {
	e := startGateway(t)
	aim, officer := e.as("AL/GOV/AIM"), e.as("AL/GOV/AUDIT")
	licence, _ := records.Canonical(exSample(t, records.KindLicence))
	if r := aim.get("/v1/records"); r.status != 200 {
		t.Fatalf("pull: %d", r.status)
	}
	if r := aim.do(http.MethodPost, "/v1/records", "application/json", "", append(append([]byte("["), licence...), ']')); r.status != 200 {
		t.Fatalf("push: %d %s", r.status, r.body)
	}
	if r := aim.do("BREW", "/v1/records", "", "", nil); r.status != http.StatusMethodNotAllowed {
		t.Fatalf("BREW: %d", r.status)
	}
	requests := e.srv.metrics.requests
	for _, l := range [][3]string{{"/v1/records", "GET", "200"}, {"/v1/records", "POST", "200"}, {"unmatched", "other", "405"}} {
		if got := testutil.ToFloat64(requests.WithLabelValues(l[0], l[1], l[2])); got != 1 {
			t.Errorf("ura_http_requests_total{route=%q,method=%q,code=%q} = %v, want 1", l[0], l[1], l[2], got)
		}
	}
	scrape := officer.get("/metrics")
	for _, want := range []string{
		`ura_http_requests_total{code="200",method="POST",route="/v1/records"} 1`,
		`ura_http_request_duration_seconds_count{method="GET",route="/v1/records"} 1`,
		`ura_http_request_duration_seconds_count{method="POST",route="/v1/records"} 1`,
		`ura_http_request_duration_seconds_count{method="other",route="unmatched"} 1`,
	} {
		if !strings.Contains(string(scrape.body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(string(scrape.body), `method="BREW"`) {
		t.Error("a made-up method became a series")
	}
}

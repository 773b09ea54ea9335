package exchange

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/records"
)

// BenchmarkPushDeclaration is one customs export declaration per request
// against a stored licence customs may pull ("visible") or an id nothing
// has ("missing"), on realDeps, reporting the process's CPU per request:
// what deciding the cited licence as a pull by customs costs a lone
// declaration (gateway/ARCHITECTURE.md, "Policy contract").
//
//	source /work/main/var/dev/stack.env
//	go test -run '^$' -bench BenchmarkPushDeclaration -benchtime 300x -cpu 1 ./gateway/api/exchange/
func BenchmarkPushDeclaration(b *testing.B) {
	for _, lic := range []string{"visible", "missing"} {
		b.Run(lic, func(b *testing.B) {
			deps := realDeps(b)
			raw := benchLicence(nil, "AIM-LIC-BENCH-1")
			recs, err := records.DecodeBatch(append(append([]byte{'['}, raw...), ']'), records.FormatJSON, records.Limits{MaxRecords: 10, MaxDepth: 16, MaxStringLength: 8192})
			if err != nil || recs[0].Record == nil {
				b.Fatal(err, recs)
			}
			if _, err := deps.Store.Put(context.Background(), recs[0].Record, nil); err != nil {
				b.Fatal(err)
			}
			id := "AIM-LIC-BENCH-1"
			if lic == "missing" {
				id = "AIM-LIC-BENCH-9"
			}
			gin.SetMode(gin.ReleaseMode)
			h, err := New(&chain.Kit{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, config.Default(), deps, prometheus.NewRegistry())
			if err != nil {
				b.Fatal(err)
			}
			member := identity.Member{ID: "AL/GOV/DPD", Nation: "ALB", Kind: "customs", Clearance: "RESTRICTED"}
			req := 0
			var status string
			push := func() {
				req++
				n := strconv.Itoa(req)
				body := []byte(`[{"kind":"tracking_event","id":"DPD-EVT-B-` + n + `","version":1,` +
					`"label":{"classification":"UNCLASSIFIED","releasable_to":["ALB","CZE"],"originator":"AL/GOV/DPD","created":"2026-06-02T08:00:00Z"},` +
					`"event":{"type":"EXPORT_DECLARED","at":"2026-06-02T07:55:00Z",` +
					`"item":{"marking":{"manufacturer":"KAYO","country":"ALB","serial":"K26-` + n + `","year":2026},"ml_category":"ML3","att_category":"ammunition"},` +
					`"quantity":1,"licence_id":"` + id + `","from":"ALB","to":"CZE","location":"Durrës port","customs_declaration":"EX-B-` + n + `"}}]`)
				w, err := postPush(h, member, body)
				if err != nil || w.Code != http.StatusOK {
					b.Fatal(err, w.Code, w.Body.String())
				}
				status = w.Body.String()
			}
			push()
			b.Logf("%s: %.300s", lic, status)
			b.ReportAllocs()
			cpu0 := cpuTime()
			for b.Loop() {
				push()
			}
			b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/req")
		})
	}
}

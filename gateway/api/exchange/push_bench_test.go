package exchange

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ura-gateway/ura/gateway/api/apitest"
	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/identity"
)

// BenchmarkPush is one push of a 256-record batch through the push chain
// on fakes: decode, validation, policy per record, the decisions' audit,
// the store, signing, the outcome's audit. With tracing off
// (benchPushKit's Tracer nil) it measures what the chain costs without
// spans; tracing_bench_test.go adds the same push with tracing on.
func BenchmarkPush(b *testing.B) {
	benchPush(b, &chain.Kit{Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

func benchPush(b *testing.B, kit *chain.Kit) {
	gin.SetMode(gin.ReleaseMode)
	h, err := New(kit, config.Default(), Deps{Store: apitest.NewStore(), Policy: &apitest.Policy{}, Signer: &apitest.Signer{},
		Audit: &apitest.Audit{Discard: true}}, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	body := benchBody(b)
	member := identity.Member{ID: "AL/GOV/AIM", Nation: "ALB", Kind: "agency", Clearance: "SECRET"}
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		if w, err := postPush(h, member, body); err != nil || w.Code != http.StatusOK {
			b.Fatal(err, w.Code)
		}
	}
	b.ReportMetric(float64(Chunk*b.N)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(Chunk*b.N), "cpu-ns/record")
}

// postPush is one POST /v1/records of a JSON body by member, answered by
// h in process.
func postPush(h *Handlers, member identity.Member, body []byte) (*httptest.ResponseRecorder, error) {
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	r := httptest.NewRequest(http.MethodPost, "/v1/records", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	c.Request = r.WithContext(identity.NewContext(r.Context(), member))
	return w, h.Push(c)
}

// cpuTime is the CPU time this process has used: on a machine shared with
// other work, wall-clock ns/op says more about the neighbours than about
// the push.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPushBatch100 is deploy/bench's push100 in process: 100 licences
// never sent before per request, through the gateway's own store, audit
// chain and policy (and Vault, as BenchmarkPush1's real), reporting the
// process's CPU per record (cpu-ns/record) for the whole request.
//
//	source /work/main/var/dev/stack.env
//	go test -run '^$' -bench BenchmarkPushBatch100 -benchtime 100x ./gateway/api/exchange/
func BenchmarkPushBatch100(b *testing.B) { benchPushes(b, realDeps(b), 100, "cpu-ns/record") }

// benchPushes pushes n licences never sent before per request, as AIM,
// and reports the process's CPU per request (n 1) or per record under
// unit.
func benchPushes(b *testing.B, deps Deps, n int, unit string) {
	gin.SetMode(gin.ReleaseMode)
	h, err := New(&chain.Kit{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, config.Default(), deps, prometheus.NewRegistry())
	if err != nil {
		b.Fatal(err)
	}
	member := identity.Member{ID: "AL/GOV/AIM", Nation: "ALB", Kind: "agency", Clearance: "SECRET"}
	prefix := "AIM-LIC-" + strconv.FormatInt(time.Now().UnixNano()%1e9, 10)
	body := make([]byte, 0, n*1024)
	req := 0
	push := func() {
		req++
		body = append(body[:0], '[')
		for i := range n {
			if i > 0 {
				body = append(body, ',')
			}
			body = benchLicence(body, prefix+"-"+strconv.Itoa(req)+"-"+strconv.Itoa(i))
		}
		body = append(body, ']')
		w, err := postPush(h, member, body)
		if err != nil || w.Code != http.StatusOK || bytes.Count(w.Body.Bytes(), []byte(`"status":"accepted"`)) != n {
			b.Fatal(err, w.Code, w.Body.String())
		}
	}
	push() // warm: policy compiled, Vault connection open
	b.ReportAllocs()
	cpu0 := cpuTime()
	for b.Loop() {
		push()
	}
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(n*b.N), unit)
}

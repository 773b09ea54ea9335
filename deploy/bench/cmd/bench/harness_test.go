package main

import (
	"bytes"
	"context"
	"math"
	"net"
	"net/http"
	"net/http/pprof"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/pprof/profile"

	"github.com/ura-gateway/ura/certs/devpki"
)

// Each stack is charged to the leaf-most function a stage names; ura's own
// unnamed code is "other", not the HTTP server above it; encoding/json goes
// with the stage that called it.
func TestSampleStage(t *testing.T) {
	m := uraModule
	for _, tc := range []struct {
		name  string
		stack []string // leaf first
		want  string
	}{
		{"tls record", []string{"crypto/internal/fips140/aes/gcm.seal", "crypto/tls.(*Conn).Write", "net/http.(*response).Write"}, "tls"},
		{"gin", []string{"strings.IndexByte", "github.com/gin-gonic/gin.(*Engine).ServeHTTP", "net/http.serverHandler.ServeHTTP"}, "http"},
		{"chain verify", []string{"crypto/internal/fips140/nistec.p256Mul", "crypto/x509.(*Certificate).Verify", m + "gateway/identity.(*Verifier).Verify"}, "identity"},
		{"limiter", []string{"bufio.(*Writer).Flush", "github.com/redis/go-redis/v9.(*Client).Process", m + "gateway/ratelimit.(*Redis).Take"}, "ratelimit"},
		{"schema", []string{"github.com/santhosh-tekuri/jsonschema/v6.(*validator).validate", m + "gateway/records.Validate"}, "decode+validate"},
		{"decode's json", []string{"encoding/json.(*decodeState).object", "encoding/json.Unmarshal", m + "gateway/records.Decode", "github.com/gin-gonic/gin.(*Context).Next"}, "decode+validate"},
		{"canonical", []string{"sort.Strings", m + "gateway/records.(*Record).Canonical", m + "gateway/records.Decode"}, "redact+serialize"},
		{"redact", []string{m + "gateway/records.Redact"}, "redact+serialize"},
		{"opa", []string{"github.com/open-policy-agent/opa/v1/topdown.evalTerm", m + "gateway/policy.(*OPA).Decide"}, "policy"},
		{"release", []string{m + "gateway/release.Decide"}, "redact+serialize"},
		{"stream line json", []string{"encoding/json.(*encodeState).marshal", "encoding/json.Marshal", m + "gateway/api/exchange.(*Handlers).stream"}, "redact+serialize"},
		{"audit's json", []string{"encoding/json.Marshal", m + "gateway/audit.Canonical", m + "gateway/audit.(*Chain).Append"}, "audit"},
		{"merkle hash", []string{"crypto/sha256.block", m + "gateway/merkle.Root"}, "sign"},
		{"vault client", []string{"github.com/hashicorp/vault/api.(*Client).RawRequest", m + "gateway/sign.(*VaultSigner).Sign"}, "sign"},
		{"bbolt fsync", []string{"syscall.Syscall", "syscall.Fdatasync", "go.etcd.io/bbolt.fdatasync", m + "adapters/store.(*Embedded).PutBatch"}, "store"},
		{"pgx", []string{"github.com/jackc/pgx/v5.(*Conn).Exec"}, "store"},
		{"outbox", []string{m + "adapters/upstream.(*Outbox).deliver"}, "outbox"},
		{"allocation is its caller's", []string{"runtime.mallocgc", "encoding/json.Marshal", m + "gateway/audit.Canonical"}, "audit"},
		{"gc worker", []string{"runtime.scanobject", "runtime.gcBgMarkWorker"}, "gc+runtime"},
		{"ura's own code", []string{"strings.TrimSpace", m + "gateway/api/exchange.(*pusher).push", "github.com/gin-gonic/gin.(*Context).Next"}, "other"},
		{"nothing named", []string{"strings.TrimSpace", "sort.Slice"}, "other"},
		{"package prefix is whole", []string{"net/httpx.Do"}, "other"},
	} {
		if got := sampleStage(tc.stack); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	for _, r := range stageRules {
		found := false
		for _, s := range Stages {
			found = found || s == r.stage
		}
		if !found {
			t.Errorf("rule %+v names no stage", r)
		}
	}
}

// A profile is split by sample value, shares summing to one.
func TestSplitProfile(t *testing.T) {
	fn := func(id uint64, name string) *profile.Function { return &profile.Function{ID: id, Name: name} }
	fTLS, fPol, fRT := fn(1, "crypto/tls.(*Conn).Read"), fn(2, uraModule+"gateway/policy.(*OPA).Decide"), fn(3, "runtime.mallocgc")
	loc := func(id uint64, f *profile.Function) *profile.Location {
		return &profile.Location{ID: id, Line: []profile.Line{{Function: f}}}
	}
	lTLS, lPol, lRT := loc(1, fTLS), loc(2, fPol), loc(3, fRT)
	p := &profile.Profile{
		SampleType:    []*profile.ValueType{{Type: "samples", Unit: "count"}, {Type: "cpu", Unit: "nanoseconds"}},
		PeriodType:    &profile.ValueType{Type: "cpu", Unit: "nanoseconds"},
		Period:        10_000_000,
		DurationNanos: 2e9,
		Function:      []*profile.Function{fTLS, fPol, fRT},
		Location:      []*profile.Location{lTLS, lPol, lRT},
		Sample: []*profile.Sample{
			{Location: []*profile.Location{lTLS}, Value: []int64{1, 10_000_000}},
			{Location: []*profile.Location{lPol}, Value: []int64{2, 20_000_000}},
			{Location: []*profile.Location{lRT}, Value: []int64{1, 10_000_000}},
			{Location: []*profile.Location{lRT, lPol}, Value: []int64{1, 10_000_000}},
		},
	}
	var buf bytes.Buffer
	if err := p.Write(&buf); err != nil {
		t.Fatal(err)
	}
	ps, err := splitProfile(&buf)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{"tls": 0.2, "policy": 0.6, "gc+runtime": 0.2}
	for st, v := range want {
		if math.Abs(ps.Shares[st]-v) > 1e-9 {
			t.Errorf("%s = %v, want %v (%v)", st, ps.Shares[st], v, ps.Shares)
		}
	}
	if ps.Samples != 4 || math.Abs(ps.CPUSeconds-0.05) > 1e-9 || ps.Seconds != 2 {
		t.Errorf("totals %+v", ps)
	}
	if _, err := splitProfile(strings.NewReader("not a profile")); err == nil {
		t.Error("garbage parsed as a profile")
	}
}

// The profiler takes a real profile from net/http/pprof for as long as
// the cell runs, and says "not available" where there is none.
func TestProfiler(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	pr := &profiler{dir: t.TempDir(), client: &http.Client{Timeout: time.Minute}}

	wait := pr.start(context.Background(), &system{Name: "s", Ops: ln.Addr().String()}, "push1", 1)
	// Work outlasting the first second: the profile goes on until wait.
	deadline := time.Now().Add(1500 * time.Millisecond)
	x := 0
	for time.Now().Before(deadline) {
		x += len(strconv.Itoa(x))
	}
	ps := wait()
	if ps.Error != "" || ps.File == "" || ps.Seconds < 1.5 {
		t.Fatalf("profile: %+v", ps)
	}
	if _, err := os.Stat(ps.File); err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, v := range ps.Shares {
		sum += v
	}
	if ps.Samples > 0 && math.Abs(sum-1) > 1e-9 {
		t.Fatalf("shares sum to %v", sum)
	}

	// A system whose ops listener serves no profiles (an older revision).
	ln2, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv2 := &http.Server{Handler: http.NewServeMux()}
	go func() { _ = srv2.Serve(ln2) }()
	t.Cleanup(func() { _ = srv2.Close() })
	old := pr.start(context.Background(), &system{Name: "old", Ops: ln2.Addr().String()}, "push1", 1)()
	if !strings.HasPrefix(old.Error, "not available") {
		t.Fatalf("a system without profiles: %+v", old)
	}
}

func TestParseStraceSummary(t *testing.T) {
	out := []byte(`% time     seconds  usecs/call     calls    errors syscall
------ ----------- ----------- --------- --------- ----------------
 62.50    0.002500          25       100           fdatasync
 37.50    0.001500          15        98         2 fsync
------ ----------- ----------- --------- --------- ----------------
100.00    0.004000          20       198         2 total
`)
	got := parseStraceSummary(out)
	if len(got) != 2 || got["fdatasync"] != 100 || got["fsync"] != 98 {
		t.Fatalf("got %v", got)
	}
	if got := parseStraceSummary([]byte("strace: Process 1 attached\n")); len(got) != 0 {
		t.Fatalf("got %v", got)
	}
}

// TestFsyncHelper is the child that TestTracer traces: it fsyncs a file
// every few milliseconds until killed.
func TestFsyncHelper(t *testing.T) {
	if os.Getenv("BENCH_FSYNC_CHILD") == "" {
		t.Skip("the child of TestTracer")
	}
	f, err := os.CreateTemp("", "fsync")
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = os.Remove(f.Name()) }()
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); {
		_, _ = f.WriteString("x")
		_ = f.Sync()
		time.Sleep(5 * time.Millisecond)
	}
}

// strace counts a real process's fsyncs, on every thread.
func TestTracer(t *testing.T) {
	bin, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("no strace")
	}
	child := exec.Command(os.Args[0], "-test.run=^TestFsyncHelper$")
	child.Env = append(os.Environ(), "BENCH_FSYNC_CHILD=1")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	tr := &tracer{bin: bin, dir: t.TempDir()}
	stop, err := tr.attach(context.Background(), []int{child.Process.Pid}, "child")
	if err != nil {
		t.Skip("strace cannot attach here:", err)
	}
	time.Sleep(500 * time.Millisecond)
	calls, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	if calls["fsync"]+calls["fdatasync"] == 0 {
		t.Fatalf("no sync calls counted: %v", calls)
	}
	if _, err := (&tracer{dir: t.TempDir()}).attach(context.Background(), []int{1}, "x"); err == nil {
		t.Fatal("attached without strace")
	}
}

func TestMetricSum(t *testing.T) {
	text := []byte(`# HELP ura_sign_vault_requests_total Vault requests made for signing.
# TYPE ura_sign_vault_requests_total counter
ura_sign_vault_requests_total{op="sign",result="ok"} 41
ura_sign_vault_requests_total{op="keys",result="ok"} 1
ura_sign_vault_requests_total_other 100
ura_outbox_pending{destination="a"} 0
`)
	if v, ok := metricSum(text, vaultCounter); !ok || v != 42 {
		t.Fatalf("vault = %v %v", v, ok)
	}
	if v, ok := metricSum(text, outboxPending); !ok || v != 0 {
		t.Fatalf("pending = %v %v", v, ok)
	}
	if _, ok := metricSum(text, "ura_absent"); ok {
		t.Fatal("an absent metric was found")
	}
}

// An open-loop cell sends at the offered rate, not as fast as answers come.
func TestOpenLoopCell(t *testing.T) {
	dir := t.TempDir()
	if err := devpki.Init(devpki.InitOptions{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	url := benchTLSServer(t, dir)
	p, err := loadPKI(dir, "AL_GOV_AIM")
	if err != nil {
		t.Fatal(err)
	}
	pf := filepath.Join(dir, "self.pid")
	_ = os.WriteFile(pf, []byte(strconv.Itoa(os.Getpid())), 0o600)
	sys, err := parseSystem("name=stub,kind=nginx,url=" + url + ",pids=" + pf + ",ops=127.0.0.1:1")
	if err != nil || sys.Ops != "127.0.0.1:1" {
		t.Fatal(sys, err)
	}
	d := &driver{pki: p, pusher: "AL_GOV_AIM", timeout: 10 * time.Second, deps: &group{name: "deps"}, runTag: "t"}
	c := d.cell(context.Background(), cellPlan{sys: sys, sc: scenario{Name: "push1", Records: 1, Push: true}, mode: "keepalive", rate: 50, dur: time.Second})
	// 50/s for 1 s is 50 requests (vegeta counts from the first); a closed
	// loop on this stub would send thousands.
	if c.Rate != 50 || c.Concurrency != 0 || c.Requests < 45 || c.Requests > 55 || c.OK != c.Requests {
		t.Fatalf("cell %+v", c)
	}
	if concLabel(c) != "@50/s" || c.CPUMsPerRequest <= 0 {
		t.Fatalf("label %q, cpu/req %v", concLabel(c), c.CPUMsPerRequest)
	}
	if _, err := parseSystem("name=x,kind=ura,url=https://127.0.0.1:1,pids=a,ops=0.0.0.0:9623"); err == nil {
		t.Fatal("an ops listener off loopback was accepted")
	}
}

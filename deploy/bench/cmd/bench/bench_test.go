package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/ura-gateway/ura/certs/devpki"
	"github.com/ura-gateway/ura/deploy/bench/internal/synth"
)

var update = flag.Bool("update", false, "rewrite golden files")

func TestParseBench(t *testing.T) {
	out := []byte(`goos: linux
goarch: amd64
pkg: github.com/ura-gateway/ura/gateway/policy
BenchmarkDecide-2            	   52381	     22874 ns/op	    9876 B/op	     123 allocs/op
BenchmarkDecide/parallel-2   	  100000	     11000 ns/op	   43711 records/s
BenchmarkBroken-2 	 notanumber ns/op
PASS
ok  	github.com/ura-gateway/ura/gateway/policy	3.1s
`)
	got := parseBench("p", out)
	want := []PartBench{
		{Package: "p", Name: "BenchmarkDecide", Iterations: 52381, NsPerOp: 22874, BytesPerOp: 9876, AllocsOp: 123},
		{Package: "p", Name: "BenchmarkDecide/parallel", Iterations: 100000, NsPerOp: 11000, Metrics: map[string]float64{"records/s": 43711}},
	}
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if !bytes.Equal(gj, wj) {
		t.Fatalf("got  %s\nwant %s", gj, wj)
	}
}

func TestParseList(t *testing.T) {
	out := []byte(`BenchmarkA
BenchmarkB
ok  	github.com/x/a	0.01s
ok  	github.com/x/b	0.01s
?   	github.com/x/c	[no test files]
BenchmarkZ
ok  	github.com/x/z	0.02s
TestOnlyNot
FAIL	github.com/x/f [build failed]
`)
	if got := parseList(out); !slices.Equal(got, []string{"github.com/x/a", "github.com/x/z"}) {
		t.Fatalf("got %v", got)
	}
}

func TestQuantile(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 100; i++ {
		d = append(d, time.Duration(i))
	}
	for q, want := range map[float64]time.Duration{0.5: 50, 0.99: 99, 1: 100, 0: 1} {
		if got := quantile(d, q); got != want {
			t.Errorf("q%.2f = %d, want %d", q, got, want)
		}
	}
	if got := quantile([]time.Duration{7}, 0.99); got != 7 {
		t.Errorf("single = %d", got)
	}
}

// A pull is counted by its record lines; a closing summary line is not a
// record, and neither is an empty body.
func TestPullRecords(t *testing.T) {
	tests := []struct {
		name string
		body string
		want int64
	}{
		{"empty", "", 0},
		{"lines", "{\"kind\":\"licence\"}\n{\"kind\":\"licence\"}\n", 2},
		{"no final newline", "{\"kind\":\"licence\"}\n{\"kind\":\"licence\"}", 2},
		{"jws lines", "eyJh.eyJi.c2ln\neyJh.eyJi.c2ln\n", 2},
		{"signed objects", "{\"record\":{},\"jws\":\"x\"}\n", 1},
		{"trailer", "{\"kind\":\"licence\"}\n{\"next_cursor\":\"abc\",\"count\":1}\n", 1},
		{"ura's lines and trailer", "{\"id\":\"a\",\"version\":1,\"jws\":\"e.e.s\"}\n{\"next_cursor\":\"c\",\"complete\":true,\"records\":1}\n", 1},
		{"ura's lines and signed trailer", "{\"id\":\"a\",\"version\":1,\"jws\":\"e.e.s\"}\n{\"next_cursor\":\"c\",\"complete\":true,\"records\":1,\"digest\":\"sha256:00\",\"jws\":\"t.t.s\"}\n", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bc := &bodyCount{}
			// Read in small chunks: counting must not depend on chunking.
			_, _ = io.Copy(io.Discard, &countingBody{rc: io.NopCloser(&chunked{s: tt.body, n: 3}), c: bc})
			if got := pullRecords(bc); got != tt.want {
				t.Fatalf("got %d, want %d", got, tt.want)
			}
		})
	}
}

type chunked struct {
	s string
	n int
}

func (c *chunked) Read(p []byte) (int, error) {
	if c.s == "" {
		return 0, io.EOF
	}
	k := min(c.n, len(c.s), len(p))
	copy(p, c.s[:k])
	c.s = c.s[k:]
	return k, nil
}

// A 200 that did not move everything asked for is not a success.
func TestShortAnswer(t *testing.T) {
	push := scenario{Records: 2, Push: true}
	pull := scenario{Records: 2}
	body := func(s string) *bodyCount {
		bc := &bodyCount{}
		_, _ = io.Copy(io.Discard, &countingBody{rc: io.NopCloser(strings.NewReader(s)), c: bc})
		return bc
	}
	complete := body("{\"jws\":\"a\"}\n{\"jws\":\"b\"}\n{\"next_cursor\":\"c\",\"complete\":true,\"records\":2}\n")
	broken := body("{\"jws\":\"a\"}\n{\"jws\":\"b\"}\n{\"next_cursor\":\"c\",\"complete\":false,\"records\":2,\"error\":{}}\n")
	signed := body("{\"jws\":\"a\"}\n{\"jws\":\"b\"}\n{\"next_cursor\":\"c\",\"complete\":true,\"records\":2,\"digest\":\"sha256:00\",\"jws\":\"t.t.s\"}\n")
	signedBroken := body("{\"jws\":\"a\"}\n{\"next_cursor\":\"c\",\"complete\":false,\"records\":1,\"digest\":\"sha256:00\",\"error\":{},\"jws\":\"t.t.s\"}\n")
	for _, tt := range []struct {
		name string
		sc   scenario
		n    int64
		bc   *bodyCount
		want bool
	}{
		{"push all accepted", push, 2, nil, false},
		{"push one denied", push, 1, nil, true},
		{"pull complete", pull, 2, complete, false},
		{"pull ended with an error", pull, 2, broken, true},
		{"pull complete, signed trailer", pull, 2, signed, false},
		{"pull ended with an error, signed trailer", pull, 1, signedBroken, true},
		{"pull short", pull, 1, body("{\"kind\":\"licence\"}\n"), true},
		{"pull without trailer", pull, 2, body("{\"kind\":\"licence\"}\n{\"kind\":\"licence\"}\n"), false},
	} {
		if got := shortAnswer(tt.sc, tt.n, tt.bc) != ""; got != tt.want {
			t.Errorf("%s: short = %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestPushAccepted(t *testing.T) {
	body := `{"results":[{"id":"a","status":"accepted"},{"id":"b","status":"denied","reasons":[{"code":"x"}]},{"id":"c","status":"accepted"}]}`
	if got := pushAccepted([]byte(body)); got != 2 {
		t.Fatalf("got %d", got)
	}
}

// The process sampler sees this test's own CPU and memory, and a child
// process counts with its parent.
func TestGroupSample(t *testing.T) {
	dir := t.TempDir()
	pf := filepath.Join(dir, "self.pid")
	if err := os.WriteFile(pf, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Skip("no sleep binary:", err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	g := &group{name: "self", pidFiles: []string{pf}}
	if err := g.refresh(); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(g.pids, child.Process.Pid) || g.pids[0] != os.Getpid() {
		t.Fatalf("pids %v miss the child %d", g.pids, child.Process.Pid)
	}
	a := g.sample()
	deadline := time.Now().Add(5 * time.Second)
	for x := 0; time.Now().Before(deadline); x++ {
		_ = strconv.Itoa(x)
		if g.sample().cpuSeconds > a.cpuSeconds {
			break
		}
	}
	b := g.sample()
	if b.cpuSeconds <= a.cpuSeconds || b.hwmKB == 0 || b.rssKB == 0 {
		t.Fatalf("samples %+v then %+v", a, b)
	}

	missing := &group{name: "gone", pidFiles: []string{filepath.Join(dir, "none.pid")}}
	if err := missing.refresh(); err == nil {
		t.Fatal("a missing pid file is not an error")
	}
}

// benchTLSServer is a stand-in system: mutual TLS with the in-test PKI, one
// "accepted" result per pushed record, n NDJSON lines per pull.
func benchTLSServer(t *testing.T, dir string) string {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/records", func(w http.ResponseWriter, r *http.Request) {
		var recs []json.RawMessage
		if err := json.NewDecoder(r.Body).Decode(&recs); err != nil {
			http.Error(w, err.Error(), 400)
			return
		}
		var b strings.Builder
		b.WriteString(`{"results":[`)
		for i := range recs {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(`{"status":"accepted"}`)
		}
		b.WriteString("]}")
		_, _ = io.WriteString(w, b.String())
	})
	mux.HandleFunc("GET /v1/records", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if r.URL.Query().Get("kind") == "refuse" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusForbidden)
			_, _ = io.WriteString(w, `{"type":"https://ura.example/problems/forbidden","title":"no"}`)
			return
		}
		_, _ = w.Write(synth.NDJSON("T", n))
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: mux, ErrorLog: log.New(io.Discard, "", 0), TLSConfig: &tls.Config{
		Certificates: []tls.Certificate{cert}, ClientCAs: pool, ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS13,
	}}
	go func() { _ = srv.ServeTLS(ln, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	return "https://" + ln.Addr().String()
}

// A cell drives a real mutual-TLS server in both connection modes and
// counts what it delivered; a server that refuses is reported, not counted.
func TestRunCell(t *testing.T) {
	dir := t.TempDir()
	if err := devpki.Init(devpki.InitOptions{Dir: dir}); err != nil {
		t.Fatal(err)
	}
	url := benchTLSServer(t, dir)
	p, err := loadPKI(dir, "AL_GOV_AIM", "AL_GOV_MOD")
	if err != nil {
		t.Fatal(err)
	}
	pf := filepath.Join(dir, "self.pid")
	_ = os.WriteFile(pf, []byte(strconv.Itoa(os.Getpid())), 0o600)
	sys, err := parseSystem("name=stub,kind=ura,url=" + url + ",pids=" + pf)
	if err != nil {
		t.Fatal(err)
	}
	d := &driver{pki: p, pusher: "AL_GOV_AIM", puller: "AL_GOV_MOD", timeout: 10 * time.Second,
		deps: &group{name: "deps"}, runTag: "t", pullPath: "/v1/records?kind=licence"}
	ctx := context.Background()
	for _, sc := range []scenario{{Name: "push100", Records: 100, Push: true}, {Name: "pull", Records: 50}} {
		for _, mode := range []string{"keepalive", "fresh"} {
			c := d.runCell(ctx, sys, sc, mode, 2, 200*time.Millisecond)
			if c.Requests == 0 || c.OK != c.Requests || c.Errors != nil {
				t.Fatalf("%s %s: %+v", sc.Name, mode, c)
			}
			if c.Records != int64(c.OK*sc.Records) {
				t.Fatalf("%s %s: %d records from %d requests", sc.Name, mode, c.Records, c.OK)
			}
			if c.RecordsPerS <= 0 || c.LatencyP99Ms < c.LatencyP50Ms || c.CPUSeconds < 0 {
				t.Fatalf("%s %s: figures %+v", sc.Name, mode, c)
			}
		}
		if pr := d.probe(ctx, sys, sc); !pr.OK {
			t.Fatalf("probe %s: %+v", sc.Name, pr)
		}
	}
	// Pushes never repeat a record ID, within a cell or across cells.
	var t1, t2 vegeta.Target
	tr := d.targeter(sys, scenario{Name: "push1", Records: 1, Push: true}, "x")
	_ = tr(&t1)
	_ = tr(&t2)
	if bytes.Equal(t1.Body, t2.Body) {
		t.Fatal("two pushes carried the same record")
	}

	refused := &driver{pki: p, pusher: "AL_GOV_AIM", puller: "AL_GOV_MOD", timeout: 10 * time.Second,
		deps: &group{name: "deps"}, runTag: "t", pullPath: "/v1/records?kind=refuse"}
	c := refused.runCell(ctx, sys, scenario{Name: "pull", Records: 50}, "keepalive", 1, 100*time.Millisecond)
	if c.OK != 0 || c.Records != 0 || c.Errors["403 https://ura.example/problems/forbidden"] != c.Requests {
		t.Fatalf("refused cell: %+v", c)
	}
	if pr := refused.probe(ctx, sys, scenario{Name: "pull", Records: 50}); pr.OK || pr.Status != 403 {
		t.Fatalf("refused probe: %+v", pr)
	}

	// A client without a certificate is refused by the stand-in, as by
	// every benchmarked system: the harness does not benchmark an open door.
	bare := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.roots}}}
	if resp, err := bare.Get(url + "/v1/records?limit=1"); err == nil {
		resp.Body.Close()
		t.Fatal("a request without a client certificate was answered")
	}
}

func TestParseSystem(t *testing.T) {
	for _, bad := range []string{
		"name=x,kind=ura,url=https://10.0.0.1:1,pids=a",
		"name=x,kind=ura,url=http://127.0.0.1:1,pids=a",
		"name=x,kind=envoy,url=https://127.0.0.1:1,pids=a",
		"name=x,kind=ura,url=https://127.0.0.1:1",
		"name=x,kind=ura,url=https://127.0.0.1:1,pids=a,colour=blue",
	} {
		if _, err := parseSystem(bad); err == nil {
			t.Errorf("parseSystem(%q) accepted", bad)
		}
	}
	s, err := parseSystem("name=x,kind=nginx,url=https://127.0.0.1:1,pids=a+b,notes=n, with commas, kind=ura")
	if err != nil || s.Name != "x" || s.Kind != "nginx" || !slices.Equal(s.procs.pidFiles, []string{"a", "b"}) || s.Notes != "n, with commas, kind=ura" {
		t.Fatalf("%+v %v", s, err)
	}
}

// The report is the same for the same results; -update rewrites it.
func TestReportGolden(t *testing.T) {
	res := goldenResults()
	got := markdown(res)
	path := filepath.Join("testdata", "report.golden.md")
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if got != string(want) {
		t.Fatalf("report differs from %s (run with -update if intended):\n%s", path, got)
	}
}

func goldenResults() *Results {
	cells := []Cell{}
	for _, sc := range []struct {
		name string
		recs int
	}{{"push1", 1}, {"pull10k", 10000}} {
		for i, sys := range []string{"floor", "external-opa", "ura"} {
			rps := 1000.0 / float64(i+1) / float64(sc.recs)
			cells = append(cells, Cell{System: sys, Scenario: sc.name, Mode: "keepalive", Concurrency: 8, TargetSeconds: 5,
				ElapsedSeconds: 5, Requests: 100, OK: 100 - i, Records: int64(rps * 5 * float64(sc.recs)), RequestsPerS: rps,
				RecordsPerS: rps * float64(sc.recs), LatencyP50Ms: float64(i+1) * 1.5, LatencyP99Ms: float64(i+1) * 9,
				CPUSeconds: 2, DepsCPUSeconds: float64(i), CPUPer1kRecords: 0.4 * float64(i+1), CPUWithDepsPer1kRecords: 0.5 * float64(i+1),
				PeakRSSMiB: 30 * float64(i+1), PeakIsCell: true, Load1: 1.25})
			if i > 0 {
				cells[len(cells)-1].Errors = map[string]int{"503 https://ura.example/problems/unavailable": i}
			}
		}
	}
	vc, per := 3.0, 30.0
	cells[len(cells)-1].VaultCalls, cells[len(cells)-1].VaultCallsPer10kRecords = &vc, &per
	for i, sys := range []string{"floor", "external-opa", "ura"} {
		cells = append(cells, Cell{System: sys, Scenario: "push1", Mode: "keepalive", Rate: 500, TargetSeconds: 5, ElapsedSeconds: 5,
			Requests: 2500, OK: 2500 - i, Records: int64(2500 - i), RequestsPerS: 500, RecordsPerS: 500, LatencyP50Ms: 0.5 * float64(i+1),
			LatencyP99Ms: 2 * float64(i+1), LatencyMaxMs: 9, CPUSeconds: 0.5, CPUMsPerRequest: 0.2 * float64(i+1), Load1: 1})
	}
	cf := &CellsFile{
		Started: "2026-11-23T20:00:00Z", Finished: "2026-11-23T20:10:00Z",
		Machine: Machine{CPUs: 2, CPUModel: "Test CPU", MemoryGiB: 23.5, Kernel: "6.1.0", GoVersion: "go1.26.8",
			Date: "2026-11-23T20:00:00Z", Load1: 0.5, Versions: map[string]string{"nginx": "1.22.1", "opa": "1.22.2"}},
		Config:  RunConfig{CellSeconds: 5},
		Systems: []*system{{Name: "floor", Kind: "nginx", Notes: "nginx"}, {Name: "external-opa", Kind: "ura", Notes: "ura with OPA over HTTP"}, {Name: "ura", Kind: "ura", Notes: "ura"}},
		Probes:  []Probe{{System: "ura", Scenario: "push100", Detail: "HTTP 404"}},
		Cells:   cells,
	}
	cf.Profiles = []ProfileShares{
		{System: "ura", Scenario: "pull10k", CPUSeconds: 9.5, Samples: 950, Shares: map[string]float64{"policy": 0.4, "sign": 0.1, "gc+runtime": 0.3, "other": 0.2},
			TopOther: []FuncShare{{Func: uraModule + "gateway/api/exchange.(*Handlers).stream", Share: 0.2}}},
		{System: "ura-0e6e08e", Scenario: "pull10k", Error: "not available: the ops listener serves no /debug/pprof (ops_profiling off, or a revision without it)"},
	}
	cf.Fsyncs = []FsyncCount{{System: "ura", Scenario: "push1", Mode: "keepalive", Concurrency: 8, Requests: 100, Records: 100,
		Calls: map[string]int{"fdatasync": 150, "fsync": 50}, Total: 200, PerRequest: 2, RequestsPerS: 50}}
	res := &Results{CellsFile: cf, Names: ReportNames{Ura: "ura", Floor: "floor", ExtOPA: "external-opa"}}
	sortCells(res.Cells, []string{"floor", "external-opa", "ura"})
	res.Ratios = ratios(res.Cells, res.Names)
	res.Scale = &ScaleFile{System: "ura", Records: 1000000,
		Seed: &ScaleStep{Seconds: 300, Records: 1000000, RecordsPerS: 3333, CPUSeconds: 400, CPUPer1kRecords: 0.4, DepsCPUSeconds: 100, PeakRSSMiB: 200},
		Pull: &ScaleStep{Seconds: 100, FirstByteMs: 12, Records: 1000000, RecordsPerS: 10000, CPUSeconds: 150, CPUPer1kRecords: 0.15, DepsCPUSeconds: 80, PeakRSSMiB: 120,
			AnonBeforeMiB: 60, PeakAnonMiB: 70, PeakFileMiB: 50, MemorySamples: []MemPoint{
				{Seconds: 0, Records: 0, AnonMiB: 60, FileMiB: 10}, {Seconds: 50, Records: 500000, AnonMiB: 70, FileMiB: 30},
				{Seconds: 100, Records: 1000000, AnonMiB: 65, FileMiB: 50}}}}
	res.Parts = &PartsFile{Bench: []PartBench{
		{Package: "github.com/ura-gateway/ura/gateway/sign", Name: "BenchmarkTransit", NsPerOp: 100000},
		{Package: "github.com/ura-gateway/ura/gateway/policy", Name: "BenchmarkDecide", NsPerOp: 20000, BytesPerOp: 9000, AllocsOp: 100, Metrics: map[string]float64{"records/s": 50000}},
		{Package: "github.com/ura-gateway/ura/gateway/audit", Name: "BenchmarkAppend/group_commit/appenders=64", NsPerOp: 15000, Metrics: map[string]float64{"events/s": 66000}},
		{Package: "github.com/ura-gateway/ura/gateway/audit", Name: "BenchmarkAppend/baseline_fsync_per_event", NsPerOp: 2000000, Metrics: map[string]float64{"events/s": 500000}},
	}, Packages: []PartsPkg{{Package: "github.com/ura-gateway/ura/gateway/audit", Error: "exit status 1: FAIL"}}}
	res.Goals = goals(res)
	return res
}

func TestUpdateReadme(t *testing.T) {
	path := filepath.Join(t.TempDir(), "README.md")
	orig := "# x\n\n## Performance\n\n" + readmeBegin + "\nold\n" + readmeEnd + "\n\n## After\nkept\n"
	if err := os.WriteFile(path, []byte(orig), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := updateReadme(path, summaryBlock(goldenResults())); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	s := string(b)
	if strings.Contains(s, "old") || !strings.HasSuffix(s, readmeEnd+"\n\n## After\nkept\n") || !strings.Contains(s, "#### Summary") {
		t.Fatalf("README:\n%s", s)
	}
	if err := updateReadme(filepath.Join(t.TempDir(), "none.md"), "x"); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing README: %v", err)
	}
	noMarkers := filepath.Join(t.TempDir(), "R.md")
	_ = os.WriteFile(noMarkers, []byte("# x\n"), 0o644)
	if err := updateReadme(noMarkers, "x"); err == nil {
		t.Fatal("a README without markers was changed")
	}
}

func TestNumberFormats(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 1234567: "1,234,567", 12.345: "12.3", 0.5: "0.50", -1500: "-1,500"} {
		if got := num(v); got != want {
			t.Errorf("num(%v) = %q, want %q", v, got, want)
		}
	}
	if got := fmt.Sprint(ratio(0.456)); got != "0.46×" {
		t.Errorf("ratio = %q", got)
	}
}

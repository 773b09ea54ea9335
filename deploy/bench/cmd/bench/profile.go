package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/google/pprof/profile"
)

// Stages are the parts of ura's chain a CPU sample is charged to, in the
// order the report shows them.
var Stages = []string{"tls", "http", "identity", "ratelimit", "decode+validate", "policy",
	"redact+serialize", "sign", "audit", "store", "outbox", "gc+runtime", "other"}

const uraModule = "github.com/ura-gateway/ura/"

// stageRule charges functions of a package (a path prefix, matched up to
// the package name's end) to a stage; fn, when set, narrows the rule to
// function names containing it.
type stageRule struct {
	pkg, fn, stage string
}

// stageRules: the first rule that matches a function decides. Narrow rules
// (a function of a package) come before their package's broad one.
var stageRules = []stageRule{
	{"crypto/tls", "", "tls"},
	{"net/http", "", "http"},
	{"github.com/gin-gonic/gin", "", "http"},
	{uraModule + "gateway/identity", "", "identity"},
	{"crypto/x509", "", "identity"},
	{uraModule + "gateway/ratelimit", "", "ratelimit"},
	{"github.com/redis/go-redis", "", "ratelimit"},
	{uraModule + "gateway/records", "Canonical", "redact+serialize"},
	{uraModule + "gateway/records", "Redact", "redact+serialize"},
	{uraModule + "gateway/records", "", "decode+validate"},
	{"github.com/santhosh-tekuri/jsonschema", "", "decode+validate"},
	{uraModule + "gateway/policy", "", "policy"},
	{"github.com/open-policy-agent/opa", "", "policy"},
	{uraModule + "gateway/release", "", "redact+serialize"},
	{"encoding/json", "", "redact+serialize"},
	{uraModule + "gateway/sign", "", "sign"},
	{uraModule + "gateway/merkle", "", "sign"},
	{"github.com/hashicorp/vault/api", "", "sign"},
	{uraModule + "gateway/audit", "", "audit"},
	{uraModule + "adapters/store", "", "store"},
	{"go.etcd.io/bbolt", "", "store"},
	{"github.com/jackc/pgx", "", "store"},
	{uraModule + "adapters/upstream", "", "outbox"},
	{"runtime", "", "gc+runtime"},
}

// pkgOf splits a symbol such as
// github.com/ura-gateway/ura/gateway/records.(*Record).Canonical into its
// package path and the rest.
func pkgOf(fn string) (pkg, rest string) {
	slash := strings.LastIndexByte(fn, '/')
	dot := strings.IndexByte(fn[slash+1:], '.')
	if dot < 0 {
		return fn, ""
	}
	return fn[:slash+1+dot], fn[slash+1+dot+1:]
}

// frameStage is the stage of one function, or "" when no rule names it.
// ura's own functions that no rule names (handlers, the chain) are
// "other": their cost is theirs, not that of the HTTP server above them.
func frameStage(fn string) string {
	pkg, rest := pkgOf(fn)
	for _, r := range stageRules {
		if pkg != r.pkg && !strings.HasPrefix(pkg, r.pkg+"/") {
			continue
		}
		if r.fn != "" && !strings.Contains(rest, r.fn) {
			continue
		}
		return r.stage
	}
	if strings.HasPrefix(pkg, uraModule) {
		return "other"
	}
	return ""
}

// sampleStage charges one stack (leaf first, each frame's inlined
// functions innermost first) to the stage of its leaf-most function that a
// rule names. encoding/json is shared: it is charged to the stage of the
// nearest caller that decodes, decides, signs, audits or stores with it,
// and to redact+serialize when none does (the delivery lines). runtime
// functions count as gc+runtime wherever they are: allocation and garbage
// collection done on behalf of a stage (allocation, assists, copying) is
// charged to that stage, the nearest caller a rule names, so the table
// shows which stage allocates; only what runs on no stage's behalf (the
// background mark workers, the scheduler) is gc+runtime.
func sampleStage(funcs []string) string {
	runtime := false
	for i, fn := range funcs {
		st := frameStage(fn)
		if st == "" {
			continue
		}
		if st == "gc+runtime" {
			runtime = true
			continue
		}
		if st == "redact+serialize" && strings.HasPrefix(fn, "encoding/json.") {
			for _, up := range funcs[i+1:] {
				switch s := frameStage(up); s {
				case "", "redact+serialize", "gc+runtime", "http", "tls":
					continue
				case "other":
					return st
				default:
					return s
				}
			}
		}
		return st
	}
	if runtime {
		return "gc+runtime"
	}
	return "other"
}

// ProfileShares is one CPU profile split by stage.
type ProfileShares struct {
	System   string `json:"system"`
	Scenario string `json:"scenario"`
	Mode     string `json:"mode,omitempty"`
	// Concurrency is that of the cell the profile was taken during.
	Concurrency int `json:"concurrency,omitempty"`
	// File is the raw profile (gzipped protobuf), for `go tool pprof`.
	File string `json:"file,omitempty"`
	// Seconds sampled and CPU seconds in the samples.
	Seconds    float64 `json:"seconds,omitempty"`
	CPUSeconds float64 `json:"cpu_seconds,omitempty"`
	Samples    int64   `json:"samples,omitempty"`
	// Shares are fractions of the profile's CPU time by stage (sum 1).
	Shares map[string]float64 `json:"shares,omitempty"`
	// Top are the leaf functions with the most CPU within "other", so that
	// what no rule names is still visible.
	TopOther []FuncShare `json:"top_other,omitempty"`
	// Error says why there is no profile ("not available" when the system
	// serves none).
	Error string `json:"error,omitempty"`
}

// FuncShare is one function's share of a profile.
type FuncShare struct {
	Func  string  `json:"func"`
	Share float64 `json:"share"`
}

// splitProfile reads a CPU profile and charges each sample's CPU time to a
// stage.
func splitProfile(r io.Reader) (*ProfileShares, error) {
	p, err := profile.Parse(r)
	if err != nil {
		return nil, err
	}
	vi := len(p.SampleType) - 1
	for i, st := range p.SampleType {
		if st.Type == "cpu" {
			vi = i
		}
	}
	if vi < 0 {
		return nil, errors.New("profile has no sample values")
	}
	unit := 1.0
	if p.SampleType[vi].Unit == "nanoseconds" {
		unit = 1e-9
	}
	by := map[string]float64{}
	other := map[string]float64{}
	var total float64
	var n int64
	for _, s := range p.Sample {
		v := float64(s.Value[vi])
		var funcs []string
		for _, loc := range s.Location {
			for _, ln := range loc.Line {
				if ln.Function != nil {
					funcs = append(funcs, ln.Function.Name)
				}
			}
		}
		st := sampleStage(funcs)
		by[st] += v
		if st == "other" && len(funcs) > 0 {
			other[funcs[0]] += v
		}
		total += v
		n++
	}
	ps := &ProfileShares{Samples: n, CPUSeconds: total * unit, Seconds: float64(p.DurationNanos) / 1e9, Shares: map[string]float64{}}
	if total == 0 {
		return ps, nil
	}
	for st, v := range by {
		ps.Shares[st] = v / total
	}
	for fn, v := range other {
		ps.TopOther = append(ps.TopOther, FuncShare{Func: fn, Share: v / total})
	}
	sort.Slice(ps.TopOther, func(i, j int) bool { return ps.TopOther[i].Share > ps.TopOther[j].Share })
	if len(ps.TopOther) > 5 {
		ps.TopOther = ps.TopOther[:5]
	}
	return ps, nil
}

// profiler takes a CPU profile from a system's ops listener while a cell
// runs.
type profiler struct {
	dir    string
	client *http.Client
}

// start profiles the system from now until the returned wait is called
// (when the cell's last answer is in): first the cell's sending time, then
// one second at a time while answers still come (a 10,000-record stream
// outlasts the sending time), merged into one profile. wait returns it
// split by stage, the raw profile saved in dir. A system without the
// endpoint (a revision before ops_profiling, or with it off) is "not
// available".
func (pr *profiler) start(ctx context.Context, sys *system, scenario string, seconds int) (wait func() ProfileShares) {
	res := ProfileShares{System: sys.Name, Scenario: scenario}
	if sys.Ops == "" {
		res.Error = "not available: no ops listener given"
		return func() ProfileShares { return res }
	}
	cellDone := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var parts []*profile.Profile
		for n := seconds; ; n = 1 {
			p, err := pr.fetch(ctx, sys.Ops, n)
			if err != nil {
				res.Error = err.Error()
				return
			}
			parts = append(parts, p)
			if closed(cellDone) || ctx.Err() != nil {
				break
			}
		}
		merged, err := profile.Merge(parts)
		if err != nil {
			res.Error = "profile: " + err.Error()
			return
		}
		var buf bytes.Buffer
		if err := merged.Write(&buf); err != nil {
			res.Error = "profile: " + err.Error()
			return
		}
		file := filepath.Join(pr.dir, fmt.Sprintf("%s-%s.pb.gz", sys.Name, scenario))
		if err := os.MkdirAll(pr.dir, 0o755); err == nil {
			if err := os.WriteFile(file, buf.Bytes(), 0o644); err == nil {
				res.File = file
			}
		}
		ps, err := splitProfile(&buf)
		if err != nil {
			res.Error = "profile: " + err.Error()
			return
		}
		ps.System, ps.Scenario, ps.File = res.System, res.Scenario, res.File
		res = *ps
	}()
	return func() ProfileShares {
		close(cellDone)
		<-done
		return res
	}
}

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// fetch takes one CPU profile of the next n seconds.
func (pr *profiler) fetch(ctx context.Context, ops string, n int) (*profile.Profile, error) {
	url := fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", ops, n)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := pr.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(resp.Body)
	switch {
	case err != nil:
		return nil, fmt.Errorf("profile: %w", err)
	case resp.StatusCode == http.StatusNotFound:
		return nil, errors.New("not available: the ops listener serves no /debug/pprof (ops_profiling off, or a revision without it)")
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("profile: HTTP %d %s", resp.StatusCode, trim(body, 200))
	}
	p, err := profile.ParseData(body)
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	return p, nil
}

// profileSeconds is how long a profile of a cell samples: the cell's
// sending time, rounded up to whole seconds (pprof's unit).
func profileSeconds(d time.Duration) int {
	return max(1, int(math.Ceil(d.Seconds())))
}

// runProfile is `bench profile FILE…`: the stage split of saved profiles.
func runProfile(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench profile", flag.ContinueOnError)
	fs.SetOutput(stderr)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		return errors.New("usage: bench profile FILE.pb.gz…")
	}
	var all []ProfileShares
	for _, path := range fs.Args() {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		ps, err := splitProfile(f)
		_ = f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		ps.System, ps.File = filepath.Base(path), path
		all = append(all, *ps)
	}
	var b strings.Builder
	writeProfileTable(&b, all)
	_, err := io.WriteString(stdout, b.String())
	return err
}

// writeProfileTable is one row per profile, one column per stage.
func writeProfileTable(b *strings.Builder, ps []ProfileShares) {
	b.WriteString("| system | scenario | CPU s sampled |")
	for _, s := range Stages {
		b.WriteString(" " + s + " |")
	}
	b.WriteString("\n|---|---|--:|" + strings.Repeat("--:|", len(Stages)) + "\n")
	var notes []string
	for _, p := range ps {
		if p.Error != "" {
			fmt.Fprintf(b, "| %s | %s | %s |%s\n", p.System, p.Scenario, p.Error, strings.Repeat(" |", len(Stages)))
			continue
		}
		fmt.Fprintf(b, "| %s | %s | %.2f |", p.System, p.Scenario, p.CPUSeconds)
		for _, s := range Stages {
			v := p.Shares[s]
			if v == 0 {
				b.WriteString(" – |")
				continue
			}
			fmt.Fprintf(b, " %.1f%% |", v*100)
		}
		b.WriteString("\n")
		if len(p.TopOther) > 0 {
			var fs []string
			for _, f := range p.TopOther {
				fs = append(fs, fmt.Sprintf("%s %.1f%%", shortFunc(f.Func), f.Share*100))
			}
			notes = append(notes, fmt.Sprintf("%s, %s — most of \"other\": %s", p.System, p.Scenario, strings.Join(fs, ", ")))
		}
	}
	if len(notes) > 0 {
		b.WriteString("\n")
		for _, n := range notes {
			b.WriteString("- " + n + "\n")
		}
	}
}

func shortFunc(fn string) string {
	return strings.TrimPrefix(fn, uraModule)
}

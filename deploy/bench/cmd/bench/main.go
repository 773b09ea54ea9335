// Command bench drives ura and its baselines side by side and reports what
// it measured. See deploy/bench/README.md.
//
//	bench run     drive every system through every cell; write cells.json
//	bench scale   one very large signed pull through ura; write scale.json
//	bench parts   run the parts' own Go benchmarks; write parts.json
//	bench report  merge what exists into results.json and results.md
//	bench profile split saved CPU profiles by stage of the chain
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errors.New("usage: bench run|scale|parts|report|profile [flags]")
	}
	switch args[0] {
	case "run":
		return runCells(ctx, args[1:], stdout, stderr)
	case "scale":
		return runScale(ctx, args[1:], stdout, stderr)
	case "parts":
		return runParts(ctx, args[1:], stdout, stderr)
	case "report":
		return runReport(args[1:], stdout, stderr)
	case "profile":
		return runProfile(args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown command %q: want run, scale, parts, report or profile", args[0])
}

// listFlag is a repeatable flag.
type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, " ") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

// parseSystem reads name=…,kind=…,url=…,pids=a.pid+b.pid[,ops=…][,notes=…];
// notes comes last and may hold commas.
func parseSystem(spec string) (*system, error) {
	s := &system{}
	var pids []string
	head := spec
	if i := strings.Index(spec, ",notes="); i >= 0 {
		head, s.Notes = spec[:i], spec[i+len(",notes="):]
	}
	for _, kv := range strings.Split(head, ",") {
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return nil, fmt.Errorf("-system %q: %q is not key=value", spec, kv)
		}
		switch k {
		case "name":
			s.Name = v
		case "kind":
			s.Kind = v
		case "url":
			s.URL = v
		case "pids":
			pids = strings.Split(v, "+")
		case "ops":
			s.Ops = v
		default:
			return nil, fmt.Errorf("-system %q: unknown key %q", spec, k)
		}
	}
	if s.Name == "" || s.URL == "" || len(pids) == 0 || (s.Kind != "nginx" && s.Kind != "ura") {
		return nil, fmt.Errorf("-system %q: need name, kind (nginx|ura), url and pids", spec)
	}
	if !strings.HasPrefix(s.URL, "https://127.0.0.1:") {
		return nil, fmt.Errorf("-system %q: systems are reached on https://127.0.0.1 only", spec)
	}
	if s.Ops != "" && !strings.HasPrefix(s.Ops, "127.0.0.1:") {
		return nil, fmt.Errorf("-system %q: ops listeners are reached on 127.0.0.1 only", spec)
	}
	s.procs = &group{name: s.Name, pidFiles: pids}
	return s, nil
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 || n > 256 {
			return nil, fmt.Errorf("concurrency %q: want 1..256", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func parseMeta(l listFlag) map[string]string {
	m := map[string]string{}
	for _, kv := range l {
		if k, v, ok := strings.Cut(kv, "="); ok {
			m[k] = v
		}
	}
	return m
}

// CellsFile is what `bench run` writes.
type CellsFile struct {
	Started  string    `json:"started"`
	Finished string    `json:"finished"`
	Machine  Machine   `json:"machine"`
	Config   RunConfig `json:"config"`
	Systems  []*system `json:"systems"`
	Probes   []Probe   `json:"probes"`
	Cells    []Cell    `json:"cells"`
	// Profiles split a CPU profile of each ura system, taken during its
	// keep-alive cell at the highest concurrency of each scenario, by stage.
	Profiles []ProfileShares `json:"profiles,omitempty"`
	// Fsyncs count durable-write system calls per request in a traced
	// cell after the measured one (keep-alive, highest concurrency, pushes).
	Fsyncs []FsyncCount `json:"fsyncs,omitempty"`
	// Incomplete says why the run stopped early, if it did.
	Incomplete string `json:"incomplete,omitempty"`
}

// RunConfig is the plan the cells were measured under.
type RunConfig struct {
	Scenarios       []string `json:"scenarios"`
	Modes           []string `json:"modes"`
	Concurrency     []int    `json:"concurrency"`
	PullConcurrency []int    `json:"pull_concurrency"`
	CellSeconds     float64  `json:"cell_seconds"`
	WarmupSeconds   float64  `json:"warmup_seconds"`
	Pusher          string   `json:"pusher"`
	Puller          string   `json:"puller"`
	Seeded          int      `json:"seeded_records"`
	// OpenLoopRate is the offered req/s of the open-loop push1 cell (0: none).
	OpenLoopRate int  `json:"open_loop_rate"`
	Quick        bool `json:"quick"`
}

func runCells(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var systems, meta, absent listFlag
	fs.Var(&absent, "absent", "name=reason: a system that could not be started, reported as not measured (repeat)")
	fs.Var(&systems, "system", "a system: name=NAME,kind=nginx|ura,url=https://127.0.0.1:PORT,pids=FILE[+FILE…] (repeat)")
	fs.Var(&meta, "meta", "key=value recorded with the machine (tool versions; repeat)")
	pkiDir := fs.String("pki", "var/bench/pki", "the bench PKI from `ura certs init`")
	out := fs.String("out", "var/bench/cells.json", "where to write the cells")
	deps := fs.String("deps", "", "pid files of the shared dependencies (Redis, Vault), comma-separated")
	scen := fs.String("scenarios", "pull10k,push1,push100", "scenarios, in the order run")
	modes := fs.String("modes", "keepalive,fresh", "connection modes: keepalive, fresh (a new TLS handshake per request)")
	concS := fs.String("concurrency", "1,8,32", "concurrency levels for pushes")
	pullConcS := fs.String("pull-concurrency", "1,4", "concurrency levels for the 10,000-record pull")
	dur := fs.Duration("duration", 5*time.Second, "how long each cell sends new requests")
	warm := fs.Duration("warmup", time.Second, "unmeasured load before a system's first cell of a push scenario")
	timeout := fs.Duration("timeout", 3*time.Minute, "per-request timeout")
	maxTime := fs.Duration("max-time", 20*time.Minute, "stop starting cells after this long; what ran is still reported")
	pusher := fs.String("pusher", "AL_GOV_AIM", "client certificate (clients/NAME) that pushes")
	puller := fs.String("puller", "AL_GOV_DPD", "client certificate that pulls (customs: policy redacts two fields of every licence)")
	seedN := fs.Int("seed", 10_000, "licences pushed into each ura system before its pulls")
	seedBatch := fs.Int("seed-batch", 1000, "licences per seeding request")
	pullPath := fs.String("pull-path", "/v1/records?kind=licence", "path and query of the pull (limit= is appended)")
	quick := fs.Bool("quick", false, "recorded in the results: this was a smoke run")
	rate := fs.Int("rate", 500, "offered req/s of the open-loop push1 cell (keep-alive; 0: no such cell)")
	auditor := fs.String("auditor", "AL_GOV_AUDIT", "client certificate that reads ura's /metrics (Vault calls, outbox backlog)")
	profDir := fs.String("profiles", "var/bench/profiles", "where raw CPU profiles go (empty: take none)")
	straceBin := fs.String("strace", "strace", "strace, to count fsyncs per request (empty: do not)")
	fsyncDur := fs.Duration("fsync-duration", 2*time.Second, "longest a traced cell (fsync count) sends requests")
	if err := fs.Parse(args); err != nil {
		return err
	}
	conc, err := parseInts(*concS)
	if err != nil {
		return err
	}
	pullConc, err := parseInts(*pullConcS)
	if err != nil {
		return err
	}
	var scenarios []scenario
	for _, n := range strings.Split(*scen, ",") {
		sc, ok := scenarioByName(strings.TrimSpace(n))
		if !ok {
			return fmt.Errorf("unknown scenario %q", n)
		}
		scenarios = append(scenarios, sc)
	}
	modeList := strings.Split(*modes, ",")
	for _, m := range modeList {
		if m != "keepalive" && m != "fresh" {
			return fmt.Errorf("unknown mode %q", m)
		}
	}
	var syss []*system
	for _, spec := range systems {
		s, err := parseSystem(spec)
		if err != nil {
			return err
		}
		syss = append(syss, s)
	}
	p, err := loadPKI(*pkiDir, *pusher, *puller, *auditor)
	if err != nil {
		return err
	}
	depGroup := &group{name: "deps"}
	if *deps != "" {
		depGroup.pidFiles = strings.Split(*deps, ",")
	}
	d := &driver{pki: p, pusher: *pusher, puller: *puller, timeout: *timeout, deps: depGroup,
		runTag: strconv.FormatInt(time.Now().Unix(), 36), pullPath: *pullPath, auditor: *auditor}
	var prof *profiler
	if *profDir != "" {
		// The profile's own request waits out the whole cell.
		prof = &profiler{dir: *profDir, client: &http.Client{Timeout: *dur + time.Minute}}
	}
	tr := &tracer{dir: filepath.Join(filepath.Dir(*out), "strace")}
	if *straceBin != "" {
		if path, err := exec.LookPath(*straceBin); err == nil {
			tr.bin = path
		}
	}

	res := &CellsFile{
		Started: time.Now().UTC().Format(time.RFC3339),
		Machine: machine(parseMeta(meta)),
		Config: RunConfig{Scenarios: strings.Split(*scen, ","), Modes: modeList, Concurrency: conc, PullConcurrency: pullConc,
			CellSeconds: dur.Seconds(), WarmupSeconds: warm.Seconds(), Pusher: *pusher, Puller: *puller, Seeded: *seedN, Quick: *quick,
			OpenLoopRate: *rate},
		Systems: syss,
	}
	for _, a := range absent {
		name, why, _ := strings.Cut(a, "=")
		res.Probes = append(res.Probes, Probe{System: name, Scenario: "all", Detail: why})
	}
	deadline := time.Now().Add(*maxTime)
	save := func() error {
		res.Finished = time.Now().UTC().Format(time.RFC3339)
		return writeJSON(*out, res)
	}
	seeded := map[string]bool{}
	for _, sc := range scenarios {
		levels := conc
		if !sc.Push {
			levels = pullConc
		}
		// Which systems can run this scenario at all; the reason goes in the
		// results when one cannot.
		var ready []*system
		for _, sys := range syss {
			if !sc.Push && sys.Kind == "ura" && !seeded[sys.Name] {
				_, _ = fmt.Fprintf(stdout, "seeding %s with %d licences\n", sys.Name, *seedN)
				if err := d.seed(ctx, sys, *seedN, *seedBatch); err != nil {
					res.Probes = append(res.Probes, Probe{System: sys.Name, Scenario: sc.Name, Detail: err.Error()})
					_, _ = fmt.Fprintf(stdout, "  %s cannot be seeded: %v\n", sys.Name, err)
					continue
				}
				seeded[sys.Name] = true
				if took, ok := d.drainOutbox(ctx, sys, 2*time.Minute); !ok {
					_, _ = fmt.Fprintf(stdout, "  %s: the outbox still delivers the seeded records after %s\n", sys.Name, took.Round(time.Second))
				}
			}
			pr := d.probe(ctx, sys, sc)
			res.Probes = append(res.Probes, pr)
			if !pr.OK {
				_, _ = fmt.Fprintf(stdout, "  %s %s: not measured: %s\n", sys.Name, sc.Name, pr.Detail)
				continue
			}
			if sc.Push && *warm > 0 {
				_ = d.runCell(ctx, sys, sc, "keepalive", 8, *warm)
			}
			ready = append(ready, sys)
		}
		top := slices.Max(levels)
		type step struct {
			mode string
			conc int
			rate int
		}
		var steps []step
		for _, mode := range modeList {
			for _, c := range levels {
				steps = append(steps, step{mode: mode, conc: c})
			}
		}
		if sc.Name == "push1" && *rate > 0 {
			steps = append(steps, step{mode: "keepalive", rate: *rate})
		}
		for _, st := range steps {
			// Systems take turns within a cell so that a change in the
			// machine's background load falls on all of them alike.
			for _, sys := range ready {
				if err := ctx.Err(); err != nil {
					res.Incomplete = "interrupted"
					return errors.Join(err, save())
				}
				if time.Now().After(deadline) {
					res.Incomplete = fmt.Sprintf("stopped after -max-time %s", *maxTime)
					_, _ = fmt.Fprintln(stdout, res.Incomplete)
					return save()
				}
				plan := cellPlan{sys: sys, sc: sc, mode: st.mode, conc: st.conc, rate: st.rate, dur: *dur}
				// The headline cell of each scenario is also profiled.
				headline := st.rate == 0 && st.mode == "keepalive" && st.conc == top && sys.Kind == "ura"
				var wait func() ProfileShares
				if headline && prof != nil {
					plan.during = func() func() {
						wait = prof.start(ctx, sys, sc.Name, profileSeconds(*dur))
						return nil
					}
				}
				cell := d.cell(ctx, plan)
				res.Cells = append(res.Cells, cell)
				if wait != nil {
					ps := wait()
					ps.Mode, ps.Concurrency = st.mode, st.conc
					res.Profiles = append(res.Profiles, ps)
				}
				_, _ = fmt.Fprintf(stdout, "%-9s %-8s %-9s c=%-5s %8.1f req/s %10.1f rec/s  p50 %8.2f ms  p99 %8.2f ms  cpu %6.2f s  err %d\n",
					sys.Name, sc.Name, st.mode, concLabel(cell), cell.RequestsPerS, cell.RecordsPerS, cell.LatencyP50Ms, cell.LatencyP99Ms,
					cell.CPUSeconds, cell.Requests-cell.OK)
				if headline && sc.Push && *straceBin != "" {
					time.Sleep(500 * time.Millisecond)
					fc := d.fsyncCell(ctx, tr, plan, min(*dur, *fsyncDur))
					res.Fsyncs = append(res.Fsyncs, fc)
					if fc.Error != "" {
						_, _ = fmt.Fprintf(stdout, "  %s %s: no fsync count: %s\n", sys.Name, sc.Name, fc.Error)
					} else {
						_, _ = fmt.Fprintf(stdout, "  %s %s traced: %d sync calls / %d requests = %.2f per request\n", sys.Name, sc.Name, fc.Total, fc.Requests, fc.PerRequest)
					}
				}
				if err := save(); err != nil {
					return err
				}
				// Let the system settle (group commits, GC) so the next
				// cell starts from quiet.
				time.Sleep(500 * time.Millisecond)
			}
		}
	}
	return save()
}

// fsyncCell repeats a cell for a shorter time with strace counting the
// system's sync calls. Its own figures are not reported as a cell: strace
// stops the process at every system call, which slows it.
func (d *driver) fsyncCell(ctx context.Context, tr *tracer, pl cellPlan, dur time.Duration) FsyncCount {
	fc := FsyncCount{System: pl.sys.Name, Scenario: pl.sc.Name, Mode: pl.mode, Concurrency: pl.conc}
	if err := pl.sys.procs.refresh(); err != nil {
		fc.Error = err.Error()
		return fc
	}
	stop, err := tr.attach(ctx, pl.sys.procs.pids, fmt.Sprintf("%s-%s", pl.sys.Name, pl.sc.Name))
	if err != nil {
		fc.Error = err.Error()
		return fc
	}
	pl.dur, pl.during = dur, nil
	c := d.cell(ctx, pl)
	calls, err := stop()
	if err != nil {
		fc.Error = err.Error()
		return fc
	}
	fc.Seconds, fc.Requests, fc.RequestsPerS, fc.Records, fc.Calls = c.ElapsedSeconds, c.Requests, c.RequestsPerS, c.Records, calls
	for _, n := range calls {
		fc.Total += n
	}
	if c.Requests > 0 {
		fc.PerRequest = float64(fc.Total) / float64(c.Requests)
	}
	return fc
}

func writeJSON(path string, v any) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

func readJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	return json.Unmarshal(b, v)
}

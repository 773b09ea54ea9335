package main

import (
	"fmt"
	"sort"
	"strings"
)

// Goal is one performance target ura is held to, checked against what this
// run measured.
type Goal struct {
	Name   string `json:"name"`
	Target string `json:"target"`
	// Value is the measured figure in the target's unit; Measured says it
	// with its context.
	Value    float64 `json:"value"`
	Measured string  `json:"measured"`
	// Met is absent when the run did not measure it.
	Met *bool `json:"met,omitempty"`
}

func met(v bool) *bool { return &v }

// goals checks ura against its targets: the keep-alive cells at the
// highest concurrency (as the summary), the open-loop push1 cell, and the
// audit log's BenchmarkAppend from the parts.
func goals(r *Results) []Goal {
	head := map[string]map[string]Cell{} // scenario → system → cell
	for _, row := range summaryCells(r) {
		for _, c := range row {
			if head[c.Scenario] == nil {
				head[c.Scenario] = map[string]Cell{}
			}
			head[c.Scenario][c.System] = c
		}
	}
	ura, ext := r.Names.Ura, r.Names.ExtOPA
	cellOf := func(sc, sys string) (Cell, bool) {
		c, ok := head[sc][sys]
		return c, ok && c.Records > 0
	}
	var out []Goal
	atMost := func(name, target, unit string, limit float64, sc string, val func(Cell) float64) {
		g := Goal{Name: name, Target: target, Measured: "not measured"}
		if c, ok := cellOf(sc, ura); ok {
			g.Value = val(c)
			g.Measured = fmt.Sprintf("%s %s (c=%s)", sig(g.Value), unit, concLabel(c))
			g.Met = met(g.Value <= limit)
		}
		out = append(out, g)
	}
	timesExt := func(name string, factor float64, sc string) {
		g := Goal{Name: name, Target: fmt.Sprintf("≥ %g× %s", factor, ext), Measured: "not measured"}
		u, ok1 := cellOf(sc, ura)
		e, ok2 := cellOf(sc, ext)
		if ok1 && ok2 {
			g.Value = div(u.RecordsPerS, e.RecordsPerS)
			g.Measured = fmt.Sprintf("%.2f× (%s vs %s records/s, c=%s)", g.Value, num(u.RecordsPerS), num(e.RecordsPerS), concLabel(u))
			g.Met = met(g.Value >= factor)
		}
		out = append(out, g)
	}
	atMost("pull10k: ura CPU per 1,000 records", "≤ 0.04 s", "s", 0.04, "pull10k", func(c Cell) float64 { return c.CPUPer1kRecords })
	timesExt("pull10k: ura records/s", 10, "pull10k")
	timesExt("push100: ura records/s", 5, "push100")
	atMost("push100: ura CPU per record", "≤ 0.1 ms", "ms", 0.1, "push100", func(c Cell) float64 { return c.CPUPer1kRecords })
	out = append(out, openLoopGoals(r)...)
	out = append(out, appendGoal(r))
	return out
}

// openLoopGoals: push1 at a fixed 500 req/s, CPU per request and p99. The
// p99 only counts if the rate was kept without errors: a system that
// answers fewer requests than offered has not carried the load.
func openLoopGoals(r *Results) []Goal {
	cpu := Goal{Name: "push1 at 500 req/s: ura CPU per request", Target: "≤ 0.3 ms", Measured: "not measured"}
	p99 := Goal{Name: "push1 at 500 req/s: ura p99", Target: "≤ 5 ms, every request answered at the offered rate", Measured: "not measured"}
	for _, c := range r.Cells {
		if c.System != r.Names.Ura || c.Scenario != "push1" || c.Rate == 0 || c.OK == 0 {
			continue
		}
		at := ""
		if c.Rate != 500 {
			at = fmt.Sprintf(" at %d req/s, not 500", c.Rate)
		}
		cpu.Value = c.CPUMsPerRequest
		cpu.Measured = fmt.Sprintf("%s ms%s", sig(c.CPUMsPerRequest), at)
		cpu.Met = met(c.CPUMsPerRequest <= 0.3 && at == "")
		failed := c.Requests - c.OK
		kept := c.RequestsPerS >= 0.95*float64(c.Rate)
		p99.Value = c.LatencyP99Ms
		p99.Measured = fmt.Sprintf("%s ms; %s req/s achieved, %d failed%s", ms(c.LatencyP99Ms), num(c.RequestsPerS), failed, at)
		p99.Met = met(c.LatencyP99Ms <= 5 && failed == 0 && kept && at == "")
	}
	return []Goal{cpu, p99}
}

// appendGoal reads BenchmarkAppend from the parts: the goal is 64
// concurrent appenders of one event each (group_commit/appenders=64); one
// appender of 256-event chunks, the pull's pattern, is named beside it.
func appendGoal(r *Results) Goal {
	g := Goal{Name: "audit: BenchmarkAppend, 64 appenders", Target: "≥ 50,000 events/s", Measured: "not measured (no parts run)"}
	if r.Parts == nil {
		return g
	}
	g.Measured = "not measured (BenchmarkAppend/group_commit/appenders=64 not in the parts run)"
	rate := func(name string) float64 {
		for _, b := range r.Parts.Bench {
			if strings.HasSuffix(b.Package, "/gateway/audit") && b.Name == name {
				return b.Metrics["events/s"]
			}
		}
		return 0
	}
	if v := rate("BenchmarkAppend/group_commit/appenders=64"); v > 0 {
		g.Value = v
		g.Measured = fmt.Sprintf("%s events/s", num(v))
		if c := rate("BenchmarkAppend/chunk=256/appenders=1"); c > 0 {
			g.Measured += fmt.Sprintf(" (one appender of 256-event chunks: %s)", num(c))
		}
		g.Met = met(v >= 50_000)
	}
	return g
}

func writeGoals(b *strings.Builder, r *Results) {
	if len(r.Goals) == 0 {
		return
	}
	b.WriteString("\n## Goals\n\n")
	b.WriteString("ura's own CPU (not Redis and Vault); keep-alive cells at the highest concurrency, the open-loop push1 cell, the parts' BenchmarkAppend.\n\n")
	b.WriteString("| goal | target | measured | |\n|---|---|---|---|\n")
	for _, g := range r.Goals {
		verdict := "–"
		if g.Met != nil {
			verdict = "not met"
			if *g.Met {
				verdict = "met"
			}
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s |\n", g.Name, g.Target, g.Measured, verdict)
	}
}

func writeOpenLoop(b *strings.Builder, r *Results) {
	var cells []Cell
	for _, c := range r.Cells {
		if c.Rate > 0 {
			cells = append(cells, c)
		}
	}
	if len(cells) == 0 {
		return
	}
	fmt.Fprintf(b, "\n## Open loop: push1 at a fixed rate, keep-alive\n\n")
	b.WriteString("Requests go out at the offered rate whether or not earlier ones were answered (vegeta's rate pacer), so a slow answer shows as latency instead of lowering the load.\n\n")
	b.WriteString("| system | offered req/s | achieved req/s | p50 ms | p99 ms | max ms | failed | CPU ms / req | + Redis, Vault ms / req |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, c := range cells {
		deps := 0.0
		if c.OK > 0 {
			deps = (c.CPUSeconds + c.DepsCPUSeconds) / float64(c.OK) * 1000
		}
		fmt.Fprintf(b, "| %s | %d | %s | %s | %s | %s | %s | %s | %s |\n", c.System, c.Rate, num(c.RequestsPerS),
			ms(c.LatencyP50Ms), ms(c.LatencyP99Ms), ms(c.LatencyMaxMs), failures(c), sig(c.CPUMsPerRequest), sig(deps))
	}
}

func failures(c Cell) string {
	fail := fmt.Sprintf("%d", c.Requests-c.OK)
	if len(c.Errors) > 0 {
		var ks []string
		for k, n := range c.Errors {
			ks = append(ks, fmt.Sprintf("%d× %s", n, k))
		}
		sort.Strings(ks)
		fail += " (" + strings.Join(ks, "; ") + ")"
	}
	return fail
}

func writeProfiles(b *strings.Builder, r *Results) {
	if len(r.Profiles) == 0 {
		return
	}
	b.WriteString("\n## CPU profile shares\n\n")
	b.WriteString("Share of each ura system's CPU samples by stage, from a CPU profile (`/debug/pprof/profile` on the ops listener, `ops_profiling`) taken during its keep-alive cell at the highest concurrency. " +
		"Each sample is charged to the leaf-most function of its stack that a stage names (deploy/bench/README.md lists them); allocation and the garbage collection it causes go to the stage that allocates; only background GC and the scheduler are gc+runtime. Raw profiles: var/bench/profiles/ (`go tool pprof`).\n\n")
	writeProfileTable(b, r.Profiles)
}

func writeFsyncs(b *strings.Builder, r *Results) {
	if len(r.Fsyncs) == 0 {
		return
	}
	b.WriteString("\n## fsyncs per request\n\n")
	b.WriteString("fsync, fdatasync and sync_file_range calls of every thread (`strace -f -c`), counted in a separate short cell right after the measured keep-alive cell at the same concurrency: strace stops the process at each system call, so the traced cell is slower than the measured one and its other figures are not reported.\n\n")
	b.WriteString("| system | scenario | conc. | requests | records | fsync | fdatasync | sync_file_range | per request | req/s under strace |\n|---|---|--:|--:|--:|--:|--:|--:|--:|--:|\n")
	for _, f := range r.Fsyncs {
		if f.Error != "" {
			fmt.Fprintf(b, "| %s | %s | %d | %s | | | | | | |\n", f.System, f.Scenario, f.Concurrency, f.Error)
			continue
		}
		fmt.Fprintf(b, "| %s | %s | %d | %d | %d | %d | %d | %d | %.2f | %s |\n", f.System, f.Scenario, f.Concurrency, f.Requests, f.Records,
			f.Calls["fsync"], f.Calls["fdatasync"], f.Calls["sync_file_range"], f.PerRequest, num(f.RequestsPerS))
	}
}

func writeVault(b *strings.Builder, r *Results) {
	kind := map[string]string{}
	for _, s := range r.Systems {
		kind[s.Name] = s.Kind
	}
	var rows []Cell
	measured := false
	for _, row := range summaryCells(r) {
		for _, c := range row {
			if kind[c.System] == "ura" {
				rows = append(rows, c)
				measured = measured || c.VaultCalls != nil
			}
		}
	}
	if !measured {
		return
	}
	if len(rows) == 0 {
		return
	}
	b.WriteString("\n## Vault calls\n\n")
	b.WriteString("Requests ura's signer made to Vault during the keep-alive cell at the highest concurrency (its own `ura_sign_vault_requests_total` before and after, read on /metrics as the security officer; the shared Vault's counters would count its other clients too). Includes the outbox's deliveries made during the cell.\n\n")
	b.WriteString("| scenario | conc. | system | records | Vault calls | per 10,000 records |\n|---|--:|---|--:|--:|--:|\n")
	for _, c := range rows {
		if c.VaultCalls == nil {
			fmt.Fprintf(b, "| %s | %s | %s | %s | not available | |\n", c.Scenario, concLabel(c), c.System, commas(fmt.Sprint(c.Records)))
			continue
		}
		per := "–"
		if c.VaultCallsPer10kRecords != nil {
			per = num(*c.VaultCallsPer10kRecords)
		}
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s |\n", c.Scenario, concLabel(c), c.System, commas(fmt.Sprint(c.Records)), num(*c.VaultCalls), per)
	}
}

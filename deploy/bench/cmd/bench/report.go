package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"sort"
	"strings"
)

// Results is results.json: everything one `make bench` measured.
type Results struct {
	*CellsFile
	Ratios []Ratio     `json:"ratios"`
	Goals  []Goal      `json:"goals,omitempty"`
	Scale  *ScaleFile  `json:"scale,omitempty"`
	Parts  *PartsFile  `json:"parts,omitempty"`
	Names  ReportNames `json:"names"`
}

// ReportNames says which systems the ratios compare.
type ReportNames struct {
	Ura    string `json:"ura"`
	Floor  string `json:"floor"`
	ExtOPA string `json:"external_opa"`
	// Before is ura at an earlier revision, when the run has one.
	Before string `json:"before,omitempty"`
}

// Ratio is ura against one baseline in one cell. Throughput below 1 means
// ura moves fewer records per second; latency and CPU above 1 mean ura
// takes longer or burns more per record.
type Ratio struct {
	Scenario    string  `json:"scenario"`
	Mode        string  `json:"mode"`
	Concurrency int     `json:"concurrency"`
	Rate        int     `json:"rate_per_s,omitempty"`
	Baseline    string  `json:"baseline"`
	RecordsPerS float64 `json:"records_per_s"`
	P50         float64 `json:"p50"`
	P99         float64 `json:"p99"`
	CPUPer1k    float64 `json:"cpu_per_1k_records"`
	// CPUWithDepsPer1k includes Redis and Vault on both sides.
	CPUWithDepsPer1k float64 `json:"cpu_with_deps_per_1k_records"`
}

func runReport(args []string, stdout, stderr io.Writer) error {
	fl := flag.NewFlagSet("bench report", flag.ContinueOnError)
	fl.SetOutput(stderr)
	dir := fl.String("dir", "var/bench", "where cells.json, scale.json and parts.json are, and results go")
	ura := fl.String("ura", "ura", "name of the ura system")
	floor := fl.String("floor", "floor", "name of the floor (nginx) system")
	ext := fl.String("external-opa", "external-opa", "name of the external-OPA gateway")
	before := fl.String("before", "", "name of ura at an earlier revision, if the run has one")
	readme := fl.String("readme", "", "also replace the block between the bench markers in this README")
	if err := fl.Parse(args); err != nil {
		return err
	}
	res := &Results{CellsFile: &CellsFile{}, Names: ReportNames{Ura: *ura, Floor: *floor, ExtOPA: *ext, Before: *before}}
	if err := readJSON(*dir+"/cells.json", res.CellsFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	var sc ScaleFile
	if err := readJSON(*dir+"/scale.json", &sc); err == nil {
		res.Scale = &sc
	}
	var pf PartsFile
	if err := readJSON(*dir+"/parts.json", &pf); err == nil {
		res.Parts = &pf
	}
	names := make([]string, len(res.Systems))
	for i, s := range res.Systems {
		names[i] = s.Name
	}
	sortCells(res.Cells, names)
	res.Ratios = ratios(res.Cells, res.Names)
	res.Goals = goals(res)
	if err := writeJSON(*dir+"/results.json", res); err != nil {
		return err
	}
	md := markdown(res)
	if err := os.WriteFile(*dir+"/results.md", []byte(md), 0o644); err != nil {
		return err
	}
	if *readme != "" {
		if err := updateReadme(*readme, summaryBlock(res)); err != nil {
			return err
		}
	}
	_, err := io.WriteString(stdout, md)
	return err
}

func ratios(cells []Cell, n ReportNames) []Ratio {
	type key struct {
		sc, mode string
		c, rate  int
	}
	by := map[key]map[string]Cell{}
	var keys []key
	for _, c := range cells {
		k := key{c.Scenario, c.Mode, c.Concurrency, c.Rate}
		if by[k] == nil {
			by[k] = map[string]Cell{}
			keys = append(keys, k)
		}
		by[k][c.System] = c
	}
	var out []Ratio
	for _, k := range keys {
		u, ok := by[k][n.Ura]
		if !ok || u.Records == 0 {
			continue
		}
		for _, b := range []string{n.Floor, n.ExtOPA, n.Before} {
			bc, ok := by[k][b]
			if b == "" {
				continue
			}
			if !ok || bc.Records == 0 {
				continue
			}
			out = append(out, Ratio{
				Scenario: k.sc, Mode: k.mode, Concurrency: k.c, Rate: k.rate, Baseline: b,
				RecordsPerS:      div(u.RecordsPerS, bc.RecordsPerS),
				P50:              div(u.LatencyP50Ms, bc.LatencyP50Ms),
				P99:              div(u.LatencyP99Ms, bc.LatencyP99Ms),
				CPUPer1k:         div(u.CPUPer1kRecords, bc.CPUPer1kRecords),
				CPUWithDepsPer1k: div(u.CPUWithDepsPer1kRecords, bc.CPUWithDepsPer1kRecords),
			})
		}
	}
	return out
}

func div(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func markdown(r *Results) string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	w("# ura benchmark results\n\n")
	m := r.Machine
	if r.Started != "" {
		w("%s\n\n", machineLine(m))
		w("Run %s → %s; each cell sends requests for %gs at a fixed concurrency, then waits for the last answer.", r.Started, r.Finished, r.Config.CellSeconds)
		if r.Config.Quick {
			w(" **Quick smoke run (BENCH_QUICK=1): too short to quote.**")
		}
		w("\n")
		if r.Incomplete != "" {
			w("\n**Incomplete:** %s.\n", r.Incomplete)
		}
		w("\nSystems, each terminating the same mutual TLS with the same certificates on 127.0.0.1:\n\n")
		for _, s := range r.Systems {
			w("- **%s** — %s\n", s.Name, s.Notes)
		}
		writeSummary(&b, r)
		writeRatios(&b, r)
		writeOpenLoop(&b, r)
		writeGoals(&b, r)
		writeProfiles(&b, r)
		writeFsyncs(&b, r)
		writeVault(&b, r)
		writeCells(&b, r)
		writeProbes(&b, r)
	}
	writeScale(&b, r)
	writeParts(&b, r)
	return b.String()
}

func machineLine(m Machine) string {
	s := fmt.Sprintf("Machine: %d × %s, %.1f GiB, Linux %s, %s, %s; load average %.2f at start.",
		m.CPUs, m.CPUModel, m.MemoryGiB, m.Kernel, m.GoVersion, m.Date, m.Load1)
	if len(m.Versions) > 0 {
		keys := make([]string, 0, len(m.Versions))
		for k := range m.Versions {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var parts []string
		for _, k := range keys {
			parts = append(parts, k+" "+m.Versions[k])
		}
		s += " Versions: " + strings.Join(parts, ", ") + "."
	}
	return s
}

// summaryCells picks, per scenario, the keep-alive cells at the highest
// concurrency every system reached: the headline comparison.
func summaryCells(r *Results) [][]Cell {
	var rows [][]Cell
	for _, sc := range allScenarios {
		maxC := 0
		for _, c := range r.Cells {
			if c.Scenario == sc.Name && c.Mode == "keepalive" && c.Rate == 0 && c.Concurrency > maxC {
				maxC = c.Concurrency
			}
		}
		var row []Cell
		for _, c := range r.Cells {
			if c.Scenario == sc.Name && c.Mode == "keepalive" && c.Rate == 0 && c.Concurrency == maxC {
				row = append(row, c)
			}
		}
		if len(row) > 0 {
			rows = append(rows, row)
		}
	}
	return rows
}

const cellHeader = "| scenario | mode | conc. | system | req/s | records/s | p50 ms | p99 ms | CPU s / 1k rec | + Redis, Vault | peak RSS MiB | failed |\n" +
	"|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|\n"

func cellRow(c Cell) string {
	failed := c.Requests - c.OK
	fail := fmt.Sprintf("%d", failed)
	if len(c.Errors) > 0 {
		var ks []string
		for k, n := range c.Errors {
			ks = append(ks, fmt.Sprintf("%d× %s", n, k))
		}
		sort.Strings(ks)
		fail += " (" + strings.Join(ks, "; ") + ")"
	}
	if c.Note != "" {
		fail += " " + c.Note
	}
	return fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n",
		c.Scenario, c.Mode, concLabel(c), c.System, num(c.RequestsPerS), num(c.RecordsPerS),
		ms(c.LatencyP50Ms), ms(c.LatencyP99Ms), sig(c.CPUPer1kRecords), sig(c.CPUWithDepsPer1kRecords),
		num(c.PeakRSSMiB), fail)
}

func writeSummary(b *strings.Builder, r *Results) {
	rows := summaryCells(r)
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(b, "\n## Summary: keep-alive, highest concurrency\n\n%s", cellHeader)
	for _, row := range rows {
		for _, c := range row {
			b.WriteString(cellRow(c))
		}
	}
}

func writeRatios(b *strings.Builder, r *Results) {
	if len(r.Ratios) == 0 {
		return
	}
	fmt.Fprintf(b, "\n## Ratios: %s ÷ baseline\n\n", r.Names.Ura)
	b.WriteString("Throughput below 1 means ura moves fewer records per second than the baseline; latency and CPU above 1 mean ura takes longer or burns more per record.\n\n")
	b.WriteString("| scenario | mode | conc. | baseline | records/s | p50 | p99 | CPU / rec | CPU / rec with Redis, Vault |\n|---|---|--:|---|--:|--:|--:|--:|--:|\n")
	for _, x := range r.Ratios {
		fmt.Fprintf(b, "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", x.Scenario, x.Mode, concLabel(Cell{Concurrency: x.Concurrency, Rate: x.Rate}), x.Baseline,
			ratio(x.RecordsPerS), ratio(x.P50), ratio(x.P99), ratio(x.CPUPer1k), ratio(x.CPUWithDepsPer1k))
	}
}

func writeCells(b *strings.Builder, r *Results) {
	if len(r.Cells) == 0 {
		return
	}
	fmt.Fprintf(b, "\n## Every cell\n\n%s", cellHeader)
	for _, c := range r.Cells {
		b.WriteString(cellRow(c))
	}
	b.WriteString("\n" + loadLine(r))
}

// loadLine summarises the 1-minute load average before each cell: the
// benchmark's own processes account for a few; more means other work
// shared the machine.
func loadLine(r *Results) string {
	var loads []float64
	for _, c := range r.Cells {
		loads = append(loads, c.Load1)
	}
	if len(loads) == 0 {
		return ""
	}
	sort.Float64s(loads)
	return fmt.Sprintf("Load average before a cell: min %.2f, median %.2f, max %.2f on %d CPUs (the systems, Redis, Vault and the load generator under load account for several; more means other work shared the machine).\n",
		loads[0], loads[len(loads)/2], loads[len(loads)-1], r.Machine.CPUs)
}

func writeProbes(b *strings.Builder, r *Results) {
	var bad []Probe
	for _, p := range r.Probes {
		if !p.OK {
			bad = append(bad, p)
		}
	}
	if len(bad) == 0 {
		return
	}
	b.WriteString("\n## Not measured\n\nA checked request before a system's cells did not succeed, so those cells were skipped:\n\n")
	for _, p := range bad {
		fmt.Fprintf(b, "- %s, %s: %s\n", p.System, p.Scenario, p.Detail)
	}
}

func writeScale(b *strings.Builder, r *Results) {
	s := r.Scale
	if s == nil {
		return
	}
	fmt.Fprintf(b, "\n## Scale: %s records through %s\n\n", commas(fmt.Sprint(s.Records)), s.System)
	if r.Started == "" {
		fmt.Fprintf(b, "%s\n\n", machineLine(s.Machine))
	}
	b.WriteString("| step | seconds | records | records/s | first byte ms | ura CPU s | CPU s / 1k rec | Redis+Vault CPU s | ura peak RSS MiB | anon before MiB | peak anon MiB | peak file MiB | error |\n|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|\n")
	steps := []struct {
		name string
		s    *ScaleStep
	}{{"seed (push, 1,000 per request)", s.Seed}, {"pull (one NDJSON stream)", s.Pull}}
	for _, st := range steps {
		if st.s == nil {
			continue
		}
		fmt.Fprintf(b, "| %s | %.1f | %s | %s | %s | %.1f | %s | %.1f | %s | %s | %s | %s | %s |\n", st.name, st.s.Seconds, commas(fmt.Sprint(st.s.Records)),
			num(st.s.RecordsPerS), ms(st.s.FirstByteMs), st.s.CPUSeconds, sig(st.s.CPUPer1kRecords), st.s.DepsCPUSeconds,
			num(st.s.PeakRSSMiB), num(st.s.AnonBeforeMiB), num(st.s.PeakAnonMiB), num(st.s.PeakFileMiB), trim([]byte(st.s.Error), 200))
	}
	b.WriteString("\nAnonymous memory is the heap and stacks the gateway holds; file memory is pages of the embedded store mapped in, which the kernel reclaims under pressure. Peak RSS counts both.\n")
	if p := s.Pull; p != nil && len(p.MemorySamples) > 1 {
		b.WriteString("\nDuring the pull, ura's anonymous memory as the stream went on:\n\n| seconds | records streamed | anon MiB | file MiB |\n|--:|--:|--:|--:|\n")
		step := max(1, len(p.MemorySamples)/10)
		for i, m := range p.MemorySamples {
			if i%step == 0 || i == len(p.MemorySamples)-1 {
				fmt.Fprintf(b, "| %.0f | %s | %s | %s |\n", m.Seconds, commas(fmt.Sprint(m.Records)), num(m.AnonMiB), num(m.FileMiB))
			}
		}
	}
}

func writeParts(b *strings.Builder, r *Results) {
	p := r.Parts
	if p == nil {
		return
	}
	b.WriteString("\n## The parts alone (`go test -bench`)\n\n")
	if len(p.Bench) == 0 {
		fmt.Fprintf(b, "No benchmarks found in the tree (%s).\n", p.Ran)
	} else {
		writeStageRates(b, p.Bench)
		bs := append([]PartBench(nil), p.Bench...)
		sort.SliceStable(bs, func(i, j int) bool { return bs[i].NsPerOp > bs[j].NsPerOp })
		b.WriteString("\nEvery benchmark, slowest op first. What one op is depends on the benchmark (its name says); custom metrics are the benchmark's own.\n\n")
		b.WriteString("| benchmark | ns/op | ops/s | B/op | allocs/op | other |\n|---|--:|--:|--:|--:|---|\n")
		for _, x := range bs {
			fmt.Fprintf(b, "| %s.%s | %s | %s | %s | %s | %s |\n", shortPkg(x.Package), x.Name, num(x.NsPerOp),
				num(div(1e9, x.NsPerOp)), num(x.BytesPerOp), num(x.AllocsOp), fmtMetrics(x.Metrics))
		}
	}
	for _, pk := range p.Packages {
		if pk.Error != "" {
			fmt.Fprintf(b, "\n%s failed: %s\n", shortPkg(pk.Package), trim([]byte(pk.Error), 300))
		}
	}
}

func num(v float64) string {
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) >= 100:
		return commas(fmt.Sprintf("%.0f", v))
	case math.Abs(v) >= 10:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.2f", v)
}

func commas(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var out []byte
	for i := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			out = append(out, ',')
		}
		out = append(out, s[i])
	}
	if neg {
		return "-" + string(out)
	}
	return string(out)
}

func ms(v float64) string {
	if v == 0 {
		return "–"
	}
	if v >= 100 {
		return commas(fmt.Sprintf("%.0f", v))
	}
	return fmt.Sprintf("%.2f", v)
}

func sig(v float64) string {
	if v == 0 {
		return "–"
	}
	return fmt.Sprintf("%.3g", v)
}

func ratio(v float64) string {
	if v == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f×", v)
}

// The README block lives between these markers; nothing else is touched.
const (
	readmeBegin = "<!-- bench:begin -->"
	readmeEnd   = "<!-- bench:end -->"
)

func summaryBlock(r *Results) string {
	var b strings.Builder
	b.WriteString(machineLine(r.Machine) + "\n")
	if r.Incomplete != "" {
		b.WriteString("\n**Incomplete:** " + r.Incomplete + ".\n")
	}
	b.WriteString("\n" + loadLine(r))
	writeSummary(&b, r)
	writeRatiosSummary(&b, r)
	writeOpenLoop(&b, r)
	writeGoals(&b, r)
	return b.String()
}

// writeRatiosSummary is the ratio table limited to the summary cells.
func writeRatiosSummary(b *strings.Builder, r *Results) {
	keep := map[string]bool{}
	for _, row := range summaryCells(r) {
		keep[fmt.Sprintf("%s/%d", row[0].Scenario, row[0].Concurrency)] = true
	}
	for _, c := range r.Cells {
		if c.Rate > 0 {
			keep[fmt.Sprintf("%s/@%d", c.Scenario, c.Rate)] = true
		}
	}
	sub := &Results{CellsFile: r.CellsFile, Names: r.Names}
	for _, x := range r.Ratios {
		k := fmt.Sprintf("%s/%d", x.Scenario, x.Concurrency)
		if x.Rate > 0 {
			k = fmt.Sprintf("%s/@%d", x.Scenario, x.Rate)
		}
		if x.Mode == "keepalive" && keep[k] {
			sub.Ratios = append(sub.Ratios, x)
		}
	}
	writeRatios(b, sub)
}

func updateReadme(path, block string) error {
	raw, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	i := bytes.Index(raw, []byte(readmeBegin))
	j := bytes.Index(raw, []byte(readmeEnd))
	if i < 0 || j < i {
		return fmt.Errorf("%s: no %s … %s block", path, readmeBegin, readmeEnd)
	}
	var out bytes.Buffer
	out.Write(raw[:i+len(readmeBegin)])
	out.WriteString("\n" + strings.ReplaceAll(block, "\n## ", "\n#### ") + "\n")
	out.Write(raw[j:])
	return os.WriteFile(path, out.Bytes(), 0o644)
}

// stageRate is one benchmark's own per-item rate: signatures, decisions,
// events or records per second.
type stageRate struct {
	stage, name, unit string
	rate              float64
}

// writeStageRates lists the per-item rates the parts' benchmarks report,
// slowest first, so the stage that bounds the chain stands out.
func writeStageRates(b *strings.Builder, bs []PartBench) {
	var rates []stageRate
	for _, x := range bs {
		for unit, v := range x.Metrics {
			// Byte rates (MB/s) measure another thing than items per second.
			if strings.HasSuffix(unit, "/s") && !strings.HasSuffix(unit, "B/s") && v > 0 {
				rates = append(rates, stageRate{stage: shortPkg(x.Package), name: x.Name, unit: unit, rate: v})
			}
		}
	}
	if len(rates) == 0 {
		return
	}
	sort.SliceStable(rates, func(i, j int) bool { return rates[i].rate < rates[j].rate })
	b.WriteString("Per-item rates the benchmarks report (each runs its part alone, on the same machine), slowest first. " +
		"A name with \"baseline\" or \"single\" is a comparison point, not the path the gateway takes.\n\n")
	b.WriteString("| stage | benchmark | rate |\n|---|---|--:|\n")
	for _, r := range rates {
		fmt.Fprintf(b, "| %s | %s | %s %s |\n", r.stage, r.name, num(r.rate), r.unit)
	}
}

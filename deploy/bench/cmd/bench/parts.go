package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"
)

// PartsFile is what `bench parts` writes: the parts' own Go benchmarks.
type PartsFile struct {
	Ran      string      `json:"ran"`
	Packages []PartsPkg  `json:"packages"`
	Listed   []string    `json:"listed_packages"`
	Bench    []PartBench `json:"benchmarks"`
}

// PartsPkg is one package's benchmark run.
type PartsPkg struct {
	Package string  `json:"package"`
	Seconds float64 `json:"seconds"`
	Error   string  `json:"error,omitempty"`
}

// PartBench is one benchmark line.
type PartBench struct {
	Package    string             `json:"package"`
	Name       string             `json:"name"`
	Iterations int64              `json:"iterations"`
	NsPerOp    float64            `json:"ns_per_op"`
	BytesPerOp float64            `json:"bytes_per_op,omitempty"`
	AllocsOp   float64            `json:"allocs_per_op,omitempty"`
	Metrics    map[string]float64 `json:"metrics,omitempty"`
}

func runParts(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench parts", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "var/bench/parts.json", "where to write the results")
	pattern := fs.String("pkgs", "./...", "packages to look for benchmarks in")
	benchtime := fs.String("benchtime", "1s", "go test -benchtime")
	bench := fs.String("bench", ".", "go test -bench: which benchmarks (BenchmarkAppend feeds the audit goal)")
	pkgTimeout := fs.Duration("pkg-timeout", 5*time.Minute, "time limit for one package's benchmarks")
	if err := fs.Parse(args); err != nil {
		return err
	}
	res := &PartsFile{Ran: time.Now().UTC().Format(time.RFC3339)}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	listOut, err := exec.CommandContext(lctx, "go", "test", "-run", "^$", "-list", benchList(*bench), *pattern).CombinedOutput()
	cancel()
	pkgs := parseList(listOut)
	if err != nil && len(pkgs) == 0 {
		return fmt.Errorf("go test -list: %w\n%s", err, tail(listOut, 2000))
	}
	res.Listed = pkgs
	_, _ = fmt.Fprintf(stdout, "packages with benchmarks: %s\n", strings.Join(pkgs, " "))
	for _, pkg := range pkgs {
		start := time.Now()
		pctx, cancel := context.WithTimeout(ctx, *pkgTimeout)
		cmd := exec.CommandContext(pctx, "go", "test", "-run", "^$", "-bench", *bench, "-benchmem",
			"-benchtime", *benchtime, "-count", "1", "-timeout", pkgTimeout.String(), pkg)
		raw, err := cmd.CombinedOutput()
		cancel()
		pr := PartsPkg{Package: pkg, Seconds: time.Since(start).Seconds()}
		benches := parseBench(pkg, raw)
		if err != nil {
			pr.Error = fmt.Sprintf("%v: %s", err, tail(raw, 600))
		}
		res.Packages = append(res.Packages, pr)
		res.Bench = append(res.Bench, benches...)
		for _, b := range benches {
			_, _ = fmt.Fprintf(stdout, "  %-50s %14.0f ns/op %s\n", shortPkg(b.Package)+"."+b.Name, b.NsPerOp, fmtMetrics(b.Metrics))
		}
		if pr.Error != "" {
			_, _ = fmt.Fprintf(stdout, "  %s: %s\n", pkg, firstLine(pr.Error))
		}
	}
	return writeJSON(*out, res)
}

// benchList is the -list pattern for a -bench pattern: -list matches
// top-level names only, so a sub-benchmark part (after a slash) is dropped.
func benchList(bench string) string {
	top, _, _ := strings.Cut(bench, "/")
	if top == "." || top == "" {
		return "Benchmark.*"
	}
	return top
}

// parseList reads `go test -list` output: benchmark names, then the
// package's "ok" line.
func parseList(out []byte) []string {
	var pkgs []string
	pending := false
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "Benchmark") {
			pending = true
			continue
		}
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "ok" {
			if pending {
				pkgs = append(pkgs, f[1])
			}
			pending = false
		} else if len(f) >= 2 && (f[0] == "?" || f[0] == "FAIL") {
			pending = false
		}
	}
	sort.Strings(pkgs)
	return pkgs
}

// parseBench reads standard benchmark lines:
// BenchmarkName-2  1000  1234 ns/op  56 B/op  7 allocs/op  890 records/s
func parseBench(pkg string, out []byte) []PartBench {
	var res []PartBench
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		iters, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			continue
		}
		b := PartBench{Package: pkg, Name: stripProcs(f[0]), Iterations: iters}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			switch unit := f[i+1]; unit {
			case "ns/op":
				b.NsPerOp = v
			case "B/op":
				b.BytesPerOp = v
			case "allocs/op":
				b.AllocsOp = v
			default:
				if b.Metrics == nil {
					b.Metrics = map[string]float64{}
				}
				b.Metrics[unit] = v
			}
		}
		res = append(res, b)
	}
	return res
}

// stripProcs drops the -GOMAXPROCS suffix.
func stripProcs(name string) string {
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			return name[:i]
		}
	}
	return name
}

func shortPkg(p string) string {
	return strings.TrimPrefix(p, "github.com/ura-gateway/ura/")
}

func fmtMetrics(m map[string]float64) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var parts []string
	for _, k := range keys {
		parts = append(parts, num(m[k])+" "+k)
	}
	return strings.Join(parts, ", ")
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

package policy

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/cover"
	"github.com/open-policy-agent/opa/v1/storage/inmem"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestResult is one Rego unit test (a test_ rule in a *_test.rego file).
type TestResult struct {
	Package  string        `json:"package"`
	Name     string        `json:"name"`
	Location string        `json:"location"`
	Pass     bool          `json:"pass"`
	Skip     bool          `json:"skip,omitempty"`
	Error    string        `json:"error,omitempty"`
	Duration time.Duration `json:"duration_ns"`
}

// TestReport is a run of a bundle's Rego unit tests with coverage of its
// policy files (the tests themselves are not counted).
type TestReport struct {
	Revision string       `json:"revision"`
	Results  []TestResult `json:"results"`
	Passed   int          `json:"passed"`
	Failed   int          `json:"failed"`
	Skipped  int          `json:"skipped"`
	// Coverage is the percentage of policy lines the tests evaluated.
	Coverage float64            `json:"coverage_percent"`
	Files    map[string]float64 `json:"file_coverage_percent"`
}

// OK reports whether every test that ran passed and at least one ran.
func (r *TestReport) OK() bool { return r.Failed == 0 && r.Passed > 0 }

// RunTests runs the Rego unit tests of a source with OPA's tester, built-in
// errors raised as the gateway raises them, and measures coverage with
// OPA's cover package.
func RunTests(ctx context.Context, src Source) (*TestReport, error) {
	snap, err := src.readFiles(true)
	if err != nil {
		return nil, err
	}
	l, err := src.parse(snap, true)
	if err != nil {
		return nil, err
	}
	cov := cover.New()
	runner := tester.NewRunner().
		SetStore(inmem.NewFromObjectWithOpts(l.data, inmem.OptRoundTripOnWrite(false))).
		SetModules(l.modules).
		SetCoverageQueryTracer(cov).
		SetCoverageRuns([]cover.Kind{}).
		RaiseBuiltinErrors(true).
		CapturePrintOutput(true).
		SetDefaultRegoVersion(ast.RegoV1).
		SetTimeout(30 * time.Second)
	ch, err := runner.RunTests(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("compile tests: %w", err)
	}
	rep := &TestReport{Revision: snap.revision, Files: map[string]float64{}}
	for res := range ch {
		tr := TestResult{Package: strings.TrimPrefix(res.Package, "data."), Name: res.Name, Duration: res.Duration, Skip: res.Skip}
		if res.Location != nil {
			tr.Location = fmt.Sprintf("%s:%d", res.Location.File, res.Location.Row)
		}
		switch {
		case res.Skip:
			rep.Skipped++
		case res.Error != nil:
			tr.Error = res.Error.Error()
			rep.Failed++
		case res.Fail:
			rep.Failed++
		default:
			tr.Pass = true
			rep.Passed++
		}
		rep.Results = append(rep.Results, tr)
	}
	sort.Slice(rep.Results, func(i, j int) bool {
		a, b := rep.Results[i], rep.Results[j]
		if a.Location != b.Location {
			return a.Location < b.Location
		}
		return a.Name < b.Name
	})
	report := cov.Report(l.modules)
	covered, notCovered := 0, 0
	for file, fr := range report.Files {
		if isTestFile(file) {
			continue
		}
		covered += fr.CoveredLines
		notCovered += fr.NotCoveredLines
		rep.Files[file] = fr.Coverage
	}
	if covered+notCovered > 0 {
		rep.Coverage = 100 * float64(covered) / float64(covered+notCovered)
	}
	return rep, nil
}

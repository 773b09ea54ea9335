package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"

	"github.com/ura-gateway/ura/deploy/bench/internal/synth"
)

// scenario is one kind of request every system is driven with.
type scenario struct {
	Name string `json:"name"`
	// Records is how many records one request moves.
	Records int  `json:"records"`
	Push    bool `json:"push"`
}

var allScenarios = []scenario{
	{Name: "push1", Records: 1, Push: true},
	{Name: "push100", Records: 100, Push: true},
	{Name: "pull10k", Records: 10_000},
}

func scenarioByName(n string) (scenario, bool) {
	for _, s := range allScenarios {
		if s.Name == n {
			return s, true
		}
	}
	return scenario{}, false
}

// system is one thing being measured, reached at URL and running as the
// processes in its pid files.
type system struct {
	Name string `json:"name"`
	// Kind is nginx (nothing to seed: the upstream synthesizes the pull) or
	// ura (the pull reads the store, which is seeded first).
	Kind string `json:"kind"`
	URL  string `json:"url"`
	// Ops is the plain-HTTP ops listener (127.0.0.1), where a ura system
	// with ops_profiling serves its CPU profile.
	Ops   string `json:"ops,omitempty"`
	Notes string `json:"notes,omitempty"`
	procs *group
}

// Cell is one measurement: a system, a scenario, a connection mode and a
// concurrency, driven for a fixed time.
type Cell struct {
	System   string `json:"system"`
	Scenario string `json:"scenario"`
	Mode     string `json:"mode"` // keepalive | fresh
	// Concurrency is the requests kept in flight (closed loop); 0 in an
	// open-loop cell, which sends at Rate whatever the answers do.
	Concurrency int `json:"concurrency"`
	// Rate is the offered requests per second of an open-loop cell.
	Rate int `json:"rate_per_s,omitempty"`

	TargetSeconds  float64        `json:"target_seconds"`
	ElapsedSeconds float64        `json:"elapsed_seconds"`
	Requests       int            `json:"requests"`
	OK             int            `json:"ok"`
	Errors         map[string]int `json:"errors,omitempty"`
	// Records counts records actually delivered: accepted results of a
	// push, NDJSON record lines of a pull. A refused record is not counted.
	Records       int64   `json:"records"`
	BytesIn       int64   `json:"bytes_in"`
	RequestsPerS  float64 `json:"requests_per_s"`
	RecordsPerS   float64 `json:"records_per_s"`
	LatencyMeanMs float64 `json:"latency_mean_ms"`
	LatencyP50Ms  float64 `json:"latency_p50_ms"`
	LatencyP90Ms  float64 `json:"latency_p90_ms"`
	LatencyP99Ms  float64 `json:"latency_p99_ms"`
	LatencyMaxMs  float64 `json:"latency_max_ms"`

	// CPUSeconds is the system's own processes (nginx master and workers;
	// ura; ura and its OPA server); DepsCPUSeconds is the shared Redis and
	// Vault during the cell.
	CPUSeconds       float64 `json:"cpu_seconds"`
	DepsCPUSeconds   float64 `json:"deps_cpu_seconds"`
	ClientCPUSeconds float64 `json:"client_cpu_seconds"`
	CPUPer1kRecords  float64 `json:"cpu_s_per_1k_records"`
	// CPUWithDepsPer1kRecords adds Redis and Vault.
	CPUWithDepsPer1kRecords float64 `json:"cpu_with_deps_s_per_1k_records"`
	// CPUMsPerRequest is the system's CPU per answered request.
	CPUMsPerRequest float64 `json:"cpu_ms_per_request"`
	PeakRSSMiB      float64 `json:"peak_rss_mib"`
	DepsPeakRSSMiB  float64 `json:"deps_peak_rss_mib"`
	// PeakIsCell is false when the peak could not be reset, so PeakRSSMiB is
	// the peak over the process's life so far.
	PeakIsCell bool    `json:"peak_is_cell"`
	Load1      float64 `json:"load1_before"`
	// VaultCalls is how many Vault requests ura's signer made during the
	// cell (its own ura_sign_vault_requests_total); absent when the system
	// is not ura or its metrics could not be read.
	VaultCalls              *float64 `json:"vault_calls,omitempty"`
	VaultCallsPer10kRecords *float64 `json:"vault_calls_per_10k_records,omitempty"`
	Note                    string   `json:"note,omitempty"`
}

// concLabel is how a cell's load is shown: requests in flight, or the
// offered rate of an open-loop cell.
func concLabel(c Cell) string {
	if c.Rate > 0 {
		return fmt.Sprintf("@%d/s", c.Rate)
	}
	return strconv.Itoa(c.Concurrency)
}

// driver runs cells against systems.
type driver struct {
	pki      *pki
	pusher   string
	puller   string
	timeout  time.Duration
	deps     *group
	runTag   string
	pullPath string
	// auditor reads ura's /metrics (Vault calls, the outbox's backlog).
	auditor string
	seq     atomic.Int64
}

// pullURL asks every system the same question; nginx hands it to the
// upstream, which honours limit the way ura does.
func (d *driver) pullURL(sys *system, n int) string {
	return strings.TrimRight(sys.URL, "/") + d.pullPath + "&limit=" + strconv.Itoa(n)
}

func (d *driver) pushURL(sys *system) string {
	return strings.TrimRight(sys.URL, "/") + "/v1/records"
}

// targeter makes each request of a cell. Every push carries records never
// sent before, so that ura stores, signs and audits each one instead of
// answering "unchanged".
func (d *driver) targeter(sys *system, sc scenario, tag string) vegeta.Targeter {
	if !sc.Push {
		hdr := http.Header{"Accept": []string{"application/x-ndjson"}}
		url := d.pullURL(sys, sc.Records)
		return func(t *vegeta.Target) error {
			t.Method, t.URL, t.Header, t.Body = http.MethodGet, url, hdr, nil
			return nil
		}
	}
	url := d.pushURL(sys)
	// The records are AL/GOV/AIM's, so their ids are in its namespace, AIM-
	// (policies/data.json id_namespaces).
	prefix := fmt.Sprintf("AIM-BENCH-%s-%s", d.runTag, tag)
	return func(t *vegeta.Target) error {
		n := int(d.seq.Add(1))
		t.Method, t.URL = http.MethodPost, url
		t.Header = http.Header{"Content-Type": []string{"application/json"}}
		t.Body = synth.Batch(prefix, n*sc.Records, sc.Records)
		return nil
	}
}

// countRecords is how many records a response delivered.
func countRecords(sc scenario, code int, body []byte, bc *bodyCount) int64 {
	if code != http.StatusOK {
		return 0
	}
	if sc.Push {
		return int64(pushAccepted(body))
	}
	if bc == nil {
		return 0
	}
	return pullRecords(bc)
}

// pushAccepted counts the accepted results in a push answer: ura's
// per-record results and the upstream's both say "accepted" once per
// accepted record.
func pushAccepted(body []byte) int {
	return bytes.Count(body, []byte(`"accepted"`))
}

// pullRecords counts NDJSON record lines, leaving out a trailer line that
// is not a record (a stream's closing summary).
func pullRecords(bc *bodyCount) int64 {
	n := bc.lines
	if bc.bytes > 0 && !bytes.HasSuffix(bc.tail, []byte{'\n'}) {
		n++ // a last line without a newline
	}
	if n > 0 && isTrailer(bc.lastLine()) {
		n--
	}
	return n
}

// shortAnswer says why a 200 answer is not a full one, or "" when it is.
func shortAnswer(sc scenario, n int64, bc *bodyCount) string {
	switch {
	case sc.Push && n != int64(sc.Records):
		return "200 but not every record accepted"
	case sc.Push:
		return ""
	case bc != nil && isTrailer(bc.lastLine()) && !bytes.Contains(bc.lastLine(), []byte(`"complete":true`)):
		return "200 but the stream ended with an error"
	case n != int64(sc.Records):
		return "200 but a short stream"
	}
	return ""
}

// isTrailer recognises a stream's closing line: an object with a
// next_cursor (ura's trailer, which carries its own signature), or one that
// is neither a record (kind) nor a signed delivery (a JWS string or an
// object holding one).
func isTrailer(line []byte) bool {
	l := bytes.TrimSpace(line)
	if len(l) == 0 || l[0] != '{' {
		return false
	}
	if bytes.Contains(l, []byte(`"next_cursor"`)) {
		return true
	}
	for _, k := range [][]byte{[]byte(`"kind"`), []byte(`"jws"`), []byte(`"signature"`), []byte(`"payload"`), []byte(`"record"`)} {
		if bytes.Contains(l, k) {
			return false
		}
	}
	return true
}

// runCell drives one closed-loop cell and measures it.
func (d *driver) runCell(ctx context.Context, sys *system, sc scenario, mode string, conc int, dur time.Duration) Cell {
	return d.cell(ctx, cellPlan{sys: sys, sc: sc, mode: mode, conc: conc, dur: dur})
}

// cellPlan is one cell to drive: closed loop at conc requests in flight,
// or, with rate set, open loop at rate requests per second.
type cellPlan struct {
	sys  *system
	sc   scenario
	mode string
	conc int
	rate int
	dur  time.Duration
	// during, when set, starts as the first request goes out; what it
	// returns is called once the last answer is in.
	during func() (after func())
}

// openLoopConns bounds the connections of an open-loop cell: enough that
// a slow answer never holds back the next request, which is what open
// loop means.
const openLoopConns = 512

// cell drives one cell and measures it.
func (d *driver) cell(ctx context.Context, pl cellPlan) Cell {
	sys, sc, mode, conc, dur := pl.sys, pl.sc, pl.mode, pl.conc, pl.dur
	c := Cell{System: sys.Name, Scenario: sc.Name, Mode: mode, Concurrency: conc, Rate: pl.rate, TargetSeconds: dur.Seconds(), Errors: map[string]int{}}
	keepAlive := mode == "keepalive"
	who := d.puller
	if sc.Push {
		who = d.pusher
	}
	conns := conc
	if pl.rate > 0 {
		c.Concurrency = 0
		conns = openLoopConns
	}
	tr := d.pki.transport(who, conns, keepAlive)
	defer tr.CloseIdleConnections()
	ct := newCountingTransport(tr)
	maxBody := int64(0)
	if sc.Push {
		// Push answers are small; they are read whole to count results.
		maxBody = -1
	}
	opts := []func(*vegeta.Attacker){
		vegeta.Client(&http.Client{Transport: ct, Timeout: d.timeout}),
		vegeta.MaxBody(maxBody),
	}
	// Closed loop: conc workers, each sending its next request when its
	// last is answered, as fast as that goes. Open loop: vegeta sends at
	// the rate and adds workers when answers lag, so a slow answer shows
	// as latency instead of lowering the load.
	var pacer vegeta.Pacer = vegeta.ConstantPacer{}
	tag := fmt.Sprintf("%s-%s-%s-c%d", sys.Name, sc.Name, mode, conc)
	if pl.rate > 0 {
		pacer = vegeta.ConstantPacer{Freq: pl.rate, Per: time.Second}
		opts = append(opts, vegeta.Workers(vegeta.DefaultWorkers), vegeta.MaxWorkers(openLoopConns))
		tag = fmt.Sprintf("%s-%s-%s-r%d", sys.Name, sc.Name, mode, pl.rate)
	} else {
		opts = append(opts, vegeta.Workers(uint64(conc)), vegeta.MaxWorkers(uint64(conc)))
	}
	atk := vegeta.NewAttacker(opts...)

	if err := sys.procs.refresh(); err != nil {
		c.Note = err.Error()
		return c
	}
	_ = d.deps.refresh()
	var vaultBefore float64
	vaultOK := false
	if sys.Kind == "ura" {
		vaultBefore, vaultOK = d.counter(ctx, sys, vaultCounter)
	}
	c.Load1 = loadAverage()
	c.PeakIsCell = sys.procs.resetPeak()
	d.deps.resetPeak()
	before, depsBefore, clientBefore := sys.procs.sample(), d.deps.sample(), selfCPU()

	start := time.Now()
	var lat []time.Duration
	var end time.Time
	var after func()
	if pl.during != nil {
		after = pl.during()
	}
	results := atk.Attack(d.targeter(sys, sc, tag), pacer, dur, tag)
	for r := range results {
		if ctx.Err() != nil {
			atk.Stop()
		}
		c.Requests++
		if fin := r.Timestamp.Add(r.Latency); fin.After(end) {
			end = fin
		}
		bc := ct.take(r.Seq)
		if bc != nil {
			c.BytesIn += bc.bytes
		}
		if r.Code >= 200 && r.Code < 300 && r.Error == "" {
			n := countRecords(sc, int(r.Code), r.Body, bc)
			c.Records += n
			// An answer that moved fewer records than asked (some refused,
			// a stream cut short) is a failure, though what it did deliver
			// still counts.
			if short := shortAnswer(sc, n, bc); short != "" {
				c.Errors[short]++
				continue
			}
			c.OK++
			lat = append(lat, r.Latency)
			continue
		}
		c.Errors[errorKey(r, bc)]++
	}
	done, depsAfter, clientAfter := sys.procs.sample(), d.deps.sample(), selfCPU()
	if after != nil {
		after()
	}
	if vaultOK {
		if v, ok := d.counter(ctx, sys, vaultCounter); ok {
			calls := v - vaultBefore
			c.VaultCalls = &calls
			if c.Records > 0 {
				per := calls / float64(c.Records) * 10_000
				c.VaultCallsPer10kRecords = &per
			}
		}
	}
	if end.IsZero() {
		end = time.Now()
	}
	c.ElapsedSeconds = end.Sub(start).Seconds()
	if c.ElapsedSeconds > 0 {
		c.RequestsPerS = float64(c.OK) / c.ElapsedSeconds
		c.RecordsPerS = float64(c.Records) / c.ElapsedSeconds
	}
	c.CPUSeconds = done.cpuSeconds - before.cpuSeconds
	c.DepsCPUSeconds = depsAfter.cpuSeconds - depsBefore.cpuSeconds
	c.ClientCPUSeconds = clientAfter - clientBefore
	if c.Records > 0 {
		c.CPUPer1kRecords = c.CPUSeconds / float64(c.Records) * 1000
		c.CPUWithDepsPer1kRecords = (c.CPUSeconds + c.DepsCPUSeconds) / float64(c.Records) * 1000
	}
	if c.OK > 0 {
		c.CPUMsPerRequest = c.CPUSeconds / float64(c.OK) * 1000
	}
	c.PeakRSSMiB = float64(done.hwmKB) / 1024
	c.DepsPeakRSSMiB = float64(depsAfter.hwmKB) / 1024
	fillLatency(&c, lat)
	if len(c.Errors) == 0 {
		c.Errors = nil
	}
	return c
}

// errorKey groups failures: the HTTP status with the problem type when
// there is one, or the transport error.
func errorKey(r *vegeta.Result, bc *bodyCount) string {
	if r.Code == 0 {
		msg := r.Error
		if i := strings.LastIndex(msg, ": "); i >= 0 && len(msg)-i < 80 {
			msg = msg[i+2:]
		}
		return "transport: " + msg
	}
	key := strconv.Itoa(int(r.Code))
	head := r.Body
	if len(head) == 0 && bc != nil {
		head = bc.head
	}
	if t := problemType(head); t != "" {
		key += " " + t
	}
	return key
}

func problemType(body []byte) string {
	i := bytes.Index(body, []byte(`"type":"`))
	if i < 0 {
		return ""
	}
	rest := body[i+8:]
	j := bytes.IndexByte(rest, '"')
	if j < 0 || j > 120 {
		return ""
	}
	return string(rest[:j])
}

func fillLatency(c *Cell, lat []time.Duration) {
	if len(lat) == 0 {
		return
	}
	slices.Sort(lat)
	var sum time.Duration
	for _, l := range lat {
		sum += l
	}
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	c.LatencyMeanMs = ms(sum / time.Duration(len(lat)))
	c.LatencyP50Ms = ms(quantile(lat, 0.50))
	c.LatencyP90Ms = ms(quantile(lat, 0.90))
	c.LatencyP99Ms = ms(quantile(lat, 0.99))
	c.LatencyMaxMs = ms(lat[len(lat)-1])
}

// quantile of sorted values, nearest rank: an observed latency, not an
// interpolation between two.
func quantile(sorted []time.Duration, q float64) time.Duration {
	idx := int(q*float64(len(sorted)) + 0.999999)
	if idx < 1 {
		idx = 1
	}
	if idx > len(sorted) {
		idx = len(sorted)
	}
	return sorted[idx-1]
}

// Probe is one checked request before a system's cells of a scenario: it
// says whether the scenario works on that system at all, and why not.
type Probe struct {
	System   string `json:"system"`
	Scenario string `json:"scenario"`
	OK       bool   `json:"ok"`
	Status   int    `json:"status"`
	Records  int64  `json:"records"`
	Detail   string `json:"detail,omitempty"`
}

func (d *driver) probe(ctx context.Context, sys *system, sc scenario) Probe {
	p := Probe{System: sys.Name, Scenario: sc.Name}
	who := d.puller
	if sc.Push {
		who = d.pusher
	}
	tr := d.pki.transport(who, 1, false)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: d.timeout}
	var t vegeta.Target
	_ = d.targeter(sys, sc, sys.Name+"-probe-"+sc.Name)(&t)
	req, err := http.NewRequestWithContext(ctx, t.Method, t.URL, bytes.NewReader(t.Body))
	if err != nil {
		p.Detail = err.Error()
		return p
	}
	req.Header = t.Header
	resp, err := client.Do(req)
	if err != nil {
		p.Detail = err.Error()
		return p
	}
	defer func() { _ = resp.Body.Close() }()
	p.Status = resp.StatusCode
	bc := &bodyCount{}
	body, err := io.ReadAll(&countingBody{rc: resp.Body, c: bc})
	if err != nil {
		p.Detail = "reading the answer: " + err.Error()
		return p
	}
	p.Records = countRecords(sc, resp.StatusCode, body, bc)
	switch {
	case resp.StatusCode != http.StatusOK:
		p.Detail = fmt.Sprintf("HTTP %d %s", resp.StatusCode, trim(body, 300))
	case shortAnswer(sc, p.Records, bc) != "":
		p.Detail = fmt.Sprintf("delivered %d records, want %d; answer starts %s; ends %s", p.Records, sc.Records, trim(bc.head, 300), trim(bc.lastLine(), 300))
	default:
		p.OK = true
	}
	return p
}

func trim(b []byte, n int) string {
	s := strings.Join(strings.Fields(string(b)), " ")
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// seed pushes n licences in batches so a ura system has a store to pull
// from. It checks every batch was accepted in full.
func (d *driver) seed(ctx context.Context, sys *system, n, batch int) error {
	tr := d.pki.transport(d.pusher, 2, true)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: d.timeout}
	prefix := "AIM-BENCH-SEED-" + d.runTag
	for first := 0; first < n; first += batch {
		if err := ctx.Err(); err != nil {
			return err
		}
		k := min(batch, n-first)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.pushURL(sys), bytes.NewReader(synth.Batch(prefix, first, k)))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("seed %s: %w", sys.Name, err)
		}
		body, err := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if err != nil {
			return fmt.Errorf("seed %s: %w", sys.Name, err)
		}
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("seed %s: batch at %d: HTTP %d %s", sys.Name, first, resp.StatusCode, trim(body, 300))
		}
		if got := pushAccepted(body); got != k {
			return fmt.Errorf("seed %s: batch at %d: %d of %d accepted: %s", sys.Name, first, got, k, trim(body, 300))
		}
	}
	return nil
}

// sortCells orders cells as the report shows them.
func sortCells(cells []Cell, systems []string) {
	rank := map[string]int{}
	for i, s := range systems {
		rank[s] = i
	}
	srank := map[string]int{}
	for i, s := range allScenarios {
		srank[s.Name] = i
	}
	sort.SliceStable(cells, func(i, j int) bool {
		a, b := cells[i], cells[j]
		if a.Scenario != b.Scenario {
			return srank[a.Scenario] < srank[b.Scenario]
		}
		if a.Mode != b.Mode {
			return a.Mode == "keepalive"
		}
		if (a.Rate > 0) != (b.Rate > 0) {
			return b.Rate > 0
		}
		if a.Concurrency != b.Concurrency || a.Rate != b.Rate {
			return a.Concurrency < b.Concurrency || (a.Concurrency == b.Concurrency && a.Rate < b.Rate)
		}
		return rank[a.System] < rank[b.System]
	})
}

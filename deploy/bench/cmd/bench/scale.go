package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ura-gateway/ura/deploy/bench/internal/synth"
)

// ScaleFile is what `bench scale` writes.
type ScaleFile struct {
	Ran     string     `json:"ran"`
	Machine Machine    `json:"machine"`
	System  string     `json:"system"`
	Records int        `json:"records"`
	Seed    *ScaleStep `json:"seed,omitempty"`
	Pull    *ScaleStep `json:"pull,omitempty"`
}

// ScaleStep is one phase of the scale run.
type ScaleStep struct {
	Seconds          float64 `json:"seconds"`
	FirstByteMs      float64 `json:"first_byte_ms,omitempty"`
	Records          int64   `json:"records"`
	Bytes            int64   `json:"bytes"`
	RecordsPerS      float64 `json:"records_per_s"`
	CPUSeconds       float64 `json:"cpu_seconds"`
	DepsCPUSeconds   float64 `json:"deps_cpu_seconds"`
	ClientCPUSeconds float64 `json:"client_cpu_seconds"`
	CPUPer1kRecords  float64 `json:"cpu_s_per_1k_records"`
	CPUWithDeps1k    float64 `json:"cpu_with_deps_s_per_1k_records"`
	PeakRSSMiB       float64 `json:"peak_rss_mib"`
	DepsPeakRSSMiB   float64 `json:"deps_peak_rss_mib"`
	// The peak above counts file pages the store maps into memory, which
	// the kernel may drop at any time; anonymous memory (the Go heap and
	// stacks) is what the gateway itself holds. Both are sampled every
	// 250 ms: before the step, at their peaks, and along the way.
	AnonBeforeMiB float64    `json:"anon_rss_before_mib"`
	PeakAnonMiB   float64    `json:"peak_anon_rss_mib"`
	PeakFileMiB   float64    `json:"peak_file_rss_mib"`
	MemorySamples []MemPoint `json:"memory_samples,omitempty"`
	Status        int        `json:"status,omitempty"`
	Error         string     `json:"error,omitempty"`
	progress      atomic.Int64
}

// MemPoint is the system's memory after some of a step's records.
type MemPoint struct {
	Seconds float64 `json:"seconds"`
	Records int64   `json:"records"`
	AnonMiB float64 `json:"anon_rss_mib"`
	FileMiB float64 `json:"file_rss_mib"`
}

func runScale(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("bench scale", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var meta listFlag
	fs.Var(&meta, "meta", "key=value recorded with the machine (repeat)")
	spec := fs.String("system", "", "the ura system: name=…,kind=ura,url=…,pids=…")
	pkiDir := fs.String("pki", "var/bench/pki", "the bench PKI")
	out := fs.String("out", "var/bench/scale.json", "where to write the result")
	deps := fs.String("deps", "", "pid files of Redis and Vault, comma-separated")
	n := fs.Int("records", 1_000_000, "records to seed and then pull in one stream")
	batch := fs.Int("seed-batch", 1000, "licences per seeding request")
	seedConc := fs.Int("seed-concurrency", 2, "seeding requests in flight")
	pusher := fs.String("pusher", "AL_GOV_AIM", "client certificate that seeds")
	puller := fs.String("puller", "AL_GOV_DPD", "client certificate that pulls (customs: policy redacts two fields of every licence)")
	pullPath := fs.String("pull-path", "/v1/records?kind=licence", "path and query of the pull (limit= is appended)")
	timeout := fs.Duration("timeout", 40*time.Minute, "bound on the whole scale run")
	if err := fs.Parse(args); err != nil {
		return err
	}
	sys, err := parseSystem(*spec)
	if err != nil {
		return err
	}
	p, err := loadPKI(*pkiDir, *pusher, *puller)
	if err != nil {
		return err
	}
	depGroup := &group{name: "deps"}
	if *deps != "" {
		depGroup.pidFiles = strings.Split(*deps, ",")
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	d := &driver{pki: p, pusher: *pusher, puller: *puller, timeout: *timeout, deps: depGroup,
		runTag: fmt.Sprintf("S%x", time.Now().Unix()), pullPath: *pullPath}
	res := &ScaleFile{Ran: time.Now().UTC().Format(time.RFC3339), Machine: machine(parseMeta(meta)), System: sys.Name, Records: *n}

	_, _ = fmt.Fprintf(stdout, "scale: seeding %s with %d licences (%d per request, %d in flight)\n", sys.Name, *n, *batch, *seedConc)
	res.Seed = measure(sys, depGroup, func(st *ScaleStep) error { return d.seedParallel(ctx, sys, *n, *batch, *seedConc, st, stdout) })
	_, _ = fmt.Fprintf(stdout, "scale: seeded %d in %.1f s (%.0f records/s)\n", res.Seed.Records, res.Seed.Seconds, res.Seed.RecordsPerS)
	if err := writeJSON(*out, res); err != nil {
		return err
	}
	if res.Seed.Error != "" {
		return errors.New("scale: seeding failed: " + res.Seed.Error)
	}
	_, _ = fmt.Fprintf(stdout, "scale: pulling %d records from %s in one NDJSON stream\n", *n, sys.Name)
	res.Pull = measure(sys, depGroup, func(st *ScaleStep) error { return d.pullOnce(ctx, sys, *n, st, stdout) })
	_, _ = fmt.Fprintf(stdout, "scale: pulled %d records in %.1f s (%.0f records/s), ura CPU %.1f s, peak RSS %.0f MiB\n",
		res.Pull.Records, res.Pull.Seconds, res.Pull.RecordsPerS, res.Pull.CPUSeconds, res.Pull.PeakRSSMiB)
	return writeJSON(*out, res)
}

// measure runs fn with the system's and the dependencies' CPU and peak
// memory taken around it.
func measure(sys *system, deps *group, fn func(*ScaleStep) error) *ScaleStep {
	st := &ScaleStep{}
	if err := sys.procs.refresh(); err != nil {
		st.Error = err.Error()
		return st
	}
	_ = deps.refresh()
	sys.procs.resetPeak()
	deps.resetPeak()
	b, db, cb := sys.procs.sample(), deps.sample(), selfCPU()
	start := time.Now()
	anon, _ := sys.procs.residentKB()
	st.AnonBeforeMiB = float64(anon) / 1024
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		sampleMemory(sys.procs, st, start, stop)
	}()
	err := fn(st)
	close(stop)
	<-sampled
	st.Seconds = time.Since(start).Seconds()
	a, da, ca := sys.procs.sample(), deps.sample(), selfCPU()
	if err != nil {
		st.Error = err.Error()
	}
	st.CPUSeconds, st.DepsCPUSeconds, st.ClientCPUSeconds = a.cpuSeconds-b.cpuSeconds, da.cpuSeconds-db.cpuSeconds, ca-cb
	st.PeakRSSMiB, st.DepsPeakRSSMiB = float64(a.hwmKB)/1024, float64(da.hwmKB)/1024
	if st.Seconds > 0 {
		st.RecordsPerS = float64(st.Records) / st.Seconds
	}
	if st.Records > 0 {
		st.CPUPer1kRecords = st.CPUSeconds / float64(st.Records) * 1000
		st.CPUWithDeps1k = (st.CPUSeconds + st.DepsCPUSeconds) / float64(st.Records) * 1000
	}
	return st
}

// sampleMemory records the system's anonymous and file-backed resident
// memory every 250 ms until stop, keeping the peaks and a point every 5 s.
func sampleMemory(g *group, st *ScaleStep, start time.Time, stop <-chan struct{}) {
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	var last time.Time
	for {
		anon, file := g.residentKB()
		a, f := float64(anon)/1024, float64(file)/1024
		st.PeakAnonMiB, st.PeakFileMiB = max(st.PeakAnonMiB, a), max(st.PeakFileMiB, f)
		if now := time.Now(); now.Sub(last) >= 5*time.Second {
			last = now
			st.MemorySamples = append(st.MemorySamples, MemPoint{Seconds: now.Sub(start).Seconds(),
				Records: st.progress.Load(), AnonMiB: a, FileMiB: f})
		}
		select {
		case <-stop:
			return
		case <-tick.C:
		}
	}
}

// seedParallel pushes n licences with conc requests in flight.
func (d *driver) seedParallel(ctx context.Context, sys *system, n, batch, conc int, st *ScaleStep, progress io.Writer) error {
	tr := d.pki.transport(d.pusher, conc, true)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Minute}
	prefix := "AIM-BENCH-SCALE-" + d.runTag
	var next, done atomic.Int64
	var firstErr error
	var once sync.Once
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				first := int(next.Add(int64(batch))) - batch
				if first >= n {
					return
				}
				k := min(batch, n-first)
				if err := d.pushBatch(ctx, client, sys, synth.Batch(prefix, first, k), k); err != nil {
					once.Do(func() { firstErr = err; cancel() })
					return
				}
				v := done.Add(int64(k))
				st.progress.Store(v)
				if v%100_000 < int64(k) {
					_, _ = fmt.Fprintf(progress, "  seeded %d\n", v)
				}
			}
		}()
	}
	wg.Wait()
	st.Records = done.Load()
	return firstErr
}

func (d *driver) pushBatch(ctx context.Context, client *http.Client, sys *system, body []byte, want int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.pushURL(sys), bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	ans, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d %s", resp.StatusCode, trim(ans, 300))
	}
	if got := pushAccepted(ans); got != want {
		return fmt.Errorf("%d of %d accepted: %s", got, want, trim(ans, 300))
	}
	return nil
}

// pullOnce streams one pull of n records, counting as it reads.
func (d *driver) pullOnce(ctx context.Context, sys *system, n int, st *ScaleStep, progress io.Writer) error {
	tr := d.pki.transport(d.puller, 1, true)
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.pullURL(sys, n), nil)
	if err != nil {
		return err
	}
	req.Header.Set("Accept", "application/x-ndjson")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }()
	st.Status = resp.StatusCode
	bc := &bodyCount{}
	body := &progressBody{r: &countingBody{rc: resp.Body, c: bc}, n: &st.progress, every: 100_000, out: progress}
	first := make([]byte, 1)
	if _, err := io.ReadFull(body, first); err == nil {
		st.FirstByteMs = float64(time.Since(start)) / float64(time.Millisecond)
	}
	_, err = io.Copy(io.Discard, body)
	st.Bytes = bc.bytes
	st.Records = countRecords(scenario{Records: n}, resp.StatusCode, nil, bc)
	if err != nil {
		return fmt.Errorf("stream broke after %d records: %w", st.Records, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("HTTP %d %s", resp.StatusCode, trim(bc.head, 300))
	}
	if st.Records != int64(n) {
		return fmt.Errorf("delivered %d records, want %d; last line %s", st.Records, n, trim(bc.lastLine(), 200))
	}
	return nil
}

// progressBody counts the lines read so far where the memory sampler can
// see them, and says so every `every` lines: a million-record stream runs
// for minutes.
type progressBody struct {
	r     io.Reader
	n     *atomic.Int64
	every int64
	out   io.Writer
}

func (p *progressBody) Read(b []byte) (int, error) {
	k, err := p.r.Read(b)
	if lines := int64(bytes.Count(b[:k], []byte{'\n'})); lines > 0 {
		v := p.n.Add(lines)
		if v%p.every < lines {
			_, _ = fmt.Fprintf(p.out, "  pulled %d\n", v/p.every*p.every)
		}
	}
	return k, err
}

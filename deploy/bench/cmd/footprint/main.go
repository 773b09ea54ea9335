// Command footprint measures one running ura process for sizing its
// resource requests (deploy/helm/ura/values.yaml): its resident memory and
// CPU at rest, then while it serves a fixed number of pushes and pulls over
// mutual TLS. deploy/helm/measure.sh starts the gateway and runs it.
//
//	footprint -pid PID -addr 127.0.0.1:PORT -pki DIR [-pushes 400 -batch 25 -pulls 400 -limit 100 -concurrency 4]
package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ura-gateway/ura/deploy/bench/internal/synth"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "footprint:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("footprint", flag.ContinueOnError)
	fs.SetOutput(stderr)
	pid := fs.Int("pid", 0, "the ura process")
	addr := fs.String("addr", "", "its mTLS listener, host:port")
	pki := fs.String("pki", "", "the PKI from `ura certs init`")
	idle := fs.Duration("idle", 5*time.Second, "how long CPU is measured at rest")
	pushes := fs.Int("pushes", 400, "push requests")
	batch := fs.Int("batch", 25, "licences per push")
	pulls := fs.Int("pulls", 400, "pull requests")
	limit := fs.Int("limit", 100, "records per pull (limit=)")
	conc := fs.Int("concurrency", 4, "requests in flight")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *pid == 0 || *addr == "" || *pki == "" {
		return errors.New("-pid, -addr and -pki are required")
	}
	pusher, err := newClient(*pki, "AL_GOV_AIM", *conc)
	if err != nil {
		return err
	}
	puller, err := newClient(*pki, "AL_GOV_DPD", *conc)
	if err != nil {
		return err
	}

	rest0, err := sample(*pid)
	if err != nil {
		return err
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(*idle):
	}
	rest1, err := sample(*pid)
	if err != nil {
		return err
	}

	base := "https://" + *addr
	prefix := fmt.Sprintf("AL-FP-%d", time.Now().Unix())
	var next atomic.Int64
	var failed atomic.Int64
	var peakRSS atomic.Uint64
	stopWatch := make(chan struct{})
	watchDone := make(chan struct{})
	go func() {
		defer close(watchDone)
		for {
			if s, err := sample(*pid); err == nil && s.rssKB > peakRSS.Load() {
				peakRSS.Store(s.rssKB)
			}
			select {
			case <-stopWatch:
				return
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	load0, _ := sample(*pid)
	start := time.Now()
	var wg sync.WaitGroup
	for range *conc {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := int(next.Add(1)) - 1
				var req *http.Request
				switch {
				case i < *pushes:
					body := synth.Batch(prefix, i**batch, *batch)
					req, _ = http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/records", bytes.NewReader(body))
					req.Header.Set("Content-Type", "application/json")
				case i < *pushes+*pulls:
					req, _ = http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/records?kind=licence&limit="+strconv.Itoa(*limit), nil)
					req.Header.Set("Accept", "application/x-ndjson")
				default:
					return
				}
				c := pusher
				if req.Method == http.MethodGet {
					c = puller
				}
				resp, err := c.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				_ = resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	wall := time.Since(start)
	load1, err := sample(*pid)
	close(stopWatch)
	<-watchDone
	if err != nil {
		return err
	}
	if s := load1.rssKB; s > peakRSS.Load() {
		peakRSS.Store(s)
	}
	if n := failed.Load(); n > 0 {
		return fmt.Errorf("%d of %d requests failed", n, *pushes+*pulls)
	}
	mib := func(kb uint64) float64 { return float64(kb) / 1024 }
	cores := func(a, b procSample, d time.Duration) float64 {
		return (b.cpuSeconds - a.cpuSeconds) / d.Seconds()
	}
	_, err = fmt.Fprintf(stdout, `at rest:   RSS %.0f MiB, CPU %.3f cores over %s
under load: %d pushes of %d licences + %d pulls of %d signed records, %d in flight, in %s
            RSS peak %.0f MiB (%.0f MiB at the end, high-water mark %.0f MiB), CPU %.2f cores
`, mib(rest1.rssKB), cores(rest0, rest1, *idle), *idle,
		*pushes, *batch, *pulls, *limit, *conc, wall.Round(time.Millisecond),
		mib(peakRSS.Load()), mib(load1.rssKB), mib(load1.hwmKB), cores(load0, load1, wall))
	return err
}

func newClient(pki, member string, conns int) (*http.Client, error) {
	cert, err := tls.LoadX509KeyPair(filepath.Join(pki, "clients", member+".crt"), filepath.Join(pki, "clients", member+".key"))
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(filepath.Join(pki, "ca.crt"))
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("no CA certificate in ca.crt")
	}
	return &http.Client{Timeout: 2 * time.Minute, Transport: &http.Transport{
		TLSClientConfig:     &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS13},
		MaxIdleConnsPerHost: conns,
	}}, nil
}

type procSample struct {
	rssKB, hwmKB uint64
	cpuSeconds   float64
}

// sample reads the process's resident memory and CPU time from /proc.
func sample(pid int) (procSample, error) {
	var s procSample
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return s, err
	}
	for _, line := range strings.Split(string(status), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 {
			continue
		}
		n, _ := strconv.ParseUint(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			s.rssKB = n
		case "VmHWM:":
			s.hwmKB = n
		}
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: utime and stime are the 12th and 13th of them.
	rest := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(rest) < 13 {
		return s, errors.New("short /proc stat")
	}
	ut, _ := strconv.ParseFloat(rest[11], 64)
	st, _ := strconv.ParseFloat(rest[12], 64)
	// USER_HZ is 100 on Linux.
	s.cpuSeconds = (ut + st) / 100
	return s, nil
}

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// syncCalls are the system calls that make a write durable.
var syncCalls = []string{"fsync", "fdatasync", "sync_file_range"}

// FsyncCount is how many durable-write system calls a system made during a
// separate cell run under strace, right after its measured one at the same
// concurrency: strace stops the process at every system call it makes, so
// the cell's own figures would not be the system's.
type FsyncCount struct {
	System      string  `json:"system"`
	Scenario    string  `json:"scenario"`
	Mode        string  `json:"mode"`
	Concurrency int     `json:"concurrency"`
	Seconds     float64 `json:"seconds,omitempty"`
	// Requests answered in the traced cell, and its rate (lower than the
	// measured cell's: the tracing slows the system).
	Requests     int            `json:"requests,omitempty"`
	RequestsPerS float64        `json:"requests_per_s,omitempty"`
	Records      int64          `json:"records,omitempty"`
	Calls        map[string]int `json:"calls,omitempty"`
	Total        int            `json:"total"`
	PerRequest   float64        `json:"per_request"`
	Error        string         `json:"error,omitempty"`
}

// parseStraceSummary reads `strace -c` output: the calls column of each
// syscall row.
//
//	% time     seconds  usecs/call     calls    errors syscall
//	------ ----------- ----------- --------- --------- ----------------
//	100.00    0.001234          12       100           fdatasync
func parseStraceSummary(out []byte) map[string]int {
	calls := map[string]int{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 5 || f[len(f)-1] == "total" || f[len(f)-1] == "syscall" {
			continue
		}
		if _, err := strconv.ParseFloat(f[0], 64); err != nil {
			continue
		}
		n, err := strconv.Atoi(f[3])
		if err != nil {
			continue
		}
		calls[f[len(f)-1]] += n
	}
	return calls
}

// tracer counts sync calls of a group of processes with strace.
type tracer struct {
	bin string // strace; "" when it is not installed
	dir string
}

// attach starts strace on pids, waits until it has attached, and returns
// a stop that detaches it and gives the counts.
func (t *tracer) attach(ctx context.Context, pids []int, tag string) (stop func() (map[string]int, error), err error) {
	if t.bin == "" {
		return nil, fmt.Errorf("strace is not installed")
	}
	if len(pids) == 0 {
		return nil, fmt.Errorf("no process to trace")
	}
	if err := os.MkdirAll(t.dir, 0o755); err != nil {
		return nil, err
	}
	out := filepath.Join(t.dir, tag+".strace")
	args := []string{"-f", "-c", "-e", "trace=" + strings.Join(syncCalls, ","), "-o", out}
	for _, p := range pids {
		args = append(args, "-p", strconv.Itoa(p))
	}
	stderr := &lockedBuffer{}
	cmd := exec.CommandContext(ctx, t.bin, args...)
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// strace says "Process N attached" once per process; give it until
	// every one has, so the traced cell is traced from its first request.
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) && strings.Count(stderr.String(), "attached") < len(pids) {
		select {
		case err := <-exited:
			return nil, fmt.Errorf("strace exited: %v: %s", err, trim(stderr.Bytes(), 300))
		case <-time.After(50 * time.Millisecond):
		}
	}
	return func() (map[string]int, error) {
		// SIGINT makes strace detach and write its summary.
		_ = cmd.Process.Signal(syscall.SIGINT)
		// strace's exit status says nothing the summary does not.
		select {
		case err := <-exited:
			_ = err
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			err := <-exited
			_ = err
		}
		raw, err := os.ReadFile(out)
		if err != nil {
			return nil, fmt.Errorf("strace summary: %w (%s)", err, trim(stderr.Bytes(), 300))
		}
		return parseStraceSummary(raw), nil
	}, nil
}

// lockedBuffer is strace's stderr, read while strace still writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func (l *lockedBuffer) Bytes() []byte { return []byte(l.String()) }

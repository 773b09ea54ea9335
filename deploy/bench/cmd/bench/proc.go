package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat.
// Linux fixes it at 100 on every architecture Go runs on; getconf confirms.
var clockTicks = func() float64 {
	out, err := exec.Command("getconf", "CLK_TCK").Output()
	if err == nil {
		if v, err := strconv.Atoi(strings.TrimSpace(string(out))); err == nil && v > 0 {
			return float64(v)
		}
	}
	return 100
}()

// group is the set of processes one system (or the shared dependencies)
// runs as: the processes named by pid files and all their descendants, so
// that nginx's workers count with its master.
type group struct {
	name     string
	pidFiles []string
	pids     []int
}

func (g *group) refresh() error {
	var roots []int
	for _, f := range g.pidFiles {
		pid, err := readPIDFile(f)
		if err != nil {
			return fmt.Errorf("%s: %w", g.name, err)
		}
		roots = append(roots, pid)
	}
	g.pids = withDescendants(roots)
	return nil
}

func readPIDFile(path string) (int, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(strings.TrimSpace(string(raw)), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("pid file %s: no pid", path)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
		return 0, fmt.Errorf("pid file %s: process %d is not running", path, pid)
	}
	return pid, nil
}

func withDescendants(roots []int) []int {
	children := map[int][]int{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(pid)
		if err != nil {
			continue
		}
		children[st.ppid] = append(children[st.ppid], pid)
	}
	seen := map[int]bool{}
	var out []int
	var walk func(int)
	walk = func(p int) {
		if seen[p] {
			return
		}
		seen[p] = true
		out = append(out, p)
		for _, c := range children[p] {
			walk(c)
		}
	}
	for _, r := range roots {
		walk(r)
	}
	return out
}

type stat struct {
	ppid  int
	ticks uint64 // utime + stime, every thread of the process
}

func readStat(pid int) (stat, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return stat{}, err
	}
	// The command name in field 2 may hold spaces and parentheses; the
	// fields after the last ')' are fixed.
	i := bytes.LastIndexByte(raw, ')')
	if i < 0 {
		return stat{}, fmt.Errorf("/proc/%d/stat: malformed", pid)
	}
	f := strings.Fields(string(raw[i+1:]))
	// f[0] is field 3 (state): ppid is field 4, utime 14, stime 15.
	if len(f) < 13 {
		return stat{}, fmt.Errorf("/proc/%d/stat: short", pid)
	}
	ppid, _ := strconv.Atoi(f[1])
	ut, err1 := strconv.ParseUint(f[11], 10, 64)
	st, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return stat{}, fmt.Errorf("/proc/%d/stat: bad times", pid)
	}
	return stat{ppid: ppid, ticks: ut + st}, nil
}

// statusKB reads the kB fields of /proc/<pid>/status; a process that is
// gone reads as empty.
func statusKB(pid int) map[string]uint64 {
	out := map[string]uint64{}
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return out
	}
	for _, line := range strings.Split(string(raw), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok || !strings.HasSuffix(v, " kB") {
			continue
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(v, " kB")), 10, 64); err == nil {
			out[k] = n
		}
	}
	return out
}

// memKB reads VmHWM (peak resident set) and VmRSS in KiB.
func memKB(pid int) (hwm, rss uint64) {
	st := statusKB(pid)
	return st["VmHWM"], st["VmRSS"]
}

// residentKB is the group's resident memory now, split into anonymous
// pages (heap, stacks) and file-backed ones (mapped files such as the
// embedded store, which the kernel may reclaim).
func (g *group) residentKB() (anon, file uint64) {
	for _, pid := range g.pids {
		st := statusKB(pid)
		anon += st["RssAnon"]
		file += st["RssFile"] + st["RssShmem"]
	}
	return anon, file
}

// sample is a group's counters at one moment.
type sample struct {
	cpuSeconds float64
	hwmKB      uint64
	rssKB      uint64
}

func (g *group) sample() sample {
	var s sample
	var ticks uint64
	for _, pid := range g.pids {
		if st, err := readStat(pid); err == nil {
			ticks += st.ticks
		}
		h, r := memKB(pid)
		s.hwmKB += h
		s.rssKB += r
	}
	s.cpuSeconds = float64(ticks) / clockTicks
	return s
}

// resetPeak starts a new VmHWM period for every process in the group
// (clear_refs "5", Linux 4.0+), so a cell's peak is its own and not the
// largest of every cell before it. It reports whether every reset worked.
func (g *group) resetPeak() bool {
	ok := true
	for _, pid := range g.pids {
		if err := os.WriteFile(filepath.Join("/proc", strconv.Itoa(pid), "clear_refs"), []byte("5"), 0); err != nil {
			ok = false
		}
	}
	return ok
}

// selfCPU is the load generator's own CPU time, reported beside the
// systems' so a reader can see how much of the two cores it took.
func selfCPU() float64 {
	st, err := readStat(os.Getpid())
	if err != nil {
		return 0
	}
	return float64(st.ticks) / clockTicks
}

// loadAverage is the 1-minute load average: the machine is shared, and a
// cell measured under someone else's compile says so in the results.
func loadAverage() float64 {
	raw, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return -1
	}
	f := strings.Fields(string(raw))
	if len(f) == 0 {
		return -1
	}
	v, _ := strconv.ParseFloat(f[0], 64)
	return v
}

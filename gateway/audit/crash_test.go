package audit_test

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/audit/audittest"
)

const (
	crashDirEnv   = "URA_AUDIT_CRASH_DIR"
	crashCycleEnv = "URA_AUDIT_CRASH_CYCLE"
)

var crashSeed = []byte("ura audit crash test signing key")

// TestCrashHelperProcess is the process the crash test kills: it appends
// under load from several goroutines and acknowledges each append on fd 3
// only after Append returned, as a handler acknowledges a response.
func TestCrashHelperProcess(t *testing.T) {
	dir := os.Getenv(crashDirEnv)
	if dir == "" {
		t.Skip("started only by TestKill9")
	}
	acks := os.NewFile(3, "acks")
	st, err := audit.OpenFileStore(dir, audit.FileOptions{SegmentBytes: 16 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(3)
	}
	c, err := audit.Open(context.Background(), audit.Options{Store: st,
		Signer: audittest.NewSignerFromSeed(t, "crash-key", crashSeed), CheckpointEvery: 40, CheckpointInterval: 5 * time.Millisecond})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open chain:", err)
		os.Exit(3)
	}
	var mu sync.Mutex
	ack := func(ids []string) {
		mu.Lock()
		defer mu.Unlock()
		if _, err := acks.WriteString(strings.Join(ids, "\n") + "\n"); err != nil {
			os.Exit(4)
		}
	}
	ack([]string{"ready"})
	cycle := os.Getenv(crashCycleEnv)
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for n := 0; ; n++ {
				k := 1 + n%4
				evs := audittest.Events(k, time.Now())
				ids := make([]string, k)
				for i := range evs {
					ids[i] = fmt.Sprintf("c%s-w%d-%d-%d", cycle, w, n, i)
					evs[i].RequestID = ids[i]
				}
				if err := c.Append(context.Background(), evs...); err != nil {
					fmt.Fprintln(os.Stderr, "append:", err)
					os.Exit(5)
				}
				ack(ids)
			}
		})
	}
	wg.Wait()
}

// TestKill9 kills a process appending under load at random moments, at
// least 200 times, and after each restart checks that every acknowledged
// event is in the log and the chain verifies.
func TestKill9(t *testing.T) {
	if testing.Short() {
		t.Skip("kill -9 cycles take about a minute")
	}
	cycles := 200
	if v := os.Getenv("URA_AUDIT_CRASH_CYCLES"); v != "" {
		cycles, _ = strconv.Atoi(v)
	}
	dir := t.TempDir()
	signer := audittest.NewSignerFromSeed(t, "crash-key", crashSeed)
	ctx := context.Background()

	var (
		acked       = map[string]bool{}
		verified    = audit.Head{Hash: audit.ZeroHash}
		totalAcked  int
		earlyKills  int
		maxEvents   int64
		checkpoints int
	)
	start := time.Now()
	for cycle := range cycles {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelperProcess$", "-test.count=1")
		cmd.Env = append(os.Environ(), crashDirEnv+"="+dir, crashCycleEnv+"="+strconv.Itoa(cycle))
		cmd.ExtraFiles = []*os.File{pw}
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pw.Close()
		ready := make(chan struct{})
		var got []string
		readDone := make(chan struct{})
		go func() {
			defer close(readDone)
			sc := bufio.NewScanner(pr)
			first := true
			for sc.Scan() {
				if first && sc.Text() == "ready" {
					close(ready)
					first = false
					continue
				}
				got = append(got, sc.Text())
			}
			if first {
				close(ready)
			}
		}()
		// Most kills land under load; one in ten during start-up, where the
		// helper opens, verifies and repairs the log.
		if rand.IntN(10) == 0 {
			time.Sleep(time.Duration(rand.IntN(30)) * time.Millisecond)
			earlyKills++
		} else {
			<-ready
			time.Sleep(time.Duration(rand.IntN(40_000)) * time.Microsecond)
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		werr := cmd.Wait()
		<-readDone
		pr.Close()
		if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() {
			t.Fatalf("cycle %d: helper ended on its own (%v): %s", cycle, werr, stderr.String())
		}
		for _, id := range got {
			if id != "" {
				acked[id] = true
			}
		}
		totalAcked += len(got)

		// Restart: the store repairs a torn tail and checks it; the chain
		// checks the latest checkpoint; then the new part of the chain is
		// verified link by link and every acknowledged event looked up.
		st, err := audit.OpenFileStore(dir, audit.FileOptions{})
		if err != nil {
			t.Fatalf("cycle %d: reopen: %v", cycle, err)
		}
		c, err := audit.Open(ctx, audit.Options{Store: st})
		if err != nil {
			t.Fatalf("cycle %d: reopen chain: %v", cycle, err)
		}
		if verified.Count > 0 {
			e, err := st.Get(ctx, verified.Count)
			if err != nil || e.Event.Hash != verified.Hash {
				t.Fatalf("cycle %d: seq %d changed after restart: %v", cycle, verified.Count, err)
			}
		}
		err = st.Scan(ctx, verified.Count+1, func(line []byte) error {
			e, err := audit.ParseLine(line)
			if err != nil {
				return fmt.Errorf("seq %d: %w", verified.Count+1, err)
			}
			if e.Event.Seq != verified.Count+1 || e.Event.Prev != verified.Hash {
				return fmt.Errorf("seq %d: chain broken", verified.Count+1)
			}
			verified = audit.Head{Count: e.Event.Seq, Hash: e.Event.Hash}
			delete(acked, e.Event.RequestID)
			return nil
		})
		if err != nil {
			t.Fatalf("cycle %d: %v", cycle, err)
		}
		if len(acked) > 0 {
			t.Fatalf("cycle %d: %d acknowledged events are not in the log (e.g. %v)", cycle, len(acked), firstKey(acked))
		}
		maxEvents = verified.Count
		_ = c.Close()
	}
	st, err := audit.OpenFileStore(dir, audit.FileOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	rep, err := audit.VerifyStore(ctx, st, audit.VerifyOptions{Keys: signer.KeySet()})
	if err != nil {
		t.Fatalf("final full verification: %v", err)
	}
	checkpoints = rep.Checkpoints
	t.Logf("kill -9 cycles: %d (%d during start-up); acknowledged events: %d; lost: 0; events in log: %d; signed checkpoints verified: %d; %.1fs",
		cycles, earlyKills, totalAcked, maxEvents, checkpoints, time.Since(start).Seconds())
}

func firstKey(m map[string]bool) string {
	for k := range m {
		return k
	}
	return ""
}

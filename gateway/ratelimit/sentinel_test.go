package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// sentinelGroup is a master, one replica and three sentinels, all private to
// one test on 127.0.0.1, each stopped by its PID.
type sentinelGroup struct {
	master, replica      *exec.Cmd
	masterAddr           string
	replicaAddr          string
	sentinels            []string
	password, sentinelPW string
}

const sentinelMaster = "ura"

// startSentinelGroup starts the servers; the sentinels run from the example
// deploy/redis/sentinel.conf with this test's ports, directory, addresses
// and passwords, and a one-second down-after.
func startSentinelGroup(t *testing.T) *sentinelGroup {
	t.Helper()
	bin := os.Getenv("REDIS_SERVER_BIN")
	if bin == "" {
		bin = testenv.Command(t, "redis-server", "redis-server")
	}
	example, err := os.ReadFile(filepath.Join("..", "..", "deploy", "redis", "sentinel.conf"))
	if err != nil {
		t.Fatal(err)
	}
	g := &sentinelGroup{password: "master-" + runID, sentinelPW: "sentinel-" + runID}
	mport, rport := testenv.FreePort(t), testenv.FreePort(t)
	g.masterAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(mport))
	g.replicaAddr = net.JoinHostPort("127.0.0.1", strconv.Itoa(rport))
	server := func(name string, port int, extra ...string) *exec.Cmd {
		dir := filepath.Join(t.TempDir(), name)
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		conf := append([]string{"bind 127.0.0.1", "port " + strconv.Itoa(port),
			"requirepass " + g.password, "masterauth " + g.password,
			`save ""`, "appendonly no", "dir " + dir}, extra...)
		return startProcess(t, name, dir, bin, []string{"-"}, strings.Join(conf, "\n")+"\n")
	}
	g.master = server("master", mport)
	g.replica = server("replica", rport, "replicaof 127.0.0.1 "+strconv.Itoa(mport))

	overridden := []string{"port ", "bind ", "dir ", "logfile ", "requirepass ", "sentinel monitor ",
		"sentinel down-after-milliseconds ", "sentinel failover-timeout ", "sentinel auth-pass ", "sentinel sentinel-pass "}
	var kept []string
	for _, line := range strings.Split(string(example), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		keep := true
		for _, o := range overridden {
			if strings.HasPrefix(line, o) {
				keep = false
			}
		}
		if keep {
			kept = append(kept, line)
		}
	}
	for i := range 3 {
		port := testenv.FreePort(t)
		dir := filepath.Join(t.TempDir(), fmt.Sprintf("sentinel%d", i))
		if err := os.MkdirAll(dir, 0o700); err != nil {
			t.Fatal(err)
		}
		conf := append(append([]string{}, kept...),
			"port "+strconv.Itoa(port), "bind 127.0.0.1", "dir "+dir,
			"sentinel monitor "+sentinelMaster+" 127.0.0.1 "+strconv.Itoa(mport)+" 2",
			"sentinel down-after-milliseconds "+sentinelMaster+" 1000",
			"sentinel failover-timeout "+sentinelMaster+" 10000",
			"sentinel auth-pass "+sentinelMaster+" "+g.password,
			"requirepass "+g.sentinelPW, "sentinel sentinel-pass "+g.sentinelPW)
		// Sentinel rewrites its file, so it cannot read it from stdin.
		file := filepath.Join(dir, "sentinel.conf")
		if err := os.WriteFile(file, []byte(strings.Join(conf, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		startProcess(t, fmt.Sprintf("sentinel%d", i), dir, bin, []string{file, "--sentinel"}, "")
		g.sentinels = append(g.sentinels, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	}
	g.waitReady(t)
	return g
}

// startProcess runs bin until the test ends; it is killed by its PID.
func startProcess(t *testing.T, name, dir, bin string, args []string, stdin string) *exec.Cmd {
	t.Helper()
	logf, err := os.Create(filepath.Join(dir, name+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		_ = logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil {
				t.Logf("%s log (last lines):\n%s", name, lastLines(string(b), 15))
			}
		}
	})
	return cmd
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func (g *sentinelGroup) sentinel(addr string) *redis.SentinelClient {
	return redis.NewSentinelClient(&redis.Options{Addr: addr, Password: g.sentinelPW, DialTimeout: time.Second})
}

// masterSeen is the master address a sentinel names now.
func (g *sentinelGroup) masterSeen(ctx context.Context, addr string) (string, error) {
	sc := g.sentinel(addr)
	defer sc.Close()
	hp, err := sc.GetMasterAddrByName(ctx, sentinelMaster).Result()
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(hp[0], hp[1]), nil
}

// waitReady waits until the replica is in sync and every sentinel knows the
// replica and both other sentinels: before that a failover cannot happen.
func (g *sentinelGroup) waitReady(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	eventually(t, "replica in sync and every sentinel aware of the group", func() error {
		rc := redis.NewClient(&redis.Options{Addr: g.replicaAddr, Password: g.password})
		defer rc.Close()
		info, err := rc.Info(ctx, "replication").Result()
		if err != nil {
			return err
		}
		if !strings.Contains(info, "master_link_status:up") {
			return errors.New("replica link not up")
		}
		for _, s := range g.sentinels {
			sc := g.sentinel(s)
			replicas, err := sc.Replicas(ctx, sentinelMaster).Result()
			if err != nil {
				sc.Close()
				return err
			}
			others, err := sc.Sentinels(ctx, sentinelMaster).Result()
			sc.Close()
			if err != nil {
				return err
			}
			if len(replicas) != 1 || len(others) != 2 {
				return fmt.Errorf("sentinel %s knows %d replicas and %d sentinels", s, len(replicas), len(others))
			}
		}
		return nil
	})
}

func eventually(t *testing.T, what string, cond func() error) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := cond()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 60s: %v", what, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// tally counts a run's decisions by how they were made.
type tally struct {
	offered, allowedRedis, allowedLocal, refused, unavailable, otherErr atomic.Int64
}

// TestSentinelFailover runs the limiter through Sentinel under load, kills
// the master with SIGKILL, and checks that during the failover each failure
// mode does what it says (closed: refusals; local: the in-process share),
// that nothing is ever unlimited (every allowed record is counted against
// the allowance over the whole run), and that afterwards the limiter decides
// on the promoted replica.
func TestSentinelFailover(t *testing.T) {
	for _, mode := range []string{config.FailClosed, config.FailLocal} {
		t.Run(mode, func(t *testing.T) {
			g := startSentinelGroup(t)
			ctx := context.Background()

			pwFile := filepath.Join(t.TempDir(), "sentinel-password")
			if err := os.WriteFile(pwFile, []byte(g.sentinelPW+"\n"), 0o600); err != nil {
				t.Fatal(err)
			}
			rdb, err := NewClient(config.Redis{Addrs: g.sentinels, MasterName: sentinelMaster,
				Password: g.password, SentinelPasswordFile: pwFile, Timeout: 500 * time.Millisecond},
				func(s string) string { return s })
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = rdb.Close() })

			m := testMember("agency")
			rate := config.Rate{Rate: 50, Burst: 20, Period: time.Second}
			rl := limits(rate, m)
			rl.Fail, rl.FailByKind = mode, nil
			rl.Replicas = 2
			rl.ProbeInterval = 100 * time.Millisecond
			lim, logs := newTestGCRA(t, rdb, rl)

			var n tally
			stop := make(chan struct{})
			var wg sync.WaitGroup
			stopLoad := sync.OnceFunc(func() { close(stop); wg.Wait() })
			t.Cleanup(stopLoad) // also when a check below fails the test early
			started := time.Now()
			for range 4 {
				wg.Go(func() {
					for {
						select {
						case <-stop:
							return
						default:
						}
						n.offered.Add(1)
						res, err := lim.Take(ctx, m, ClassPush, 1)
						switch {
						case errors.Is(err, ErrUnavailable):
							n.unavailable.Add(1)
						case err != nil:
							n.otherErr.Add(1)
						case res.Allowed && res.Local:
							n.allowedLocal.Add(1)
						case res.Allowed:
							n.allowedRedis.Add(1)
						default:
							n.refused.Add(1)
						}
						if err != nil {
							// A failing Redis answers fast; keep the loop from
							// spinning on the CPU the sentinels need.
							time.Sleep(time.Millisecond)
						}
					}
				})
			}
			eventually(t, "load through the master", func() error {
				if n.allowedRedis.Load() == 0 || n.refused.Load() == 0 {
					return errors.New("the limit has not been reached through Redis yet")
				}
				return nil
			})

			if err := g.master.Process.Kill(); err != nil {
				t.Fatal(err)
			}
			eventually(t, "the sentinels promote the replica", func() error {
				for _, s := range g.sentinels {
					if addr, err := g.masterSeen(ctx, s); err != nil || addr != g.replicaAddr {
						return fmt.Errorf("sentinel %s names %s (%v)", s, addr, err)
					}
				}
				return nil
			})
			eventually(t, "the limiter deciding through Redis again", func() error {
				if lim.Local() {
					return errors.New("still in local mode")
				}
				if _, err := lim.Take(ctx, m, ClassPush, 0); err != nil {
					return err
				}
				return nil
			})
			// Some load on the new master, then stop.
			after := n.allowedRedis.Load()
			eventually(t, "decisions on the new master", func() error {
				if n.allowedRedis.Load() < after+int64(rate.Burst) {
					return errors.New("fewer than a burst allowed since the failover")
				}
				return nil
			})
			stopLoad()
			elapsed := time.Since(started)

			t.Logf("%s over %s: offered %d, allowed %d through Redis and %d locally, refused %d, unavailable %d",
				mode, elapsed.Round(time.Millisecond), n.offered.Load(), n.allowedRedis.Load(), n.allowedLocal.Load(),
				n.refused.Load(), n.unavailable.Load())
			if n.otherErr.Load() != 0 {
				t.Errorf("%d errors that are not ErrUnavailable", n.otherErr.Load())
			}
			switch mode {
			case config.FailClosed:
				if n.allowedLocal.Load() != 0 {
					t.Errorf("fail closed allowed %d requests without Redis", n.allowedLocal.Load())
				}
				if n.unavailable.Load() == 0 {
					t.Error("no request was refused as unavailable during the failover: was the outage seen?")
				}
			case config.FailLocal:
				if n.unavailable.Load() != 0 {
					t.Errorf("fail local refused %d requests as unavailable", n.unavailable.Load())
				}
				if n.allowedLocal.Load() == 0 {
					t.Error("no request was decided locally during the failover: was the outage seen?")
				}
			}

			// The allowance over the whole run. Through Redis: a burst, the
			// rate for the whole run, and one more burst because replication
			// is asynchronous and the promoted replica may lack the last
			// charges. Locally: this process's share, limit/replicas.
			secs := elapsed.Seconds()
			redisMax := 2*float64(rate.Burst) + float64(rate.Rate)*secs
			localMax := float64(rate.Burst/rl.Replicas) + float64(rate.Rate)/float64(rl.Replicas)*secs
			allowed := float64(n.allowedRedis.Load() + n.allowedLocal.Load())
			if allowed > redisMax+localMax {
				t.Errorf("allowed %v records, more than the allowance %.0f: unlimited traffic got through", allowed, redisMax+localMax)
			}
			if float64(n.allowedLocal.Load()) > localMax {
				t.Errorf("allowed %d locally, more than this process's share %.0f", n.allowedLocal.Load(), localMax)
			}
			// The check is only as good as the load: an unlimited limiter
			// must have been able to exceed the allowance many times over.
			if float64(n.offered.Load()) < 3*(redisMax+localMax) {
				t.Errorf("only %d requests offered against an allowance of %.0f: the load was too light to tell", n.offered.Load(), redisMax+localMax)
			}

			// The limiter's key lives on the promoted replica now.
			key, err := Key(m.ID, ClassPush)
			if err != nil {
				t.Fatal(err)
			}
			nm := redis.NewClient(&redis.Options{Addr: g.replicaAddr, Password: g.password})
			defer nm.Close()
			if role, err := nm.Do(ctx, "ROLE").Slice(); err != nil || role[0] != "master" {
				t.Fatalf("promoted replica's role: %v %v", role, err)
			}
			if _, err := lim.Take(ctx, m, ClassPush, 1); err != nil {
				t.Fatal(err)
			}
			if ttl, err := nm.PTTL(ctx, key).Result(); err != nil || ttl <= 0 {
				t.Errorf("key %s on the new master: ttl %v, err %v", key, ttl, err)
			}
			for _, secret := range []string{g.password, g.sentinelPW} {
				if strings.Contains(logs.String(), secret) {
					t.Error("a Redis password appears in the log")
				}
			}
		})
	}
}

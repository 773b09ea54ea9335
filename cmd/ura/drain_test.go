package main

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReadyzDrainLoggedOnce: a gateway draining after SIGTERM answers
// every readiness probe 503 for shutdown.drain_delay, as a load balancer
// needs, and says so in its log once, not once per probe (a balancer
// checking every 200ms would otherwise write five warnings a second per
// replica).
//
//	source var/dev/stack.env
//	go test -count=1 -run TestReadyzDrainLoggedOnce -v ./cmd/ura/
func TestReadyzDrainLoggedOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a gateway")
	}
	fx := newGatewayFixture(t, "", "")
	f, err := os.OpenFile(fx.cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("shutdown:\n  drain_delay: 1500ms\n  timeout: 10s\n"); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	client := crashClient(t, fx.pki)
	g := fx.start(t, "drain", client)
	readyz := fmt.Sprintf("http://127.0.0.1:%d/readyz", fx.opsPort)
	if err := g.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// Probe as a balancer does, faster, until the ops listener closes.
	probes := map[int]int{}
	for !hasExited(g) {
		probes[crashGet(client, readyz)]++
		time.Sleep(20 * time.Millisecond)
	}
	if err := waitExitedErr(g); err != nil {
		t.Errorf("SIGTERM ended the gateway with %v", err)
	}
	_ = g.logFile.Close()
	if probes[http.StatusServiceUnavailable] < 2 {
		t.Fatalf("probes while draining: %v; want several 503s", probes)
	}
	if probes[http.StatusOK] > 1 {
		// The signal may land after the first probe; later ones are 503.
		t.Errorf("probes while draining: %v", probes)
	}
	log := g.log()
	if n := strings.Count(log, `msg="readiness check failed`); n != 1 {
		t.Errorf("%d probes answered 503, and the log has %d readiness failures, want 1:\n%s",
			probes[http.StatusServiceUnavailable], n, log)
	}
	if !strings.Contains(log, "check=shutdown") {
		t.Errorf("the failing check is not named shutdown:\n%s", log)
	}
	t.Logf("probes while draining: %v", probes)
}

package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPushFsyncs counts the durable commits a push costs: a real `ura
// serve` (embedded store, outbox, file audit log, Vault signing) takes
// sequential one-record pushes while strace counts its fsync and fdatasync
// calls, per file. It is a measurement, not an assertion (timings and
// syscall counts depend on the kernel and the libraries): the figures are
// logged.
//
// The outbox's only destination takes the first record's delivery and never
// answers it, so its worker sits in that one attempt and writes nothing
// while the pushes are counted.
//
//	source var/dev/stack.env
//	URA_FSYNC_PUSHES=100 go test -count=1 -run TestPushFsyncs -v ./cmd/ura/
func TestPushFsyncs(t *testing.T) {
	if os.Getenv("URA_FSYNC_PUSHES") == "" {
		t.Skip("a measurement: set URA_FSYNC_PUSHES (needs strace and the development stack's Vault)")
	}
	pushes := 0
	if _, err := fmt.Sscan(os.Getenv("URA_FSYNC_PUSHES"), &pushes); err != nil || pushes < 1 {
		t.Fatalf("URA_FSYNC_PUSHES=%q: want a positive number", os.Getenv("URA_FSYNC_PUSHES"))
	}
	straceBin, err := exec.LookPath("strace")
	if err != nil {
		t.Skip("strace is not installed")
	}
	fx := newGatewayFixture(t, "", "")

	// The destination: TLS with the dev PKI's server certificate, and a
	// handler that holds the first request until the test ends.
	got := make(chan struct{}, 1)
	release := make(chan struct{})
	dest := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case got <- struct{}{}:
		default:
		}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	cert, err := tls.LoadX509KeyPair(filepath.Join(fx.pki, "server.crt"), filepath.Join(fx.pki, "server.key"))
	if err != nil {
		t.Fatal(err)
	}
	dest.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	dest.StartTLS()
	t.Cleanup(func() { close(release); dest.Close() })
	upstream := fmt.Sprintf(`upstream:
  outbox: {path: data/outbox.db}
  destinations:
    - {name: counted, kind: http, url: "%s/records", member: AL/GOV/AIM, kinds: [entity],
       ca_file: pki/ca.crt, client_cert_file: pki/clients/AL_GOV_AIM.crt, client_key_file: pki/clients/AL_GOV_AIM.key,
       timeout: 1h, backoff_initial: 1h, backoff_max: 1h}
`, dest.URL)
	f, err := os.OpenFile(fx.cfgPath, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(upstream); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	client := crashClient(t, fx.pki)
	base := fmt.Sprintf("https://127.0.0.1:%d", fx.port)
	g := fx.start(t, "fsync", client)
	t.Cleanup(func() { _ = g.stop(syscall.SIGTERM) })
	push := func(id string) {
		t.Helper()
		if ack, bad := crashPush(client, base, []string{id}); ack == nil {
			t.Fatalf("push %s not acknowledged (%s):\n%s", id, bad, g.log())
		}
	}
	push("AIM-ENT-FSYNC-WARM")
	select {
	case <-got:
	case <-time.After(30 * time.Second):
		t.Fatalf("the outbox never attempted the first delivery:\n%s", g.log())
	}

	out := filepath.Join(fx.dir, "strace.out")
	var straceErr bytes.Buffer
	st := exec.Command(straceBin, "-f", "-y", "-e", "trace=fsync,fdatasync", "-o", out, "-p", fmt.Sprint(g.cmd.Process.Pid))
	st.Stderr = &straceErr
	if err := st.Start(); err != nil {
		t.Fatal(err)
	}
	// strace says when it is attached; until then syscalls go uncounted.
	for deadline := time.Now().Add(10 * time.Second); !strings.Contains(straceErr.String(), "attached"); {
		if time.Now().After(deadline) {
			_ = st.Process.Kill()
			t.Fatalf("strace did not attach: %s", straceErr.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	for i := range pushes {
		push(fmt.Sprintf("AIM-ENT-FSYNC-%05d", i))
	}
	_ = st.Process.Signal(syscall.SIGINT)
	_ = st.Wait()

	counts := map[string]int{}
	total := 0
	file, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	for sc.Scan() {
		line := sc.Text()
		call := ""
		for _, c := range []string{"fdatasync(", "fsync("} {
			if strings.Contains(line, c) {
				call = strings.TrimSuffix(c, "(")
			}
		}
		if call == "" { // "<... fdatasync resumed>" ends a call already counted
			continue
		}
		what := "other"
		switch {
		case strings.Contains(line, "/data/ura.db"):
			what = "store file (data/ura.db)"
		case strings.Contains(line, "/data/outbox.db"):
			what = "outbox file (data/outbox.db)"
		case strings.Contains(line, "/audit"):
			what = "audit log (audit/)"
		}
		counts[what+" "+call]++
		total++
	}
	t.Logf("%d sequential one-record pushes: %d fsync/fdatasync calls, %.2f per push", pushes, total, float64(total)/float64(pushes))
	for k, n := range counts {
		t.Logf("  %-45s %6d  %.2f per push", k, n, float64(n)/float64(pushes))
	}
}

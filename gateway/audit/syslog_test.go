package audit_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ura-gateway/ura/certs"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/audit/audittest"
)

// readFrames reads RFC 6587 octet-counted frames from a stream.
func readFrames(t *testing.T, r io.Reader, n int) []string {
	t.Helper()
	br := bufio.NewReader(r)
	var out []string
	for len(out) < n {
		lenStr, err := br.ReadString(' ')
		if err != nil {
			t.Fatalf("frame %d: %v", len(out), err)
		}
		size, err := strconv.Atoi(strings.TrimSpace(lenStr))
		if err != nil {
			t.Fatalf("frame %d: bad length %q", len(out), lenStr)
		}
		buf := make([]byte, size)
		if _, err := io.ReadFull(br, buf); err != nil {
			t.Fatal(err)
		}
		out = append(out, string(buf))
	}
	return out
}

var rfc5424 = regexp.MustCompile(`^<(\d+)>1 (\S+) (\S+) ura (\d+) (decision|checkpoint) (\[.*?[^\\]\]|-) (.*)$`)

func TestSyslogTCP(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conns := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			conns <- c
		}
	}()
	fwd, err := audit.NewSyslog(audit.SyslogOptions{Network: "tcp", Addr: ln.Addr().String(), Hostname: "gw-1"})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := audit.OpenFileStore(t.TempDir(), audit.FileOptions{})
	signer := audittest.NewSigner(t, "k1")
	c, err := audit.Open(context.Background(), audit.Options{Store: st, Signer: signer, Forwarder: fwd, CheckpointEvery: 1 << 40, CheckpointInterval: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	evs := audittest.Events(7, t0)
	evs[4].Reasons[0].Message = `quote " bracket ] backslash \ done`
	if err := c.Append(context.Background(), evs...); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Checkpoint(context.Background()); err != nil {
		t.Fatal(err)
	}
	conn := <-conns
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	frames := readFrames(t, conn, 8)
	for i, f := range frames {
		m := rfc5424.FindStringSubmatch(f)
		if m == nil {
			t.Fatalf("frame %d is not RFC 5424: %q", i, f)
		}
		if m[3] != "gw-1" {
			t.Errorf("hostname %q", m[3])
		}
		if i == 7 {
			if m[5] != "checkpoint" || !strings.Contains(m[6], `count="7"`) {
				t.Fatalf("last frame is not the checkpoint: %q", f)
			}
			continue
		}
		// The message is the event's canonical line: a SIEM can re-verify it.
		e, err := audit.ParseLine([]byte(m[7]))
		if err != nil {
			t.Fatalf("frame %d message: %v", i, err)
		}
		if e.Event.Seq != int64(i+1) || !strings.Contains(m[6], `seq="`+strconv.Itoa(i+1)+`"`) {
			t.Fatalf("frame %d: seq %d, sd %s", i, e.Event.Seq, m[6])
		}
		pri, _ := strconv.Atoi(m[1])
		wantSev := 6
		if audit.Denied(e.Event.Decision) {
			wantSev = 4
		} else if e.Event.Decision == audit.DecisionRedact {
			wantSev = 5
		}
		if pri != 13*8+wantSev {
			t.Errorf("frame %d (%s): PRI %d, want %d", i, e.Event.Decision, pri, 13*8+wantSev)
		}
	}
	c.Close()
}

func TestSyslogCEFOverTLS(t *testing.T) {
	ca, err := certs.NewRootCA("syslog test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(certs.LeafOptions{CommonName: "siem", DNSNames: []string{"siem.test"}, Server: true})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{leaf.TLSCertificate()}})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conns := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err == nil {
			conns <- c
		}
	}()
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	fwd, err := audit.NewSyslog(audit.SyslogOptions{Network: "tls", Addr: ln.Addr().String(), Format: "cef",
		TLS: &tls.Config{RootCAs: pool, ServerName: "siem.test"}})
	if err != nil {
		t.Fatal(err)
	}
	defer fwd.Close()
	ev := audittest.Events(5, t0)[4]
	ev.Seq, ev.Hash = 5, strings.Repeat("ab", 32)
	ev.RecordID = `AIM=1\2`
	fwd.Forward([]audit.Event{ev})
	conn := <-conns
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	f := readFrames(t, conn, 1)[0]
	i := strings.Index(f, "CEF:0|")
	if i < 0 {
		t.Fatalf("no CEF in %q", f)
	}
	cef := f[i:]
	for _, want := range []string{"CEF:0|ura|ura gateway|1|push.deny|policy decision|7|", "suser=NATO/ORG/LIAISON", "act=deny",
		"cs2Label=reasons cs2=not_releasable,clearance", "cn1=5", `cs1=AIM\=1\\2 `} {
		if !strings.Contains(cef, want) {
			t.Errorf("CEF %q lacks %q", cef, want)
		}
	}
}

func TestSyslogUDP(t *testing.T) {
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	fwd, err := audit.NewSyslog(audit.SyslogOptions{Network: "udp", Addr: pc.LocalAddr().String()})
	if err != nil {
		t.Fatal(err)
	}
	defer fwd.Close()
	ev := audittest.Events(1, t0)[0]
	ev.Seq = 1
	fwd.Forward([]audit.Event{ev})
	buf := make([]byte, 65536)
	_ = pc.SetReadDeadline(time.Now().Add(10 * time.Second))
	n, _, err := pc.ReadFrom(buf)
	if err != nil {
		t.Fatal(err)
	}
	if !rfc5424.Match(buf[:n]) {
		t.Fatalf("datagram is not one RFC 5424 message: %q", buf[:n])
	}
}

// TestSyslogDropsWhenDown: an unreachable SIEM never blocks appends; what
// cannot be queued or sent is counted.
func TestSyslogDropsWhenDown(t *testing.T) {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close() // nothing listens
	fwd, err := audit.NewSyslog(audit.SyslogOptions{Network: "tcp", Addr: addr, Queue: 4, DialTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(fwd)
	st, _ := audit.OpenFileStore(t.TempDir(), audit.FileOptions{})
	c, err := audit.Open(context.Background(), audit.Options{Store: st, Forwarder: fwd})
	if err != nil {
		t.Fatal(err)
	}
	for range 20 {
		if err := c.Append(context.Background(), audittest.Events(5, t0)...); err != nil {
			t.Fatal(err)
		}
	}
	c.Close()
	if got := metricValue(t, reg, "ura_audit_forward_dropped_total"); got != 100 {
		t.Fatalf("dropped %v of 100 events", got)
	}
	if c.Head().Count != 100 {
		t.Fatalf("the durable log has %d events", c.Head().Count)
	}
}

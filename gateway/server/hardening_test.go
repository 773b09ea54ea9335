package server

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ura-gateway/ura/certs"
	"github.com/ura-gateway/ura/gateway/api/apitest"
	"github.com/ura-gateway/ura/gateway/api/exchange"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// rawTLS is an HTTP/1.1 connection over real mutual TLS, written by hand.
func rawTLS(t *testing.T, p *testPKI, leaf *certs.Leaf, addr string) (*tls.Conn, *bufio.Reader) {
	t.Helper()
	pool := x509.NewCertPool()
	pool.AddCert(p.root.Cert)
	conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: pool, ServerName: "localhost",
		Certificates: []tls.Certificate{leaf.TLSCertificate()}, NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return conn, bufio.NewReader(conn)
}

// closedWithin reads whatever the server still sends and reports how long
// it took the server to close the connection (or fails after limit).
func closedWithin(t *testing.T, conn net.Conn, r *bufio.Reader, limit time.Duration) (time.Duration, string) {
	t.Helper()
	start := time.Now()
	_ = conn.SetReadDeadline(start.Add(limit))
	got, err := io.ReadAll(r)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatalf("connection still open after %s (read %q)", limit, got)
	}
	return time.Since(start), string(got)
}

// A body trickling in one byte at a time is cut off at http.body_timeout,
// over HTTP/1.1 and HTTP/2, and nothing of it is stored.
func TestSlowBodyCutOff(t *testing.T) {
	const bodyTimeout = time.Second
	e := startGateway(t, withConfig(func(cfg *config.Config) { cfg.HTTP.BodyTimeout = bodyTimeout }))
	leaf := e.p.member(e.p.inter, "AL/GOV/AIM")

	t.Run("http1", func(t *testing.T) {
		conn, r := rawTLS(t, e.p, leaf, e.addr)
		start := time.Now()
		_, _ = fmt.Fprintf(conn, "POST /v1/records HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n")
		go func() {
			for {
				if _, err := conn.Write([]byte(" ")); err != nil {
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
		}()
		_, got := closedWithin(t, conn, r, 10*bodyTimeout)
		if took := time.Since(start); took < bodyTimeout || took > 5*bodyTimeout {
			t.Errorf("connection closed after %s, want about %s", took, bodyTimeout)
		}
		if got != "" && !strings.HasPrefix(got, "HTTP/1.1 4") {
			t.Errorf("answer to a body cut off: %.200q", got)
		}
	})

	t.Run("http2", func(t *testing.T) {
		pr, pw := io.Pipe()
		defer pw.Close()
		go func() {
			for {
				if _, err := pw.Write([]byte(" ")); err != nil {
					return
				}
				time.Sleep(200 * time.Millisecond)
			}
		}()
		req, _ := http.NewRequest(http.MethodPost, "https://"+e.addr+"/v1/records", pr)
		req.Header.Set("Content-Type", "application/x-ndjson")
		hc := e.p.client(leaf, 0, true)
		start := time.Now()
		resp, err := hc.Do(req)
		took := time.Since(start)
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.ProtoMajor != 2 || resp.StatusCode < 400 {
				t.Fatalf("slow HTTP/%d body answered %d", resp.ProtoMajor, resp.StatusCode)
			}
		}
		if took < bodyTimeout || took > 5*bodyTimeout {
			t.Errorf("stream ended after %s (%v), want about %s", took, err, bodyTimeout)
		}
	})

	if n := e.store.Len(); n != 0 {
		t.Fatalf("%d records stored from bodies that never arrived", n)
	}
	// A body that arrives in time is taken as before.
	exResults(t, e.as("AL/GOV/AIM").push(exSample(t, records.KindLicence)))
}

// A stream outlives http.write_timeout as long as it keeps writing: only
// stream_write_timeout, per write, bounds it.
func TestStreamOutlivesWriteTimeout(t *testing.T) {
	slow := &apitest.GenStore{Store: *apitest.NewStore(), N: 1000, PauseEvery: 100, Pause: 250 * time.Millisecond}
	e := startGateway(t, withStore(slow), withConfig(func(cfg *config.Config) {
		cfg.HTTP.WriteTimeout = 500 * time.Millisecond
		cfg.HTTP.StreamWriteTimeout = 2 * time.Second
	}))
	for _, proto := range []string{"http1", "http2"} {
		t.Run(proto, func(t *testing.T) {
			hc := e.p.client(e.p.member(e.p.inter, "AL/GOV/MOD"), 0, true)
			if proto == "http1" {
				tr := hc.Transport.(*http.Transport)
				tr.ForceAttemptHTTP2 = false
				tr.TLSClientConfig.NextProtos = []string{"http/1.1"}
			}
			req, _ := http.NewRequest(http.MethodGet, "https://"+e.addr+"/v1/records", nil)
			req.Header.Set("Accept", exchange.NDJSON)
			start := time.Now()
			resp, err := hc.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				t.Fatalf("stream cut off after %s: %v", time.Since(start), err)
			}
			lines := strings.Split(strings.TrimSpace(string(body)), "\n")
			var trailer exchange.Trailer
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &trailer); err != nil || !trailer.Complete || trailer.Records != 1000 {
				t.Fatalf("HTTP/%d stream of %s ended with %.300q", resp.ProtoMajor, time.Since(start), lines[len(lines)-1])
			}
			if took := time.Since(start); took < 4*500*time.Millisecond {
				t.Fatalf("the stream took only %s: it did not outlast write_timeout", took)
			}
		})
	}
}

// One member's slow requests use up its own http.max_in_flight_per_member
// and no more: its next request is refused with 429 problem+json, another
// member's is served, and once the slow ones end the member is served again.
func TestInFlightCapPerMember(t *testing.T) {
	const max = 3
	e := startGateway(t, withConfig(func(cfg *config.Config) {
		cfg.HTTP.MaxInFlightPerMember = max
		cfg.HTTP.BodyTimeout = 30 * time.Second
	}))
	aim := e.p.member(e.p.inter, "AL/GOV/AIM")
	var slow []net.Conn
	for range max {
		conn, _ := rawTLS(t, e.p, aim, e.addr)
		_, _ = fmt.Fprintf(conn, "POST /v1/records HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-ndjson\r\nContent-Length: 100000\r\n\r\n{")
		slow = append(slow, conn)
	}
	whoami := func(member string) memberResponse {
		return e.as(member).do(http.MethodGet, "/v1/whoami", "", "", nil)
	}
	waitFor(t, func() bool { return whoami("AL/GOV/AIM").status == http.StatusTooManyRequests })

	refused := whoami("AL/GOV/AIM")
	p := refused.problem(t, http.StatusTooManyRequests, problem.TypeRateLimited)
	if !strings.Contains(fmt.Sprint(p["detail"]), fmt.Sprint(max)) || refused.header.Get("Retry-After") == "" {
		t.Errorf("refusal: %s, Retry-After %q", refused.body, refused.header.Get("Retry-After"))
	}
	if other := whoami("AL/GOV/MOD"); other.status != http.StatusOK {
		t.Fatalf("another member while AIM is at its cap: %d %s", other.status, other.body)
	}
	if !strings.Contains(e.logs.String(), "too many in progress") {
		t.Error("the refusal was not logged")
	}

	for _, c := range slow {
		_ = c.Close()
	}
	waitFor(t, func() bool { return whoami("AL/GOV/AIM").status == http.StatusOK })
}

// A request carrying both Content-Length and Transfer-Encoding is refused
// and its connection closed, so the request smuggled behind it is never
// read; however the headers are spelt or split across TLS records.
func TestContentLengthWithTransferEncodingClosesConnection(t *testing.T) {
	e := startGateway(t)
	aim := e.p.member(e.p.inter, "AL/GOV/AIM")
	const smuggled = "GET /v1/whoami HTTP/1.1\r\nHost: localhost\r\n\r\n"
	cases := []struct {
		name, headers string
		split         bool
	}{
		{"content-length first", "Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", false},
		{"transfer-encoding first", "Transfer-Encoding: chunked\r\nContent-Length: 5\r\n", false},
		{"lower case", "transfer-encoding: chunked\r\ncontent-length: 5\r\n", false},
		{"a byte per write", "Content-Length: 5\r\nX-Pad: 1\r\nTransfer-Encoding: chunked\r\n", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn, r := rawTLS(t, e.p, aim, e.addr)
			req := "POST /v1/records HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/x-ndjson\r\n" + tc.headers + "\r\n0\r\n\r\n" + smuggled
			if tc.split {
				for i := range len(req) {
					if _, err := conn.Write([]byte{req[i]}); err != nil {
						break // the server may close before the smuggled tail is written
					}
				}
			} else if _, err := io.WriteString(conn, req); err != nil {
				t.Fatal(err)
			}
			_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
			resp, err := http.ReadResponse(r, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusBadRequest || !resp.Close || resp.Header.Get("Content-Type") != problem.ContentType {
				t.Fatalf("answer %d (close %v): %s", resp.StatusCode, resp.Close, body)
			}
			if _, rest := closedWithin(t, conn, r, 5*time.Second); rest != "" {
				t.Fatalf("the smuggled request was answered: %.200q", rest)
			}
		})
	}
	if n := e.store.Len(); n != 0 {
		t.Fatalf("%d records stored", n)
	}

	// The positive side: chunked alone, then Content-Length alone, on one
	// kept-alive connection, are both answered.
	conn, r := rawTLS(t, e.p, aim, e.addr)
	_, _ = fmt.Fprintf(conn, "GET /v1/whoami HTTP/1.1\r\nHost: localhost\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")
	_, _ = fmt.Fprintf(conn, "GET /v1/whoami HTTP/1.1\r\nHost: localhost\r\nContent-Length: 2\r\n\r\n{}")
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	for i := range 2 {
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("request %d: %v", i+1, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("request %d: %d (close %v)", i+1, resp.StatusCode, resp.Close)
		}
	}
}

func TestFramingConnScan(t *testing.T) {
	cases := []struct {
		name, stream string
		want         bool
	}{
		{"plain", "POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", false},
		{"chunked", "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
		{"both", "POST / HTTP/1.1\r\nContent-Length: 2\r\nTransfer-Encoding: chunked\r\n\r\n", true},
		{"both, bare newlines", "POST / HTTP/1.1\ntransfer-ENCODING: chunked\nCONTENT-length: 2\n\n", true},
		{"one in each of two requests", "GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\nGET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", false},
		{"a JSON body naming both", "POST / HTTP/1.1\r\nContent-Length: 60\r\n\r\n{\"content-length:\": 1,\n\"transfer-encoding:\": \"chunked\"}\n", false},
		{"other headers with the same start", "POST / HTTP/1.1\r\nContent-Length-X: 2\r\nTransfer-Encoding-X: chunked\r\n\r\n", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// Every split of the stream into two reads gives the same verdict.
			for cut := 0; cut <= len(tc.stream); cut++ {
				var fc framingConn
				fc.scan([]byte(tc.stream[:cut]))
				fc.scan([]byte(tc.stream[cut:]))
				if fc.ambiguous() != tc.want {
					t.Fatalf("cut at %d: ambiguous %v, want %v", cut, fc.ambiguous(), tc.want)
				}
			}
		})
	}
}

// The plain-HTTP ops listener answers probes, and /metrics (whose series
// name members) only when ops_metrics opens it; on the mTLS listener
// /metrics stays for auditors and the metrics role (TestMetricsRestricted).
func TestOpsListenerMetrics(t *testing.T) {
	for _, open := range []bool{false, true} {
		t.Run(fmt.Sprintf("ops_metrics=%v", open), func(t *testing.T) {
			ops := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
			e := startGateway(t, withConfig(func(cfg *config.Config) { cfg.OpsListen, cfg.OpsMetrics = ops, open }))
			// A member's request, so that the series name it.
			if resp, _, err := whoami(t, e.p.client(e.p.member(e.p.inter, "AL/GOV/AIM"), 0, false), e.addr, nil); err != nil || resp.StatusCode != 200 {
				t.Fatalf("whoami: %v", err)
			}
			get := func(path string) (int, string) {
				var resp *http.Response
				var err error
				waitFor(t, func() bool { resp, err = http.Get("http://" + ops + path); return err == nil })
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, string(b)
			}
			if code, _ := get("/healthz"); code != http.StatusOK {
				t.Fatalf("ops /healthz = %d", code)
			}
			if code, _ := get("/readyz"); code != http.StatusOK {
				t.Fatalf("ops /readyz = %d", code)
			}
			code, body := get("/metrics")
			switch {
			case !open && (code != http.StatusNotFound || strings.Contains(body, "ura_")):
				t.Fatalf("closed ops /metrics = %d %.200q", code, body)
			case open && (code != http.StatusOK || !strings.Contains(body, "ura_http_requests_total")):
				t.Fatalf("opened ops /metrics = %d %.200q", code, body)
			}
		})
	}
}

// The console's form key comes from console.csrf_key_file, so that every
// replica and every restart accepts the same forms; it is never logged.
func TestConsoleCSRFKeyFromFile(t *testing.T) {
	const keyHex = "8f14e45fceea167a5a36dedd4bea2543c4ca4238a0b923820dcc509a6f75849b"
	path := filepath.Join(t.TempDir(), "console-csrf.key")
	if err := os.WriteFile(path, []byte(keyHex+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := startGateway(t, withConfig(func(cfg *config.Config) { cfg.Console.CSRFKeyFile = path }))
	if got := hex.EncodeToString(e.srv.csrfKey); got != keyHex {
		t.Fatalf("csrf key %s, want the file's", got)
	}
	logs := e.logs.String()
	if strings.Contains(logs, keyHex) || strings.Contains(logs, keyHex[:16]) {
		t.Fatal("the log holds the console's form key")
	}
	if strings.Contains(logs, "csrf_key_file is not set") {
		t.Fatal("warned about a per-process key although one is configured")
	}
	// Without a file: a random key, and a warning that says what it costs.
	if plain := startGateway(t); !strings.Contains(plain.logs.String(), "csrf_key_file is not set") {
		t.Fatal("no warning about the per-process form key")
	}
}

// Go's profiles are served on the ops listener only when ops_profiling
// opens it, and never on the mTLS listener, whoever asks.
func TestOpsListenerProfiling(t *testing.T) {
	for _, open := range []bool{false, true} {
		t.Run(fmt.Sprintf("ops_profiling=%v", open), func(t *testing.T) {
			ops := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
			e := startGateway(t, withConfig(func(cfg *config.Config) { cfg.OpsListen, cfg.OpsProfiling = ops, open }))
			get := func(path string) (int, []byte) {
				var resp *http.Response
				var err error
				waitFor(t, func() bool { resp, err = http.Get("http://" + ops + path); return err == nil })
				defer resp.Body.Close()
				b, _ := io.ReadAll(resp.Body)
				return resp.StatusCode, b
			}
			code, body := get("/debug/pprof/profile?seconds=1")
			switch {
			case !open && code != http.StatusNotFound:
				t.Fatalf("closed ops profile = %d %.200q", code, body)
			case open && (code != http.StatusOK || len(body) < 2 || body[0] != 0x1f || body[1] != 0x8b):
				// A CPU profile is gzip-compressed protobuf.
				t.Fatalf("opened ops profile = %d %.200q", code, body)
			}
			if code, _ := get("/debug/pprof/"); (code == http.StatusOK) != open {
				t.Fatalf("ops /debug/pprof/ = %d with ops_profiling %v", code, open)
			}
			for _, who := range []string{"AL/GOV/AIM", "AL/GOV/AUDIT"} {
				resp, err := e.p.client(e.p.member(e.p.inter, who), 0, false).Get("https://" + e.addr + "/debug/pprof/")
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != http.StatusNotFound {
					t.Fatalf("mTLS /debug/pprof/ as %s = %d", who, resp.StatusCode)
				}
			}
		})
	}
}

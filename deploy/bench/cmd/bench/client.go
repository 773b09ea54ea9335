package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// member is a client identity from the bench PKI: clients/<name>.crt/.key.
type member struct {
	name string
	cert tls.Certificate
}

// pki holds what every system is reached with: one CA and member certificates.
type pki struct {
	roots   *x509.CertPool
	members map[string]member
}

func loadPKI(dir string, names ...string) (*pki, error) {
	caPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	if err != nil {
		return nil, fmt.Errorf("bench pki: %w", err)
	}
	p := &pki{roots: x509.NewCertPool(), members: map[string]member{}}
	if !p.roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("bench pki: %s holds no certificate", filepath.Join(dir, "ca.crt"))
	}
	for _, n := range names {
		c, err := tls.LoadX509KeyPair(filepath.Join(dir, "clients", n+".crt"), filepath.Join(dir, "clients", n+".key"))
		if err != nil {
			return nil, fmt.Errorf("bench pki: member %s: %w", n, err)
		}
		p.members[n] = member{name: n, cert: c}
	}
	return p, nil
}

// tlsConfig is the client side of the mutual TLS every system terminates.
// No session cache: with keep-alive off every request pays a full
// handshake, which is the cost that mode exists to show.
func (p *pki) tlsConfig(who string) *tls.Config {
	m := p.members[who]
	return &tls.Config{
		RootCAs:      p.roots,
		Certificates: []tls.Certificate{m.cert},
		MinVersion:   tls.VersionTLS13,
	}
}

// transport is HTTP/1.1 for every system, so that nginx, which is set up
// without HTTP/2, and the Go gateways speak the same protocol.
func (p *pki) transport(who string, conns int, keepAlive bool) *http.Transport {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	if !keepAlive {
		d.KeepAlive = -1
	}
	return &http.Transport{
		DialContext:         d.DialContext,
		TLSClientConfig:     p.tlsConfig(who),
		TLSHandshakeTimeout: 10 * time.Second,
		DisableKeepAlives:   !keepAlive,
		MaxIdleConnsPerHost: conns,
		MaxIdleConns:        conns,
		ForceAttemptHTTP2:   false,
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{},
		DisableCompression:  true,
	}
}

// bodyCount is what a counting body saw: every byte and every NDJSON line.
type bodyCount struct {
	bytes int64
	lines int64
	// head is the start of the body, kept for error reports and for
	// telling records from a trailer line.
	head []byte
	// tail is the end of the body, for a stream's last line.
	tail []byte
}

// countingTransport wraps response bodies so a pull is counted record by
// record as vegeta drains it, without vegeta keeping megabytes per request.
// Counts are keyed by vegeta's per-request sequence header.
type countingTransport struct {
	base http.RoundTripper
	mu   sync.Mutex
	bySq map[uint64]*bodyCount
}

func newCountingTransport(base http.RoundTripper) *countingTransport {
	return &countingTransport{base: base, bySq: map[uint64]*bodyCount{}}
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := t.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	seq, perr := strconv.ParseUint(req.Header.Get("X-Vegeta-Seq"), 10, 64)
	if perr != nil {
		return resp, nil
	}
	bc := &bodyCount{}
	t.mu.Lock()
	t.bySq[seq] = bc
	t.mu.Unlock()
	resp.Body = &countingBody{rc: resp.Body, c: bc}
	return resp, nil
}

func (t *countingTransport) take(seq uint64) *bodyCount {
	t.mu.Lock()
	defer t.mu.Unlock()
	bc := t.bySq[seq]
	delete(t.bySq, seq)
	return bc
}

const headKeep = 2048

type countingBody struct {
	rc io.ReadCloser
	c  *bodyCount
}

func (b *countingBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if n > 0 {
		chunk := p[:n]
		b.c.bytes += int64(n)
		b.c.lines += int64(bytes.Count(chunk, []byte{'\n'}))
		if len(b.c.head) < headKeep {
			b.c.head = append(b.c.head, chunk[:min(n, headKeep-len(b.c.head))]...)
		}
		// Keep the last line: the tail buffer holds the bytes since the
		// last newline but one, bounded.
		b.c.tail = append(b.c.tail, chunk...)
		if len(b.c.tail) > 2*headKeep {
			b.c.tail = b.c.tail[len(b.c.tail)-2*headKeep:]
		}
	}
	return n, err
}

func (b *countingBody) Close() error { return b.rc.Close() }

// lastLine is the final non-empty line of what was read (bounded).
func (c *bodyCount) lastLine() []byte {
	t := bytes.TrimRight(c.tail, "\n")
	if i := bytes.LastIndexByte(t, '\n'); i >= 0 {
		return t[i+1:]
	}
	return t
}

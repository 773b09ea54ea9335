package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// tlsListener completes each TLS handshake itself, away from the accept
// loop, so that an HTTP/1.1 connection reaches net/http through a
// framingConn, which sees the request headers as they arrive. An HTTP/2
// connection is handed over as the *tls.Conn it is and served by net/http's
// own HTTP/2 server.
type tlsListener struct {
	inner   net.Listener
	config  *tls.Config
	timeout time.Duration
	// logf receives the same "http: TLS handshake error" lines net/http
	// writes, for handshakeLog to classify and count.
	logf func(format string, args ...any)
	// admit decides, once a handshake has completed, whether its
	// connection is served; a refused one is closed at once. It may hand
	// the connection something to release when it closes (countedConn.hold).
	// Nil admits every connection.
	admit func(tls.ConnectionState, *countedConn) bool

	conns     chan net.Conn
	errc      chan error
	done      chan struct{}
	closeOnce sync.Once
}

func newTLSListener(inner net.Listener, config *tls.Config, handshakeTimeout time.Duration, logf func(string, ...any),
	admit func(tls.ConnectionState, *countedConn) bool) *tlsListener {
	l := &tlsListener{inner: inner, config: config, timeout: handshakeTimeout, logf: logf, admit: admit,
		conns: make(chan net.Conn), errc: make(chan error, 1), done: make(chan struct{})}
	go l.acceptLoop()
	return l
}

func (l *tlsListener) acceptLoop() {
	var backoff time.Duration
	for {
		raw, err := l.inner.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// EMFILE and the like: wait as net/http's own loop does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				select {
				case <-time.After(backoff):
					continue
				case <-l.done:
					return
				}
			}
			l.errc <- err
			return
		}
		backoff = 0
		go l.handshake(raw)
	}
}

// handshake runs one connection's handshake and hands it to Accept. The
// TLS connection is built over a countedConn, below everything that may
// close it (crypto/tls, net/http's HTTP/1.1 and HTTP/2 servers, a refusal
// here): whatever ends the connection ends it through countedConn.Close,
// which releases what admit counted for it.
func (l *tlsListener) handshake(raw net.Conn) {
	cc := &countedConn{Conn: raw}
	tc := tls.Server(cc, l.config)
	ctx, cancel := context.WithTimeout(context.Background(), l.timeout)
	defer cancel()
	_ = raw.SetDeadline(time.Now().Add(l.timeout))
	if err := tc.HandshakeContext(ctx); err != nil {
		l.logf("http: TLS handshake error from %s: %v", raw.RemoteAddr(), err)
		_ = cc.Close()
		return
	}
	if l.admit != nil && !l.admit(tc.ConnectionState(), cc) {
		// Refused after the handshake: close_notify, bounded by the
		// handshake's deadline (still set) and crypto/tls's own 5s.
		_ = tc.Close()
		return
	}
	_ = raw.SetDeadline(time.Time{})
	var c net.Conn = tc
	if tc.ConnectionState().NegotiatedProtocol != "h2" {
		c = &framingConn{Conn: tc}
	}
	select {
	case l.conns <- c:
	case <-l.done:
		_ = c.Close()
	}
}

func (l *tlsListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case err := <-l.errc:
		l.errc <- err // every later Accept fails the same way
		return nil, err
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *tlsListener) Close() error {
	err := net.ErrClosed
	l.closeOnce.Do(func() {
		close(l.done)
		err = l.inner.Close()
	})
	return err
}

func (l *tlsListener) Addr() net.Addr { return l.inner.Addr() }

// countedConn is the raw connection under a TLS connection. It releases
// what was counted for the connection (hold) when it is closed, once,
// however the close came about.
type countedConn struct {
	net.Conn
	mu      sync.Mutex
	closed  bool
	release func()
}

// hold arranges for release to run when the connection closes. It reports
// false, and keeps nothing, when the connection is closed already: the
// caller releases at once.
func (c *countedConn) hold(release func()) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return false
	}
	c.release = release
	return true
}

func (c *countedConn) Close() error {
	c.mu.Lock()
	release := c.release
	c.release, c.closed = nil, true
	c.mu.Unlock()
	if release != nil {
		release()
	}
	return c.Conn.Close()
}

// framingConn is an HTTP/1.1 connection after its handshake. It watches the
// header lines read from it: a header block carrying both Content-Length
// and Transfer-Encoding is the shape of a request-smuggling attempt, which
// net/http would answer by Transfer-Encoding alone and keep the connection
// open. RFC 9112 section 6.1 asks the server to close it; ambiguous says so.
//
// The scan is over every line read, bodies included, and cannot tell a
// header block from body text that looks like one. A JSON body never does:
// its lines start with a brace, a bracket, a quote or a space, never with a
// bare header name. A false alarm would only close the connection.
type framingConn struct {
	*tls.Conn
	// head is the start of the current line, enough to recognise the two
	// header names; n is how much of it is filled, lineLen the whole line
	// seen so far. Read is never called concurrently (net/http serialises
	// a connection's reads), so only the verdict needs to be atomic.
	head         [len("transfer-encoding:")]byte
	n, lineLen   int
	hasCL, hasTE bool
	flagged      atomic.Bool
}

func (c *framingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.scan(p[:n])
	return n, err
}

// ambiguous reports whether a header block read on this connection carried
// both Content-Length and Transfer-Encoding.
func (c *framingConn) ambiguous() bool { return c.flagged.Load() }

func (c *framingConn) scan(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		seg := b
		if i >= 0 {
			seg = b[:i]
		}
		if c.n < len(c.head) {
			c.n += copy(c.head[c.n:], seg)
		}
		c.lineLen += len(seg)
		if i < 0 {
			return
		}
		c.endLine()
		b = b[i+1:]
	}
}

var (
	headerContentLength    = []byte("content-length:")
	headerTransferEncoding = []byte("transfer-encoding:")
)

func (c *framingConn) endLine() {
	head := c.head[:c.n]
	switch {
	case c.lineLen == 0 || c.lineLen == 1 && head[0] == '\r':
		// A blank line ends a header block.
		c.hasCL, c.hasTE = false, false
	case hasPrefixFold(head, headerContentLength):
		c.hasCL = true
	case hasPrefixFold(head, headerTransferEncoding):
		c.hasTE = true
	}
	if c.hasCL && c.hasTE {
		c.flagged.Store(true)
	}
	c.n, c.lineLen = 0, 0
}

func hasPrefixFold(b, prefix []byte) bool {
	return len(b) >= len(prefix) && bytes.EqualFold(b[:len(prefix)], prefix)
}

// connKey carries a connection's framingConn into its requests' contexts.
type connKey struct{}

// connContext is the listener's http.Server.ConnContext.
func connContext(ctx context.Context, c net.Conn) context.Context {
	if fc, ok := c.(*framingConn); ok {
		return context.WithValue(ctx, connKey{}, fc)
	}
	return ctx
}

func framingConnFrom(ctx context.Context) (*framingConn, bool) {
	fc, ok := ctx.Value(connKey{}).(*framingConn)
	return fc, ok
}

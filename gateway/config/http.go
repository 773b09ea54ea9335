package config

import (
	"net/url"
	"strings"
	"time"
)

// HTTP bounds how long one connection and one request may hold the mutual-TLS
// listener, how many requests one member may have in progress at once, and
// how many connections one member may hold open. Every bound is per process.
type HTTP struct {
	// ReadHeaderTimeout bounds the TLS handshake, and the request line and
	// headers of each request.
	ReadHeaderTimeout time.Duration `yaml:"read_header_timeout"`
	// BodyTimeout bounds reading a request's body, from the end of its
	// headers: a body that trickles in slower than that is cut off.
	BodyTimeout time.Duration `yaml:"body_timeout"`
	// WriteTimeout bounds a whole response, from the end of the request's
	// body. Streams (NDJSON pulls, the audit export) use StreamWriteTimeout.
	WriteTimeout time.Duration `yaml:"write_timeout"`
	// StreamWriteTimeout is the longest a stream may go without a completed
	// write; a reader slower than that is cut off.
	StreamWriteTimeout time.Duration `yaml:"stream_write_timeout"`
	// IdleTimeout is how long a kept-alive connection may wait for its next
	// request.
	IdleTimeout time.Duration `yaml:"idle_timeout"`
	// MaxInFlightPerMember is how many requests one member may have in
	// progress at once; the next is answered 429 until one finishes.
	MaxInFlightPerMember int `yaml:"max_in_flight_per_member"`
	// MaxConnectionsPerMember is how many TLS connections one member may
	// hold open at once; a connection over it is closed right after its
	// handshake. Certificates naming no registered member share one count.
	MaxConnectionsPerMember int `yaml:"max_connections_per_member"`
}

func defaultHTTP() HTTP {
	return HTTP{
		ReadHeaderTimeout:    10 * time.Second,
		BodyTimeout:          time.Minute,
		WriteTimeout:         time.Minute,
		StreamWriteTimeout:   time.Minute,
		IdleTimeout:          2 * time.Minute,
		MaxInFlightPerMember: 64,
		// An HTTP/1.1 client needs a connection per request in progress,
		// so the connection cap matches the in-flight cap.
		MaxConnectionsPerMember: 64,
	}
}

func (h *HTTP) validate(v *validator) {
	for _, f := range []struct {
		name string
		d    time.Duration
	}{
		{"read_header_timeout", h.ReadHeaderTimeout}, {"body_timeout", h.BodyTimeout},
		{"write_timeout", h.WriteTimeout}, {"stream_write_timeout", h.StreamWriteTimeout},
		{"idle_timeout", h.IdleTimeout},
	} {
		switch {
		case f.d <= 0:
			v.add(f.name, "must be a positive duration such as 30s or 5m")
		case f.d > time.Hour:
			v.add(f.name, "must be at most 1h; got %s", f.d)
		}
	}
	if h.MaxInFlightPerMember < 1 || h.MaxInFlightPerMember > 100000 {
		v.add("max_in_flight_per_member", "must be between 1 and 100000; got %d", h.MaxInFlightPerMember)
	}
	if h.MaxConnectionsPerMember < 1 || h.MaxConnectionsPerMember > 100000 {
		v.add("max_connections_per_member", "must be between 1 and 100000; got %d", h.MaxConnectionsPerMember)
	}
}

// validateTransport refuses plain-http addresses for the services the
// gateway trusts with its signing keys and its decisions, unless the file
// says it configures a development stack.
func (c *Config) validateTransport(v *validator) {
	if c.Development {
		return
	}
	for _, f := range [][2]string{{"vault.addr", c.Vault.Addr}, {"policy.http_url", c.Policy.HTTPURL}} {
		if u, err := url.Parse(f[1]); err == nil && strings.EqualFold(u.Scheme, "http") {
			v.add(f[0], "plain http is refused outside development: use https (development: true allows it on a local development stack)")
		}
	}
}

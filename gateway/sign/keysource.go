package sign

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"
)

// KeySource supplies the JWKS a Verifier checks against.
type KeySource interface {
	// KeySet returns the current set. refresh asks for a new read because a
	// kid was not found; a source may answer from its cache when it read
	// recently, so that unknown kids cannot make it hammer the origin.
	KeySet(ctx context.Context, refresh bool) (jwk.Set, error)
}

var (
	_ KeySource = (*FileKeys)(nil)
	_ KeySource = (*URLKeys)(nil)
	_ KeySource = StaticKeys{}
	_ KeySource = (*VaultSigner)(nil)
)

// StaticKeys is a fixed set.
type StaticKeys struct{ Set jwk.Set }

// KeySet returns the set.
func (s StaticKeys) KeySet(context.Context, bool) (jwk.Set, error) { return s.Set, nil }

// KeySet lets a gateway verify its own signatures with what it publishes.
func (s *VaultSigner) KeySet(ctx context.Context, _ bool) (jwk.Set, error) { return s.Keys(ctx) }

// FileKeys reads a JWKS file, and again whenever it changes.
type FileKeys struct {
	path string

	mu      sync.Mutex
	set     jwk.Set
	modTime time.Time
	size    int64
}

// NewFileKeys reads path once, so that a bad file fails at start-up.
func NewFileKeys(path string) (*FileKeys, error) {
	f := &FileKeys{path: path}
	if _, err := f.KeySet(context.Background(), false); err != nil {
		return nil, err
	}
	return f, nil
}

// KeySet returns the file's keys, reading it again when its size or
// modification time changed. A file that turned bad keeps the last good set.
func (f *FileKeys) KeySet(context.Context, bool) (jwk.Set, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	st, err := os.Stat(f.path)
	if err != nil {
		if f.set != nil {
			return f.set, nil
		}
		return nil, fmt.Errorf("jwks file: %w", err)
	}
	if f.set != nil && st.ModTime().Equal(f.modTime) && st.Size() == f.size {
		return f.set, nil
	}
	data, err := os.ReadFile(f.path)
	if err == nil {
		var set jwk.Set
		if set, err = ParseJWKS(data); err == nil {
			f.set, f.modTime, f.size = set, st.ModTime(), st.Size()
			return set, nil
		}
	}
	if f.set != nil {
		return f.set, nil
	}
	return nil, fmt.Errorf("jwks file %s: %w", f.path, err)
}

// TLSFiles are the files for fetching a JWKS over mutual TLS. They are read
// at every fetch, so rotated certificates are used without a restart.
type TLSFiles struct {
	// CAFile verifies the server; empty uses the system roots.
	CAFile string
	// CertFile and KeyFile are the client certificate; empty sends none.
	CertFile, KeyFile string
}

func (t TLSFiles) client(timeout time.Duration) (*http.Client, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("ca file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca file %s: no PEM certificate", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" || t.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return &http.Client{
		Timeout:   timeout,
		Transport: &http.Transport{TLSClientConfig: tc, Proxy: nil, ForceAttemptHTTP2: true},
		// A JWKS that moved is a configuration change, not something to
		// follow silently to wherever the redirect points.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}, nil
}

// URLKeys fetches a JWKS over HTTPS, keeps it for TTL, and fetches again on
// an unknown kid at most once per MinRefresh.
type URLKeys struct {
	url string
	tls TLSFiles
	ttl time.Duration
	// MinRefresh is the least time between two fetches forced by unknown kids.
	MinRefresh time.Duration
	// Timeout bounds one fetch.
	Timeout time.Duration

	mu      sync.Mutex
	set     jwk.Set
	fetched time.Time
	forced  time.Time
}

// maxJWKSBytes bounds a fetched JWKS.
const maxJWKSBytes = 1 << 20

// NewURLKeys fetches from url with the given TLS files, caching for ttl.
func NewURLKeys(url string, files TLSFiles, ttl time.Duration) *URLKeys {
	return &URLKeys{url: url, tls: files, ttl: ttl, MinRefresh: 10 * time.Second, Timeout: 10 * time.Second}
}

// KeySet returns the cached set or fetches it. When a fetch fails and a set
// was fetched before, the old set is kept: public keys stay true, and a
// partner's outage should not make its old signatures unverifiable.
func (u *URLKeys) KeySet(ctx context.Context, refresh bool) (jwk.Set, error) {
	u.mu.Lock()
	defer u.mu.Unlock()
	now := time.Now()
	fresh := u.set != nil && now.Sub(u.fetched) < u.ttl
	if fresh && (!refresh || now.Sub(u.forced) < u.MinRefresh) {
		return u.set, nil
	}
	if refresh {
		u.forced = now
	}
	set, err := u.fetch(ctx)
	if err != nil {
		if u.set != nil {
			return u.set, nil
		}
		return nil, err
	}
	u.set, u.fetched = set, now
	return set, nil
}

func (u *URLKeys) fetch(ctx context.Context) (jwk.Set, error) {
	hc, err := u.tls.client(u.Timeout)
	if err != nil {
		return nil, fmt.Errorf("jwks %s: %w", u.url, err)
	}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.url, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("jwks %s: %w", u.url, err)
	}
	defer func() { _ = resp.Body.Close() }() // read only: nothing to lose on close
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("jwks %s: HTTP %d", u.url, resp.StatusCode)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxJWKSBytes+1))
	if err != nil {
		return nil, fmt.Errorf("jwks %s: %w", u.url, err)
	}
	if len(data) > maxJWKSBytes {
		return nil, fmt.Errorf("jwks %s: larger than %d bytes", u.url, maxJWKSBytes)
	}
	set, err := ParseJWKS(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", u.url, err)
	}
	return set, nil
}

// ErrUnknownPeer: a signed record claims to come from a member that is not
// configured as a peer gateway.
var ErrUnknownPeer = errors.New("not a configured peer gateway")

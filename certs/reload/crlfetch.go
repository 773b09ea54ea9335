package reload

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ura-gateway/ura/gateway/identity"
)

// maxCRLBytes bounds a fetched CRL; a distribution point cannot make the
// gateway buffer an unbounded body.
const maxCRLBytes = 16 << 20

// CRLFetcher keeps the latest valid CRL from each URL. A failed or invalid
// fetch keeps the previous copy: staleness is judged by the verifier against
// the CRL's own nextUpdate, so an unreachable distribution point eventually
// fails closed rather than open.
//
// Redirects are never followed: a CRL is fetched from the URL configured for
// it and nowhere else. Whether a fetched CRL is newer than the one in force
// is decided where its signature can be checked (identity.NewTrustWith
// refuses a lower CRL number and keeps the newer list, and refuses one lower
// than the number recorded across restarts in identity.CRLNumbers).
type CRLFetcher struct {
	URLs    []string
	Refresh time.Duration
	// Client is used for fetching, except that redirects are refused
	// whatever its CheckRedirect says. Nil means a client with a 30s timeout.
	Client *http.Client
	Logger *slog.Logger
	// Result is told of every fetch (url, error or nil).
	Result func(url string, err error)

	mu      sync.RWMutex
	data    map[string][]byte
	version atomic.Uint64
}

// Get returns the last good CRL bytes for url.
func (f *CRLFetcher) Get(url string) ([]byte, bool) {
	f.mu.RLock()
	defer f.mu.RUnlock()
	b, ok := f.data[url]
	return b, ok
}

// Version changes whenever any CRL was replaced; a Watcher adds it to its
// digest so that a new CRL triggers a trust reload.
func (f *CRLFetcher) Version() []byte {
	return binary.BigEndian.AppendUint64(nil, f.version.Load())
}

// FetchAll fetches every URL once and returns the errors joined.
func (f *CRLFetcher) FetchAll(ctx context.Context) error {
	var first error
	for _, u := range f.URLs {
		err := f.fetch(ctx, u)
		if f.Result != nil {
			f.Result(u, err)
		}
		if err != nil {
			f.log().Warn("crl fetch failed; keeping the previous copy", "url", u, "error", err)
			if first == nil {
				first = err
			}
		}
	}
	return first
}

// Run refetches every Refresh until ctx ends.
func (f *CRLFetcher) Run(ctx context.Context) {
	every(ctx, f.Refresh, func() { _ = f.FetchAll(ctx) })
}

// errRedirect is returned for a redirect instead of following it.
var errRedirect = errors.New("the CRL distribution point redirects; redirects are not followed")

func (f *CRLFetcher) client() *http.Client {
	c := http.Client{Timeout: 30 * time.Second}
	if f.Client != nil {
		c = *f.Client
	}
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return errRedirect }
	return &c
}

func (f *CRLFetcher) fetch(ctx context.Context, url string) error {
	client := f.client()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }() // read only: nothing to lose on close
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %s", resp.Status)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxCRLBytes+1))
	if err != nil {
		return err
	}
	if len(body) > maxCRLBytes {
		return fmt.Errorf("larger than %d bytes", maxCRLBytes)
	}
	// The same parse the trust build applies: a list it would refuse is
	// never kept in place of the last good one.
	if _, err := identity.ParseCRL(body); err != nil {
		return fmt.Errorf("not a CRL: %w", err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.data == nil {
		f.data = map[string][]byte{}
	}
	if string(f.data[url]) != string(body) {
		f.data[url] = body
		f.version.Add(1)
	}
	return nil
}

func (f *CRLFetcher) log() *slog.Logger {
	if f.Logger != nil {
		return f.Logger
	}
	return slog.Default()
}

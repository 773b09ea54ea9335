package reload

import (
	"bytes"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ura-gateway/ura/certs"
)

// crlServer serves whatever body and status it was last given.
type crlServer struct {
	mu     sync.Mutex
	status int
	body   []byte
	*httptest.Server
}

func newCRLServer(t *testing.T) *crlServer {
	t.Helper()
	s := &crlServer{status: http.StatusOK}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		w.WriteHeader(s.status)
		_, _ = w.Write(s.body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *crlServer) serve(status int, body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.status, s.body = status, body
}

// testCRL signs CRL number n by a fresh CA.
func testCRL(t *testing.T, ca *certs.CA, n int64) []byte {
	t.Helper()
	now := time.Now()
	der, err := ca.CRL(n, nil, now.Add(-time.Minute), now.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func newTestCA(t *testing.T) *certs.CA {
	t.Helper()
	ca, err := certs.NewRootCA("reload test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestCRLFetcherKeepsTheLastGoodCopy(t *testing.T) {
	ca := newTestCA(t)
	srv := newCRLServer(t)
	var results []error
	f := &CRLFetcher{URLs: []string{srv.URL}, Logger: quiet, Result: func(_ string, err error) { results = append(results, err) }}

	if _, ok := f.Get(srv.URL); ok {
		t.Fatal("Get before any fetch returned a CRL")
	}
	first := pem.EncodeToMemory(&pem.Block{Type: "X509 CRL", Bytes: testCRL(t, ca, 1)})
	srv.serve(http.StatusOK, first)
	if err := f.FetchAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	v1 := f.Version()
	if got, _ := f.Get(srv.URL); !bytes.Equal(got, first) {
		t.Fatal("PEM CRL not kept")
	}

	for _, tc := range []struct {
		name   string
		status int
		body   []byte
		want   string
	}{
		{"server error", http.StatusInternalServerError, nil, "status 500"},
		{"not a CRL", http.StatusOK, []byte("<html>maintenance</html>"), "not a CRL"},
		{"truncated", http.StatusOK, testCRL(t, ca, 2)[:40], "not a CRL"},
		{"too large", http.StatusOK, make([]byte, maxCRLBytes+1), "larger than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.serve(tc.status, tc.body)
			err := f.FetchAll(t.Context())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("FetchAll = %v, want an error containing %q", err, tc.want)
			}
			if got, _ := f.Get(srv.URL); !bytes.Equal(got, first) {
				t.Fatal("a failed fetch replaced the last good CRL")
			}
			if !bytes.Equal(f.Version(), v1) {
				t.Fatal("a failed fetch changed the version")
			}
		})
	}

	second := testCRL(t, ca, 2) // DER is accepted as well
	srv.serve(http.StatusOK, second)
	if err := f.FetchAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got, _ := f.Get(srv.URL); !bytes.Equal(got, second) {
		t.Fatal("the new CRL was not kept")
	}
	v2 := f.Version()
	if bytes.Equal(v2, v1) {
		t.Fatal("a new CRL did not change the version")
	}
	if err := f.FetchAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(f.Version(), v2) {
		t.Fatal("the same CRL fetched again changed the version")
	}
	if n := len(results); n != 7 {
		t.Fatalf("Result called %d times, want 7 (one per fetch)", n)
	}
}

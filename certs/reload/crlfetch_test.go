package reload

import (
	"bytes"
	"crypto/x509/pkix"
	"encoding/asn1"
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

// TestCRLFetcherRefusesRedirects: a CRL comes from the URL configured for it
// and nowhere else, even when the redirect target serves a valid CRL and the
// caller's client would follow it.
func TestCRLFetcherRefusesRedirects(t *testing.T) {
	ca := newTestCA(t)
	target := newCRLServer(t)
	target.serve(http.StatusOK, testCRL(t, ca, 7))
	var targetHits sync.Map
	inner := target.Config.Handler
	target.Config.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		targetHits.Store(r.URL.Path, true)
		inner.ServeHTTP(w, r)
	})
	for _, status := range []int{http.StatusMovedPermanently, http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
		redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/elsewhere.crl", status)
		}))
		t.Cleanup(redirector.Close)
		for _, client := range []*http.Client{nil, {Timeout: 5 * time.Second}} { // nil: the default client
			f := &CRLFetcher{URLs: []string{redirector.URL}, Client: client, Logger: quiet}
			err := f.FetchAll(t.Context())
			if err == nil || !strings.Contains(err.Error(), "redirect") {
				t.Fatalf("%d: FetchAll = %v, want a refused redirect", status, err)
			}
			if _, ok := f.Get(redirector.URL); ok {
				t.Fatalf("%d: a redirected CRL was kept", status)
			}
		}
	}
	if _, hit := targetHits.Load("/elsewhere.crl"); hit {
		t.Fatal("the redirect target was contacted")
	}
	// The same CRL at its own URL is fetched.
	f := &CRLFetcher{URLs: []string{target.URL}, Logger: quiet}
	if err := f.FetchAll(t.Context()); err != nil {
		t.Fatalf("direct fetch: %v", err)
	}
}

// TestCRLFetcherNeedsANumber: a CRL without a CRL number cannot be ordered
// against the one in force, so it is refused and the last good copy kept.
func TestCRLFetcherNeedsANumber(t *testing.T) {
	ca := newTestCA(t)
	srv := newCRLServer(t)
	good := testCRL(t, ca, 1)
	srv.serve(http.StatusOK, good)
	f := &CRLFetcher{URLs: []string{srv.URL}, Logger: quiet}
	if err := f.FetchAll(t.Context()); err != nil {
		t.Fatal(err)
	}
	srv.serve(http.StatusOK, crlWithoutNumber(t, ca))
	if err := f.FetchAll(t.Context()); err == nil || !strings.Contains(err.Error(), "no CRL number") {
		t.Fatalf("FetchAll = %v, want a refused CRL without a number", err)
	}
	if got, _ := f.Get(srv.URL); !bytes.Equal(got, good) {
		t.Fatal("the last good CRL was replaced")
	}
}

// crlWithoutNumber is a well-formed CRL naming ca that lacks the cRLNumber
// extension (its signature is not valid: the fetcher never checks it).
func crlWithoutNumber(t *testing.T, ca *certs.CA) []byte {
	t.Helper()
	ecdsaSHA256 := pkix.AlgorithmIdentifier{Algorithm: asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}}
	der, err := asn1.Marshal(pkix.CertificateList{
		TBSCertList: pkix.TBSCertificateList{ //nolint:staticcheck // x509 builds no CRL without a number, which is the case under test
			Version: 1, Signature: ecdsaSHA256, Issuer: ca.Cert.Subject.ToRDNSequence(),
			ThisUpdate: time.Now().UTC(), NextUpdate: time.Now().Add(time.Hour).UTC(),
		},
		SignatureAlgorithm: ecdsaSHA256,
		SignatureValue:     asn1.BitString{Bytes: []byte{0}, BitLength: 8},
	})
	if err != nil {
		t.Fatal(err)
	}
	return der
}

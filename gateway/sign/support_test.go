package sign

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"log/slog"
	"sync"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jws"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// signSingle signs one payload at a time through jwx with the Transit key as
// a crypto.Signer: one Vault call per payload.
func signSingle(t testing.TB, s *VaultSigner, in [][]byte) []string {
	t.Helper()
	key, kid, err := s.TransitKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := make([]string, len(in))
	for i, p := range in {
		h := jws.NewHeaders()
		_ = h.Set(jws.KeyIDKey, kid)
		_ = h.Set(jws.TypeKey, TypDelivery)
		c, err := jws.Sign(p, jws.WithKey(s.alg, key, jws.WithProtectedHeaders(h)))
		if err != nil {
			t.Fatal(err)
		}
		out[i] = string(c)
	}
	return out
}

func hmacWith(key []byte) func([]byte) []byte {
	return func(in []byte) []byte {
		m := hmac.New(sha256.New, key)
		m.Write(in)
		return m.Sum(nil)
	}
}

func counter(vec *prometheus.CounterVec, labels ...string) float64 {
	return testutil.ToFloat64(vec.WithLabelValues(labels...))
}

// syncBuffer is a log sink safe for the goroutines that write to it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func slogTo(w *syncBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

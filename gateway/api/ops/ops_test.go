package ops

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/gateway/api/chain"
)

// switchCheck fails with err while it is set.
type switchCheck struct {
	name string
	mu   sync.Mutex
	err  error
}

func (c *switchCheck) Name() string { return c.name }

func (c *switchCheck) Check(context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *switchCheck) set(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.err = err
}

// TestReadyzLogsChangesNotProbes: a balancer probes every 200ms, and a
// draining replica fails every probe. The failure is logged when it
// begins and when its reason changes, the recovery once; every probe is
// still answered 503 while it fails.
func TestReadyzLogsChangesNotProbes(t *testing.T) {
	gin.SetMode(gin.TestMode)
	var logs bytes.Buffer
	var logMu sync.Mutex
	logger := slog.New(slog.NewTextHandler(lockedWriter{&logs, &logMu}, nil))
	drain := &switchCheck{name: "shutdown"}
	other := &switchCheck{name: "redis"}
	h := New(&chain.Kit{Log: logger}, Options{Checks: []Checker{drain, other}})
	r := gin.New()
	r.GET("/readyz", h.Readyz)
	probe := func(want int) {
		t.Helper()
		w := httptest.NewRecorder()
		r.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/readyz", nil))
		if w.Code != want {
			t.Fatalf("readyz %d, want %d: %s", w.Code, want, w.Body)
		}
	}
	count := func(msg string) int {
		logMu.Lock()
		defer logMu.Unlock()
		return strings.Count(logs.String(), msg)
	}
	const failed, recovered = `msg="readiness check failed`, `msg="readiness check recovered"`

	for range 20 {
		probe(http.StatusOK)
	}
	drain.set(errors.New("stopping"))
	for range 50 {
		probe(http.StatusServiceUnavailable)
	}
	if n := count(failed); n != 1 {
		t.Errorf("50 probes of a draining gateway logged %d failures, want 1:\n%s", n, logs.String())
	}
	if n := count("check=shutdown"); n != 1 {
		t.Errorf("the shutdown check is named in %d log lines, want 1", n)
	}

	// Another check failing, then its reason changing: one line each.
	other.set(errors.New("dial tcp 127.0.0.1:6390: connect: connection refused"))
	for range 10 {
		probe(http.StatusServiceUnavailable)
	}
	other.set(errors.New("NOAUTH Authentication required"))
	for range 10 {
		probe(http.StatusServiceUnavailable)
	}
	if n := count(failed); n != 3 {
		t.Errorf("%d failures logged, want 3 (shutdown, redis, redis's new reason):\n%s", n, logs.String())
	}

	drain.set(nil)
	other.set(nil)
	for range 20 {
		probe(http.StatusOK)
	}
	if n := count(recovered); n != 2 {
		t.Errorf("%d recoveries logged, want 2:\n%s", n, logs.String())
	}
	// Failing again after a recovery is a new failure.
	drain.set(errors.New("stopping"))
	probe(http.StatusServiceUnavailable)
	probe(http.StatusServiceUnavailable)
	if n := count(failed); n != 4 {
		t.Errorf("%d failures logged, want 4:\n%s", n, logs.String())
	}
}

type lockedWriter struct {
	b  *bytes.Buffer
	mu *sync.Mutex
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

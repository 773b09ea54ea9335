package chain

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/adapters/upstream"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/ratelimit"
	"github.com/ura-gateway/ura/gateway/sign"
)

// TestProblemMapsSentinels: each dependency's sentinel becomes its fixed
// answer, whose detail never carries the cause; anything unknown is 500.
func TestProblemMapsSentinels(t *testing.T) {
	secret := "vault at 10.0.0.7 said: permission denied"
	cases := []struct {
		err    error
		status int
		typ    string
	}{
		{fmt.Errorf("%w: %s", sign.ErrUnavailable, secret), 503, problem.TypeUnavailable},
		{fmt.Errorf("%w: %s", audit.ErrUnavailable, secret), 503, problem.TypeUnavailable},
		{fmt.Errorf("%w: %s", upstream.ErrUnavailable, secret), 503, problem.TypeUnavailable},
		{fmt.Errorf("%w: %s", ratelimit.ErrUnavailable, secret), 503, problem.TypeUnavailable},
		{&ratelimit.RefusedError{Class: ratelimit.ClassPush, Cost: 1, Result: ratelimit.Result{Limit: 10, Burst: 10, Window: time.Minute, RetryAfter: 1500 * time.Millisecond}}, 429, problem.TypeRateLimited},
		{errors.New(secret), 500, problem.TypeInternal},
		{problem.New(404, problem.TypeNotFound, "no such record"), 404, problem.TypeNotFound},
	}
	for _, tc := range cases {
		p := Problem(tc.err)
		if p.Status != tc.status || p.Type != tc.typ {
			t.Errorf("%v → %d %s, want %d %s", tc.err, p.Status, p.Type, tc.status, tc.typ)
		}
		if strings.Contains(p.Detail, "10.0.0.7") {
			t.Errorf("detail leaks the cause: %q", p.Detail)
		}
	}
	if p := Problem(&ratelimit.RefusedError{Class: ratelimit.ClassPush, Cost: 50, Result: ratelimit.Result{Burst: 20}}); p.Extra["max_batch"] != 20 || p.Extra["retry_after"] != nil {
		t.Errorf("a cost over the burst: %v (waiting cannot help, so no retry_after)", p.Extra)
	}
}

func serve(t *testing.T, k *Kit, accept string, h Handler, before ...gin.HandlerFunc) *httptest.ResponseRecorder {
	t.Helper()
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.GET("/x", append(before, k.Wrap(h))...)
	w := httptest.NewRecorder()
	req := httptest.NewRequest(http.MethodGet, "/x", nil)
	req.Header.Set("Accept", accept)
	r.ServeHTTP(w, req)
	return w
}

// TestFailRendersOnce: problem+json by default, the route's HTML page where
// it asked for one, Retry-After from a refusal, and nothing of the cause.
func TestFailRendersOnce(t *testing.T) {
	k := &Kit{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	refused := func(*gin.Context) error {
		return &ratelimit.RefusedError{Class: ratelimit.ClassPull, Cost: 1, Result: ratelimit.Result{Limit: 5, Burst: 5, Window: time.Minute, RetryAfter: 2100 * time.Millisecond}}
	}
	w := serve(t, k, "application/json", refused)
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != 429 || w.Header().Get("Content-Type") != problem.ContentType ||
		w.Header().Get("Retry-After") != "3" || body["retry_after"] != float64(3) {
		t.Fatalf("refusal: %d %s %q %s", w.Code, w.Header().Get("Content-Type"), w.Header().Get("Retry-After"), w.Body)
	}
	page := func(c *gin.Context) {
		UseHTML(c, func(p *problem.Error, rid string) []byte { return []byte("<p>" + p.Detail + "</p>") })
	}
	w = serve(t, k, "text/html", func(*gin.Context) error { return errors.New("disk on fire") }, page)
	if w.Code != 500 || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/html") || strings.Contains(w.Body.String(), "fire") {
		t.Fatalf("HTML error: %d %s %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	w = serve(t, k, "application/json", func(c *gin.Context) error { c.String(200, "ok"); return nil })
	if w.Code != 200 || w.Body.String() != "ok" {
		t.Fatalf("a handler that answered: %d %s", w.Code, w.Body)
	}
}

// TestParamsNameEveryParameter: one error per bad parameter, each named
// by the parameter, sorted; none is nil.
func TestParamsNameEveryParameter(t *testing.T) {
	var p Params
	if p.Err() != nil {
		t.Fatal("no bad parameter is not an error")
	}
	p.Bad("limit", "must be a positive integer")
	p.Bad("kind", "must be one of …")
	e := problem.From(p.Err())
	if e.Status != 400 || len(e.Errors) != 2 || e.Errors[0].Pointer != "kind" || e.Errors[1].Pointer != "limit" {
		t.Fatalf("%+v", e)
	}
	if one := ParamError("cursor", "is not a cursor"); one.Errors[0].Pointer != "cursor" || one.Detail != "invalid parameter cursor" {
		t.Fatalf("%+v", one)
	}
}

package upstream

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func resp(status int, header http.Header, body string) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	return &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(strings.NewReader(body))}
}

func TestClassify(t *testing.T) {
	problemJSON := http.Header{"Content-Type": {"application/problem+json"}}
	cases := []struct {
		name    string
		resp    *http.Response
		want    fate
		failure string
		reason  string
	}{
		{"http 200", resp(200, nil, ""), delivered, "", ""},
		{"http 201", resp(201, nil, "{}"), delivered, "", ""},
		{"http 204", resp(204, nil, ""), delivered, "", ""},
		{"http 409 duplicate", resp(409, nil, ""), delivered, "", ""},
		{"http 408", resp(408, nil, ""), retry, "http_408", ""},
		{"http 429", resp(429, nil, ""), retry, "http_429", ""},
		{"http 500", resp(500, nil, ""), retry, "http_5xx", ""},
		{"http 503", resp(503, nil, ""), retry, "http_5xx", ""},
		{"http 400", resp(400, nil, ""), park, "", "400 Bad Request"},
		{"http 401", resp(401, nil, ""), park, "", "401 Unauthorized"},
		{"http 404", resp(404, nil, ""), park, "", "404 Not Found"},
		{"http 422 problem", resp(422, problemJSON, `{"type":"urn:x:bad","detail":"internal stuff"}`), park, "", "422 Unprocessable Entity (urn:x:bad)"},
		{"http 302 redirect", resp(302, http.Header{"Location": {"https://elsewhere"}}, ""), park, "", "302 Found"},
		{"http 200 body ignored", resp(200, nil, `{"results":[{"status":"denied"}]}`), delivered, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			a := classify(tc.resp)
			if a.verdict != tc.want {
				t.Fatalf("verdict %d, want %d (%+v)", a.verdict, tc.want, a)
			}
			if a.failure != tc.failure {
				t.Errorf("failure %q, want %q", a.failure, tc.failure)
			}
			if tc.reason != "" && a.reason != tc.reason {
				t.Errorf("reason %q, want %q", a.reason, tc.reason)
			}
			if strings.Contains(a.reason, "internal stuff") {
				t.Errorf("reason keeps the response body: %q", a.reason)
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	cases := []struct {
		in   string
		want time.Duration
	}{
		{"", 0}, {"0", 0}, {"7", 7 * time.Second}, {" 3 ", 3 * time.Second}, {"-1", 0}, {"soon", 0},
		{time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat), 0},
	}
	for _, tc := range cases {
		if got := retryAfter(tc.in); got != tc.want {
			t.Errorf("retryAfter(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
	future := time.Now().Add(time.Hour).UTC().Format(http.TimeFormat)
	if got := retryAfter(future); got <= 0 || got > time.Hour {
		t.Errorf("retryAfter(date in an hour) = %v", got)
	}
}

func TestBackoff(t *testing.T) {
	initial, maxWait := 100*time.Millisecond, 2*time.Second
	for attempts := 1; attempts <= 12; attempts++ {
		nominal := initial << (attempts - 1)
		if nominal > maxWait || nominal <= 0 {
			nominal = maxWait
		}
		for range 50 {
			d := backoff(initial, maxWait, attempts)
			if d < nominal/2 || d > nominal {
				t.Fatalf("attempt %d: backoff %v outside [%v, %v]", attempts, d, nominal/2, nominal)
			}
		}
	}
	if d := backoff(time.Second, time.Minute, 1000); d > time.Minute {
		t.Errorf("backoff after 1000 attempts = %v, above the cap", d)
	}
}

// FuzzClassify: whatever a destination answers, classify must not panic and
// must decide.
func FuzzClassify(f *testing.F) {
	f.Add(200, `{"results":[{"status":"denied","reasons":[{"code":"x"}]}]}`, "")
	f.Add(429, "", "120")
	f.Add(422, `{"type":"urn:x"}`, "")
	f.Fuzz(func(t *testing.T, status int, body, ra string) {
		if status < 100 || status > 999 {
			return
		}
		h := http.Header{"Retry-After": {ra}, "Content-Type": {"application/problem+json"}}
		a := classify(resp(status, h, body))
		if a.verdict != delivered && a.verdict != retry && a.verdict != park {
			t.Fatalf("no verdict: %+v", a)
		}
		if a.retryAfter < 0 {
			t.Fatalf("negative retry-after %v", a.retryAfter)
		}
	})
}

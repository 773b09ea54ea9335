package upstream

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// maxResponse is how much of a response is read: enough for a push result,
// never an unbounded read of whatever a destination sends back.
const maxResponse = 1 << 20

// classify turns a destination's answer into delivered, retry or park:
//
//	2xx, and 409 (it already has this idempotency key)  → delivered
//	408, 429, 5xx                                       → retry with backoff
//	any other status (4xx, 3xx)                         → park: sending the
//	    same request again cannot succeed, and dropping it would lose a record
//
// A peer gateway answers a push with one signed result per record inside a
// 2xx: the body is kept (bounded) for the receipt check, which decides.
func classify(resp *http.Response) attempt {
	s := resp.StatusCode
	a := attempt{status: s}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	switch {
	case s >= 200 && s < 300:
		a.verdict = delivered
		a.body = body
	case s == http.StatusConflict:
		a.verdict = delivered
	case s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || s >= 500:
		a.verdict = retry
		a.reason = statusReason(s, resp.Header, body)
		a.retryAfter = retryAfter(resp.Header.Get("Retry-After"))
		a.failure = "http_" + strconv.Itoa(s)
		if s >= 500 {
			a.failure = "http_5xx"
		}
	default:
		a.verdict = park
		a.reason = statusReason(s, resp.Header, body)
	}
	return a
}

// statusReason names the status and, for an RFC 9457 problem, its type: the
// type is a stable identifier, safe to keep; the rest of the body is not kept.
func statusReason(s int, h http.Header, body []byte) string {
	r := fmt.Sprintf("%d %s", s, http.StatusText(s))
	if strings.HasPrefix(h.Get("Content-Type"), "application/problem+json") {
		var p struct {
			Type string `json:"type"`
		}
		if json.Unmarshal(body, &p) == nil && p.Type != "" && len(p.Type) <= 200 {
			r += " (" + p.Type + ")"
		}
	}
	return r
}

// retryAfter parses Retry-After (seconds or an HTTP date); 0 if absent.
func retryAfter(v string) time.Duration {
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

package upstream

import (
	"bytes"
	"encoding/base64"
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
// A peer gateway answers a push with one result per record inside a 2xx; a
// record it denied or found invalid is parked like a refused request.
func classify(kind string, resp *http.Response) attempt {
	s := resp.StatusCode
	a := attempt{status: s}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
	switch {
	case s >= 200 && s < 300:
		a.verdict = delivered
		if kind == "peer" {
			if st, reason, ok := peerResult(body); ok && st != "accepted" && st != "unchanged" {
				a.verdict = park
				a.reason = "peer answered " + st
				if reason != "" {
					a.reason += ": " + reason
				}
			}
		}
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

// peerResult reads the first per-record result of a peer gateway's push
// response, plain JSON or inside a JWS (compact or JSON serialization; the
// signature is the peer's business, this only decides whether to retry).
func peerResult(body []byte) (status, reason string, ok bool) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return "", "", false
	}
	if body[0] != '{' && bytes.Count(body, []byte(".")) == 2 {
		parts := bytes.Split(body, []byte("."))
		p, err := base64.RawURLEncoding.DecodeString(string(parts[1]))
		if err != nil {
			return "", "", false
		}
		return peerResult(p)
	}
	var doc struct {
		Payload *string           `json:"payload"`
		Results []json.RawMessage `json:"results"`
	}
	if json.Unmarshal(body, &doc) != nil {
		return "", "", false
	}
	if len(doc.Results) == 0 && doc.Payload != nil {
		p, err := base64.RawURLEncoding.DecodeString(*doc.Payload)
		if err != nil {
			return "", "", false
		}
		return peerResult(p)
	}
	if len(doc.Results) == 0 {
		return "", "", false
	}
	var r map[string]any
	if json.Unmarshal(doc.Results[0], &r) != nil {
		return "", "", false
	}
	for _, k := range []string{"status", "result", "outcome"} {
		if s, isStr := r[k].(string); isStr && s != "" {
			status = s
			break
		}
	}
	if status == "" {
		return "", "", false
	}
	if rs, isList := r["reasons"].([]any); isList {
		var codes []string
		for _, x := range rs {
			if m, isObj := x.(map[string]any); isObj {
				if c, isStr := m["code"].(string); isStr && len(c) <= 100 {
					codes = append(codes, c)
				}
			}
		}
		reason = strings.Join(codes, ", ")
	}
	return status, reason, true
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

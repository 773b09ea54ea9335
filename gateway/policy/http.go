package policy

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/ura-gateway/ura/gateway/config"
)

// maxOPAAnswerBytes bounds one answer from the OPA server: a decision is a
// few hundred bytes, so anything near this is not a decision.
const maxOPAAnswerBytes = 1 << 20

// HTTP asks a separate OPA server, over its REST API, for every decision:
// the common sidecar design, which ura's embedded engine replaces. The same
// input document, input.registers included, is POSTed to
// /v1/data/ura/decision: the server holds no state of the gateway's. Every
// way the server cannot answer (unreachable, slow, an HTTP error, no
// result, a malformed result) is a deny, never an allow.
type HTTP struct {
	decisionURL string
	client      *http.Client
	timeout     time.Duration
	log         *slog.Logger
	metrics     *opaMetrics
	revision    string
}

var (
	_ Engine               = (*HTTP)(nil)
	_ prometheus.Collector = (*HTTP)(nil)
)

// HTTPOptions configure an HTTP engine.
type HTTPOptions struct {
	// URL is the decision document, e.g. http://127.0.0.1:8181/v1/data/ura/decision.
	URL string
	// Timeout bounds each decision's round trip; DefaultTimeout if zero.
	Timeout time.Duration
	// Client is used as given when set (tests); the default keeps a pool of
	// connections to the one server and never goes through a proxy.
	Client *http.Client
	Logger *slog.Logger
}

// NewHTTP checks that the OPA server answers and reads the revision of the policy it holds. A server that cannot be reached
// at start-up is an error: a gateway that would deny everything should not
// claim to be ready.
func NewHTTP(ctx context.Context, opts HTTPOptions) (*HTTP, error) {
	u, err := url.Parse(opts.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("policy http: url %q: want http(s)://host/v1/data/<path>", opts.URL)
	}
	i := strings.Index(u.Path, "/v1/data/")
	if i < 0 || len(u.Path) == i+len("/v1/data/") {
		return nil, fmt.Errorf("policy http: url %q: the path must name a document under /v1/data/", opts.URL)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	client := opts.Client
	if client == nil {
		client = &http.Client{Transport: &http.Transport{
			Proxy:               nil,
			DialContext:         (&net.Dialer{Timeout: 2 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
			MaxIdleConns:        256,
			MaxIdleConnsPerHost: 256,
			IdleConnTimeout:     90 * time.Second,
		}}
	}
	e := &HTTP{
		decisionURL: u.String(),
		client:      client,
		timeout:     opts.Timeout,
		log:         opts.Logger.With("component", "policy"),
		metrics:     newOPAMetrics(),
	}
	sctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	rev, err := e.fetchRevision(sctx, u.Path[:i])
	if err != nil {
		return nil, fmt.Errorf("policy http: %w", err)
	}
	e.revision = rev
	e.log.Info("policy decided by an OPA server", "url", e.decisionURL, "revision", rev)
	return e, nil
}

// Revision names the policy the OPA server held at start-up: "opa-http:"
// and a SHA-256 over its modules as the server reports them.
func (e *HTTP) Revision() string { return e.revision }

// Decide asks the OPA server about one record.
func (e *HTTP) Decide(ctx context.Context, in Input) Decision {
	d := Decision{ID: newDecisionID(), Revision: e.revision}
	start := time.Now()
	d, failed := e.decide(ctx, in, d)
	e.metrics.observe(e.log, in, d, failed, start)
	return d
}

// DecideChunk asks the OPA server about each record, one request per record:
// the external engine is the baseline the embedded one is measured against.
func (e *HTTP) DecideChunk(ctx context.Context, in []Input) []Decision {
	return DecideEach(ctx, e, in)
}

func (e *HTTP) decide(ctx context.Context, in Input, d Decision) (Decision, bool) {
	ctx, cancel := context.WithTimeout(ctx, e.timeout)
	defer cancel()
	doc, err := inputDocument(in)
	if err != nil {
		e.log.Error("policy input", "decision_id", d.ID, "error", err)
		return deny(d, ReasonError, "the question could not be put to the policy"), true
	}
	body, err := json.Marshal(map[string]any{"input": doc})
	if err != nil {
		e.log.Error("policy input", "decision_id", d.ID, "error", err)
		return deny(d, ReasonError, "the question could not be put to the policy"), true
	}
	var ans struct {
		Result     json.RawMessage `json:"result"`
		DecisionID string          `json:"decision_id"`
	}
	if err := e.call(ctx, http.MethodPost, e.decisionURL, "application/json", body, &ans); err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return deny(d, ReasonTimeout, fmt.Sprintf("the policy did not decide within %s", e.timeout)), true
		}
		e.log.Warn("policy server error", "decision_id", d.ID, "error", err)
		return deny(d, ReasonError, "the policy failed while deciding"), true
	}
	if ans.DecisionID != "" {
		// The server's own ID links its decision log to ours.
		d.ID = ans.DecisionID
	}
	if len(ans.Result) == 0 || string(ans.Result) == "null" {
		return deny(d, ReasonUndefined, "the policy gave no decision for this record"), true
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(ans.Result))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return deny(d, ReasonMalformed, "the policy's decision is not in the expected shape"), true
	}
	return decided(e.log, d, v)
}

// inputDocument is the same input the embedded engine builds as an AST
// value, as plain JSON.
func inputDocument(in Input) (map[string]any, error) {
	if in.Record == nil || in.Record.Doc == nil {
		return nil, errors.New("no record")
	}
	doc := map[string]any{
		"action":   string(in.Action),
		"record":   in.Record.Doc,
		"previous": nil,
	}
	if in.Previous != nil && in.Previous.Doc != nil {
		doc["previous"] = in.Previous.Doc
	}
	if in.Caller.ID != "" {
		roles := in.Caller.Roles
		if roles == nil {
			roles = []string{}
		}
		caller := map[string]any{
			"member":    in.Caller.ID,
			"nation":    in.Caller.Nation,
			"kind":      in.Caller.Kind,
			"clearance": in.Caller.Clearance,
			"roles":     roles,
		}
		if len(in.Caller.Categories) > 0 {
			caller["categories"] = in.Caller.Categories
		}
		doc["caller"] = caller
	}
	if in.Registers != nil {
		doc["registers"] = in.Registers.Doc()
	}
	if in.Release != nil {
		doc["release"] = in.Release.doc()
	}
	if now, ok := in.nowDoc(); ok {
		doc["now"] = now
	}
	return doc, nil
}

// fetchRevision hashes the modules the server holds, so the audit log names
// what decided even though no bundle hash comes back with a decision.
func (e *HTTP) fetchRevision(ctx context.Context, prefix string) (string, error) {
	u, _ := url.Parse(e.decisionURL)
	u.Path, u.RawQuery = prefix+"/v1/policies", ""
	var ans struct {
		Result []struct {
			ID  string `json:"id"`
			Raw string `json:"raw"`
		} `json:"result"`
	}
	if err := e.call(ctx, http.MethodGet, u.String(), "", nil, &ans); err != nil {
		return "", fmt.Errorf("list policies: %w", err)
	}
	if len(ans.Result) == 0 {
		return "", errors.New("the OPA server holds no policy")
	}
	sort.Slice(ans.Result, func(i, j int) bool { return ans.Result[i].ID < ans.Result[j].ID })
	h := sha256.New()
	for _, m := range ans.Result {
		d := sha256.Sum256([]byte(m.Raw))
		_, _ = fmt.Fprintf(h, "%s\x00%x\n", m.ID, d) // a hash.Hash never returns a write error
	}
	return "opa-http:" + hex.EncodeToString(h.Sum(nil)), nil
}

// call does one request and decodes a JSON answer into out (if not nil).
// Any status but 200 and 204 is an error.
func (e *HTTP) call(ctx context.Context, method, u, ctype string, body []byte, out any) error {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return err
	}
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := e.client.Do(req)
	if err != nil {
		return err
	}
	defer func() { _ = resp.Body.Close() }() // read only: nothing to lose on close
	raw, err := io.ReadAll(io.LimitReader(resp.Body, maxOPAAnswerBytes+1))
	if err != nil {
		return err
	}
	if len(raw) > maxOPAAnswerBytes {
		return fmt.Errorf("%s %s: answer larger than %d bytes", method, req.URL.Path, maxOPAAnswerBytes)
	}
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNoContent {
		// OPA's error body names a code; the input it may quote stays out
		// of the error.
		var oe struct {
			Code string `json:"code"`
		}
		_ = json.Unmarshal(raw, &oe)
		return fmt.Errorf("%s %s: HTTP %d %s", method, req.URL.Path, resp.StatusCode, oe.Code)
	}
	if out == nil || len(raw) == 0 {
		return nil
	}
	if err := json.Unmarshal(raw, out); err != nil {
		return fmt.Errorf("%s %s: %w", method, req.URL.Path, err)
	}
	return nil
}

// Describe implements prometheus.Collector.
func (e *HTTP) Describe(ch chan<- *prometheus.Desc) {
	for _, c := range e.metrics.collectors() {
		c.Describe(ch)
	}
}

// Collect implements prometheus.Collector.
func (e *HTTP) Collect(ch chan<- prometheus.Metric) {
	for _, c := range e.metrics.collectors() {
		c.Collect(ch)
	}
}

// HTTPFromConfig builds the engine for policy.mode http.
func HTTPFromConfig(ctx context.Context, pc config.Policy, logger *slog.Logger) (*HTTP, error) {
	return NewHTTP(ctx, HTTPOptions{URL: pc.HTTPURL, Timeout: pc.Timeout, Logger: logger})
}

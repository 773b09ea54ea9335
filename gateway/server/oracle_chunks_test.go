package server

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/ura-gateway/ura/gateway/api/apitest"
	"github.com/ura-gateway/ura/gateway/api/exchange"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/ratelimit"
)

// TestOracleChunksHiddenEqualsMissing: under the chunk profile a chunk's
// tree_size and where one tree ends are signed, and a stream is flushed
// once per chunk. A gateway holding 300 records a partner may see and,
// between them, 150 it may not, must cut its answers exactly as one that
// holds the 300 alone: the same records, leaf indexes and tree sizes, in a
// stream and in a page, under the same RateLimit, RateLimit-Policy,
// Retry-After and Content-Length fields. Were chunks cut per scan of the store, the first
// tree would hold the visible records among the first 256 stored (171),
// not 256.
func TestOracleChunksHiddenEqualsMissing(t *testing.T) {
	const visible = 300
	shapes := func(withHidden bool) (stream, page []string) {
		e, _ := oracleEnv(t)
		var docs []map[string]any
		for i := range visible {
			docs = append(docs, oracleLicence(t, 3000+2*i, false))
			if withHidden && i%2 == 0 {
				docs = append(docs, oracleLicence(t, 3001+2*i, true))
			}
		}
		for len(docs) > 0 {
			n := min(len(docs), 150)
			oraclePush(t, e, docs[:n]...)
			docs = docs[n:]
		}
		partner := e.as("IT/GOV/HIDDEN")
		s := partner.do(http.MethodGet, "/v1/records?kind=licence", "", exchange.NDJSON+`; profile="`+exchange.ProfileChunk+`"`, nil)
		if s.status != http.StatusOK {
			t.Fatalf("stream: %d %s", s.status, s.body)
		}
		// Neither answer is short enough for the server to set
		// Content-Length: their length is their bodies'.
		stream = append(countHeaders(t, s.header), fmt.Sprintf("body bytes %d", len(s.body)))
		sc := bufio.NewScanner(bytes.NewReader(s.body))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var line struct {
				ID       string `json:"id"`
				Records  *int   `json:"records"`
				Complete bool   `json:"complete"`
				Proof    *struct {
					LeafIndex int `json:"leaf_index"`
					TreeSize  int `json:"tree_size"`
				} `json:"proof"`
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatalf("stream line %q: %v", sc.Text(), err)
			}
			switch {
			case line.Records != nil:
				stream = append(stream, fmt.Sprintf("trailer %d %v", *line.Records, line.Complete))
			case line.Proof == nil:
				t.Fatalf("a stream line without its proof: %s", sc.Text())
			default:
				stream = append(stream, fmt.Sprintf("%s %d/%d", line.ID, line.Proof.LeafIndex, line.Proof.TreeSize))
			}
		}
		pg := partner.do(http.MethodGet, fmt.Sprintf("/v1/records?kind=licence&limit=%d", visible), "",
			`application/json; profile="`+exchange.ProfileChunk+`"`, nil)
		if pg.status != http.StatusOK {
			t.Fatalf("page: %d %s", pg.status, pg.body)
		}
		page = append(countHeaders(t, pg.header), fmt.Sprintf("body bytes %d", len(pg.body)))
		var p struct {
			Records []struct {
				ID    string `json:"id"`
				Proof struct {
					LeafIndex int `json:"leaf_index"`
					TreeSize  int `json:"tree_size"`
				} `json:"proof"`
			} `json:"records"`
			More bool `json:"more"`
		}
		if err := json.Unmarshal(pg.body, &p); err != nil {
			t.Fatalf("page: %v", err)
		}
		for _, r := range p.Records {
			page = append(page, fmt.Sprintf("%s %d/%d", r.ID, r.Proof.LeafIndex, r.Proof.TreeSize))
		}
		page = append(page, fmt.Sprintf("more %v", p.More))
		return stream, page
	}
	hiddenStream, hiddenPage := shapes(true)
	missingStream, missingPage := shapes(false)
	lines := missingStream[len(oracleCountHeaders)+1:]
	if len(lines) != visible+1 || !strings.HasSuffix(lines[0], " 0/256") ||
		!strings.HasSuffix(lines[visible-1], " 43/44") {
		t.Fatalf("the stream of %d visible records is not two trees of 256 and 44: %v … %v",
			visible, lines[0], lines[len(lines)-2:])
	}
	for what, pair := range map[string][2][]string{"stream": {hiddenStream, missingStream}, "page": {hiddenPage, missingPage}} {
		h, m := strings.Join(pair[0], "\n"), strings.Join(pair[1], "\n")
		if h != m {
			for i := range min(len(pair[0]), len(pair[1])) {
				if pair[0][i] != pair[1][i] {
					t.Errorf("%s: line %d is %q beside hidden records, %q without them", what, i, pair[0][i], pair[1][i])
					break
				}
			}
			t.Errorf("%s: %d lines beside hidden records, %d without them", what, len(pair[0]), len(pair[1]))
		}
	}
}

// oracleCountHeaders are the response fields that could carry a count of
// what was scanned or withheld: the quota left and its policy, when to
// retry, and the length of a body that is not streamed.
var oracleCountHeaders = []string{"RateLimit", "RateLimit-Policy", "Retry-After", "Content-Length", "Content-Type", "Cache-Control"}

// countHeaders lists h's oracleCountHeaders, one line each. RateLimit's
// t, the seconds until the quota is whole again, also falls as time passes
// between the charges of one answer (under the race detector, deciding a
// scan of 256 hidden records takes more than a second), and time is never
// compared; it is compared as the quota it stands for, in the policy's
// units of w/q seconds (90 here), which time changes only when a unit
// passes between two charges.
func countHeaders(t *testing.T, h http.Header) []string {
	t.Helper()
	out := make([]string, len(oracleCountHeaders))
	for i, name := range oracleCountHeaders {
		out[i] = fmt.Sprintf("header %s: %q", name, h.Values(name))
	}
	rl := rlHeaderShape.FindStringSubmatch(h.Get("RateLimit"))
	pol := rlPolicyShape.FindStringSubmatch(h.Get("RateLimit-Policy"))
	if rl == nil || pol == nil {
		t.Fatalf("RateLimit %q, RateLimit-Policy %q", h.Get("RateLimit"), h.Get("RateLimit-Policy"))
	}
	reset, _ := strconv.Atoi(rl[3])
	q, _ := strconv.Atoi(pol[1])
	w, _ := strconv.Atoi(pol[2])
	out[0] = fmt.Sprintf("header RateLimit: %q r=%s, t=%d units", rl[1], rl[2], (reset*q+w-1)/w)
	return out
}

var rlPolicyShape = regexp.MustCompile(`^"(?:push|pull)";q=(\d+);w=(\d+)$`)

// TestStreamResumesBetweenChunks: records released from a scan wait for
// their chunk; when the rate limit refuses the next scan, the stream sends
// what was paid for, ends with an error trailer, and its next_cursor
// resumes right behind it: every visible record once, in order, none lost
// between the two streams, under the embedded policy.
func TestStreamResumesBetweenChunks(t *testing.T) {
	lim := apitest.NewLimiter(map[ratelimit.Class]int{ratelimit.ClassPull: exchange.Chunk})
	e := startGateway(t, withEmbeddedPolicy(), withLimiter(lim))
	var want []string
	var all []map[string]any
	for i := range 300 {
		all = append(all, oracleLicence(t, 5000+2*i, false))
		want = append(want, fmt.Sprintf("AIM-LIC-2026-%06d", 5000+2*i))
		if i%2 == 0 {
			all = append(all, oracleLicence(t, 5001+2*i, true))
		}
	}
	for len(all) > 0 {
		n := min(len(all), 150)
		oraclePush(t, e, all[:n]...)
		all = all[n:]
	}
	read := func(path string) (ids []string, tr exchange.Trailer) {
		r := e.as("IT/GOV/MOD").do(http.MethodGet, path, "", exchange.NDJSON+`; profile="`+exchange.ProfileChunk+`"`, nil)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", path, r.status, r.body)
		}
		lines := strings.Split(strings.TrimSpace(string(r.body)), "\n")
		for _, l := range lines[:len(lines)-1] {
			var d exchange.Delivery
			if err := json.Unmarshal([]byte(l), &d); err != nil || d.Proof == nil {
				t.Fatalf("line %s: %v", l, err)
			}
			ids = append(ids, d.ID)
		}
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &tr); err != nil {
			t.Fatal(err)
		}
		return ids, tr
	}
	first, tr := read("/v1/records?kind=licence")
	if tr.Complete || tr.Error["type"] != problem.TypeRateLimited || tr.Records != len(first) || len(first) == 0 || len(first) >= exchange.Chunk {
		t.Fatalf("the refused stream sent %d records, trailer %+v", len(first), tr)
	}
	lim.SetBudget(nil)
	rest, tr2 := read("/v1/records?kind=licence&cursor=" + tr.NextCursor)
	if !tr2.Complete {
		t.Fatalf("resumed stream: %+v", tr2)
	}
	if got := strings.Join(append(first, rest...), ","); got != strings.Join(want, ",") {
		t.Errorf("the two streams sent %d+%d records, want the %d visible ones once each, in order", len(first), len(rest), len(want))
	}
}

// TestOracleCategoryHiddenEqualsMissing: a licence releasable to Italy
// whose label carries a restrictive category is withheld from a partner
// the registry grants none of it (category_not_held): GET answers as for
// an id nothing has, with the same audit work; a partner granted the
// category's value receives it.
func TestOracleCategoryHiddenEqualsMissing(t *testing.T) {
	e, _ := oracleEnv(t, withConfig(func(cfg *config.Config) {
		cfg.Members = append(cfg.Members, config.Member{ID: "IT/GOV/CLEARED", Name: "Partner granted a category",
			Nation: "ITA", Kind: "partner", Clearance: "CONFIDENTIAL", Categories: map[string][]string{"Special Access": {"ALTAY"}}})
	}))
	restricted := oracleLicence(t, 700, false, "label.categories", []any{
		map[string]any{"type": "restrictive", "name": "Special Access", "values": []any{"ALTAY"}}})
	oraclePush(t, e, restricted)
	const id, missingID = "AIM-LIC-2026-000700", "AIM-LIC-2026-000709"
	n := len(e.audit.All())
	hidden := e.as("IT/GOV/HIDDEN").get("/v1/records/" + id)
	hiddenWork := oracleWork(e, n)
	var reasons []string
	for _, ev := range e.audit.All()[n:] {
		for _, r := range ev.Reasons {
			reasons = append(reasons, r.Code)
		}
	}
	n = len(e.audit.All())
	missing := e.as("IT/GOV/MISSING").get("/v1/records/" + missingID)
	missingWork := oracleWork(e, n)
	oracleSame(t, "get", hidden, missing, id, missingID, "Special Access", "ALTAY")
	if hidden.status != http.StatusNotFound || strings.Join(hiddenWork, ",") != strings.Join(missingWork, ",") {
		t.Errorf("hidden: %d; audit work %v, for the missing id %v", hidden.status, hiddenWork, missingWork)
	}
	if !strings.Contains(strings.Join(reasons, ","), "category_not_held") {
		t.Errorf("the withheld get was audited with %v, want category_not_held", reasons)
	}
	if r := e.as("IT/GOV/CLEARED").get("/v1/records/" + id); r.status != http.StatusOK {
		t.Errorf("a partner granted the category: %d %s", r.status, r.body)
	}
	if p := exPage(t, e.as("IT/GOV/HIDDEN").get("/v1/records?kind=licence&limit=10")); len(p.Records) != 0 {
		t.Errorf("a page gave the partner without the category %v", oracleIDs(p))
	}
}

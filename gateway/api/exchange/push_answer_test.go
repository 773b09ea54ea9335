package exchange

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ura-gateway/ura/gateway/api/apitest"
	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// answerStrings are what a result's strings may hold: every escape
// json.Marshal makes (HTML's, control characters, U+2028/U+2029, bytes
// that are not UTF-8) and none.
var answerStrings = []string{"", "", "a", "AL/GOV/AIM", "LIC-2026-0001", "accepted", "denied",
	"sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
	"<script>&amp;</script>", "quote\" back\\slash", "\b\f\n\r\t\x00\x1f\x7f", "é😀 ü",
	"\u2028\u2029", "bad \xff byte", "\xed\xa0\x80", "/holder/name", "must be one of [\"a\",\"b\"]"}

func randString(r *rand.Rand) string {
	s := answerStrings[r.IntN(len(answerStrings))]
	if r.IntN(4) == 0 {
		s += answerStrings[r.IntN(len(answerStrings))]
	}
	return s
}

func randInt(r *rand.Rand) int {
	switch r.IntN(4) {
	case 0:
		return 0
	case 1:
		return -r.IntN(1000)
	case 2:
		return r.IntN(10)
	}
	return r.Int()
}

// randResult is a result with any of its fields set or left out.
func randResult(r *rand.Rand, i int) Result {
	res := Result{Index: i, ID: randString(r), Version: randInt(r), Status: randString(r),
		DecisionID: randString(r), Digest: randString(r), AuditSeq: int64(randInt(r))}
	switch r.IntN(4) {
	case 0:
		res.Reasons = []verdict.Reason{}
	case 1:
		for range 1 + r.IntN(3) {
			res.Reasons = append(res.Reasons, verdict.Reason{Code: randString(r), Message: randString(r)})
		}
	}
	switch r.IntN(4) {
	case 0:
		res.Errors = []problem.FieldError{}
	case 1:
		for range 1 + r.IntN(3) {
			e := problem.FieldError{Pointer: randString(r), Detail: randString(r)}
			if r.IntN(2) == 0 {
				e.Record = &res.Index
			}
			res.Errors = append(res.Errors, e)
		}
	}
	return res
}

// TestSignedResultPayloads: the signed payload of a result is, byte for
// byte, what json.Marshal wrote of signedResult, whatever the result holds,
// and never the result's own proof fields.
func TestSignedResultPayloads(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	results := make([]Result, 5000)
	for i := range results {
		results[i] = randResult(r, i)
		if r.IntN(3) == 0 { // set on the result, shadowed in its payload
			results[i].JWS, results[i].Payload = "a.b.c", "cGF5bG9hZA"
			results[i].Proof = &sign.Proof{TreeSize: 1, Root: "x.y.z"}
		}
	}
	for _, who := range [][2]string{{"AL/GOV/AIM", "https://ura.al.example"}, {"<&>\u2028", "\xff\"iss"}, {"", ""}} {
		iat := int64(randInt(r))
		got := signedPayloads(results, who[0], who[1], iat)
		for i := range results {
			want, err := json.Marshal(signedResult{Result: results[i], Recipient: who[0], Issuer: who[1], IssuedAt: iat})
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got[i], want) {
				t.Fatalf("payload %d:\n got %s\nwant %s", i, got[i], want)
			}
			if cap(got[i]) != len(got[i]) {
				t.Fatalf("payload %d has room after it (cap %d, len %d): an append would write into the next", i, cap(got[i]), len(got[i]))
			}
		}
	}
}

// TestResultPayloadsBase64: each result's Payload is its payload as
// base64url without padding, though all were encoded into one string.
func TestResultPayloadsBase64(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	results := make([]Result, 300)
	for i := range results {
		results[i] = randResult(r, i)
	}
	payloads := signedPayloads(results, "AL/GOV/AIM", "iss", 1)
	payloads = append(payloads, []byte{}, []byte("x"), []byte("xy"))
	results = append(results, Result{}, Result{}, Result{})
	setPayloads(results, payloads)
	for i, p := range payloads {
		if want := base64.RawURLEncoding.EncodeToString(p); results[i].Payload != want {
			t.Fatalf("payload %d: got %q, want %q", i, results[i].Payload, want)
		}
	}
}

// answerResults are results as a push answers them under proof: one JWS
// each (jws), or each payload with its proof under its chunk's root
// (chunk), chunks of Chunk.
func answerResults(r *rand.Rand, n int, proof string) []Result {
	results := make([]Result, n)
	for i := range results {
		results[i] = randResult(r, i)
	}
	payloads := signedPayloads(results, "AL/GOV/AIM", "iss", 1)
	if proof == config.ProofJWS {
		for i := range results {
			results[i].JWS = "eyJhbGciOiJFZERTQSJ9.eyJ" + strconv.Itoa(i) + ".c2ln"
		}
		return results
	}
	setPayloads(results, payloads)
	for i := range results {
		chunk := i / Chunk
		size := min(Chunk, n-chunk*Chunk)
		p := &sign.Proof{LeafIndex: i % Chunk, TreeSize: size, Root: "eyJ0eXAiOiJ1cmEtY2h1bmsrandzIn0.cm9vdA" + strconv.Itoa(chunk) + ".c2ln"}
		switch r.IntN(8) {
		case 0: // a tree of one
			p.InclusionPath = []string{}
		case 1: // as a client may have decoded none
		default:
			for range 1 + r.IntN(7) {
				p.InclusionPath = append(p.InclusionPath, base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(r.Int()))))
			}
		}
		if r.IntN(50) == 0 { // no JWS writes these; the encoding must still be encoding/json's
			p.Root, p.InclusionPath = randString(r), append(p.InclusionPath, randString(r))
		}
		results[i].Proof = p
	}
	return results
}

// TestAnswerIsJSONMarshal: a push's answer is, byte for byte, what
// encoding/json wrote of gin.H{"results": results}, under both profiles.
func TestAnswerIsJSONMarshal(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 6))
	for _, proof := range []string{config.ProofChunk, config.ProofJWS} {
		for _, n := range []int{0, 1, 2, 7, 100, Chunk + 1, 3*Chunk + 5, 1000} {
			results := answerResults(r, n, proof)
			want, err := json.Marshal(gin.H{"results": results})
			if err != nil {
				t.Fatal(err)
			}
			if got := appendAnswer(nil, results); !bytes.Equal(got, want) {
				t.Fatalf("%s, %d results:\n got %s\nwant %s", proof, n, got, want)
			}
		}
	}
	if got := appendAnswer(nil, nil); string(got) != `{"results":null}` {
		t.Fatalf("no results: %s", got)
	}
}

// TestAnswerOnTheWire: a push's answer and its headers, as an HTTP client
// receives them, are what ok(c, gin.H{"results": results}) sent: no
// Content-Length where there was none, the same framing, the same bytes.
func TestAnswerOnTheWire(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	results := map[string][]Result{}
	r := rand.New(rand.NewPCG(7, 8))
	for _, n := range []int{1, 100} {
		for _, proof := range []string{config.ProofChunk, config.ProofJWS} {
			results[proof+strconv.Itoa(n)] = answerResults(r, n, proof)
		}
	}
	e := gin.New()
	e.GET("/old/:k", func(c *gin.Context) {
		c.Header("Content-Type", contentType("application/json; charset=utf-8", config.ProofChunk))
		ok(c, gin.H{"results": results[c.Param("k")]})
	})
	e.GET("/new/:k", func(c *gin.Context) {
		c.Header("Content-Type", contentType("application/json; charset=utf-8", config.ProofChunk))
		answer(c, results[c.Param("k")])
	})
	srv := httptest.NewServer(e)
	defer srv.Close()
	get := func(path string) (*http.Response, []byte) {
		resp, err := srv.Client().Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		resp.Header.Del("Date")
		return resp, body
	}
	for k := range results {
		old, oldBody := get("/old/" + k)
		neu, newBody := get("/new/" + k)
		if !bytes.Equal(oldBody, newBody) {
			t.Fatalf("%s: bodies differ:\n got %s\nwant %s", k, newBody, oldBody)
		}
		if mustJSON(t, neu.Header) != mustJSON(t, old.Header) || neu.StatusCode != old.StatusCode ||
			neu.ContentLength != old.ContentLength || mustJSON(t, neu.TransferEncoding) != mustJSON(t, old.TransferEncoding) {
			t.Fatalf("%s: got %d %v %d %v, want %d %v %d %v", k, neu.StatusCode, neu.Header, neu.ContentLength, neu.TransferEncoding,
				old.StatusCode, old.Header, old.ContentLength, old.TransferEncoding)
		}
	}
}

// TestPushAnswerReencodes: through the push chain, with valid, invalid
// and denied records, the answer under either profile is what
// encoding/json writes of the results it holds, and each result's
// payload is what json.Marshal writes of its signedResult.
func TestPushAnswerReencodes(t *testing.T) {
	gin.SetMode(gin.ReleaseMode)
	for _, proof := range []string{config.ProofChunk, config.ProofJWS} {
		cfg := config.Default()
		cfg.Sign.Proof = proof
		h, err := New(&chain.Kit{Log: slog.New(slog.DiscardHandler)}, cfg, Deps{Store: apitest.NewStore(), Policy: &apitest.Policy{},
			Signer: &apitest.Signer{}, Audit: &apitest.Audit{Discard: true}}, prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		body := []byte{'['}
		for i := range 2*Chunk + 3 {
			body = benchLicence(body, "AIM-LIC-ANSWER-"+strconv.Itoa(i))
			body = append(body, ',')
		}
		body = append(body, `{"kind":"licence","id":"<&>\u2028"},{"kind":"nothing"},{"id":"x\u0001"}]`...)
		w := httptest.NewRecorder()
		c, _ := gin.CreateTestContext(w)
		req := httptest.NewRequest(http.MethodPost, "/v1/records", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		member := identity.Member{ID: "AL/GOV/AIM", Nation: "ALB", Kind: "agency", Clearance: "SECRET"}
		c.Request = req.WithContext(identity.NewContext(req.Context(), member))
		if err := h.Push(c); err != nil || w.Code != http.StatusOK {
			t.Fatal(err, w.Code, w.Body.String())
		}
		var got pushAnswer
		if err := json.Unmarshal(w.Body.Bytes(), &got); err != nil {
			t.Fatal(err)
		}
		if n := len(got.Results); n != 2*Chunk+6 {
			t.Fatalf("%s: %d results", proof, n)
		}
		statuses := map[string]int{}
		for _, r := range got.Results {
			statuses[r.Status]++
		}
		if statuses[StatusInvalid] == 0 || statuses[StatusAccepted] == 0 {
			t.Fatalf("%s: statuses %v, want accepted and invalid", proof, statuses)
		}
		want, err := json.Marshal(gin.H{"results": got.Results})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(w.Body.Bytes(), want) {
			t.Fatalf("%s: the answer is not encoding/json's:\n got %s\nwant %s", proof, w.Body.Bytes(), want)
		}
		for _, r := range got.Results {
			payload := signedPayload(t, r, proof)
			var sr signedResult
			if err := json.Unmarshal(payload, &sr); err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal(sr)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(payload, want) {
				t.Fatalf("%s: payload of %d:\n got %s\nwant %s", proof, r.Index, payload, want)
			}
		}
	}
}

// signedPayload is what was signed of r: its chunk leaf, or its JWS's
// payload.
func signedPayload(t *testing.T, r Result, proof string) []byte {
	t.Helper()
	enc := r.Payload
	if proof == config.ProofJWS {
		parts := bytes.Split([]byte(r.JWS), []byte("."))
		if len(parts) != 3 {
			t.Fatalf("result %d: JWS %q", r.Index, r.JWS)
		}
		enc = string(parts[1])
	}
	p, err := base64.RawURLEncoding.DecodeString(enc)
	if err != nil {
		t.Fatalf("result %d: %v", r.Index, err)
	}
	return p
}

// BenchmarkPushAnswer100 is what a push of 100 accepted licences spends
// on its result payloads, their base64 and its answer under the chunk
// profile (signing aside), written by encoding/json as before
// (encoding-json) and by hand (appended), side by side.
func BenchmarkPushAnswer100(b *testing.B) {
	r := rand.New(rand.NewPCG(11, 12))
	base := answerResults(r, 100, config.ProofChunk)
	for i := range base {
		base[i].Reasons, base[i].Errors, base[i].JWS, base[i].Payload = nil, nil, "", ""
		base[i].ID, base[i].Version, base[i].Status = "AIM-LIC-123456789-12-"+strconv.Itoa(i), 1, StatusAccepted
		base[i].DecisionID, base[i].AuditSeq = "0123456789abcdef0123456789abcdef", int64(1000+i)
		base[i].Digest = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	}
	proofs := make([]*sign.Proof, len(base))
	for i := range base {
		proofs[i], base[i].Proof = base[i].Proof, nil
	}
	results := make([]Result, len(base))
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			payloads := make([][]byte, len(base))
			for i := range base {
				p, err := json.Marshal(signedResult{Result: base[i], Recipient: "AL/GOV/AIM", Issuer: "ura-al", IssuedAt: 1765000000})
				if err != nil {
					b.Fatal(err)
				}
				payloads[i] = p
			}
			copy(results, base)
			for i := range results {
				results[i].Payload = base64.RawURLEncoding.EncodeToString(payloads[i])
				results[i].Proof = proofs[i]
			}
			if _, err := json.Marshal(gin.H{"results": results}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("appended", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			copy(results, base)
			payloads := signedPayloads(results, "AL/GOV/AIM", "ura-al", 1765000000)
			setPayloads(results, payloads)
			for i := range results {
				results[i].Proof = proofs[i]
			}
			_ = appendAnswer(make([]byte, 0, answerSize(results)), results)
		}
	})
}

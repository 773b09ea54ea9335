package exchange

import (
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"

	"github.com/gin-gonic/gin"

	"github.com/ura-gateway/ura/gateway/jsonstr"
	"github.com/ura-gateway/ura/gateway/sign"
)

// A push's signed result payloads and its answer are written by hand, in
// the fixed layout of Result and signedResult, byte for byte what
// json.Marshal wrote of them (push_answer_test.go holds them to it): the
// payloads are what is signed, the answer what a pusher keeps, and neither
// may change with how they are written (gateway/ARCHITECTURE.md, "Push
// answers").

// appendResultFields appends the members Result and signedResult share,
// from "index" to "audit_seq", in their declared order, without braces.
func appendResultFields(b []byte, r *Result) []byte {
	b = append(b, `"index":`...)
	b = strconv.AppendInt(b, int64(r.Index), 10)
	if r.ID != "" {
		b = append(b, `,"id":`...)
		b = jsonstr.AppendHTML(b, r.ID)
	}
	if r.Version != 0 {
		b = append(b, `,"version":`...)
		b = strconv.AppendInt(b, int64(r.Version), 10)
	}
	b = append(b, `,"status":`...)
	b = jsonstr.AppendHTML(b, r.Status)
	if len(r.Reasons) > 0 {
		b = append(b, `,"reasons":[`...)
		for i, x := range r.Reasons {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, `{"code":`...)
			b = jsonstr.AppendHTML(b, x.Code)
			b = append(b, `,"message":`...)
			b = jsonstr.AppendHTML(b, x.Message)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if len(r.Errors) > 0 {
		b = append(b, `,"errors":[`...)
		for i, x := range r.Errors {
			if i > 0 {
				b = append(b, ',')
			}
			b = append(b, '{')
			if x.Record != nil {
				b = append(b, `"record":`...)
				b = strconv.AppendInt(b, int64(*x.Record), 10)
				b = append(b, ',')
			}
			b = append(b, `"pointer":`...)
			b = jsonstr.AppendHTML(b, x.Pointer)
			b = append(b, `,"detail":`...)
			b = jsonstr.AppendHTML(b, x.Detail)
			b = append(b, '}')
		}
		b = append(b, ']')
	}
	if r.DecisionID != "" {
		b = append(b, `,"decision_id":`...)
		b = jsonstr.AppendHTML(b, r.DecisionID)
	}
	if r.Digest != "" {
		b = append(b, `,"digest":`...)
		b = jsonstr.AppendHTML(b, r.Digest)
	}
	if r.AuditSeq != 0 {
		b = append(b, `,"audit_seq":`...)
		b = strconv.AppendInt(b, r.AuditSeq, 10)
	}
	return b
}

// appendSignedResult appends the signed payload of r: json.Marshal of
// signedResult{Result: *r, ...}, whose own JWS, result and proof are empty,
// so that r's never appear inside their signature.
func appendSignedResult(b []byte, r *Result, recipient, issuer string, iat int64) []byte {
	b = append(b, '{')
	b = appendResultFields(b, r)
	b = append(b, `,"recipient":`...)
	b = jsonstr.AppendHTML(b, recipient)
	b = append(b, `,"iss":`...)
	b = jsonstr.AppendHTML(b, issuer)
	b = append(b, `,"iat":`...)
	b = strconv.AppendInt(b, iat, 10)
	return append(b, '}')
}

// resultSize is about what appendResultFields writes of r, strings
// unescaped: enough that a buffer sized from it rarely grows.
func resultSize(r *Result) int {
	n := 96 + len(r.ID) + len(r.Status) + len(r.DecisionID) + len(r.Digest)
	for _, x := range r.Reasons {
		n += 24 + len(x.Code) + len(x.Message)
	}
	for _, x := range r.Errors {
		n += 48 + len(x.Pointer) + len(x.Detail)
	}
	return n
}

// signedPayloads are the signed payloads of results, in order, written into
// one buffer sized once; each is capped at its end, so nothing appended to
// one reaches the next.
func signedPayloads(results []Result, recipient, issuer string, iat int64) [][]byte {
	size := 0
	for i := range results {
		size += resultSize(&results[i]) + 48 + len(recipient) + len(issuer)
	}
	buf := make([]byte, 0, size)
	out := make([][]byte, len(results))
	for i := range results {
		start := len(buf)
		// When buf grows, the payloads before keep the old array, which
		// nothing writes again.
		buf = appendSignedResult(buf, &results[i], recipient, issuer, iat)
		out[i] = buf[start:len(buf):len(buf)]
	}
	return out
}

// setPayloads sets each result's Payload, base64url without padding,
// all encoded into one string (a strings.Builder grown once hands its
// bytes over without a copy).
func setPayloads(results []Result, payloads [][]byte) {
	size, longest := 0, 0
	for _, p := range payloads {
		n := base64.RawURLEncoding.EncodedLen(len(p))
		size, longest = size+n, max(longest, n)
	}
	var sb strings.Builder
	sb.Grow(size)
	scratch := make([]byte, longest)
	for _, p := range payloads {
		n := base64.RawURLEncoding.EncodedLen(len(p))
		base64.RawURLEncoding.Encode(scratch[:n], p)
		sb.Write(scratch[:n])
	}
	all, at := sb.String(), 0
	for i, p := range payloads {
		n := base64.RawURLEncoding.EncodedLen(len(p))
		results[i].Payload = all[at : at+n]
		at += n
	}
}

// appendProof appends p as json.Marshal writes a sign.Proof. root is
// p.Root as a JSON string, written once per chunk by the caller.
func appendProof(b []byte, p *sign.Proof, root []byte) []byte {
	b = append(appendProofHead(b, p), root...)
	return append(b, '}')
}

// appendProofHead appends p as json.Marshal writes a sign.Proof, up to
// its root's value: the caller writes the root (escaped once per chunk,
// or as it goes) and the closing brace.
func appendProofHead(b []byte, p *sign.Proof) []byte {
	b = append(b, `{"leaf_index":`...)
	b = strconv.AppendInt(b, int64(p.LeafIndex), 10)
	b = append(b, `,"tree_size":`...)
	b = strconv.AppendInt(b, int64(p.TreeSize), 10)
	b = append(b, `,"inclusion_path":`...)
	if p.InclusionPath == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, s := range p.InclusionPath {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonstr.AppendHTML(b, s)
		}
		b = append(b, ']')
	}
	return append(b, `,"root":`...)
}

// answerSize is about what appendAnswer writes of results.
func answerSize(results []Result) int {
	n := 16
	for i := range results {
		r := &results[i]
		n += resultSize(r) + 24 + len(r.JWS) + len(r.Payload)
		if p := r.Proof; p != nil {
			n += 64 + len(p.Root)
			for _, s := range p.InclusionPath {
				n += 3 + len(s)
			}
		}
	}
	return n
}

// appendAnswer appends a push's answer: json.Marshal of
// gin.H{"results": results}.
func appendAnswer(b []byte, results []Result) []byte {
	if results == nil {
		return append(b, `{"results":null}`...)
	}
	b = append(b, `{"results":[`...)
	// The results of a chunk share its root JWS: escaped once per chunk.
	var (
		root    []byte
		rootFor string
	)
	for i := range results {
		r := &results[i]
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, '{')
		b = appendResultFields(b, r)
		if r.JWS != "" {
			b = append(b, `,"jws":`...)
			b = jsonstr.AppendHTML(b, r.JWS)
		}
		if r.Payload != "" {
			b = append(b, `,"result":`...)
			b = jsonstr.AppendHTML(b, r.Payload)
		}
		if p := r.Proof; p != nil {
			if root == nil || p.Root != rootFor {
				root, rootFor = jsonstr.AppendHTML(root[:0], p.Root), p.Root
			}
			b = append(b, `,"proof":`...)
			b = appendProof(b, p, root)
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

// answer writes results as ok(c, gin.H{"results": results}) did, headers
// included: the body in one buffer sized once, and no Content-Length of
// its own (c.Data would add one that c.JSON never sent).
func answer(c *gin.Context, results []Result) {
	body := appendAnswer(make([]byte, 0, answerSize(results)), results)
	c.Header("Cache-Control", "no-store")
	if h := c.Writer.Header(); len(h["Content-Type"]) == 0 {
		h["Content-Type"] = []string{"application/json; charset=utf-8"}
	}
	c.Status(http.StatusOK)
	if _, err := c.Writer.Write(body); err != nil {
		// What c.JSON does with a failed write.
		_ = c.Error(err)
		c.Abort()
	}
}

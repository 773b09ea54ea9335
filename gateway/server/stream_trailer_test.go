package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/api/apitest"
	"github.com/ura-gateway/ura/gateway/api/exchange"
	"github.com/ura-gateway/ura/gateway/audit/audittest"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/ratelimit"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// savedPull is an NDJSON pull as a client saves it, split into its record
// lines and its trailer.
type savedPull struct {
	body    []byte
	lines   [][]byte // record lines, without their newlines
	plain   exchange.Trailer
	trailer sign.Trailer // the signed payload; zero when unsigned
}

// readPull splits r's body and, when the trailer is signed, verifies it
// against keys (and its typ).
func readPull(t *testing.T, r memberResponse, keys *sign.Verifier) savedPull {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	p := savedPull{body: r.body}
	body := bytes.TrimSuffix(r.body, []byte("\n"))
	cut := bytes.LastIndexByte(body, '\n') + 1 // the trailer's line starts here
	for _, l := range bytes.Split(body[:cut], []byte("\n")) {
		if len(l) > 0 {
			p.lines = append(p.lines, l)
		}
	}
	if err := json.Unmarshal(body[cut:], &p.plain); err != nil {
		t.Fatalf("last line is not a trailer: %q", body[cut:])
	}
	sum := sha256.Sum256(r.body[:cut])
	if p.plain.Digest != sign.StreamDigest(sum[:]) {
		t.Errorf("plain digest %s, want the SHA-256 of the %d bytes before the trailer", p.plain.Digest, cut)
	}
	if p.plain.JWS == "" {
		return p
	}
	payload, _, err := keys.Verify(p.plain.JWS)
	if err != nil {
		t.Fatalf("trailer JWS: %v", err)
	}
	if typ := sign.Typ(p.plain.JWS); typ != sign.TypTrailer {
		t.Errorf("trailer typ %q, want %s", typ, sign.TypTrailer)
	}
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p.trailer); err != nil {
		t.Fatalf("trailer payload %s: %v", payload, err)
	}
	s := p.trailer
	if s.NextCursor != p.plain.NextCursor || s.Complete != p.plain.Complete || s.Records != p.plain.Records ||
		s.Digest != p.plain.Digest || !reflect.DeepEqual(s.Error, p.plain.Error) {
		t.Errorf("plain trailer %+v differs from the signed one %+v", p.plain, s)
	}
	if s.Records != len(p.lines) {
		t.Errorf("trailer counts %d records, the stream has %d lines", s.Records, len(p.lines))
	}
	return p
}

// trailerKeys verifies against signer's keys, as a partner would with the
// gateway's JWKS; the JWKS is also written to a file for other verifiers.
func trailerKeys(t *testing.T, signer *audittest.Signer) (*sign.Verifier, string) {
	t.Helper()
	raw, err := json.Marshal(signer.KeySet())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(path, raw, 0o600); err != nil {
		t.Fatal(err)
	}
	src, err := sign.NewFileKeys(path)
	if err != nil {
		t.Fatal(err)
	}
	return sign.NewVerifier(src), path
}

// TestStreamTrailerSigned: every NDJSON pull ends with a trailer signed in
// one more signer call, counting its lines and digesting them exactly as
// sent, bound to the recipient, the request and the cursor it resumed
// from; the stock JOSE verifier accepts the saved stream and refuses it with
// two lines swapped.
func TestStreamTrailerSigned(t *testing.T) {
	signer := audittest.NewSigner(t, "ura-test:1")
	n := exchange.Chunk + 44
	e := startGateway(t, withStore(&apitest.GenStore{Store: *apitest.NewStore(), N: n}), withSigner(signer))
	keys, jwksPath := trailerKeys(t, signer)
	mod := e.as("AL/GOV/MOD")

	r := mod.do(http.MethodGet, "/v1/records?limit=200", "", exchange.NDJSON, nil)
	first := readPull(t, r, keys)
	tr := first.trailer
	before := time.Now().Unix()
	switch {
	case !tr.Complete || tr.Records != 200 || tr.Error != nil:
		t.Errorf("trailer %+v, want 200 records, complete", tr)
	case tr.Recipient != "AL/GOV/MOD" || tr.Issuer != e.cfg.Sign.Issuer || tr.IssuedAt > before || tr.IssuedAt < before-60:
		t.Errorf("trailer %+v: recipient, issuer or iat wrong", tr)
	case tr.Request != "/v1/records?limit=200" || tr.Cursor != "" || tr.RequestID != r.header.Get("X-Request-Id"):
		t.Errorf("trailer %+v not bound to the request (X-Request-Id %s)", tr, r.header.Get("X-Request-Id"))
	}
	trailerMatchesOpenAPI(t, first)
	if calls := signer.Calls.Load(); calls != 2 {
		t.Errorf("%d signer calls for one chunk, want 2: the chunk and the trailer", calls)
	}
	if valid, out := joseVerifyPull(t, jwksPath, first.body); !valid {
		t.Errorf("the JOSE verifier refuses the saved pull:\n%s", out)
	}
	swapped := bytes.Replace(first.body, append(first.lines[0], '\n'), nil, 1)
	swapped = bytes.Replace(swapped, append(first.lines[1], '\n'), append(append(first.lines[1], '\n'), append(first.lines[0], '\n')...), 1)
	if valid, out := joseVerifyPull(t, jwksPath, swapped); valid {
		t.Errorf("the JOSE verifier accepts the pull with two lines swapped:\n%s", out)
	}

	// The next stream resumes from the trailer's cursor, and its own
	// trailer names that cursor: saved streams chain.
	path := "/v1/records?cursor=" + url.QueryEscape(tr.NextCursor)
	rest := readPull(t, mod.do(http.MethodGet, path, "", exchange.NDJSON, nil), keys)
	if rest.trailer.Cursor != tr.NextCursor || rest.trailer.Request != path || rest.trailer.Records != n-200 || !rest.trailer.Complete {
		t.Errorf("resumed trailer %+v", rest.trailer)
	}

	// An empty answer (nothing after the last cursor) has a trailer too:
	// nothing counted, the digest of nothing.
	empty := readPull(t, mod.do(http.MethodGet, "/v1/records?cursor="+url.QueryEscape(rest.trailer.NextCursor), "", exchange.NDJSON, nil), keys)
	if empty.trailer.Records != 0 || !empty.trailer.Complete || empty.trailer.Digest != sign.StreamDigest(sha256.New().Sum(nil)) {
		t.Errorf("empty stream's trailer %+v", empty.trailer)
	}
}

// trailerMatchesOpenAPI checks a trailer line and its signed payload
// against components.schemas.StreamTrailer and TrailerPayload: every field
// documented, every required one present.
func trailerMatchesOpenAPI(t *testing.T, p savedPull) {
	t.Helper()
	schemas := openapiLoad(t)["components"].(map[string]any)["schemas"].(map[string]any)
	body := bytes.TrimSuffix(p.body, []byte("\n"))
	payload, _ := base64.RawURLEncoding.DecodeString(strings.Split(p.plain.JWS, ".")[1])
	for name, raw := range map[string][]byte{"StreamTrailer": body[bytes.LastIndexByte(body, '\n')+1:], "TrailerPayload": payload} {
		schema := schemas[name].(map[string]any)
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil {
			t.Fatal(err)
		}
		props := schema["properties"].(map[string]any)
		for k := range obj {
			if _, ok := props[k]; !ok {
				t.Errorf("%s: field %q is not in openapi.json", name, k)
			}
		}
		for _, k := range schema["required"].([]any) {
			if _, ok := obj[k.(string)]; !ok {
				t.Errorf("%s: required field %q missing from %s", name, k, raw)
			}
		}
	}
}

// TestStreamTrailerAfterError: a stream the gateway ends early still gets a
// signed trailer, complete false, its error signed with it.
func TestStreamTrailerAfterError(t *testing.T) {
	signer := audittest.NewSigner(t, "ura-test:1")
	lim := apitest.NewLimiter(map[ratelimit.Class]int{ratelimit.ClassPull: 2 * exchange.Chunk})
	e := startGateway(t, withStore(&apitest.GenStore{Store: *apitest.NewStore(), N: 1000}), withSigner(signer), withLimiter(lim))
	keys, jwksPath := trailerKeys(t, signer)
	p := readPull(t, e.as("AL/GOV/MOD").do(http.MethodGet, "/v1/records", "", exchange.NDJSON, nil), keys)
	tr := p.trailer
	if p.plain.JWS == "" || tr.Complete || tr.Records != 2*exchange.Chunk || tr.Error["type"] != problem.TypeRateLimited {
		t.Fatalf("trailer %+v (plain %+v), want signed, incomplete, rate-limited", tr, p.plain)
	}
	if valid, out := joseVerifyPull(t, jwksPath, p.body); !valid {
		t.Errorf("the JOSE verifier refuses an intact stream that ended early:\n%s", out)
	}
}

// trailerFailSigner signs everything but trailers, as a Vault that fails
// between a stream's last chunk and its end.
type trailerFailSigner struct{ *audittest.Signer }

func (s trailerFailSigner) SignTyped(ctx context.Context, typ string, payloads [][]byte) ([]string, error) {
	if typ == sign.TypTrailer {
		return nil, fmt.Errorf("%w: vault sealed", sign.ErrUnavailable)
	}
	return s.Signer.SignTyped(ctx, typ, payloads)
}

// TestStreamTrailerUnsigned: when the trailer cannot be signed, the stream
// still ends with one, unsigned and saying why, so a live client can
// resume; a verifier refuses it.
func TestStreamTrailerUnsigned(t *testing.T) {
	signer := audittest.NewSigner(t, "ura-test:1")
	e := startGateway(t, withStore(&apitest.GenStore{Store: *apitest.NewStore(), N: 10}), withSigner(trailerFailSigner{signer}))
	keys, jwksPath := trailerKeys(t, signer)
	p := readPull(t, e.as("AL/GOV/MOD").do(http.MethodGet, "/v1/records", "", exchange.NDJSON, nil), keys)
	if p.plain.JWS != "" || p.plain.Complete || p.plain.Records != 10 || p.plain.Error["type"] != problem.TypeUnavailable || p.plain.NextCursor == "" {
		t.Fatalf("trailer %+v, want unsigned, incomplete, unavailable, with a cursor", p.plain)
	}
	if valid, out := joseVerifyPull(t, jwksPath, p.body); valid {
		t.Errorf("the JOSE verifier accepts an unsigned trailer:\n%s", out)
	}
}

// joseVerifyPull runs deploy/jose-verify on a saved pull.
func joseVerifyPull(t *testing.T, jwksPath string, body []byte) (bool, string) {
	t.Helper()
	valid, out := testenv.JoseVerify(t, body, "--pull", jwksPath)
	return valid, string(out)
}

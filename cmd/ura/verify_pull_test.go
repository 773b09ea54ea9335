package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"

	"github.com/ura-gateway/ura/gateway/api/exchange"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// signTyped makes a JWS with typ in its protected header, as the gateway's
// signer does.
func (f *verifyFixture) signTyped(payload []byte, typ string) string {
	f.t.Helper()
	h := jws.NewHeaders()
	_ = h.Set(jws.KeyIDKey, "ura-signing:1")
	_ = h.Set(jws.TypeKey, typ)
	out, err := jws.Sign(payload, jws.WithKey(jwa.EdDSA, f.ed, jws.WithProtectedHeaders(h)))
	if err != nil {
		f.t.Fatal(err)
	}
	return string(out)
}

// deliveryFor is a delivery of record id v1 made for recipient.
func (f *verifyFixture) deliveryFor(id, recipient string) string {
	payload := bytes.Replace(delivery(id, 1), []byte(`"IT/GOV/MOD"`), []byte(`"`+recipient+`"`), 1)
	return line(id, 1, f.signTyped(payload, sign.TypDelivery))
}

// streamTrailer is the trailer line the gateway writes after lines (each
// without its newline): the plain fields and the JWS over sign.Trailer,
// counted and digested over exactly those lines. edit changes the signed
// payload before it is signed; plain changes the line after.
func (f *verifyFixture) streamTrailer(lines []string, complete bool, problemBody map[string]any,
	edit func(*sign.Trailer), plain func(*exchange.Trailer)) string {
	f.t.Helper()
	var before bytes.Buffer
	for _, l := range lines {
		before.WriteString(l + "\n")
	}
	sum := sha256.Sum256(before.Bytes())
	signed := sign.Trailer{Request: "/v1/records?kind=licence", RequestID: "3f2a9c1d0e7b6a54", NextCursor: "c2VhbGVkLWN1cnNvcg",
		Complete: complete, Records: len(lines), Digest: sign.StreamDigest(sum[:]), Error: problemBody,
		Recipient: "IT/GOV/MOD", Issuer: "ura", IssuedAt: 1767225600}
	if edit != nil {
		edit(&signed)
	}
	payload, err := json.Marshal(signed)
	if err != nil {
		f.t.Fatal(err)
	}
	tr := exchange.Trailer{NextCursor: "c2VhbGVkLWN1cnNvcg", Complete: complete, Records: len(lines),
		Digest: sign.StreamDigest(sum[:]), Error: problemBody, JWS: f.signTyped(payload, sign.TypTrailer)}
	if plain != nil {
		plain(&tr)
	}
	out, err := json.Marshal(tr)
	if err != nil {
		f.t.Fatal(err)
	}
	return string(out)
}

// ndjson joins lines as a saved stream: each line with its newline.
func ndjson(lines ...string) string {
	return strings.Join(lines, "\n") + "\n"
}

// pullCase is one saved pull and whether it must verify.
type pullCase struct {
	name  string
	file  string
	valid bool
	// want is a line ura verify must print.
	want string
}

// joseSays is what the JOSE verifier's error says where it is not what ura
// verify says after "trailer: INVALID: ".
var joseSays = map[string]string{
	"trailer payload edited":       "signature verification failed",
	"record for another member":    "line 2 was signed for NATO/ORG/LIAISON, the trailer for IT/GOV/MOD",
	"record line of another typ":   `typ \"ura-result+jws\" where a pull has \"ura-delivery+jws\"`,
	"cut off mid-line":             "no trailer",
	"trailer in place of a record": "a trailer before the end",
	"two pulls joined":             "a trailer before the end",
	"blank line added":             "not a JSON object", // a line of its own here
}

// pullCases are an intact pull, one that ended in error, and every way to
// tamper with a saved pull that a line-by-line check would miss: each must
// be refused as a whole by ura verify and by the stock JOSE verifier alike.
func pullCases(f *verifyFixture) []pullCase {
	a, b, c := f.deliveryFor("AIM-LIC-2026-000123", "IT/GOV/MOD"), f.deliveryFor("AIM-LIC-2026-000124", "IT/GOV/MOD"), f.deliveryFor("AIM-LIC-2026-000125", "IT/GOV/MOD")
	other := f.deliveryFor("AIM-LIC-2026-000999", "IT/GOV/MOD") // a valid line of another pull
	full := f.streamTrailer([]string{a, b, c}, true, nil, nil, nil)
	rateLimited := map[string]any{"type": "urn:ura:problem:rate-limited", "title": "Too Many Requests", "status": float64(429),
		"detail": "rate limit exceeded", "instance": "urn:ura:request:3f2a9c1d0e7b6a54", "retry_after": float64(7)}
	stopped := f.streamTrailer([]string{a, b}, false, rateLimited, nil, nil)
	unsigned, _ := json.Marshal(map[string]any{"next_cursor": "c2VhbGVkLWN1cnNvcg", "complete": true, "records": 3})
	trJWS := func(line string) string {
		var tr exchange.Trailer
		_ = json.Unmarshal([]byte(line), &tr)
		return tr.JWS
	}
	// The trailer's payload edited (one record fewer) under its old signature.
	parts := strings.Split(trJWS(full), ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	payload = bytes.Replace(payload, []byte(`"records":3`), []byte(`"records":2`), 1)
	forgedTrailer := strings.Replace(full, trJWS(full), parts[0]+"."+base64.RawURLEncoding.EncodeToString(payload)+"."+parts[2], 1)
	// A trailer payload signed as a delivery: a JWS of another typ.
	asDelivery := strings.Replace(full, trJWS(full), f.signTyped(payload, sign.TypDelivery), 1)
	return []pullCase{
		{"intact", ndjson(a, b, c, full), true, "trailer: valid (kid ura-signing:1): 3 records for IT/GOV/MOD, complete"},
		{"intact empty", ndjson(f.streamTrailer(nil, true, nil, nil, nil)), true, "trailer: valid (kid ura-signing:1): 0 records for IT/GOV/MOD, complete"},
		{"ended in error", ndjson(a, b, stopped), true,
			"trailer: valid (kid ura-signing:1): 2 records for IT/GOV/MOD, INCOMPLETE: the gateway ended the stream early (urn:ura:problem:rate-limited); resume from its next_cursor"},
		{"line removed", ndjson(a, c, full), false, "trailer: INVALID: the trailer counts 3 records, the file holds 2 lines before it"},
		{"line removed, count edited", ndjson(a, c, f.streamTrailer([]string{a, b, c}, true, nil, nil, func(tr *exchange.Trailer) { tr.Records = 2 })), false,
			"trailer: INVALID: the trailer counts 3 records, the file holds 2 lines before it"},
		{"line added", ndjson(a, other, b, c, full), false, "trailer: INVALID: the trailer counts 3 records, the file holds 4 lines before it"},
		{"line added after the trailer", ndjson(a, b, c, full, other), false, "trailer: INVALID: no trailer: the stream was cut off, or its trailer removed"},
		{"line replaced", ndjson(a, other, c, full), false, "trailer: INVALID: the lines do not match the trailer's digest"},
		{"lines reordered", ndjson(b, a, c, full), false, "trailer: INVALID: the lines do not match the trailer's digest"},
		{"line duplicated", ndjson(a, b, b, c, full), false, "trailer: INVALID: the trailer counts 3 records, the file holds 4 lines before it"},
		{"line duplicated in place of another", ndjson(a, b, b, full), false, "trailer: INVALID: the lines do not match the trailer's digest"},
		{"blank line added", ndjson(a, b, "", c, full), false, "trailer: INVALID: the lines do not match the trailer's digest"},
		{"line endings changed", strings.ReplaceAll(ndjson(a, b, c, full), "\n", "\r\n"), false, "trailer: INVALID: the lines do not match the trailer's digest"},
		{"trailer missing", ndjson(a, b, c), false, "trailer: INVALID: no trailer: the stream was cut off, or its trailer removed"},
		{"cut off mid-line", ndjson(a, b) + c[:40], false, "line 3: INVALID: not JSON"},
		{"trailer unsigned", ndjson(a, b, c, string(unsigned)), false, "trailer: INVALID: the trailer is not signed"},
		{"trailer count edited", ndjson(a, b, c, f.streamTrailer([]string{a, b, c}, true, nil, nil, func(tr *exchange.Trailer) { tr.Records = 4 })), false,
			"trailer: INVALID: the trailer's records differs from the signed one"},
		{"trailer cursor edited", ndjson(a, b, c, f.streamTrailer([]string{a, b, c}, true, nil, nil, func(tr *exchange.Trailer) { tr.NextCursor = "b3RoZXI" })), false,
			"trailer: INVALID: the trailer's next_cursor differs from the signed one"},
		{"error trailer passed off as complete", ndjson(a, b, f.streamTrailer([]string{a, b}, false, rateLimited, nil, func(tr *exchange.Trailer) { tr.Complete, tr.Error = true, nil })), false,
			"trailer: INVALID: the trailer's complete differs from the signed one"},
		{"trailer payload edited", ndjson(a, b, c, forgedTrailer), false, "trailer: INVALID: bad signature"},
		{"trailer of another stream", ndjson(a, b, c, f.streamTrailer([]string{a, other, c}, true, nil, nil, nil)), false,
			"trailer: INVALID: the lines do not match the trailer's digest"},
		{"trailer of another typ", ndjson(a, b, c, asDelivery), false, `trailer: INVALID: typ "ura-delivery+jws" where a pull has "ura-trailer+jws"`},
		{"trailer in place of a record", ndjson(a, b, full, full), false, "line 3: INVALID: a trailer before the end of the stream"},
		{"two pulls joined", ndjson(a, b, c, full, a, b, c, full), false, "line 4: INVALID: a trailer before the end of the stream"},
		{"record for another member", ndjson(a, f.deliveryFor("AIM-LIC-2026-000124", "NATO/ORG/LIAISON"), c,
			f.streamTrailer([]string{a, f.deliveryFor("AIM-LIC-2026-000124", "NATO/ORG/LIAISON"), c}, true, nil, nil, nil)), false,
			`trailer: INVALID: AIM-LIC-2026-000124 v1 was signed for "NATO/ORG/LIAISON", the trailer for "IT/GOV/MOD"`},
		{"record line of another typ", ndjson(a, line("AIM-LIC-2026-000124", 1, f.signTyped(delivery("AIM-LIC-2026-000124", 1), sign.TypResult)), c, full), false,
			`AIM-LIC-2026-000124 v1: INVALID: typ "ura-result+jws" where a pull has "ura-delivery+jws"`},
	}
}

// TestVerifyPullTrailer: ura verify checks a saved pull as a whole against
// its signed trailer.
func TestVerifyPullTrailer(t *testing.T) {
	f := newVerifyFixture(t)
	jwksPath := filepath.Join(f.dir, "jwks.json")
	for i, tc := range pullCases(f) {
		t.Run(tc.name, func(t *testing.T) {
			path := f.write("pull-"+string(rune('a'+i))+".ndjson", []byte(tc.file))
			out, _, err := verifyRun(t, "--jwks", jwksPath, path)
			wantVerdict(t, out, err, tc.valid, tc.want)
		})
	}
}

// TestJoseVerifyPullTrailer: the stock JOSE verifier (deploy/jose-verify,
// jose and node's SHA-256) refuses and accepts the same saved pulls as ura
// verify.
func TestJoseVerifyPullTrailer(t *testing.T) {
	f := newVerifyFixture(t)
	jwksPath := filepath.Join(f.dir, "jwks.json")
	for _, tc := range pullCases(f) {
		t.Run(tc.name, func(t *testing.T) {
			valid, out := josePull(t, jwksPath, []byte(tc.file))
			if valid != tc.valid {
				t.Fatalf("jose valid=%v, want %v:\n%s", valid, tc.valid, out)
			}
			why, ok := joseSays[tc.name]
			if !ok {
				why, _ = strings.CutPrefix(tc.want, "trailer: INVALID: ")
				why = strings.ReplaceAll(why, `"`, `\"`) // as JSON output quotes it
			}
			if !tc.valid && !strings.Contains(out, why) {
				t.Errorf("jose output lacks %q:\n%s", why, out)
			}
			// Whatever else it says, the last line is about the trailer.
			lines := strings.Split(strings.TrimSpace(out), "\n")
			var last struct {
				Trailer bool `json:"trailer"`
				Valid   bool `json:"valid"`
			}
			if err := json.Unmarshal([]byte(lines[len(lines)-1]), &last); err != nil || !last.Trailer {
				t.Fatalf("last line is not the trailer's: %s", out)
			}
		})
	}
}

// josePull runs deploy/jose-verify in pull mode on a saved pull.
func josePull(t *testing.T, jwksPath string, file []byte) (valid bool, out string) {
	t.Helper()
	valid, stdout := testenv.JoseVerify(t, file, "--pull", jwksPath)
	return valid, string(stdout)
}

package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ura-gateway/ura/gateway/api/exchange"
	"github.com/ura-gateway/ura/gateway/sign"
)

// pushResult is the signed payload of result i of a push, as the gateway
// signs it (exchange.signedResult).
func pushResult(i int, id, recipient string) []byte {
	return fmt.Appendf(nil, `{"index":%d,"id":%q,"version":1,"status":"accepted","decision_id":"d-%d","digest":"sha256:%064d","audit_seq":%d,"recipient":%q,"iss":"ura","iat":1767225600}`,
		i, id, i, i, 10+i, recipient)
}

// resultAnswer signs the results of ids as one push answer of the chunk
// profile for recipient: one root (typ ura-chunk+jws, typ_of_leaves
// leaves) over their payloads, each result with its plain fields, payload
// and proof.
func (f *verifyFixture) resultAnswer(leaves, recipient string, ids ...string) []exchange.Result {
	f.t.Helper()
	payloads := make([][]byte, len(ids))
	for i, id := range ids {
		payloads[i] = pushResult(i, id, recipient)
	}
	tree, err := sign.NewLeafTree(leaves, payloads)
	if err != nil {
		f.t.Fatal(err)
	}
	root, err := tree.Payload("IT/GOV/MOD", "ura", 1767225600)
	if err != nil {
		f.t.Fatal(err)
	}
	proofs, err := tree.Proofs(f.signTyped(root, sign.TypChunk))
	if err != nil {
		f.t.Fatal(err)
	}
	out := make([]exchange.Result, len(ids))
	for i := range ids {
		if err := json.Unmarshal(payloads[i], &out[i]); err != nil {
			f.t.Fatal(err)
		}
		out[i].Payload = base64.RawURLEncoding.EncodeToString(payloads[i])
		out[i].Proof = &proofs[i]
	}
	return out
}

// answer is a push answer of results.
func answer(results ...exchange.Result) string {
	b, _ := json.Marshal(map[string]any{"results": results})
	return string(b)
}

// editedResult is r with its proof copied, then changed by edit.
func editedResult(r exchange.Result, edit func(*exchange.Result)) exchange.Result {
	if r.Proof != nil {
		p := *r.Proof
		p.InclusionPath = append([]string{}, p.InclusionPath...)
		r.Proof = &p
	}
	edit(&r)
	return r
}

// pushCase is a saved push answer, whether it verifies, and what ura
// verify and the JOSE verifier say of it.
type pushCase struct {
	name  string
	file  string
	valid bool
	want  string // in ura verify's output
	jose  string // in the JOSE verifier's output
}

// pushCases are intact push answers of both profiles and every attack on a
// chunk-profile result: each refused by ura verify and the JOSE verifier.
func pushCases(f *verifyFixture) []pushCase {
	rs := f.resultAnswer(sign.LeavesResult, "IT/GOV/MOD", ids("AIM-LIC-2026", 7)...)
	other := f.resultAnswer(sign.LeavesResult, "IT/GOV/MOD", ids("AIM-LIC-2025", 7)...)
	// A pull's chunk of deliveries for the same member.
	deliveries := f.chunkLines(sign.TypChunk, ids("AIM-LIC-2026", 7)...)
	// Results made for another member under a root for this one.
	liaison := f.resultAnswer(sign.LeavesResult, "NATO/ORG/LIAISON", ids("AIM-LIC-2026", 7)...)
	with := func(i int, r exchange.Result) string {
		all := append([]exchange.Result{}, rs...)
		all[i] = r
		return answer(all...)
	}
	const i = 3
	r := rs[i]
	jwsAnswer := make([]exchange.Result, 3)
	for k := range jwsAnswer {
		id := fmt.Sprintf("AIM-LIC-2026-%06d", k)
		payload := pushResult(k, id, "IT/GOV/MOD")
		_ = json.Unmarshal(payload, &jwsAnswer[k])
		jwsAnswer[k].JWS = f.signTyped(payload, sign.TypResult)
	}
	changed := strings.Replace(string(must(base64.RawURLEncoding.DecodeString(r.Payload))), `"status":"accepted"`, `"status":"denied"`, 1)
	const notIn = "the delivery is not in the signed chunk"
	line4 := "AIM-LIC-2026-000003 v1: INVALID: "
	return []pushCase{
		{name: "intact chunk answer", file: answer(rs...), valid: true,
			want: "AIM-LIC-2026-000006 v1: valid (kid ura-signing:1): leaf 6 of a chunk of 7 results, accepted, for IT/GOV/MOD"},
		{name: "intact jws answer", file: answer(jwsAnswer...), valid: true,
			want: "AIM-LIC-2026-000002 v1: valid (kid ura-signing:1): accepted, for IT/GOV/MOD"},
		{name: "result payload changed", file: with(i, editedResult(r, func(x *exchange.Result) {
			x.Payload = base64.RawURLEncoding.EncodeToString([]byte(changed))
		})), want: line4 + notIn, jose: "inclusion path"},
		{name: "wrong leaf index", file: with(i, editedResult(r, func(x *exchange.Result) { x.Proof.LeafIndex = i + 1 })), want: line4 + notIn, jose: "inclusion path"},
		{name: "path swapped", file: with(i, editedResult(r, func(x *exchange.Result) {
			p := x.Proof.InclusionPath
			p[0], p[1] = p[1], p[0]
		})), want: line4 + notIn, jose: "inclusion path"},
		{name: "root of another push answer", file: with(i, editedResult(r, func(x *exchange.Result) { x.Proof.Root = other[0].Proof.Root })),
			want: line4 + notIn, jose: "inclusion path"},
		{name: "root of a delivery chunk", file: with(i, editedResult(r, func(x *exchange.Result) { x.Proof.Root = deliveries[0].Proof.Root })),
			want: line4 + notIn + `: the signed root's leaves are "ura-delivery", want "ura-result"`, jose: `leaves are \"ura-delivery\"`},
		{name: "a delivery line in a push answer", file: with(i, exchange.Result{Index: i, ID: deliveries[i].ID, Version: 1, Status: "accepted",
			Payload: deliveries[i].Payload, Proof: deliveries[i].Proof}),
			want: line4 + notIn + `: the signed root's leaves are "ura-delivery", want "ura-result"`, jose: `leaves are \"ura-delivery\"`},
		{name: "recipient mismatch", file: with(i, liaison[i]),
			want: line4 + notIn + `: the result was made for "NATO/ORG/LIAISON" by "ura", the chunk for "IT/GOV/MOD" by "ura"`,
			jose: "made for NATO/ORG/LIAISON"},
		{name: "plain status edited", file: with(i, editedResult(r, func(x *exchange.Result) { x.Status = "denied" })),
			want: line4 + "the result's status differs from the signed one", jose: "status differs"},
		{name: "jws of a delivery as a result", file: answer(exchange.Result{Index: 0, ID: "AIM-LIC-2026-000123", Version: 3, Status: "accepted",
			JWS: f.ed25519("AIM-LIC-2026-000123", 3)}),
			want: `AIM-LIC-2026-000123 v3: INVALID: typ "ura-delivery+jws" where a push answer has "ura-result+jws"`, jose: `where a push answer has`},
	}
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// wantVerdict fails unless ura verify's answer (out, err) accepts the file
// when valid and refuses it as invalid otherwise, its output naming want
// (anything, when want is empty).
func wantVerdict(t *testing.T, out string, err error, valid bool, want string) {
	t.Helper()
	switch {
	case valid && err != nil:
		t.Fatalf("refused: %v\n%s", err, out)
	case !valid && !errors.Is(err, errInvalid):
		t.Fatalf("err = %v, want it refused:\n%s", err, out)
	}
	if !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
}

// TestVerifyPushAnswer: ura verify checks a push answer of either profile,
// each result alone, and refuses every attack on a chunk-profile result.
func TestVerifyPushAnswer(t *testing.T) {
	f := newVerifyFixture(t)
	jwksPath := filepath.Join(f.dir, "jwks.json")
	for n, tc := range pushCases(f) {
		t.Run(tc.name, func(t *testing.T) {
			path := f.write(fmt.Sprintf("push-%d.json", n), []byte(tc.file))
			out, _, err := verifyRun(t, "--jwks", jwksPath, path)
			wantVerdict(t, out, err, tc.valid, tc.want)
		})
	}
}

// TestJoseVerifyPushAnswer: the JOSE verifier (jose.compactVerify and
// node's SHA-256) accepts and refuses the same push answers.
func TestJoseVerifyPushAnswer(t *testing.T) {
	f := newVerifyFixture(t)
	jwksPath := filepath.Join(f.dir, "jwks.json")
	for _, tc := range pushCases(f) {
		t.Run(tc.name, func(t *testing.T) {
			valid, out := joseRun(t, []byte(tc.file), "--push", jwksPath)
			if valid != tc.valid {
				t.Fatalf("jose valid=%v, want %v:\n%s", valid, tc.valid, out)
			}
			if !tc.valid && !strings.Contains(out, tc.jose) {
				t.Errorf("jose output lacks %q:\n%s", tc.jose, out)
			}
		})
	}
}

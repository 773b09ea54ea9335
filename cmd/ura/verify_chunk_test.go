package main

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ura-gateway/ura/gateway/api/exchange"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// chunkLines signs deliveries of ids as one chunk (typ, as the gateway's
// would be ura-chunk+jws) and returns their lines as a chunk-profile
// stream writes them.
func (f *verifyFixture) chunkLines(typ string, ids ...string) []exchange.Delivery {
	f.t.Helper()
	payloads := make([][]byte, len(ids))
	for i, id := range ids {
		payloads[i] = delivery(id, 1)
	}
	tree, err := sign.NewChunkTree(payloads)
	if err != nil {
		f.t.Fatal(err)
	}
	root, err := tree.Payload("IT/GOV/MOD", "ura", 1767225600)
	if err != nil {
		f.t.Fatal(err)
	}
	proofs, err := tree.Proofs(f.signTyped(root, typ))
	if err != nil {
		f.t.Fatal(err)
	}
	out := make([]exchange.Delivery, len(ids))
	for i, id := range ids {
		out[i] = exchange.Delivery{ID: id, Version: 1, Payload: base64.RawURLEncoding.EncodeToString(payloads[i]), Proof: &proofs[i]}
	}
	return out
}

func chunkLine(d exchange.Delivery) string {
	b, _ := json.Marshal(d)
	return string(b)
}

// edited is d with its proof copied, then changed by edit.
func edited(d exchange.Delivery, edit func(*exchange.Delivery)) string {
	p := *d.Proof
	p.InclusionPath = append([]string{}, p.InclusionPath...)
	d.Proof = &p
	edit(&d)
	return chunkLine(d)
}

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%06d", prefix, i)
	}
	return out
}

// chunkCase is a saved chunk-profile answer, whether it verifies, and what
// ura verify and the JOSE verifier say of it.
type chunkCase struct {
	name   string
	file   string
	record bool // verified as one record (ura verify --record; jose --record)
	page   bool // a JSON page (jose --page)
	valid  bool
	want   string // in ura verify's output
	jose   string // in the JOSE verifier's output
}

// chunkCases are an intact two-chunk stream, a page and a single record,
// and every attack on a line's proof: each refused by ura verify and the
// JOSE verifier alike, line by line, before the trailer is even read.
func chunkCases(f *verifyFixture) []chunkCase {
	first := f.chunkLines(sign.TypChunk, ids("AIM-LIC-2026", 7)...)
	second := f.chunkLines(sign.TypChunk, ids("AIM-EVT-2026", 3)...)
	// Another chunk of as many records, for the same member.
	other := f.chunkLines(sign.TypChunk, ids("AIM-LIC-2025", 7)...)
	var lines []string
	for _, d := range append(append([]exchange.Delivery{}, first...), second...) {
		lines = append(lines, chunkLine(d))
	}
	stream := func(replace int, with string) string {
		ls := append([]string{}, lines...)
		if replace >= 0 {
			ls[replace] = with
		}
		// The trailer is signed over the lines as they are now: only the
		// proof can refuse them.
		return ndjson(append(ls, f.streamTrailer(ls, true, nil, nil, nil))...)
	}
	const i = 3
	d := first[i]
	tampered := strings.Replace(string(delivery(d.ID, 1)), `"kind":"licence"`, `"kind":"denial"`, 1)
	wrongTyp := f.chunkLines(sign.TypDelivery, ids("AIM-LIC-2026", 7)...)
	const notIn = "the delivery is not in the signed chunk"
	line4 := "AIM-LIC-2026-000003 v1: INVALID: "
	page, _ := json.Marshal(map[string]any{"records": first, "next_cursor": "c", "more": false})
	return []chunkCase{
		{name: "intact stream", file: stream(-1, ""), valid: true, want: "trailer: valid (kid ura-signing:1): 10 records for IT/GOV/MOD, complete"},
		{name: "intact page", file: string(page), page: true, valid: true, want: "AIM-LIC-2026-000006 v1: valid (kid ura-signing:1): leaf 6 of a chunk of 7"},
		{name: "one record", file: chunkLine(d), record: true, valid: true, want: "AIM-LIC-2026-000003 v1: valid (kid ura-signing:1): leaf 3 of a chunk of 7"},
		{name: "tampered delivery", file: stream(i, edited(d, func(x *exchange.Delivery) {
			x.Payload = base64.RawURLEncoding.EncodeToString([]byte(tampered))
		})), want: line4 + notIn, jose: "inclusion path"},
		{name: "wrong leaf index", file: stream(i, edited(d, func(x *exchange.Delivery) { x.Proof.LeafIndex = i + 1 })), want: line4 + notIn, jose: "inclusion path"},
		{name: "leaf index outside the tree", file: stream(i, edited(d, func(x *exchange.Delivery) { x.Proof.LeafIndex = 7 })), want: line4 + notIn + ": leaf_index 7 outside a tree of 7", jose: "leaf_index 7 outside"},
		{name: "tree size edited", file: stream(i, edited(d, func(x *exchange.Delivery) { x.Proof.TreeSize = 8 })), want: "the line says tree_size 8, the signed root 7", jose: "tree_size 8"},
		{name: "path swapped", file: stream(i, edited(d, func(x *exchange.Delivery) {
			p := x.Proof.InclusionPath
			p[0], p[1] = p[1], p[0]
		})), want: line4 + notIn, jose: "inclusion path"},
		{name: "path shortened", file: stream(i, edited(d, func(x *exchange.Delivery) {
			x.Proof.InclusionPath = x.Proof.InclusionPath[:len(x.Proof.InclusionPath)-1]
		})), want: line4 + notIn, jose: "inclusion path"},
		{name: "path extended", file: stream(i, edited(d, func(x *exchange.Delivery) {
			x.Proof.InclusionPath = append(x.Proof.InclusionPath, x.Proof.InclusionPath[0])
		})), want: line4 + notIn, jose: "inclusion path"},
		{name: "root of another chunk", file: stream(i, edited(d, func(x *exchange.Delivery) { x.Proof.Root = other[0].Proof.Root })),
			want: line4 + notIn, jose: "inclusion path"},
		{name: "root with the wrong typ", file: stream(i, chunkLine(wrongTyp[i])), want: line4 + notIn + `: the root has typ "ura-delivery+jws", want "ura-chunk+jws"`,
			jose: `typ \"ura-delivery+jws\" where a chunk root has \"ura-chunk+jws\"`},
		{name: "id beside the proof edited", file: stream(i, edited(d, func(x *exchange.Delivery) { x.ID = "AIM-LIC-2026-999999" })),
			want: "AIM-LIC-2026-999999 v1: INVALID: the line says AIM-LIC-2026-999999 v1 but the delivered record is AIM-LIC-2026-000003 v1", jose: "the line says"},
		{name: "trailer missing", file: ndjson(lines...), want: "trailer: INVALID: no trailer", jose: "no trailer"},
		{name: "one record without --record", file: chunkLine(d) + "\n", want: "trailer: INVALID: no trailer", jose: "no trailer"},
	}
}

// TestVerifyChunkProfile: ura verify checks each chunk-profile line alone
// against its signed root, and a stream as a whole against its trailer.
func TestVerifyChunkProfile(t *testing.T) {
	f := newVerifyFixture(t)
	jwksPath := filepath.Join(f.dir, "jwks.json")
	for n, tc := range chunkCases(f) {
		t.Run(tc.name, func(t *testing.T) {
			path := f.write(fmt.Sprintf("chunk-%d.ndjson", n), []byte(tc.file))
			args := []string{"--jwks", jwksPath, path}
			if tc.record {
				args = append([]string{"--record"}, args...)
			}
			out, _, err := verifyRun(t, args...)
			wantVerdict(t, out, err, tc.valid, tc.want)
		})
	}
}

// TestJoseVerifyChunkProfile: the JOSE verifier (jose.compactVerify and
// node's SHA-256, nothing shared with the gateway) accepts and refuses the
// same chunk-profile answers.
func TestJoseVerifyChunkProfile(t *testing.T) {
	f := newVerifyFixture(t)
	jwksPath := filepath.Join(f.dir, "jwks.json")
	for _, tc := range chunkCases(f) {
		t.Run(tc.name, func(t *testing.T) {
			mode := "--pull"
			switch {
			case tc.record:
				mode = "--record"
			case tc.page:
				mode = "--page"
			}
			valid, out := joseRun(t, []byte(tc.file), mode, jwksPath)
			if valid != tc.valid {
				t.Fatalf("jose valid=%v, want %v:\n%s", valid, tc.valid, out)
			}
			if !tc.valid && !strings.Contains(out, tc.jose) {
				t.Errorf("jose output lacks %q:\n%s", tc.jose, out)
			}
		})
	}
}

// joseRun runs deploy/jose-verify in mode on file.
func joseRun(t *testing.T, file []byte, mode, jwksPath string) (bool, string) {
	t.Helper()
	valid, out := testenv.JoseVerify(t, file, mode, jwksPath)
	return valid, string(out)
}

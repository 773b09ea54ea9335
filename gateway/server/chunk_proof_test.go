package server

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/api/apitest"
	"github.com/ura-gateway/ura/gateway/api/exchange"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// chunkVaultGateway starts a gateway on Vault Transit (a key of its own,
// named name) and the embedded policy, on the chunk profile and taking
// pushes of n records, and makes n entities for it.
func chunkVaultGateway(t *testing.T, n int) (_ *gatewayEnv, docs []map[string]any, name string) {
	t.Helper()
	addr, token := testenv.Vault(t)
	s, c, name := jwksVault(t, addr, token, "", time.Minute)
	e := startGateway(t, jwksVaultSigner(s, c), withEmbeddedPolicy(), withConfig(func(cfg *config.Config) {
		cfg.Sign.Proof = config.ProofChunk
		cfg.Limits.MaxRecords = max(cfg.Limits.MaxRecords, n)
	}))
	docs = make([]map[string]any, n)
	for i := range docs {
		docs[i] = exSample(t, records.KindEntity)
		docs[i]["id"] = fmt.Sprintf("%s-%04d", docs[i]["id"], i)
	}
	return e, docs, name
}

// TestChunkProofStreamWithRealVault: a gateway on Vault Transit and the
// embedded policy streams 600 records under the chunk profile (the
// default): three chunks, three roots signed in Vault, and every line
// verifies alone, offline, against the JWKS saved once, with a verifier
// that has seen no other line; the JOSE verifier accepts the saved stream
// and single lines, and refuses a line tampered with or a stream cut off.
func TestChunkProofStreamWithRealVault(t *testing.T) {
	const n = 600
	e, docs, name := chunkVaultGateway(t, n)
	for _, res := range exResults(t, e.as("AL/GOV/AIM").push(docs...)) {
		if res.Status != "accepted" {
			t.Fatalf("push: %s %s", res.ID, res.Status)
		}
	}
	mod := e.as("AL/GOV/MOD")
	jwks := jwksGet(mod)
	if jwks.status != http.StatusOK {
		t.Fatalf("jwks: %d", jwks.status)
	}
	jwksPath := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksPath, jwks.body, 0o600); err != nil {
		t.Fatal(err)
	}
	offline, err := sign.NewFileKeys(jwksPath)
	if err != nil {
		t.Fatal(err)
	}

	r := mod.do(http.MethodGet, "/v1/records?kind=entity", "", exchange.NDJSON, nil)
	if r.status != http.StatusOK {
		t.Fatalf("pull: %d %.300s", r.status, r.body)
	}
	if mt, params, _ := mime.ParseMediaType(r.header.Get("Content-Type")); mt != exchange.NDJSON || params["profile"] != exchange.ProfileChunk {
		t.Errorf("Content-Type %q, want NDJSON with the chunk profile", r.header.Get("Content-Type"))
	}
	lines := bytes.Split(bytes.TrimSuffix(r.body, []byte("\n")), []byte("\n"))
	records := lines[:len(lines)-1]
	if len(records) != n {
		t.Fatalf("%d record lines, want %d", len(records), n)
	}
	sizes := map[string]int{}
	for i, l := range records {
		var d exchange.Delivery
		if err := json.Unmarshal(l, &d); err != nil || d.Proof == nil || d.JWS != "" {
			t.Fatalf("line %d is no chunk-profile line: %v %.200s", i, err, l)
		}
		// Alone: a verifier that has verified no other line.
		payload, chunk, kid, err := sign.NewChunkVerifier(sign.NewVerifier(offline)).Verify(context.Background(), d.Payload, *d.Proof)
		if err != nil {
			t.Fatalf("line %d (%s): %v", i, d.ID, err)
		}
		var p sign.Delivery
		if err := json.Unmarshal(payload, &p); err != nil {
			t.Fatal(err)
		}
		var rec struct {
			ID      string `json:"id"`
			Version int    `json:"version"`
		}
		_ = json.Unmarshal(p.Record, &rec)
		if kid != name+":1" || rec.ID != d.ID || rec.Version != d.Version || p.Recipient != "AL/GOV/MOD" || chunk.Recipient != "AL/GOV/MOD" ||
			p.DecisionID == "" || p.PolicyRevision == "" {
			t.Fatalf("line %d: kid %s, payload %.300s, chunk %+v", i, kid, payload, chunk)
		}
		sizes[d.Proof.Root] = chunk.TreeSize
	}
	if len(sizes) != 3 {
		t.Errorf("%d chunk roots for %d records, want 3", len(sizes), n)
	}
	total := 0
	for _, size := range sizes {
		total += size
	}
	if total != n {
		t.Errorf("the roots' tree sizes add up to %d, want %d", total, n)
	}

	if valid, out := testenv.JoseVerify(t, r.body, "--pull", jwksPath); !valid {
		t.Errorf("the JOSE verifier refuses the saved stream:\n%.2000s", out)
	}
	for _, i := range []int{0, 300, n - 1} {
		if valid, out := testenv.JoseVerify(t, records[i], "--record", jwksPath); !valid {
			t.Errorf("the JOSE verifier refuses line %d alone:\n%s", i, out)
		}
	}
	// One line's delivery tampered with: refused alone, and in the stream.
	var d exchange.Delivery
	_ = json.Unmarshal(records[300], &d)
	raw, _ := base64.RawURLEncoding.DecodeString(d.Payload)
	d.Payload = base64.RawURLEncoding.EncodeToString(bytes.Replace(raw, []byte(`"AL/GOV/MOD"`), []byte(`"IT/GOV/MOD"`), 1))
	tampered, _ := json.Marshal(d)
	if _, _, _, err := sign.NewChunkVerifier(sign.NewVerifier(offline)).Verify(context.Background(), d.Payload, *d.Proof); !errors.Is(err, sign.ErrNotInChunk) {
		t.Errorf("tampered line: %v", err)
	}
	if valid, out := testenv.JoseVerify(t, tampered, "--record", jwksPath); valid || !strings.Contains(string(out), "inclusion path") {
		t.Errorf("the JOSE verifier takes a tampered line:\n%s", out)
	}
	cut := bytes.Join(records, []byte("\n"))
	if valid, out := testenv.JoseVerify(t, append(cut, '\n'), "--pull", jwksPath); valid || !strings.Contains(string(out), "no trailer") {
		t.Errorf("the JOSE verifier takes a stream without its trailer (valid %v):\n%s", valid, out[max(0, len(out)-500):])
	}
}

// TestProofProfileNegotiation: Accept's profile parameter chooses the proof
// profile of a stream, a page and a get; one this gateway does not know is
// a 406 naming the profiles there are.
func TestProofProfileNegotiation(t *testing.T) {
	e := startGateway(t, withStore(&apitest.GenStore{Store: *apitest.NewStore(), N: 3}),
		withConfig(func(cfg *config.Config) { cfg.Sign.Proof = config.ProofChunk }))
	mod := e.as("AL/GOV/MOD")
	kind := func(body []byte) string {
		var d exchange.Delivery
		if err := json.Unmarshal(body, &d); err != nil {
			t.Fatalf("%v: %.200s", err, body)
		}
		switch {
		case d.JWS != "" && d.Proof == nil && d.Payload == "":
			return config.ProofJWS
		case d.JWS == "" && d.Proof != nil && d.Payload != "":
			return config.ProofChunk
		}
		return "neither"
	}
	for _, tc := range []struct {
		accept, want string
	}{
		{exchange.NDJSON, config.ProofChunk},
		{exchange.NDJSON + `; profile="` + exchange.ProfileJWS + `"`, config.ProofJWS},
		{exchange.NDJSON + `; profile="` + exchange.ProfileChunk + `"`, config.ProofChunk},
		{exchange.NDJSON + `; profile="urn:example:other ` + exchange.ProfileJWS + `"`, config.ProofJWS},
		{exchange.NDJSON + `; profile="urn:example:other", ` + exchange.NDJSON, config.ProofChunk},
	} {
		r := mod.do(http.MethodGet, "/v1/records", "", tc.accept, nil)
		if r.status != http.StatusOK {
			t.Fatalf("%s: %d %s", tc.accept, r.status, r.body)
		}
		first, _, _ := bytes.Cut(r.body, []byte("\n"))
		if got := kind(first); got != tc.want {
			t.Errorf("stream with Accept %s: %s lines, want %s", tc.accept, got, tc.want)
		}
	}
	page := mod.do(http.MethodGet, "/v1/records", "", `application/json; profile="`+exchange.ProfileJWS+`"`, nil)
	var body struct{ Records []json.RawMessage }
	if err := json.Unmarshal(page.body, &body); err != nil || len(body.Records) != 3 || kind(body.Records[0]) != config.ProofJWS {
		t.Errorf("page under the jws profile: %d %.300s", page.status, page.body)
	}
	if _, params, _ := mime.ParseMediaType(page.header.Get("Content-Type")); params["profile"] != exchange.ProfileJWS {
		t.Errorf("page Content-Type %q", page.header.Get("Content-Type"))
	}
	for _, path := range []string{"/v1/records", "/v1/records/AIM-EVT-2026-0000001"} {
		for _, accept := range []string{`application/json; profile="urn:ura:proof:merkle"`, exchange.NDJSON + `; profile="jws"`} {
			r := mod.do(http.MethodGet, path, "", accept, nil)
			if r.status != http.StatusNotAcceptable || r.header.Get("Content-Type") != problem.ContentType ||
				!bytes.Contains(r.body, []byte(exchange.ProfileChunk)) {
				t.Errorf("%s with Accept %s: %d %s", path, accept, r.status, r.body)
			}
		}
	}
}

// TestChunkProofPushWithRealVault: a gateway on Vault Transit and the
// embedded policy answers a push of 300 records under the chunk profile
// (the default): two roots (256 and 44 results) signed in one Vault call,
// every result verifies alone, offline, as a result and never as a
// delivery; the JOSE verifier accepts the saved answer and refuses it with
// one result tampered with.
func TestChunkProofPushWithRealVault(t *testing.T) {
	const n = 300
	e, docs, name := chunkVaultGateway(t, n)
	r := e.as("AL/GOV/AIM").push(docs...)
	if r.status != http.StatusOK {
		t.Fatalf("push: %d %.300s", r.status, r.body)
	}
	if mt, params, _ := mime.ParseMediaType(r.header.Get("Content-Type")); mt != "application/json" || params["profile"] != exchange.ProfileChunk {
		t.Errorf("Content-Type %q, want JSON with the chunk profile", r.header.Get("Content-Type"))
	}
	jwks := jwksGet(e.as("AL/GOV/AIM"))
	jwksPath := filepath.Join(t.TempDir(), "jwks.json")
	if err := os.WriteFile(jwksPath, jwks.body, 0o600); err != nil {
		t.Fatal(err)
	}
	offline, err := sign.NewFileKeys(jwksPath)
	if err != nil {
		t.Fatal(err)
	}
	var answer struct{ Results []exchange.Result }
	if err := json.Unmarshal(r.body, &answer); err != nil || len(answer.Results) != n {
		t.Fatalf("%d results (%v)", len(answer.Results), err)
	}
	sizes := map[string]int{}
	for i, res := range answer.Results {
		if res.Status != exchange.StatusAccepted || res.JWS != "" || res.Proof == nil || res.Payload == "" {
			t.Fatalf("result %d: %+v", i, res)
		}
		cv := sign.NewChunkVerifier(sign.NewVerifier(offline))
		payload, chunk, kid, err := cv.VerifyResult(context.Background(), res.Payload, *res.Proof)
		if err != nil {
			t.Fatalf("result %d: %v", i, err)
		}
		var p exchange.Result
		_ = json.Unmarshal(payload, &p)
		if kid != name+":1" || p.Index != i || p.ID != res.ID || p.Status != res.Status || p.Digest != res.Digest || p.AuditSeq != res.AuditSeq ||
			chunk.Recipient != "AL/GOV/AIM" || chunk.TypOfLeaves != sign.LeavesResult {
			t.Fatalf("result %d: kid %s, payload %.300s, chunk %+v", i, kid, payload, chunk)
		}
		if _, _, _, err := cv.Verify(context.Background(), res.Payload, *res.Proof); !errors.Is(err, sign.ErrNotInChunk) {
			t.Fatalf("result %d taken for a delivery: %v", i, err)
		}
		sizes[res.Proof.Root] = chunk.TreeSize
	}
	if len(sizes) != 2 {
		t.Errorf("%d roots for %d results, want 2", len(sizes), n)
	}
	if valid, out := testenv.JoseVerify(t, r.body, "--push", jwksPath); !valid {
		t.Errorf("the JOSE verifier refuses the push answer:\n%.2000s", out)
	}
	res := answer.Results[100]
	raw, _ := base64.RawURLEncoding.DecodeString(res.Payload)
	answer.Results[100].Payload = base64.RawURLEncoding.EncodeToString(bytes.Replace(raw, []byte(`"accepted"`), []byte(`"denied"`), 1))
	tampered, _ := json.Marshal(map[string]any{"results": answer.Results})
	if valid, out := testenv.JoseVerify(t, tampered, "--push", jwksPath); valid || !strings.Contains(string(out), "inclusion path") {
		t.Errorf("the JOSE verifier takes a tampered result:\n%.2000s", out)
	}
}

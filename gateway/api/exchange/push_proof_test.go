package exchange

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/ura-gateway/ura/gateway/api/chain"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// signatureCounter counts the signer calls and signatures asked of a real
// signer: what Vault Transit is asked to do.
type signatureCounter struct {
	sign.Signer
	calls, signatures atomic.Int64
}

func (s *signatureCounter) SignTyped(ctx context.Context, typ string, payloads [][]byte) ([]string, error) {
	return s.SignLabelled(ctx, typ, payloads, nil)
}

func (s *signatureCounter) SignLabelled(ctx context.Context, typ string, payloads [][]byte, labels []json.RawMessage) ([]string, error) {
	s.calls.Add(1)
	s.signatures.Add(int64(len(payloads)))
	return s.Signer.SignLabelled(ctx, typ, payloads, labels)
}

// pushAnswer is a push answer as a client reads it.
type pushAnswer struct {
	Results []Result `json:"results"`
}

// pushLicences pushes n licences never sent before as AIM, with accept.
func pushLicences(t *testing.T, h *Handlers, prefix, accept string, n int) *httptest.ResponseRecorder {
	t.Helper()
	body := []byte{'['}
	for i := range n {
		if i > 0 {
			body = append(body, ',')
		}
		body = benchLicence(body, prefix+"-"+strconv.Itoa(i))
	}
	body = append(body, ']')
	w := httptest.NewRecorder()
	c, _ := gin.CreateTestContext(w)
	r := httptest.NewRequest(http.MethodPost, "/v1/records", bytes.NewReader(body))
	r.Header.Set("Content-Type", "application/json")
	if accept != "" {
		r.Header.Set("Accept", accept)
	}
	member := identity.Member{ID: "AL/GOV/AIM", Nation: "ALB", Kind: "agency", Clearance: "SECRET"}
	c.Request = r.WithContext(identity.NewContext(r.Context(), member))
	if err := h.Push(c); err != nil {
		h.kit.Fail(c, err)
	}
	return w
}

// TestPushSignaturesPer100: with the embedded policy, the bolt store, the
// audit chain and Vault Transit, a push of 100 licences is one signer call
// under either profile: one signature under chunk (the root over the 100
// results), 100 under jws. Each result verifies alone against the
// signer's published keys, as its profile says.
func TestPushSignaturesPer100(t *testing.T) {
	testenv.Vault(t)
	gin.SetMode(gin.TestMode)
	const n = 100
	for _, tc := range []struct {
		proof      string
		signatures int64
	}{
		{config.ProofChunk, 1},
		{config.ProofJWS, n},
	} {
		t.Run(tc.proof, func(t *testing.T) {
			deps := realDeps(t)
			s := &signatureCounter{Signer: deps.Signer}
			deps.Signer = s
			cfg := config.Default()
			cfg.Sign.Proof = tc.proof
			h, err := New(&chain.Kit{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, cfg, deps, prometheus.NewRegistry())
			if err != nil {
				t.Fatal(err)
			}
			w := pushLicences(t, h, "AIM-LIC-P"+strconv.FormatInt(time.Now().UnixNano()%1e9, 10), "", n)
			if w.Code != http.StatusOK {
				t.Fatalf("push: %d %s", w.Code, w.Body)
			}
			if _, params, _ := mime.ParseMediaType(w.Header().Get("Content-Type")); params["profile"] != profileURI(tc.proof) {
				t.Errorf("Content-Type %q, want the profile %s", w.Header().Get("Content-Type"), profileURI(tc.proof))
			}
			calls, sigs := s.calls.Load(), s.signatures.Load()
			t.Logf("proof %s: a push of %d, %d signer calls, %d signatures", tc.proof, n, calls, sigs)
			if calls != 1 || sigs != tc.signatures {
				t.Errorf("%d calls and %d signatures, want 1 and %d", calls, sigs, tc.signatures)
			}
			keys, err := deps.Signer.Keys(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			checkResults(t, sign.NewVerifier(sign.StaticKeys{Set: keys}), w.Body.Bytes(), tc.proof, n)
		})
	}
}

// checkResults verifies every result of a push answer as its profile says,
// and that its plain fields are the signed ones.
func checkResults(t *testing.T, v *sign.Verifier, body []byte, proof string, n int) {
	t.Helper()
	var a pushAnswer
	if err := json.Unmarshal(body, &a); err != nil || len(a.Results) != n {
		t.Fatalf("%d results (%v): %.300s", len(a.Results), err, body)
	}
	cv := sign.NewChunkVerifier(v)
	roots := map[string]bool{}
	for i, r := range a.Results {
		var payload []byte
		switch proof {
		case config.ProofChunk:
			if r.JWS != "" || r.Proof == nil || r.Payload == "" {
				t.Fatalf("result %d is no chunk-profile result: %+v", i, r)
			}
			p, c, _, err := cv.VerifyResult(context.Background(), r.Payload, *r.Proof)
			if err != nil {
				t.Fatalf("result %d: %v", i, err)
			}
			if c.TypOfLeaves != sign.LeavesResult || c.TreeSize != n || c.Recipient != "AL/GOV/AIM" {
				t.Fatalf("result %d: root %+v", i, c)
			}
			roots[r.Proof.Root] = true
			payload = p
		default:
			if r.JWS == "" || r.Proof != nil || r.Payload != "" {
				t.Fatalf("result %d is no jws-profile result: %+v", i, r)
			}
			p, _, err := v.Verify(r.JWS)
			if err != nil || sign.Typ(r.JWS) != sign.TypResult {
				t.Fatalf("result %d: %v (typ %q)", i, err, sign.Typ(r.JWS))
			}
			payload = p
		}
		var signed Result
		if err := json.Unmarshal(payload, &signed); err != nil {
			t.Fatal(err)
		}
		plain := r
		plain.JWS, plain.Payload, plain.Proof = "", "", nil
		if a, b := mustJSON(t, plain), mustJSON(t, signed); a != b || signed.Status != StatusAccepted || signed.Index != i || signed.AuditSeq == 0 {
			t.Fatalf("result %d: plain %s, signed %s", i, a, b)
		}
		if proof == config.ProofChunk {
			if raw, _ := base64.RawURLEncoding.DecodeString(r.Payload); bytes.Contains(raw, []byte(`"proof"`)) || bytes.Contains(raw, []byte(`"result"`)) {
				t.Fatalf("result %d: the proof inside its own payload: %s", i, raw)
			}
		}
	}
	if proof == config.ProofChunk && len(roots) != 1 {
		t.Errorf("%d roots for a push of %d, want 1", len(roots), n)
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPushProofNegotiation: a push answer's profile is chosen as a pull's:
// sign.proof unless Accept's profile names one; one this gateway does not
// know is a 406 naming the profiles there are, before anything is decided
// or stored; Content-Type names the profile used. Real policy, store,
// audit chain and Vault.
func TestPushProofNegotiation(t *testing.T) {
	testenv.Vault(t)
	gin.SetMode(gin.TestMode)
	for _, def := range []string{config.ProofChunk, config.ProofJWS} {
		deps := realDeps(t)
		cfg := config.Default()
		cfg.Sign.Proof = def
		h, err := New(&chain.Kit{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}, cfg, deps, prometheus.NewRegistry())
		if err != nil {
			t.Fatal(err)
		}
		keys, err := deps.Signer.Keys(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		v := sign.NewVerifier(sign.StaticKeys{Set: keys})
		prefix := "AIM-LIC-N" + strconv.FormatInt(time.Now().UnixNano()%1e9, 10)
		for i, tc := range []struct {
			accept, want string
		}{
			{"", def},
			{"application/json", def},
			{"*/*", def},
			{`application/json; profile="` + ProfileJWS + `"`, config.ProofJWS},
			{`application/json; profile="` + ProfileChunk + `"`, config.ProofChunk},
			{`application/json; profile="urn:example:other ` + ProfileJWS + `"`, config.ProofJWS},
			{`application/json; profile="urn:example:other", application/json`, def},
			{`application/x-ndjson; profile="` + ProfileChunk + `"`, config.ProofChunk},
		} {
			w := pushLicences(t, h, prefix+"-"+strconv.Itoa(i), tc.accept, 3)
			if w.Code != http.StatusOK {
				t.Fatalf("default %s, Accept %q: %d %s", def, tc.accept, w.Code, w.Body)
			}
			if _, params, _ := mime.ParseMediaType(w.Header().Get("Content-Type")); params["profile"] != profileURI(tc.want) {
				t.Errorf("default %s, Accept %q: Content-Type %q, want %s", def, tc.accept, w.Header().Get("Content-Type"), tc.want)
			}
			checkResults(t, v, w.Body.Bytes(), tc.want, 3)
		}
		for _, accept := range []string{`application/json; profile="urn:ura:proof:merkle"`, `application/json; profile="jws"`} {
			w := pushLicences(t, h, prefix+"-refused", accept, 3)
			if w.Code != http.StatusNotAcceptable || w.Header().Get("Content-Type") != problem.ContentType ||
				!bytes.Contains(w.Body.Bytes(), []byte(ProfileChunk)) || !bytes.Contains(w.Body.Bytes(), []byte(ProfileJWS)) ||
				!bytes.Contains(w.Body.Bytes(), []byte(`"available":["application/json"]`)) {
				t.Errorf("default %s, Accept %q: %d %s %s", def, accept, w.Code, w.Header().Get("Content-Type"), w.Body)
			}
			// Nothing was stored: the same records push as new.
			if w := pushLicences(t, h, prefix+"-refused", "", 3); w.Code != http.StatusOK || bytes.Count(w.Body.Bytes(), []byte(`"status":"accepted"`)) != 3 {
				t.Errorf("after a 406 the records are not new: %d %s", w.Code, w.Body)
			}
			prefix += "x"
		}
	}
}

package server

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/api/exchange"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/testenv"
)

// TestJWKSSignedPullWithRealVault is the partner's whole story with the
// real signer: push, a signed NDJSON pull checked against the JWKS fetched
// over mutual TLS, a tampered copy refused; then Vault stops mid-way and not
// one record leaves unsigned, and it comes back without a restart.
func TestJWKSSignedPullWithRealVault(t *testing.T) {
	v := testenv.StartVault(t)
	s, c, name := jwksVault(t, v.Addr, v.Token, "ura-signing", time.Minute)
	e := startGateway(t, jwksVaultSigner(s, c))
	partner := sign.NewVerifier(sign.NewURLKeys("https://"+e.addr+"/.well-known/jwks.json",
		jwksClientFiles(t, e.p, "IT/GOV/MOD"), time.Hour))

	// Push results are signed too.
	push := e.as("AL/GOV/AIM").push(exSample(t, records.KindLicence), exSample(t, records.KindEntity))
	for _, r := range exResults(t, push) {
		if _, kid, err := partner.Verify(r.JWS); err != nil || kid != name+":1" {
			t.Fatalf("push result %s: kid %s, %v", r.ID, kid, err)
		}
	}

	pull := e.as("NATO/ORG/LIAISON").do(http.MethodGet, "/v1/records", "", exchange.NDJSON, nil)
	if pull.status != http.StatusOK {
		t.Fatalf("pull: %d %s", pull.status, pull.body)
	}
	var signed []string
	for _, line := range bytes.Split(bytes.TrimSpace(pull.body), []byte("\n")) {
		var l struct {
			ID  string `json:"id"`
			JWS string `json:"jws"`
		}
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		if l.ID == "" {
			continue // the stream's closing line
		}
		payload, kid, err := partner.Verify(l.JWS)
		if err != nil {
			t.Fatalf("%s: %v", l.ID, err)
		}
		if kid != name+":1" || !bytes.Contains(payload, []byte(l.ID)) {
			t.Errorf("%s: kid %s, payload %.120s", l.ID, kid, payload)
		}
		signed = append(signed, l.JWS)
	}
	if len(signed) != 2 {
		t.Fatalf("%d signed records in the pull, want 2", len(signed))
	}
	parts := strings.Split(signed[0], ".")
	raw, _ := base64.RawURLEncoding.DecodeString(parts[1])
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString(bytes.Replace(raw, []byte(`"NATO/ORG/LIAISON"`), []byte(`"IT/GOV/MOD"`), 1)) + "." + parts[2]
	if _, _, err := partner.Verify(tampered); !errors.Is(err, sign.ErrBadSignature) {
		t.Errorf("tampered copy: %v", err)
	}

	v.Stop()
	for name, r := range map[string]memberResponse{
		"stream": e.as("NATO/ORG/LIAISON").do(http.MethodGet, "/v1/records", "", exchange.NDJSON, nil),
		"page":   e.as("NATO/ORG/LIAISON").get("/v1/records"),
		"push":   e.as("AL/GOV/AIM").push(exSample(t, records.KindTrackingEvent)),
	} {
		if r.status != http.StatusServiceUnavailable {
			t.Errorf("%s with Vault down: %d %.200s", name, r.status, r.body)
		}
		if jws := exJWSIn(r.body); len(jws) > 0 || bytes.Contains(r.body, []byte("AIM-LIC")) {
			t.Errorf("%s with Vault down sent %d signatures or a record: %.200s", name, len(jws), r.body)
		}
	}
	if r := e.as("AL/GOV/AIM").get("/readyz"); r.status != http.StatusServiceUnavailable {
		t.Errorf("readyz with Vault down: %d", r.status)
	}

	v.Restart()
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := e.as("NATO/ORG/LIAISON").get("/v1/records")
		if r.status == http.StatusOK && len(exJWSIn(r.body)) == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no recovery after Vault restarted: %d %.200s", r.status, r.body)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

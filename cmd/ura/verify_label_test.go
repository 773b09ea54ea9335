package main

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lestrrat-go/jwx/v2/jwa"
	"github.com/lestrrat-go/jwx/v2/jws"
)

// labelledDelivery is a delivery of a record with label.
func labelledDelivery(id, label string) []byte {
	return fmt.Appendf(nil, `{"record":{"kind":"licence","id":%q,"version":1,"label":%s},"decision_id":"d-1","policy_revision":"r1","redactions":[],"translations":[],"recipient":"IT/GOV/MOD","iss":"ura","iat":1767225600}`, id, label)
}

// signLabelled signs payload with headerLabel in the protected header, as
// the gateway does (Signing), whatever the payload's label is.
func (f *verifyFixture) signLabelled(payload []byte, headerLabel string) string {
	f.t.Helper()
	h := jws.NewHeaders()
	_ = h.Set(jws.KeyIDKey, "ura-signing:1")
	_ = h.Set(jws.TypeKey, "ura-delivery+jws")
	var label map[string]any
	if err := json.Unmarshal([]byte(headerLabel), &label); err != nil {
		f.t.Fatal(err)
	}
	_ = h.Set("label", label)
	out, err := jws.Sign(payload, jws.WithKey(jwa.EdDSA, f.ed, jws.WithProtectedHeaders(h)))
	if err != nil {
		f.t.Fatal(err)
	}
	return string(out)
}

// TestVerifyLabelBinding: ura verify accepts a delivery whose protected
// header carries the delivered record's label and refuses one whose header
// label differs from the record's, signed so (a gateway's mistake, or a
// signer tricked into labelling one record with another's label) or changed
// after signing (the signature no longer holds). The JOSE verifier agrees.
func TestVerifyLabelBinding(t *testing.T) {
	f := newVerifyFixture(t)
	const (
		label    = `{"classification":"RISERVATISSIMO","created":"2026-05-01T10:00:00Z","originator":"AL/GOV/AIM","policy_id":"IT","releasable_to":["ALB","ITA"]}`
		lowered  = `{"classification":"RISERVATO","created":"2026-05-01T10:00:00Z","originator":"AL/GOV/AIM","policy_id":"IT","releasable_to":["ALB","ITA"]}`
		reorderd = `{"releasable_to":["ALB","ITA"],"policy_id":"IT","originator":"AL/GOV/AIM","created":"2026-05-01T10:00:00Z","classification":"RISERVATISSIMO"}`
	)
	good := f.signLabelled(labelledDelivery("AIM-LIC-1", label), reorderd)
	mismatch := f.signLabelled(labelledDelivery("AIM-LIC-2", label), lowered)
	parts := strings.Split(good, ".")
	swapped := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA","kid":"ura-signing:1","label":`+lowered+`,"typ":"ura-delivery+jws"}`)) + "." + parts[1] + "." + parts[2]
	noLabel := f.signLabelled([]byte(`{"index":0,"id":"AIM-LIC-3","status":"accepted"}`), label)
	jwksPath := filepath.Join(f.dir, "jwks.json")

	cases := []struct {
		name  string
		jws   string
		valid bool
		want  string
	}{
		{"header label equals the record's", good, true, ""},
		{"header label signed but not the record's", mismatch, false, "label in the protected header"},
		{"header label changed after signing", swapped, false, "signature"},
		{"header label on a payload with no record", noLabel, false, "label in the protected header"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			path := f.write(strings.ReplaceAll(tc.name, " ", "_")+".jws", []byte(tc.jws+"\n"))
			out, _, err := verifyRun(t, "--jwks", jwksPath, path)
			if tc.valid {
				if err != nil {
					t.Fatalf("err = %v\n%s", err, out)
				}
			} else {
				if !errors.Is(err, errInvalid) {
					t.Fatalf("err = %v, want invalid\n%s", err, out)
				}
				if !strings.Contains(out, tc.want) {
					t.Errorf("output does not say %q:\n%s", tc.want, out)
				}
			}
			if valid, jout := joseVerifyLines(t, jwksPath, tc.jws); valid != tc.valid {
				t.Errorf("JOSE verifier: valid = %v, want %v\n%s", valid, tc.valid, jout)
			}
		})
	}
}

// joseVerifyLines runs deploy/jose-verify on one JWS; it skips when node or
// the verifier's modules are missing.
func joseVerifyLines(t *testing.T, jwksPath, compact string) (bool, string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed")
	}
	dir := filepath.Join("..", "..", "deploy", "jose-verify")
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "jose")); err != nil {
		t.Skip("deploy/jose-verify has no node_modules (npm ci --prefix deploy/jose-verify)")
	}
	cmd := exec.Command(node, filepath.Join(dir, "verify.mjs"), jwksPath)
	cmd.Stdin = strings.NewReader(compact + "\n")
	out, err := cmd.Output()
	return err == nil && strings.Contains(string(out), `"valid":true`), string(out)
}

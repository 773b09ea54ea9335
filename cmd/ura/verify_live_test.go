package main

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// TestVerifyLivePull saves an NDJSON pull from a real gateway (Vault
// Transit signing, the embedded policy) and its JWKS, as a partner would,
// and checks it with ura verify and the stock JOSE verifier: intact, it
// verifies as a whole; with one line removed and the trailer's count
// edited to match, both refuse it.
func TestVerifyLivePull(t *testing.T) {
	fx := newGatewayFixture(t, "", "")
	client := crashClient(t, fx.pki)
	fx.start(t, "live", client)
	base := fmt.Sprintf("https://127.0.0.1:%d", fx.port)

	const n = 300 // two chunks: two signer calls, then the trailer's
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("AIM-ENT-LIVE-%05d", i)
	}
	if ack, bad := crashPush(client, base, ids); ack == nil {
		t.Fatalf("push refused: %s", bad)
	}
	get := func(path, accept string) []byte {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		req.Header.Set("Accept", accept)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %v: %.300s", path, resp.StatusCode, err, body)
		}
		return body
	}
	f := &verifyFixture{t: t, dir: t.TempDir()}
	jwks := f.write("jwks.json", get("/.well-known/jwks.json", "application/jwk-set+json"))
	body := get("/v1/records?kind=entity", "application/x-ndjson")
	pull := f.write("pull.ndjson", body)

	out, _, err := verifyRun(t, "--jwks", jwks, pull)
	if err != nil || !strings.Contains(out, "trailer: valid (kid ura-signing:") ||
		!strings.Contains(out, fmt.Sprintf("%d records for AL/GOV/AIM, complete", n)) {
		t.Fatalf("ura verify of the saved pull: %v\n%s", err, tail(out))
	}
	if valid, out := josePull(t, jwks, body); !valid {
		t.Errorf("the JOSE verifier refuses the saved pull:\n%s", tail(out))
	}

	// One record line removed, the trailer's plain count lowered to match:
	// every line left still verifies on its own.
	lines := bytes.SplitAfter(body, []byte("\n"))
	cut := bytes.Join(append(append([][]byte{}, lines[:1]...), lines[2:]...), nil)
	cut = bytes.Replace(cut, []byte(fmt.Sprintf(`"records":%d`, n)), []byte(fmt.Sprintf(`"records":%d`, n-1)), 1)
	out, _, err = verifyRun(t, "--jwks", jwks, f.write("cut.ndjson", cut))
	if err == nil || !strings.Contains(out, fmt.Sprintf("%d valid, 1 invalid", n-1)) {
		t.Errorf("ura verify of the pull with a line removed: %v\n%s", err, tail(out))
	}
	if valid, out := josePull(t, jwks, cut); valid {
		t.Errorf("the JOSE verifier accepts the pull with a line removed:\n%s", tail(out))
	}
}

// tail is the end of a long report.
func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}

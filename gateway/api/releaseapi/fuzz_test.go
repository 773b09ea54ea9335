package releaseapi

import (
	"testing"

	"github.com/ura-gateway/ura/gateway/identity"
)

// FuzzRequestBody: the body of POST /v1/releases, from outside. Decoding
// never panics, and a body that passes both checks names a valid record id,
// a version from 1, a registered recipient and a justification in bounds.
func FuzzRequestBody(f *testing.F) {
	f.Add([]byte(`{"record_id":"AIM-LIC-2026-000500","version":1,"recipient":"IT/GOV/MOD","justification":"why"}`))
	f.Add([]byte(`{"record_id":"x","version":1e400}`))
	f.Add([]byte(`{"record_id":"x"}{"record_id":"y"}`))
	f.Add([]byte(`[]`))
	h := New(nil, Deps{Registry: identity.NewRegistry([]identity.Member{{ID: "IT/GOV/MOD", Kind: identity.KindPartner}})})
	f.Fuzz(func(t *testing.T, raw []byte) {
		var b requestBody
		if decodeBody(raw, &b) != nil || h.checkBody(&b) != nil {
			return
		}
		if b.Version < 1 || b.Recipient != "IT/GOV/MOD" || b.RecordID == "" || b.Justification == "" || len(b.Justification) > 2000 {
			t.Fatalf("accepted %+v from %q", b, raw)
		}
	})
}

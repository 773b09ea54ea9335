package federation

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/sign"
)

// fedFuzzPeers treats every JWS as validly signed: the fuzzer then reaches
// what follows a good signature, where a peer whose key was stolen, or a
// buggy peer, controls every byte of the payload.
type fedFuzzPeers struct{}

var _ sign.PeerVerifier = fedFuzzPeers{}

func (fedFuzzPeers) IsPeer(string) bool { return true }
func (fedFuzzPeers) VerifyPeer(_ context.Context, _, compact string) ([]byte, string, error) {
	parts := strings.Split(compact, ".")
	p, err := base64.RawURLEncoding.DecodeString(parts[1])
	return p, "fuzz:1", err
}

// FuzzRelayCheck: a signed payload from a peer never panics, and whatever it
// holds is either refused or a record that passed the normal validation.
func FuzzRelayCheck(f *testing.F) {
	f.Add([]byte(`{"record":{"kind":"licence"},"recipient":"AL/GOV/URA"}`))
	f.Add([]byte(`{"record":[1,2],"recipient":"AL/GOV/URA"}`))
	f.Add([]byte(`{"record":{"kind":"licence","id":"X","version":1,"label":{}},"recipient":"AL/GOV/URA","iat":1}`))
	f.Add([]byte(`{"record":"x","recipient":"AL/GOV/URA"}{}`))
	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA","kid":"fuzz:1","typ":"` + sign.TypFederation + `"}`))
	lim := config.Default().Limits
	if err := records.LoadSchemas(); err != nil {
		f.Fatal(err)
	}
	r := &Relay{Peers: fedFuzzPeers{}, Self: "AL/GOV/URA", MaxBodyBytes: lim.MaxBodyBytes,
		Limits: records.Limits{MaxRecords: lim.MaxRecords, MaxDepth: lim.MaxDepth, MaxStringLength: lim.MaxStringLength}}
	f.Fuzz(func(t *testing.T, payload []byte) {
		compact := hdr + "." + base64.RawURLEncoding.EncodeToString(payload) + ".c2ln"
		v, err := r.Check(context.Background(), "IT/GOV/URA", true, 0, records.Decoded{Value: map[string]any{"jws": compact}})
		if err != nil {
			t.Fatalf("only unreadable keys fail the request: %v", err)
		}
		if v.Valid() && (v.Record == nil || v.Record.ID == "" || len(v.Errors) > 0 || v.KID == "") {
			t.Fatalf("a valid result without a validated, signed record: %+v", v)
		}
	})
}

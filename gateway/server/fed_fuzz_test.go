package server

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/identity"
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

// FuzzFedChecked: a signed payload from a peer never panics, and whatever it
// holds is either refused or a record that passed the normal validation.
func FuzzFedChecked(f *testing.F) {
	f.Add([]byte(`{"record":{"kind":"licence"},"recipient":"AL/GOV/URA"}`))
	f.Add([]byte(`{"record":[1,2],"recipient":"AL/GOV/URA"}`))
	f.Add([]byte(`{"record":{"kind":"licence","id":"X","version":1,"label":{}},"recipient":"AL/GOV/URA","iat":1}`))
	f.Add([]byte(`{"record":"x","recipient":"AL/GOV/URA"}{}`))
	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"EdDSA","kid":"fuzz:1","typ":"` + sign.TypFederation + `"}`))
	cfg := config.Default()
	cfg.Sign.Member = fedOwnID
	if err := records.LoadSchemas(); err != nil {
		f.Fatal(err)
	}
	h := &exHandlers{s: &Server{cfg: cfg, deps: Deps{Peers: fedFuzzPeers{}}}}
	req := &exRequest{member: identity.Member{ID: fedPeerID}}
	f.Fuzz(func(t *testing.T, payload []byte) {
		compact := hdr + "." + base64.RawURLEncoding.EncodeToString(payload) + ".c2ln"
		it := &exPushItem{fedPeer: true}
		v, err := h.fedChecked(context.Background(), req, it, records.Decoded{Value: map[string]any{"jws": compact}})
		if err != nil {
			t.Fatalf("only unreadable keys fail the request: %v", err)
		}
		if v.Valid() && (v.Record == nil || v.Record.ID == "" || len(v.Errors) > 0 || it.fedKID == "") {
			t.Fatalf("a valid result without a validated, signed record: %+v", v)
		}
	})
}

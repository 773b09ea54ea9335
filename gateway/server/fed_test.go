package server

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"mime"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ura-gateway/ura/adapters/upstream"
	"github.com/ura-gateway/ura/gateway/api/exchange"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/audit/audittest"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/federation"
	"github.com/ura-gateway/ura/gateway/problem"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// Two gateways over real mutual TLS: A is the Italian partner's gateway
// (member IT/GOV/URA at B), B is this side's (sign.member AL/GOV/URA). A's
// outbox forwards to B what Italian members push to A, signed with A's key;
// B verifies against A's JWKS, written to a file as an operator would.
//
// These tests are of the federation stage (signatures, recipients, typ,
// receipts) and run on the fake policy (apitest.Policy), whose decisions
// they control. What a relay and an outbound record become under the real
// embedded policy is tested in crossborder_e2e_test.go, in
// adapters/upstream's outbound tests, and across two real processes in
// cmd/ura's TestTwoGateways.
const (
	fedPeerID = "IT/GOV/URA"
	fedOwnID  = "AL/GOV/URA"
)

type fedPair struct {
	a, b    *gatewayEnv
	aSigner *audittest.Signer
	bSigner *audittest.Signer
	outbox  *upstream.Outbox
}

// fedB makes the gateway B, trusting signatures of fedPeerID as peer says;
// signer, when set, is B's own (an Ed25519 key whose JWKS A holds, to verify
// the receipts B answers with).
func fedB(peer config.SignPeer, signer *audittest.Signer) gatewayOption {
	return func(s *gatewaySetup) {
		withConfig(func(cfg *config.Config) {
			cfg.Members = append(cfg.Members,
				config.Member{ID: fedPeerID, Name: "Italy ura gateway", Nation: "ITA", Kind: "gateway", Clearance: "CONFIDENTIAL"})
			cfg.Sign.Issuer = "ura.aim.gov.al"
			cfg.Sign.Member = fedOwnID
			cfg.Sign.Peers = map[string]config.SignPeer{fedPeerID: peer}
			// The default proof profile: a peer's receipts are still one
			// JWS each.
			cfg.Sign.Proof = config.ProofChunk
		})(s)
		s.parts = append(s.parts, func(e *gatewayEnv, d *Deps) {
			if signer != nil {
				d.Signer = signer
			}
			peers, err := sign.NewPeers(e.cfg.Sign, e.cfg.Path, nil, nil)
			if err != nil {
				e.t.Fatal(err)
			}
			d.Peers = peers
		})
	}
}

func fedJWKSFile(t *testing.T, s *audittest.Signer) string {
	t.Helper()
	raw, err := json.Marshal(s.KeySet())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "peer-jwks.json")
	writeFile(t, path, raw)
	return path
}

// newFedPair starts B, then A with an outbox to B.
func newFedPair(t *testing.T) *fedPair {
	t.Helper()
	f := &fedPair{aSigner: audittest.NewSigner(t, "ura-it:1"), bSigner: audittest.NewSigner(t, "ura-al:1")}
	f.b = startGateway(t, fedB(config.SignPeer{JWKSFile: fedJWKSFile(t, f.aSigner)}, f.bSigner))

	// A's client certificate at B: issued by the Italian CA B trusts for IT/.
	certFile, keyFile := f.b.p.memberFiles(f.b.p.it, fedPeerID, "gw")
	dir := t.TempDir()
	f.a = startGateway(t, withConfig(func(cfg *config.Config) {
		// B is a member of A's registry, a peer gateway of its own nation,
		// whose JWKS verifies the receipts B answers with; an anchor that
		// vouches for a gateway vouches for nothing outside its instance.
		cfg.TLS.ClientCAs[0].Prefixes = []string{"AL/"}
		cfg.Members = slices.DeleteFunc(cfg.Members, func(m config.Member) bool { return m.ID == "NATO/ORG/LIAISON" })
		cfg.Members = append(cfg.Members,
			config.Member{ID: fedOwnID, Name: "Albania ura gateway", Nation: "ALB", Kind: "gateway", Clearance: "CONFIDENTIAL"})
		cfg.Sign.Issuer = "ura.difesa.it"
		cfg.Sign.Member = fedPeerID
		cfg.Sign.Peers = map[string]config.SignPeer{fedOwnID: {JWKSFile: fedJWKSFile(t, f.bSigner)}}
		cfg.Upstream = config.Upstream{
			Destinations: []config.Destination{{
				Name: "al-gateway", Kind: "peer", URL: "https://" + f.b.addr, Kinds: records.Kinds, Member: fedOwnID,
				CAFile: f.b.p.path("ca.crt"), ClientCertFile: certFile, ClientKeyFile: keyFile,
				Timeout: 5 * time.Second, BackoffInitial: 10 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
			}},
			Outbox: config.Outbox{Path: filepath.Join(dir, "outbox.db")},
		}
	}), withDeps(func(cfg *config.Config, d *Deps) {
		peers, err := sign.NewPeers(cfg.Sign, cfg.Path, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		d.Peers = peers
		ob, err := upstream.Open(cfg.Upstream, cfg.Path, upstream.Options{Registry: cfg.Registry(), Store: d.Store,
			Policy: d.Policy, Audit: d.Audit, Signer: f.aSigner, Issuer: cfg.Sign.Issuer, Peers: peers, Self: cfg.Sign.Member})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = ob.Close() })
		f.outbox = ob
		d.Forwarder = ob
	}))
	return f
}

// fedRecord is a valid licence of an Italian originator.
func fedRecord(t *testing.T, id, originator string) map[string]any {
	return exWith(exSample(t, "licence"), "id", id, "version", 1, "label.originator", originator)
}

// fedLine signs rec as a delivery and returns the NDJSON line a peer sends.
func fedLine(t *testing.T, s *audittest.Signer, typ, recipient string, rec any) []byte {
	t.Helper()
	raw, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	payload, _ := json.Marshal(sign.Delivery{Record: raw, Recipient: recipient, Issuer: "ura.difesa.it",
		IssuedAt: time.Now().Unix(), Redactions: []verdict.Redaction{}})
	jws, err := s.SignTyped(context.Background(), typ, [][]byte{payload})
	if err != nil {
		t.Fatal(err)
	}
	line, _ := json.Marshal(map[string]string{"jws": jws[0]})
	return line
}

func (c *memberClient) fedPush(lines ...[]byte) []exResultT {
	c.t.Helper()
	var body []byte
	for _, l := range lines {
		body = append(append(body, l...), '\n')
	}
	return exResults(c.t, c.do(http.MethodPost, "/v1/records", "application/x-ndjson", "", body))
}

func fedHasReason(r exResultT, code string) bool {
	for _, x := range r.Reasons {
		if x["code"] == code {
			return true
		}
	}
	return false
}

// TestFedEndToEnd: an Italian member pushes to A; A's outbox signs it for B
// and delivers it; B verifies it against A's JWKS, validates it, lets policy
// decide, stores it and audits the peer's kid.
func TestFedEndToEnd(t *testing.T) {
	f := newFedPair(t)
	rec := fedRecord(t, "ITA-LIC-2026-000001", "IT/GOV/MOD")
	res := exResults(t, f.a.as("IT/GOV/MOD").push(rec))
	if len(res) != 1 || res[0].Status != exchange.StatusAccepted {
		t.Fatalf("push to A: %+v", res)
	}
	waitFor(t, func() bool { got, _ := f.b.store.Get(context.Background(), "ITA-LIC-2026-000001"); return got != nil })
	got, _ := f.b.store.Get(context.Background(), "ITA-LIC-2026-000001")
	stored, _ := f.a.store.Get(context.Background(), "ITA-LIC-2026-000001")
	if string(got.Raw) != string(stored.Raw) || got.Label.Originator != "IT/GOV/MOD" {
		t.Fatalf("B stored %s, A had %s", got.Raw, stored.Raw)
	}
	waitFor(t, func() bool { n, _ := f.outbox.Pending("al-gateway"); return n == 0 })
	if parked, _ := f.outbox.ParkedEntries("al-gateway"); len(parked) != 0 {
		t.Fatalf("parked at A: %+v", parked)
	}
	var ev *audit.Event
	for _, e := range f.b.audit.All() {
		if e.RecordID == "ITA-LIC-2026-000001" {
			ev = &e
		}
	}
	if ev == nil || ev.Member != fedPeerID || ev.Decision != audit.DecisionAllow || ev.DecisionID == "" {
		t.Fatalf("B's audit event: %+v", ev)
	}
	// A decided the record as a pull by B's member, audited that before
	// sending, and keeps B's receipt: signed by B, naming B's decision and
	// the seq of its audit event, over the bytes B stored.
	var fwd *audit.Event
	for _, e := range f.a.audit.All() {
		if e.Action == upstream.ActionForward && e.RecordID == "ITA-LIC-2026-000001" {
			fwd = &e
		}
	}
	if fwd == nil || fwd.Member != fedOwnID || fwd.Route != "outbox:al-gateway" || fwd.Decision != audit.DecisionAllow || fwd.SigningKID != "ura-it:1" {
		t.Fatalf("A's forward event: %+v", fwd)
	}
	sent, err := f.outbox.SentEntries("al-gateway")
	if err != nil || len(sent) != 1 || sent[0].Receipt == nil {
		t.Fatalf("A's sent entries: %+v (%v)", sent, err)
	}
	r := sent[0].Receipt
	if r.Status != exchange.StatusAccepted || r.KID != "ura-al:1" || r.Digest != records.Digest(got.Raw) || r.AuditSeq != ev.Seq ||
		r.DecisionID != ev.DecisionID || r.Issuer != "ura.aim.gov.al" || sent[0].Forward.DecisionID != fwd.DecisionID {
		t.Errorf("A's receipt %+v (B's event seq %d, decision %s)", r, ev.Seq, ev.DecisionID)
	}
	var kidNamed bool
	for _, r := range ev.Reasons {
		kidNamed = kidNamed || (r.Code == "peer_signature" && strings.Contains(r.Message, "ura-it:1"))
	}
	if !kidNamed {
		t.Errorf("B's audit event does not name the peer's kid: %+v", ev.Reasons)
	}
	// A record not releasable to ALB never leaves A: it is decided at
	// delivery, withheld from B's member, and that is in A's audit log.
	exResults(t, f.a.as("IT/GOV/MOD").push(exWith(fedRecord(t, "ITA-LIC-2026-000002", "IT/GOV/MOD"), "label.releasable_to", []string{"ITA"})))
	waitFor(t, func() bool {
		for _, e := range f.a.audit.All() {
			if e.Action == upstream.ActionForward && e.RecordID == "ITA-LIC-2026-000002" {
				return e.Decision == audit.DecisionWithhold && e.Member == fedOwnID
			}
		}
		return false
	})
	waitFor(t, func() bool { n, _ := f.outbox.Pending("al-gateway"); return n == 0 })
	if got, _ := f.b.store.Get(context.Background(), "ITA-LIC-2026-000002"); got != nil {
		t.Errorf("a record not releasable to ALB reached B")
	}
}

// TestFedInbound: what B accepts from the peer, line by line, and every
// way of sending B something the peer did not sign for it.
func TestFedInbound(t *testing.T) {
	f := newFedPair(t)
	peer := f.b.as(fedPeerID)
	other := audittest.NewSigner(t, "ura-it:1") // same kid, another key
	good := fedLine(t, f.aSigner, sign.TypFederation, fedOwnID, fedRecord(t, "ITA-LIC-2026-000010", "IT/GOV/MOD"))
	tampered := fedTamper(t, good, "ITA-LIC-2026-000010", "ITA-LIC-2026-000011")
	bare, _ := json.Marshal(fedRecord(t, "ITA-LIC-2026-000012", "IT/GOV/MOD"))

	cases := []struct {
		name   string
		line   []byte
		id     string // never stored, unless want is accepted
		want   string
		reason string
	}{
		{"signed for B", good, "ITA-LIC-2026-000010", exchange.StatusAccepted, ""},
		{"tampered payload", tampered, "ITA-LIC-2026-000011", exchange.StatusInvalid, "bad_signature"},
		{"bare record", bare, "ITA-LIC-2026-000012", exchange.StatusInvalid, federation.ReasonSignatureRequired},
		{"another key, same kid", fedLine(t, other, sign.TypFederation, fedOwnID, fedRecord(t, "ITA-LIC-2026-000013", "IT/GOV/MOD")),
			"ITA-LIC-2026-000013", exchange.StatusInvalid, "bad_signature"},
		{"signed for another gateway", fedLine(t, f.aSigner, sign.TypFederation, "AL/GOV/URA2", fedRecord(t, "ITA-LIC-2026-000014", "IT/GOV/MOD")),
			"ITA-LIC-2026-000014", exchange.StatusInvalid, federation.ReasonWrongRecipient},
		{"a delivery, not a federation JWS", fedLine(t, f.aSigner, sign.TypDelivery, fedOwnID, fedRecord(t, "ITA-LIC-2026-000015", "IT/GOV/MOD")),
			"ITA-LIC-2026-000015", exchange.StatusInvalid, federation.ReasonWrongType},
		{"Albanian originator", fedLine(t, f.aSigner, sign.TypFederation, fedOwnID, fedRecord(t, "ITA-LIC-2026-000016", "AL/GOV/AIM")),
			"ITA-LIC-2026-000016", exchange.StatusDenied, federation.ReasonRelayOwnInstance},
		{"another nation's originator", fedLine(t, f.aSigner, sign.TypFederation, fedOwnID, fedRecord(t, "ITA-LIC-2026-000017", "CZ/GOV/MOD")),
			"ITA-LIC-2026-000017", exchange.StatusDenied, federation.ReasonRelayOutsidePeer},
		{"signed but schema-invalid", fedLine(t, f.aSigner, sign.TypFederation, fedOwnID,
			exWith(fedRecord(t, "ITA-LIC-2026-000018", "IT/GOV/MOD"), "licence.status", "lost")), "ITA-LIC-2026-000018", exchange.StatusInvalid, ""},
		{"extra member beside jws", []byte(`{"jws":"a.b.c","record":{}}`), "", exchange.StatusInvalid, federation.ReasonSignatureRequired},
		{"alg none", []byte(`{"jws":"` + fedNone(t, fedRecord(t, "ITA-LIC-2026-000019", "IT/GOV/MOD")) + `"}`),
			"ITA-LIC-2026-000019", exchange.StatusInvalid, "alg_not_allowed"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := peer.fedPush(tc.line)
			if len(res) != 1 || res[0].Status != tc.want {
				t.Fatalf("result %+v, want %s", res, tc.want)
			}
			if tc.reason != "" && !fedHasReason(res[0], tc.reason) {
				t.Errorf("reasons %v, want %s", res[0].Reasons, tc.reason)
			}
			if tc.want == exchange.StatusInvalid && tc.reason != "" && tc.reason != federation.ReasonSignatureRequired {
				if len(res[0].Errors) != 1 || res[0].Errors[0].Pointer != "/jws" {
					t.Errorf("errors %+v, want one at /jws", res[0].Errors)
				}
			}
			got, _ := f.b.store.Get(context.Background(), tc.id)
			if stored := got != nil; stored != (tc.want == exchange.StatusAccepted) {
				t.Errorf("stored = %v", stored)
			}
		})
	}

	// A batch: one bad line does not take the good ones with it, and each
	// keeps its own result.
	res := peer.fedPush(
		fedLine(t, f.aSigner, sign.TypFederation, fedOwnID, fedRecord(t, "ITA-LIC-2026-000020", "IT/GOV/MOD")),
		bare,
		fedLine(t, f.aSigner, sign.TypFederation, fedOwnID, fedRecord(t, "ITA-LIC-2026-000021", "IT/GOV/MOD")))
	if len(res) != 3 || res[0].Status != exchange.StatusAccepted || res[1].Status != exchange.StatusInvalid || res[2].Status != exchange.StatusAccepted {
		t.Fatalf("batch results %+v", res)
	}

	// B answers its members under the chunk profile, but a peer always gets
	// one ura-result+jws per result, its receipt, whatever it asks.
	for _, accept := range []string{"", `application/json; profile="` + exchange.ProfileChunk + `"`, `application/json; profile="urn:example:other"`} {
		line := fedLine(t, f.aSigner, sign.TypFederation, fedOwnID, fedRecord(t, "ITA-LIC-2026-000022", "IT/GOV/MOD"))
		r := peer.do(http.MethodPost, "/v1/records", "application/x-ndjson", accept, append(line, '\n'))
		res := exResults(t, r)
		if len(res) != 1 || res[0].JWS == "" || sign.Typ(res[0].JWS) != sign.TypResult {
			t.Fatalf("peer with Accept %q: %s", accept, r.body)
		}
		if _, params, _ := mime.ParseMediaType(r.header.Get("Content-Type")); params["profile"] != exchange.ProfileJWS {
			t.Errorf("peer with Accept %q: Content-Type %q", accept, r.header.Get("Content-Type"))
		}
	}
	member := exResults(t, f.b.as("AL/GOV/AIM").push(polRecord(t, "licence")))
	if len(member) != 1 || member[0].JWS != "" {
		t.Errorf("a member's push under B's chunk profile carries a JWS: %+v", member)
	}
}

// TestFedNonPeer: a member that is not a configured peer cannot use the
// peer form, and a peer cannot push plain records in its own name.
func TestFedNonPeer(t *testing.T) {
	f := newFedPair(t)
	line := fedLine(t, f.aSigner, sign.TypFederation, fedOwnID, fedRecord(t, "ITA-LIC-2026-000030", "IT/GOV/MOD"))
	res := f.b.as("IT/GOV/MOD").fedPush(line)
	if len(res) != 1 || res[0].Status != exchange.StatusInvalid {
		t.Fatalf("a non-peer's {\"jws\"} line: %+v", res)
	}
	if got, _ := f.b.store.Get(context.Background(), "ITA-LIC-2026-000030"); got != nil {
		t.Fatal("stored")
	}
	// The same Italian member pushing its own plain record is fine.
	if res := exResults(t, f.b.as("IT/GOV/MOD").push(fedRecord(t, "ITA-LIC-2026-000031", "IT/GOV/MOD"))); res[0].Status != exchange.StatusAccepted {
		t.Fatalf("plain push by IT/GOV/MOD: %+v", res)
	}
}

// TestFedKeysUnavailable: when the peer's JWKS cannot be read, B answers
// 503 and stores nothing of the batch.
func TestFedKeysUnavailable(t *testing.T) {
	signer := audittest.NewSigner(t, "ura-it:1")
	b := startGateway(t, fedB(config.SignPeer{JWKSURL: "https://127.0.0.1:1/.well-known/jwks.json"}, nil))
	line := fedLine(t, signer, sign.TypFederation, fedOwnID, fedRecord(t, "ITA-LIC-2026-000040", "IT/GOV/MOD"))
	r := b.as(fedPeerID).do(http.MethodPost, "/v1/records", "application/x-ndjson", "", append(line, '\n'))
	r.problem(t, http.StatusServiceUnavailable, problem.TypeUnavailable)
	if b.store.Len() != 0 {
		t.Fatal("stored while the peer's keys were unreadable")
	}
}

// fedTamper swaps text inside a JWS's payload and keeps the signature.
func fedTamper(t *testing.T, line []byte, from, to string) []byte {
	t.Helper()
	var l struct {
		JWS string `json:"jws"`
	}
	if err := json.Unmarshal(line, &l); err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(l.JWS, ".")
	p, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString([]byte(strings.ReplaceAll(string(p), from, to)))
	out, _ := json.Marshal(map[string]string{"jws": strings.Join(parts, ".")})
	return out
}

// fedNone is an unsigned JWS (alg none) naming the peer's kid.
func fedNone(t *testing.T, rec any) string {
	t.Helper()
	raw, _ := json.Marshal(rec)
	payload, _ := json.Marshal(sign.Delivery{Record: raw, Recipient: fedOwnID})
	hdr := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","kid":"ura-it:1","typ":"` + sign.TypFederation + `"}`))
	return hdr + "." + base64.RawURLEncoding.EncodeToString(payload) + ".c2ln"
}

package upstream

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v2/jwk"

	"github.com/ura-gateway/ura/adapters/store"
	"github.com/ura-gateway/ura/adapters/store/storetest"
	"github.com/ura-gateway/ura/gateway/api/apitest"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/audit/audittest"
	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/sign"
)

// Members of the test registry: this side's agency (the back office's
// member) and three peer gateways, each a partner of its nation.
const (
	selfID = "AL/GOV/URA" // this gateway, as peers know it
	aimID  = "AL/GOV/AIM"
	itID   = "IT/GOV/URA"
	czID   = "CZ/GOV/URA"
)

var testRegistry = identity.NewRegistry([]identity.Member{
	{ID: aimID, Name: "AIM", Nation: "ALB", Kind: identity.KindAgency, Clearance: "SECRET"},
	{ID: itID, Name: "Italy ura gateway", Nation: "ITA", Kind: identity.KindPartner, Clearance: "CONFIDENTIAL"},
	{ID: czID, Name: "Czech ura gateway", Nation: "CZE", Kind: identity.KindPartner, Clearance: "CONFIDENTIAL"},
})

var (
	embeddedOnce   sync.Once
	embeddedEngine *policy.OPA
	embeddedErr    error
)

// embeddedPolicy is the real embedded policy, compiled once for the
// package: whatever a test claims a destination receives, this decides.
func embeddedPolicy(t testing.TB) *policy.OPA {
	t.Helper()
	embeddedOnce.Do(func() {
		embeddedEngine, embeddedErr = policy.New(context.Background(), policy.Options{Timeout: 10 * time.Second})
	})
	if embeddedErr != nil {
		t.Fatal(embeddedErr)
	}
	return embeddedEngine
}

// deps are what an outbox decides and audits with; two outboxes opened on
// one file in a test share them, as a restarted gateway shares its store.
type deps struct {
	store *apitest.Store
	audit *apitest.Audit
	peers testPeers
}

func newDeps() *deps {
	return &deps{store: apitest.NewStore(), audit: &apitest.Audit{}, peers: testPeers{}}
}

func (d *deps) options(t *testing.T) Options {
	return Options{Logger: testLogger(t), Registry: testRegistry, Store: d.store, Policy: embeddedPolicy(t), Audit: d.audit,
		Signer: fedSigner(t), Issuer: "ura.aim.gov.al", Peers: d.peers, Self: selfID}
}

// put stores recs as accepted pushes would.
func (d *deps) put(t *testing.T, recs ...*records.Record) {
	t.Helper()
	for _, r := range recs {
		if _, err := d.store.Put(ctx, r, nil); err != nil {
			t.Fatalf("store %s@%d: %v", r.ID, r.Version, err)
		}
	}
}

// forwards are the forward events the outbox appended, in order.
func (d *deps) forwards() []audit.Event {
	var out []audit.Event
	for _, e := range d.audit.All() {
		if e.Action == ActionForward {
			out = append(out, e)
		}
	}
	return out
}

// testPeers verifies peer gateways' receipts against keys held in memory.
type testPeers map[string]*sign.Verifier

func (p testPeers) IsPeer(member string) bool { return p[member] != nil }

func (p testPeers) VerifyPeer(ctx context.Context, member, compact string) ([]byte, string, error) {
	v := p[member]
	if v == nil {
		return nil, "", fmt.Errorf("%w: %s", sign.ErrUnknownPeer, member)
	}
	return v.VerifyContext(ctx, compact)
}

// peerSeed fixes the key the stand-in peers sign their receipts with.
var peerSeed = bytes.Repeat([]byte{9}, 32)

func peerSigner(t testing.TB) *audittest.Signer {
	return audittest.NewSignerFromSeed(t, "ura-peer:1", peerSeed)
}

// peerGateway stands in for a peer ura gateway: it opens each line with the
// sender's key, keeps the record bytes it carried, and answers with a
// result signed by its own key, made for selfID, with the digest of those
// bytes — what a real gateway answers. Its knobs break that answer.
type peerGateway struct {
	*backOffice
	t      *testing.T
	signer *audittest.Signer
	// sender is the sending gateway's public key set.
	sender jwk.Set

	mu sync.Mutex
	// status decides the result by record id; nil: accepted.
	status func(id string) string
	// receipt, when set, rewrites the signed claims or the answer.
	receipt func(c map[string]any)
	// answer, when set, replaces the whole body.
	answer string
	// forger, when set, signs instead of signer.
	forger *audittest.Signer
	// seq numbers the "audit events" of the peer.
	seq int64
}

// newPeerGateway registers member as a peer whose receipts verify with the
// peer key, and returns its stand-in.
func newPeerGateway(t *testing.T, d *deps, member string) *peerGateway {
	pg := &peerGateway{backOffice: newBackOffice(), t: t, signer: peerSigner(t), sender: fedSigner(t).KeySet()}
	d.peers[member] = sign.NewVerifier(sign.StaticKeys{Set: pg.signer.KeySet()})
	pg.respond = pg.serve
	return pg
}

func (pg *peerGateway) set(f func(pg *peerGateway)) {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	f(pg)
}

func (pg *peerGateway) serve(dl delivery, _ int) (int, http.Header, string) {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	jsonHeader := http.Header{"Content-Type": {"application/json"}}
	if pg.answer != "" {
		return http.StatusOK, jsonHeader, pg.answer
	}
	del, err := openLine(pg.sender, dl.body)
	if err != nil {
		pg.t.Errorf("peer: %v", err)
		return http.StatusBadRequest, nil, ""
	}
	var rec struct {
		ID      string `json:"id"`
		Version int    `json:"version"`
	}
	if err := json.Unmarshal(del.Record, &rec); err != nil {
		pg.t.Errorf("peer: record %v", err)
	}
	status := "accepted"
	if pg.status != nil {
		status = pg.status(rec.ID)
	}
	pg.seq++
	claims := map[string]any{"index": 0, "id": rec.ID, "version": rec.Version, "status": status,
		"decision_id": fmt.Sprintf("peer-dec-%d", pg.seq), "digest": records.Digest(del.Record), "audit_seq": pg.seq,
		"recipient": selfID, "iss": "ura.peer.example", "iat": time.Now().Unix()}
	if status == "denied" {
		claims["reasons"] = []map[string]string{{"code": "not_releasable", "message": "…"}}
	}
	if pg.receipt != nil {
		pg.receipt(claims)
	}
	payload, _ := json.Marshal(claims)
	signer := pg.signer
	if pg.forger != nil {
		signer = pg.forger
	}
	jws, err := signer.SignTyped(context.Background(), sign.TypResult, [][]byte{payload})
	if err != nil {
		pg.t.Errorf("peer: sign: %v", err)
	}
	body, _ := json.Marshal(map[string]any{"results": []map[string]any{{"index": 0, "id": rec.ID, "version": rec.Version,
		"status": status, "jws": jws[0]}}})
	return http.StatusOK, jsonHeader, string(body)
}

// openLine verifies one NDJSON line a peer received against the sending
// gateway's key and returns the delivery inside.
func openLine(keys jwk.Set, body []byte) (sign.Delivery, error) {
	var d sign.Delivery
	var line struct {
		JWS string `json:"jws"`
	}
	dec := json.NewDecoder(bytes.NewReader(bytes.TrimSuffix(body, []byte("\n"))))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&line); err != nil || line.JWS == "" {
		return d, fmt.Errorf("peer body is not one {\"jws\": …} line: %q (%v)", body, err)
	}
	if typ := sign.Typ(line.JWS); typ != sign.TypFederation {
		return d, fmt.Errorf("typ %q, want %s", typ, sign.TypFederation)
	}
	payload, _, err := sign.NewVerifier(sign.StaticKeys{Set: keys}).Verify(line.JWS)
	if err != nil {
		return d, fmt.Errorf("peer body does not verify: %w", err)
	}
	err = json.Unmarshal(payload, &d)
	return d, err
}

// received is every record a peer got, as the bytes inside the signed
// deliveries, and the raw request bodies.
func (pg *peerGateway) received(t *testing.T) (recs []json.RawMessage, dels []sign.Delivery, raw []byte) {
	t.Helper()
	reqs, _, _ := pg.snapshot()
	for _, r := range reqs {
		d, err := openLine(pg.sender, r.body)
		if err != nil {
			t.Fatal(err)
		}
		recs, dels = append(recs, d.Record), append(dels, d)
		raw = append(raw, r.body...)
	}
	return recs, dels, raw
}

// wire is everything a receiver got, with each JWS's payload decoded too,
// so that a secret is found whether it travelled plain or inside a
// signature.
func wire(reqs []delivery) []byte {
	var out []byte
	for _, r := range reqs {
		out = append(out, r.body...)
		for _, part := range strings.FieldsFunc(string(r.body), func(c rune) bool { return c == '.' || c == '"' }) {
			if p, err := base64.RawURLEncoding.DecodeString(part); err == nil {
				out = append(out, p...)
			}
		}
	}
	return out
}

// licence is an AIM export licence to Italy with the fields policy guards:
// the end user's personal contact and the contract value.
func licence(t *testing.T, id string, version int, classification string, releasable ...string) *records.Record {
	t.Helper()
	return storetest.Record(t, map[string]any{
		"kind": records.KindLicence, "id": id, "version": version,
		"label": map[string]any{"classification": classification, "releasable_to": releasable,
			"originator": aimID, "created": base.Format(time.RFC3339)},
		"licence": map[string]any{
			"type": "export", "status": "issued",
			"holder":     map[string]any{"entity_id": "L61234567A", "name": "KAYO sh.a."},
			"valid_from": "2026-05-01", "valid_until": "2027-04-30",
			"items": []any{map[string]any{"ml_category": "ML1", "description": "7.62x39mm rifles",
				"quantity": 500, "unit": "pieces"}},
			"destination": "ITA",
			"end_user": map[string]any{"name": "Ministero della Difesa", "country": "ITA",
				"contact": map[string]any{"name": "Mario Rossi", "email": "mario.rossi@difesa.it"}},
			"contract_value": map[string]any{"amount": 1840000, "currency": "EUR"},
		},
	})
}

// storeGetFails is a store whose reads fail while fail is set.
type storeGetFails struct {
	*apitest.Store
	mu   sync.Mutex
	fail bool
}

func (s *storeGetFails) Get(ctx context.Context, id string) (*records.Record, error) {
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	if fail {
		return nil, errors.New("connection refused")
	}
	return s.Store.Get(ctx, id)
}

func (s *storeGetFails) GetMany(ctx context.Context, ids []string) ([]*records.Record, error) {
	s.mu.Lock()
	fail := s.fail
	s.mu.Unlock()
	if fail {
		return nil, errors.New("connection refused")
	}
	return s.Store.GetMany(ctx, ids)
}

var _ store.Store = (*storeGetFails)(nil)

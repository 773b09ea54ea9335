package server

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/ura-gateway/ura/gateway/api/apitest"
	"github.com/ura-gateway/ura/gateway/api/exchange"
	"github.com/ura-gateway/ura/gateway/audit/audittest"
	"github.com/ura-gateway/ura/gateway/config"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/sign"
)

// cbEnv is this side's gateway (sign.member AL/GOV/URA) on the embedded
// policy and a real store, with Italy's ura gateway as a peer (member
// IT/GOV/URA of kind gateway, under the Italian anchor), and partner
// ministries of Serbia and Czechia beside Italy's.
type cbEnv struct {
	*gatewayEnv
	italy *audittest.Signer // the Italian gateway's signing key
}

func cbStart(t *testing.T, opts ...gatewayOption) *cbEnv {
	t.Helper()
	c := &cbEnv{italy: audittest.NewSigner(t, "ura-it:1")}
	jwks := fedJWKSFile(t, c.italy)
	c.gatewayEnv = startGateway(t, append([]gatewayOption{withEmbeddedPolicy(), withDeps(func(cfg *config.Config, d *Deps) {
		// The test PKI's Albanian anchor also issues the Serbian and
		// Czech ministries' certificates.
		cfg.TLS.ClientCAs[0].Prefixes = append(cfg.TLS.ClientCAs[0].Prefixes, "RS/", "CZ/")
		cfg.Members = append(cfg.Members,
			config.Member{ID: fedPeerID, Name: "Italy ura gateway", Nation: "ITA", Kind: "gateway", Clearance: "CONFIDENTIAL"},
			config.Member{ID: "RS/GOV/MOD", Name: "Serbia MoD", Nation: "SRB", Kind: "partner", Clearance: "CONFIDENTIAL"},
			config.Member{ID: "CZ/GOV/MOD", Name: "Czechia MoD", Nation: "CZE", Kind: "partner", Clearance: "CONFIDENTIAL"})
		cfg.Sign.Issuer = "ura.aim.gov.al"
		cfg.Sign.Member = fedOwnID
		cfg.Sign.Peers = map[string]config.SignPeer{fedPeerID: {JWKSFile: jwks}}
		peers, err := sign.NewPeers(cfg.Sign, cfg.Path, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		d.Peers = peers
	})}, opts...)...)
	return c
}

// relay pushes recs as Italy's gateway: each signed for this gateway.
func (c *cbEnv) relay(t *testing.T, recs ...map[string]any) []exResultT {
	t.Helper()
	lines := make([][]byte, len(recs))
	for i, r := range recs {
		lines[i] = fedLine(t, c.italy, sign.TypFederation, fedOwnID, r)
	}
	return c.as(fedPeerID).fedPush(lines...)
}

// recordOf verifies a delivery this gateway signed for recipient under the
// embedded policy and returns the record inside it.
func (c *cbEnv) recordOf(t *testing.T, d exchange.Delivery, recipient string) map[string]any {
	t.Helper()
	typ, payload := apitest.Verify(t, d.JWS)
	if typ != "ura-delivery+jws" || payload["recipient"] != recipient || payload["policy_revision"] != c.revision || payload["decision_id"] == "" {
		t.Errorf("delivery to %s: %s %v", recipient, typ, payload)
	}
	rec, _ := payload["record"].(map[string]any)
	return rec
}

func cbCodes(r exResultT) []string {
	var out []string
	for _, x := range r.Reasons {
		out = append(out, x["code"])
	}
	return out
}

// TestCrossBorderReleasabilityE2E: a licence marked REL ALB, NATO reaches
// Italy's ministry, whose nation is an ally, and never Serbia's.
func TestCrossBorderReleasabilityE2E(t *testing.T) {
	c := cbStart(t)
	lic := polRecord(t, "licence", "label.releasable_to", []any{"ALB", "NATO"})
	if res := exResults(t, c.as("AL/GOV/AIM").push(lic)); res[0].Status != exchange.StatusAccepted {
		t.Fatalf("AIM's licence: %+v", res[0])
	}
	id := lic["id"].(string)
	italy := polPull(t, c.gatewayEnv, "IT/GOV/MOD", c.revision)
	if _, ok := italy.records[id]; !ok || !slices.Equal(italy.redact[id], []string{"/licence/end_user/contact"}) {
		t.Errorf("Italy's ministry sees %v (redacted %v)", italy.ids(), italy.redact[id])
	}
	if r := c.as("IT/GOV/MOD").get("/v1/records/" + id); r.status != http.StatusOK {
		t.Errorf("Italy's ministry reading the licence: %d", r.status)
	}
	serbia := polPull(t, c.gatewayEnv, "RS/GOV/MOD", c.revision)
	if len(serbia.records) != 0 {
		t.Errorf("Serbia's ministry sees %v", serbia.ids())
	}
	if r := c.as("RS/GOV/MOD").get("/v1/records/" + id); r.status != http.StatusNotFound {
		t.Errorf("Serbia's ministry reading the licence: %d", r.status)
	}
	if !policy.Releasable([]string{"ALB", "NATO"}, "ITA") || policy.Releasable([]string{"ALB", "NATO"}, "SRB") {
		t.Error("policy.Releasable disagrees with what the gateway delivered")
	}
}

// TestCrossBorderRelayE2E: Italy's gateway relays its ministry's licence
// and a new version of it; what it may not relay is refused, each with its
// code, and never stored.
func TestCrossBorderRelayE2E(t *testing.T) {
	c := cbStart(t)
	itLicence := func(id string, kv ...any) map[string]any {
		return exWith(polRecord(t, "licence", "id", id, "version", 1, "label.originator", "IT/GOV/MOD",
			"label.releasable_to", []any{"ALB", "ITA"}), kv...)
	}
	const id = "IT-GOV-MOD-LIC-2026-000001"
	res := c.relay(t, itLicence(id))
	if res[0].Status != exchange.StatusAccepted {
		t.Fatalf("relay of IT/GOV/MOD's licence: %+v", res[0])
	}
	if r := c.as("AL/GOV/AIM").get("/v1/records/" + id); r.status != http.StatusOK {
		t.Fatalf("AIM reading the relayed licence: %d %s", r.status, r.body)
	}
	if res := c.relay(t, itLicence(id, "version", 2, "licence.status", "suspended")); res[0].Status != exchange.StatusAccepted {
		t.Errorf("relay of a new version, label kept: %+v", res[0])
	}

	cases := []struct {
		name string
		rec  map[string]any
		want string
	}{
		{"an Albanian originator", polRecord(t, "licence", "id", "AIM-LIC-2026-000777", "version", 1), policy.ReasonRelayOriginatorOwnInstance},
		{"another nation's originator", itLicence("CZ-GOV-MOD-LIC-1", "label.originator", "CZ/GOV/MOD"), policy.ReasonRelayOriginatorOutsidePeer},
		{"a kind not relayed", polRecord(t, "entity", "id", "IT-GOV-MOD-ENT-1", "label.originator", "IT/GOV/MOD"), policy.ReasonRelayKindNotPermitted},
		{"an event type not relayed", polRecord(t, "export", "id", "IT-GOV-MOD-EVT-1", "label.originator", "IT/GOV/MOD"), policy.ReasonRelayKindNotPermitted},
		{"a lowered classification", itLicence(id, "version", 3, "label.classification", "UNCLASSIFIED"), "label_downgrade"},
		{"a widened releasability", itLicence(id, "version", 3, "label.releasable_to", []any{"ALB", "ITA", "SRB"}), "label_downgrade"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			res := c.relay(t, tc.rec)
			if res[0].Status != exchange.StatusDenied || !slices.Contains(cbCodes(res[0]), tc.want) {
				t.Fatalf("result %s %v, want denied %s", res[0].Status, cbCodes(res[0]), tc.want)
			}
			for _, code := range []string{"originator_mismatch", "push_not_authorised"} {
				if slices.Contains(cbCodes(res[0]), code) {
					t.Errorf("a relay refused with %s", code)
				}
			}
		})
	}
	// The stored licence is still version 2, RESTRICTED, REL ALB, ITA.
	r := c.as("AL/GOV/AIM").get("/v1/records/" + id)
	var one exchange.Delivery
	if r.status != http.StatusOK || json.Unmarshal(r.body, &one) != nil {
		t.Fatalf("AIM reading the licence: %d %s", r.status, r.body)
	}
	got := c.recordOf(t, one, "AL/GOV/AIM")
	label := got["label"].(map[string]any)
	if got["version"] != float64(2) || label["classification"] != "RESTRICTED" || len(label["releasable_to"].([]any)) != 2 {
		t.Errorf("stored after the refusals: version %v, label %v", got["version"], label)
	}
	// Nothing refused was stored.
	for _, gone := range []string{"AIM-LIC-2026-000777", "CZ-GOV-MOD-LIC-1", "IT-GOV-MOD-ENT-1", "IT-GOV-MOD-EVT-1"} {
		if r := c.as("AL/GOV/AIM").get("/v1/records/" + gone); r.status != http.StatusNotFound {
			t.Errorf("%s: %d", gone, r.status)
		}
	}
}

// TestCrossBorderTraceE2E: Italy asks AIM to trace a KAYO rifle; AIM sees
// the request and answers Italy, and Czechia too; each partner sees its
// own answer and not the other's, by pull and by the trace route.
func TestCrossBorderTraceE2E(t *testing.T) {
	c := cbStart(t)
	marking := "event.item.marking.serial"
	request := polRecord(t, "transfer_ita", "id", "IT-GOV-MOD-TR-2026-0001", "label.originator", "IT/GOV/MOD",
		"label.releasable_to", []any{"ALB", "ITA"}, "event.type", "TRACE_REQUEST", "event.from", nil, "event.to", nil,
		"event.location", nil, marking, "K26-000555",
		"event.trace", map[string]any{"request_id": "IT-TR-2026-0001", "reason": "rifle seized in Bari",
			"requesting_authority": "Carabinieri, Reparto Operativo di Bari"})
	if res := exResults(t, c.as("IT/GOV/MOD").push(request)); res[0].Status != exchange.StatusAccepted {
		t.Fatalf("Italy's trace request: %+v", res[0])
	}
	if _, ok := polPull(t, c.gatewayEnv, "AL/GOV/AIM", c.revision).records["IT-GOV-MOD-TR-2026-0001"]; !ok {
		t.Fatal("AIM does not see Italy's trace request about an Albanian marking")
	}
	answer := func(id, requester string) map[string]any {
		return polRecord(t, "transfer_ita", "id", id, "label.releasable_to", []any{"ALB", "NATO"},
			"event.type", "TRACE_RESPONSE", "event.from", nil, "event.to", nil, "event.location", nil, marking, "K26-000555",
			"event.trace", map[string]any{"request_id": "IT-TR-2026-0001", "requester": requester,
				"answer": "manufactured by KAYO in 2026; transferred to ITA at Rinas"})
	}
	res := exResults(t, c.as("AL/GOV/AIM").push(answer("AIM-EVT-2026-0000901", "IT/GOV/MOD"), answer("AIM-EVT-2026-0000902", "CZ/GOV/MOD")))
	for _, r := range res {
		if r.Status != exchange.StatusAccepted {
			t.Fatalf("AIM's answer %s: %+v", r.ID, r)
		}
	}
	for member, want := range map[string][]string{
		"IT/GOV/MOD": {"AIM-EVT-2026-0000901", "IT-GOV-MOD-TR-2026-0001"},
		"CZ/GOV/MOD": {"AIM-EVT-2026-0000902"},
	} {
		if got := polPull(t, c.gatewayEnv, member, c.revision).ids(); !slices.Equal(got, want) {
			t.Errorf("%s pulls %v, want %v", member, got, want)
		}
		var body struct{ Events []exchange.Delivery }
		r := c.as(member).get("/v1/items/ALB/KAYO/K26-000555/trace")
		if r.status != http.StatusOK || json.Unmarshal(r.body, &body) != nil {
			t.Fatalf("%s's trace: %d %s", member, r.status, r.body)
		}
		var traced []string
		for _, d := range body.Events {
			rec := c.recordOf(t, d, member)
			traced = append(traced, rec["id"].(string))
		}
		slices.Sort(traced)
		if !slices.Equal(traced, want) {
			t.Errorf("%s traces %v, want %v", member, traced, want)
		}
	}
	// The one answer addressed to neither: the liaison office sees none.
	if got := polPull(t, c.gatewayEnv, "NATO/ORG/LIAISON", c.revision).ids(); len(got) != 0 {
		t.Errorf("the NATO liaison sees %v", got)
	}
	// An answer addressed to another partner is asked for by id: answered
	// exactly like an id that is not stored (body, status, rate-limit
	// headers), so its existence is not learned.
	hidden := c.as("IT/GOV/MOD").get("/v1/records/AIM-EVT-2026-0000902")
	missing := c.as("IT/GOV/MOD").get("/v1/records/AIM-EVT-2026-0000999")
	hb, mb := hidden.problem(t, http.StatusNotFound, "urn:ura:problem:not-found"), missing.problem(t, http.StatusNotFound, "urn:ura:problem:not-found")
	delete(hb, "instance")
	delete(mb, "instance")
	if jsonString(hb) != jsonString(mb) || hidden.header.Get("RateLimit") != missing.header.Get("RateLimit") {
		t.Errorf("an unaddressed trace response answers unlike a missing id:\n%s %q\n%s %q", jsonString(hb), hidden.header.Get("RateLimit"), jsonString(mb), missing.header.Get("RateLimit"))
	}
}

// TestOpenTracesRefusedAlike: a partner may not list the open trace
// requests, and its refusal is the same whether requests wait or not; a
// parameter the route does not take is a 400 naming it.
func TestOpenTracesRefusedAlike(t *testing.T) {
	c := cbStart(t)
	refusal := func() map[string]any {
		r := c.as("IT/GOV/MOD").get("/v1/traces/open")
		p := r.problem(t, http.StatusForbidden, "urn:ura:problem:forbidden")
		delete(p, "instance")
		return p
	}
	before := refusal()
	request := polRecord(t, "transfer_ita", "id", "IT-GOV-MOD-TR-2026-0002", "label.originator", "IT/GOV/MOD",
		"label.releasable_to", []any{"ALB", "ITA"}, "event.type", "TRACE_REQUEST", "event.from", nil, "event.to", nil,
		"event.location", nil, "event.trace", map[string]any{"request_id": "IT-TR-2026-0002", "reason": "rifle seized in Bari",
			"requesting_authority": "Carabinieri, Reparto Operativo di Bari"})
	if res := exResults(t, c.as("IT/GOV/MOD").push(request)); res[0].Status != exchange.StatusAccepted {
		t.Fatalf("Italy's trace request: %+v", res[0])
	}
	if after := refusal(); jsonString(after) != jsonString(before) {
		t.Errorf("the refusal changed once a request waits:\n%s\n%s", jsonString(before), jsonString(after))
	}
	var open struct {
		Open []exchange.OpenTrace `json:"open"`
	}
	r := c.as("AL/GOV/AIM").get("/v1/traces/open")
	if r.status != http.StatusOK || json.Unmarshal(r.body, &open) != nil || len(open.Open) != 1 || open.Open[0].RequestID != "IT-TR-2026-0002" {
		t.Fatalf("AIM's open list: %d %s", r.status, r.body)
	}
	p := c.as("AL/GOV/AIM").get("/v1/traces/open?limit=5").problem(t, http.StatusBadRequest, "urn:ura:problem:bad-request")
	if errs, _ := p["errors"].([]any); len(errs) != 1 || errs[0].(map[string]any)["pointer"] != "limit" {
		t.Errorf("unknown parameter: %v", p)
	}
}

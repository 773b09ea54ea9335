package policy

import (
	"context"
	"slices"
	"testing"

	"github.com/ura-gateway/ura/gateway/identity"
)

// Members across the border, as the registry would hold them.
var (
	memberITGateway = identity.Member{ID: "IT/GOV/URA", Name: "Italy ura gateway", Nation: "ITA", Kind: identity.KindGateway, Clearance: "CONFIDENTIAL"}
	memberSRB       = identity.Member{ID: "RS/GOV/MOD", Name: "Serbia MoD", Nation: "SRB", Kind: identity.KindPartner, Clearance: "CONFIDENTIAL"}
	memberXKX       = identity.Member{ID: "XK/GOV/MOD", Name: "Kosovo MoD", Nation: "XKX", Kind: identity.KindPartner, Clearance: "CONFIDENTIAL"}
	memberCZE       = identity.Member{ID: "CZ/GOV/MOD", Name: "Czechia MoD", Nation: "CZE", Kind: identity.KindPartner, Clearance: "CONFIDENTIAL"}
)

// TestCrossBorderReleasability: a licence marked REL ALB, NATO reaches
// Italy's ministry (an ally), not Serbia's or Kosovo's.
func TestCrossBorderReleasability(t *testing.T) {
	e := newEngine(t, Options{Logger: discard})
	lic := record(t, "licence", nil)
	if rel := lic.Label.ReleasableTo; !slices.Equal(rel, []string{"ALB", "NATO"}) {
		t.Fatalf("test licence is REL %v", rel)
	}
	d := e.Decide(context.Background(), Input{Caller: memberITA, Action: Pull, Record: lic})
	if !d.Allow || !slices.Equal(d.Redact, []string{"/licence/end_user/contact"}) {
		t.Errorf("Italy's ministry: %+v", d)
	}
	for _, m := range []identity.Member{memberSRB, memberXKX} {
		d := e.Decide(context.Background(), Input{Caller: m, Action: Pull, Record: lic})
		if d.Allow || !slices.Equal(codes(d), []string{"not_releasable"}) {
			t.Errorf("%s: %+v", m.ID, d)
		}
	}
}

// TestCrossBorderRelays: Italy's gateway relays its ministry's licence;
// every other relay is refused with its own code, never with the codes of
// a member pushing in another's name.
func TestCrossBorderRelays(t *testing.T) {
	e := newEngine(t, Options{Logger: discard})
	ctx := context.Background()
	itLicence := record(t, "licence", map[string]any{"id": "IT-GOV-MOD-LIC-2026-000001", "label.originator": "IT/GOV/MOD",
		"label.releasable_to": []any{"ALB", "ITA"}})
	if d := e.Decide(ctx, Input{Caller: memberITGateway, Action: Push, Record: itLicence}); !d.Allow {
		t.Fatalf("IT/GOV/URA relaying IT/GOV/MOD's licence: %+v", d)
	}
	v2 := record(t, "licence", map[string]any{"id": "IT-GOV-MOD-LIC-2026-000001", "version": 4, "label.originator": "IT/GOV/MOD",
		"label.releasable_to": []any{"ALB", "ITA"}, "licence.status": "suspended"})
	if d := e.Decide(ctx, Input{Caller: memberITGateway, Action: Push, Record: v2, Previous: itLicence}); !d.Allow {
		t.Errorf("a relayed new version, label kept: %+v", d)
	}

	cases := []struct {
		name  string
		edits map[string]any
		kind  string
		prev  bool
		want  string
	}{
		{"an Albanian originator", map[string]any{}, "licence", false, ReasonRelayOriginatorOwnInstance},
		{"another nation's originator", map[string]any{"id": "CZ-GOV-MOD-LIC-1", "label.originator": "CZ/GOV/MOD"}, "licence", false, ReasonRelayOriginatorOutsidePeer},
		{"the gateway's own name", map[string]any{"id": "IT-GOV-URA-LIC-1", "label.originator": "IT/GOV/URA"}, "licence", false, ReasonRelayOriginatorOutsidePeer},
		{"a register entry", map[string]any{"id": "IT-GOV-MOD-ENT-1", "label.originator": "IT/GOV/MOD"}, "entity", false, ReasonRelayKindNotPermitted},
		{"an export declaration", map[string]any{"id": "IT-GOV-MOD-EVT-1", "label.originator": "IT/GOV/MOD"}, "export", false, ReasonRelayKindNotPermitted},
		{"a lowered classification", map[string]any{"id": "IT-GOV-MOD-LIC-2026-000001", "version": 4, "label.originator": "IT/GOV/MOD",
			"label.releasable_to": []any{"ALB", "ITA"}, "label.classification": "UNCLASSIFIED"}, "licence", true, "label_downgrade"},
		{"a widened releasability", map[string]any{"id": "IT-GOV-MOD-LIC-2026-000001", "version": 4, "label.originator": "IT/GOV/MOD",
			"label.releasable_to": []any{"ALB", "ITA", "SRB"}}, "licence", true, "label_downgrade"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := Input{Caller: memberITGateway, Action: Push, Record: record(t, c.kind, c.edits)}
			if c.prev {
				in.Previous = itLicence
			}
			d := e.Decide(ctx, in)
			if d.Allow || !hasCode(d, c.want) {
				t.Fatalf("reasons %v, want %s", codes(d), c.want)
			}
			for _, code := range []string{"originator_mismatch", "push_not_authorised", "not_record_owner"} {
				if hasCode(d, code) {
					t.Errorf("a relay refused with %s: %v", code, codes(d))
				}
			}
		})
	}
}

// TestCrossBorderTrace: a partner asks; the agency sees the request and
// answers it; the partner that asked sees the answer, another does not.
func TestCrossBorderTrace(t *testing.T) {
	e := newEngine(t, Options{Logger: discard})
	ctx := context.Background()
	request := record(t, "transfer_ita", map[string]any{"id": "IT-GOV-MOD-TR-2026-0001", "label.originator": "IT/GOV/MOD",
		"label.releasable_to": []any{"ALB", "ITA"}, "event.type": "TRACE_REQUEST", "event.from": nil, "event.to": nil, "event.location": nil,
		"event.trace": map[string]any{"request_id": "IT-TR-2026-0001", "reason": "rifle seized in Bari", "requesting_authority": "Carabinieri, Bari"}})
	if d := e.Decide(ctx, Input{Caller: memberITA, Action: Push, Record: request}); !d.Allow {
		t.Errorf("Italy's trace request: %+v", d)
	}
	if d := e.Decide(ctx, Input{Caller: memberAIM, Action: Pull, Record: request}); !d.Allow {
		t.Errorf("AIM reading Italy's request about a KAYO rifle: %+v", d)
	}
	if d := e.Decide(ctx, Input{Caller: memberCZE, Action: Pull, Record: request}); d.Allow {
		t.Errorf("Czechia reading Italy's request: %+v", d)
	}

	answer := func(requester string) map[string]any {
		return map[string]any{"id": "AIM-EVT-2026-0000900", "label.releasable_to": []any{"ALB", "NATO"},
			"event.type": "TRACE_RESPONSE", "event.from": nil, "event.to": nil, "event.location": nil,
			"event.trace": map[string]any{"request_id": "IT-TR-2026-0001", "requester": requester, "answer": "manufactured 2026, exported to ITA"}}
	}
	toItaly := record(t, "transfer_ita", answer("IT/GOV/MOD"))
	if d := e.Decide(ctx, Input{Caller: memberAIM, Action: Push, Record: toItaly}); !d.Allow {
		t.Fatalf("AIM's answer: %+v", d)
	}
	if d := e.Decide(ctx, Input{Caller: memberITA, Action: Pull, Record: toItaly}); !d.Allow {
		t.Errorf("Italy reading the answer to its own request: %+v", d)
	}
	for _, m := range []identity.Member{memberCZE, memberNATO} {
		d := e.Decide(ctx, Input{Caller: m, Action: Pull, Record: toItaly})
		if d.Allow || !slices.Equal(codes(d), []string{"trace_response_not_addressed"}) {
			t.Errorf("%s reading Italy's answer: %+v", m.ID, d)
		}
	}
	toCzechia := record(t, "transfer_ita", answer("CZ/GOV/MOD"))
	if d := e.Decide(ctx, Input{Caller: memberITA, Action: Pull, Record: toCzechia}); d.Allow || !hasCode(d, "trace_response_not_addressed") {
		t.Errorf("Italy reading Czechia's answer: %+v", d)
	}
}

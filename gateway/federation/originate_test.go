package federation

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/ura-gateway/ura/gateway/identity"
	"github.com/ura-gateway/ura/gateway/policy"
	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// TestMayOriginate: a member pushes in its own name only; a peer gateway
// relays for the other members of its own instance, never for this
// gateway's.
func TestMayOriginate(t *testing.T) {
	r := &Relay{Self: "AL/GOV/URA"}
	cases := []struct {
		caller     string
		peer       bool
		originator string
		want       string // "" when allowed
	}{
		{"IT/GOV/MOD", false, "IT/GOV/MOD", ""},
		{"IT/GOV/MOD", false, "IT/GOV/DIFESA", ReasonOriginator},
		{"AL/GOV/DPD", false, "AL/GOV/AIM", ReasonOriginator},
		{"IT/GOV/URA", true, "IT/GOV/MOD", ""},
		{"IT/GOV/URA", true, "AL/GOV/AIM", ReasonRelayOwnInstance},
		{"IT/GOV/URA", true, "CZ/GOV/MOD", ReasonRelayOutsidePeer},
		{"IT/GOV/URA", true, "IT/GOV/URA", ReasonRelayOutsidePeer},
		{"IT/GOV/URA", true, "IT/GOV", ReasonRelayOutsidePeer},
		{"IT/GOV/URA", true, "IT/GOV/MOD/X", ReasonRelayOutsidePeer},
		{"IT/GOV/URA", true, "", ReasonRelayOutsidePeer},
	}
	for _, c := range cases {
		reason, ok := r.MayOriginate(c.caller, c.peer, c.originator)
		if ok != (c.want == "") || reason.Code != c.want || (!ok && reason.Message == "") {
			t.Errorf("MayOriginate(%s, %v, %s) = %+v %v, want %q", c.caller, c.peer, c.originator, reason, ok, c.want)
		}
	}
	// Another nation's gateway (sign.member IT/GOV/URA, its bundle's
	// own_instance IT) takes Albania's gateway's relays of AIM's records and
	// refuses relays in its own institutions' names: the check is over
	// sign.member's instance, not the embedded tables' AL.
	italy := &Relay{Self: "IT/GOV/URA"}
	for _, c := range []struct{ originator, want string }{
		{"AL/GOV/AIM", ""},
		{"IT/GOV/MOD", ReasonRelayOwnInstance},
		{"CZ/GOV/MOD", ReasonRelayOutsidePeer},
		{"AL/GOV/URA", ReasonRelayOutsidePeer},
	} {
		reason, ok := italy.MayOriginate("AL/GOV/URA", true, c.originator)
		if ok != (c.want == "") || reason.Code != c.want {
			t.Errorf("Self IT/GOV/URA, AL/GOV/URA relays %s: %+v %v, want %q", c.originator, reason, ok, c.want)
		}
	}
}

// TestMayOriginateAgreesWithPolicy: for a peer gateway's relays, the
// gateway's check and the embedded policy refuse the same originators with
// the same code, and allow the same ones.
func TestMayOriginateAgreesWithPolicy(t *testing.T) {
	if err := records.LoadSchemas(); err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(filepath.Join("..", "policy", "testdata", "records", "licence.json"))
	if err != nil {
		t.Fatal(err)
	}
	engine, err := policy.New(context.Background(), policy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(engine.Close)
	r := &Relay{Self: "AL/GOV/URA"}
	peer := identity.Member{ID: "IT/GOV/URA", Nation: "ITA", Kind: identity.KindGateway, Clearance: "CONFIDENTIAL"}
	for _, orig := range []string{"IT/GOV/MOD", "IT/GOV/DOGANE", "AL/GOV/AIM", "AL/GOV/MOD", "CZ/GOV/MOD", "IT/GOV/URA", "ITA/GOV/MOD", "NATO/ORG/LIAISON"} {
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		ns := strings.ReplaceAll(orig, "/", "-") + "-"
		if listed := map[string]string{"AL/GOV/AIM": "AIM-", "AL/GOV/MOD": "MOD-"}[orig]; listed != "" {
			ns = listed
		}
		doc["id"] = ns + "LIC-1"
		doc["label"].(map[string]any)["originator"] = orig
		body, _ := json.Marshal([]any{doc})
		checked, err := records.DecodeBatch(body, records.FormatJSON, records.Limits{MaxRecords: 1, MaxDepth: 16, MaxStringLength: 8192})
		if err != nil || !checked[0].Valid() {
			t.Fatalf("%s: %v %+v", orig, err, checked)
		}
		d := engine.Decide(context.Background(), policy.Input{Caller: peer, Action: policy.Push, Record: checked[0].Record})
		reason, ok := r.MayOriginate(peer.ID, true, orig)
		if ok != d.Allow {
			t.Errorf("%s: MayOriginate %v %v, policy %+v", orig, reason, ok, d)
		}
		if !ok && !hasCode(d.Reasons, reason.Code) {
			t.Errorf("%s: MayOriginate refuses with %s, the policy with %+v", orig, reason.Code, d.Reasons)
		}
	}
}

func hasCode(reasons []verdict.Reason, code string) bool {
	for _, r := range reasons {
		if r.Code == code {
			return true
		}
	}
	return false
}

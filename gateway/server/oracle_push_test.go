package server

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/api/exchange"
	"github.com/ura-gateway/ura/gateway/config"
)

// What a pusher learns of the records its push refers to. Customs declares
// exports and imports against licences; a licence the policy withholds from
// customs is, to it, not in the register, as for a usage batch
// (gateway/ARCHITECTURE.md, "Customs usage"): every declaration against it
// is answered exactly as one against a licence never stored.

// oracleCustomsEnv is oracleEnv (AIM's SECRET licence, above customs'
// clearance) with two customs members of identical limits: one declares
// against the hidden licence, the other against an id nothing has.
func oracleCustomsEnv(t *testing.T) (*gatewayEnv, string) {
	t.Helper()
	return oracleEnv(t, withConfig(func(cfg *config.Config) {
		cfg.Members = append(cfg.Members,
			config.Member{ID: "AL/GOV/HIDDEN", Name: "Customs declaring against a hidden licence", Nation: "ALB", Kind: "customs", Clearance: "RESTRICTED"},
			config.Member{ID: "AL/GOV/MISSING", Name: "Customs declaring against a missing licence", Nation: "ALB", Kind: "customs", Clearance: "RESTRICTED"})
		day := func(n int) *config.Rate { return &config.Rate{Rate: n, Burst: n, Period: 24 * time.Hour} }
		for _, m := range []string{"AL/GOV/HIDDEN", "AL/GOV/MISSING"} {
			cfg.RateLimit.Members[m] = config.MemberRateLimit{RateClasses: config.RateClasses{
				Push: day(200), Pull: day(960), Trace: day(30), Audit: day(20)}}
		}
	}))
}

// oracleDeclarations are member's declarations against licence lic, each
// of which the licence, were it visible, would answer differently: within
// it, to another destination, an import against an export licence, more
// than it allows.
func oracleDeclarations(t *testing.T, member, lic, tag string) []map[string]any {
	t.Helper()
	ns := strings.ReplaceAll(member, "/", "-") + "-" + tag + "-"
	decl := func(n string, kv ...any) map[string]any {
		kv = append([]any{"id", ns + n, "label.originator", member, "event.licence_id", lic}, kv...)
		return polRecord(t, "export", kv...)
	}
	return []map[string]any{
		decl("1"),
		decl("2", "event.to", "SRB"),
		decl("3", "event.type", "IMPORT_DECLARED"),
		decl("4", "event.quantity", 100000),
	}
}

// pushAnswerNorm is a push answer with what differs between any two
// requests blanked, and under the chunk profile each result's signed
// payload decoded (it is the result again, with its recipient) and its
// proof reduced to its shape: the root is a signature, the path hashes of
// the payloads.
func pushAnswerNorm(t *testing.T, r memberResponse) memberResponse {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(r.body, &v); err != nil {
		t.Fatalf("push answer %d is not JSON: %s", r.status, r.body)
	}
	results, _ := v["results"].([]any)
	for _, x := range results {
		res := x.(map[string]any)
		if p, ok := res["result"].(string); ok {
			raw, err := base64.RawURLEncoding.DecodeString(p)
			if err != nil {
				t.Fatalf("result payload: %v", err)
			}
			var payload map[string]any
			if err := json.Unmarshal(raw, &payload); err != nil {
				t.Fatalf("result payload: %v", err)
			}
			payload["iat"] = "<per request>"
			res["result"] = payload
		}
		if p, ok := res["proof"].(map[string]any); ok {
			path, _ := p["inclusion_path"].([]any)
			p["root"], p["inclusion_path"] = "<per request>", len(path)
		}
	}
	b, _ := json.Marshal(v)
	out := r
	out.body = b
	return out
}

// TestOraclePushDeclarationHiddenLicence: customs declaring exports and an
// import against a licence above its clearance gets, under both proof
// profiles, the answer it gets against a licence never stored (status,
// each result's status and reasons, headers, RateLimit, the proof's shape,
// the audit work), and nothing of the licence: its destination, type,
// quantities, holder, originator or classification (finding: the policy
// answered from the licence, accepting the first declaration and naming
// the licence's destination, type and quantity in the others' reasons).
func TestOraclePushDeclarationHiddenLicence(t *testing.T) {
	e, lic := oracleCustomsEnv(t)
	missingLic := lic[:len(lic)-1] + "9"
	for _, profile := range []string{exchange.ProfileJWS, exchange.ProfileChunk} {
		tag := profile[strings.LastIndex(profile, ":")+1:]
		accept := `application/json; profile="` + profile + `"`
		push := func(member, lic string) (memberResponse, []string) {
			body, _ := json.Marshal(oracleDeclarations(t, member, lic, tag))
			n := len(e.audit.All())
			r := e.as(member).do(http.MethodPost, "/v1/records", "application/json", accept, body)
			return r, oracleWork(e, n)
		}
		hidden, hiddenWork := push("AL/GOV/HIDDEN", lic)
		missing, missingWork := push("AL/GOV/MISSING", missingLic)
		oracleSame(t, "declarations under "+tag, pushAnswerNorm(t, hidden), pushAnswerNorm(t, missing), lic, missingLic,
			"SECRET", "AL/GOV/AIM", "KAYO", "CZE", "export licence", "500", "allows")
		if strings.Join(hiddenWork, ",") != strings.Join(missingWork, ",") {
			t.Errorf("%s: audit work differs:\nhidden:  %v\nmissing: %v", tag, hiddenWork, missingWork)
		}
		for _, r := range exResults(t, hidden) {
			if r.Status != "denied" || len(r.Reasons) != 1 || r.Reasons[0]["code"] != "licence_unknown" {
				t.Errorf("%s: declaration %s against the hidden licence: %s %v", tag, r.ID, r.Status, r.Reasons)
			}
		}
		// A chunk's tree is this answer's results and nothing else.
		var answer struct{ Results []exchange.Result }
		if err := json.Unmarshal(hidden.body, &answer); err != nil {
			t.Fatal(err)
		}
		for i, r := range answer.Results {
			if p := r.Proof; profile == exchange.ProfileChunk && (p == nil || p.TreeSize != len(answer.Results) || p.LeafIndex != i) {
				t.Errorf("%s: result %d's proof %+v, want leaf %d of a tree of %d", tag, i, p, i, len(answer.Results))
			}
		}
	}
	// The log says why, in the declarations' own decision events: each of
	// the hidden licence's eight, none of the missing one's.
	withheld := map[string]int{}
	for _, ev := range e.audit.All() {
		for _, r := range ev.Reasons {
			if r.Code == exchange.ReasonLicenceWithheld && strings.Contains(r.Message, lic) {
				withheld[ev.Member]++
			}
		}
	}
	if withheld["AL/GOV/HIDDEN"] != 8 || len(withheld) != 1 {
		t.Errorf("decision events with %s: %v, want 8 of AL/GOV/HIDDEN's", exchange.ReasonLicenceWithheld, withheld)
	}
	// Nothing of customs' was stored: every declaration was refused.
	if got := e.stored(t); len(got) != 1 {
		t.Errorf("stored: %v, want AIM's licence alone", got)
	}
}

// TestOraclePushOverwriteHiddenEqualsMissing: a push that would replace a
// record its pusher may not see (AIM's SECRET licence, version 3), with an
// older version, a newer one, or a record of another kind under its id, is
// answered as the same push under an id nothing has, by a partner and by
// customs alike: no conflict, no "older than the stored version", no
// "another kind" (the namespace refusal comes first, whatever is stored:
// push.rego, "Record ids").
func TestOraclePushOverwriteHiddenEqualsMissing(t *testing.T) {
	e, id := oracleCustomsEnv(t)
	missingID := id[:len(id)-1] + "9"
	probes := map[string]func(member, id string) map[string]any{
		"older version": func(member, id string) map[string]any {
			return polRecord(t, "licence", "id", id, "version", 1, "label.originator", member)
		},
		"newer version": func(member, id string) map[string]any {
			return polRecord(t, "licence", "id", id, "version", 9, "label.originator", member, "label.classification", "UNCLASSIFIED")
		},
		"another kind": func(member, id string) map[string]any {
			return polRecord(t, "export", "id", id, "version", 9, "label.originator", member)
		},
	}
	for what, probe := range probes {
		for _, nation := range []string{"IT", "AL"} {
			hm, mm := nation+"/GOV/HIDDEN", nation+"/GOV/MISSING"
			n := len(e.audit.All())
			hidden := e.as(hm).push(probe(hm, id))
			hiddenWork := oracleWork(e, n)
			n = len(e.audit.All())
			missing := e.as(mm).push(probe(mm, missingID))
			missingWork := oracleWork(e, n)
			oracleSame(t, what+" by "+hm, hidden, missing, id, missingID,
				"SECRET", "AL/GOV/AIM", "KAYO", "stored", "another kind", "conflict")
			if strings.Join(hiddenWork, ",") != strings.Join(missingWork, ",") {
				t.Errorf("%s by %s: audit work differs:\nhidden:  %v\nmissing: %v", what, hm, hiddenWork, missingWork)
			}
			if r := exResults(t, hidden)[0]; r.Status != "denied" || len(r.Reasons) != 1 || r.Reasons[0]["code"] != "id_outside_namespace" {
				t.Errorf("%s by %s: %+v", what, hm, r)
			}
		}
	}
}

package server

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/ura-gateway/ura/gateway/api/apitest"
	"github.com/ura-gateway/ura/gateway/api/exchange"
	"github.com/ura-gateway/ura/gateway/audit"
	"github.com/ura-gateway/ura/gateway/sign"
	"github.com/ura-gateway/ura/gateway/verdict"
)

// fedLabelledLine is fedLine with label in the JWS's protected header.
func (c *cbEnv) fedLabelledLine(t *testing.T, rec map[string]any, label any) []byte {
	t.Helper()
	raw, _ := json.Marshal(rec)
	payload, _ := json.Marshal(sign.Delivery{Record: raw, Recipient: fedOwnID, Issuer: "ura.difesa.it",
		IssuedAt: time.Now().Unix(), Redactions: []verdict.Redaction{}, Translations: []verdict.Translation{}})
	lb, _ := json.Marshal(label)
	jws, err := c.italy.SignLabelled(context.Background(), sign.TypFederation, [][]byte{payload}, []json.RawMessage{lb})
	if err != nil {
		t.Fatal(err)
	}
	line, _ := json.Marshal(map[string]string{"jws": jws[0]})
	return line
}

// TestLabelsE2E, through the gateway on the embedded policy: a licence in
// Albania's marking reaches Italy's ministry in Italy's, the translation in
// the signed delivery and the audit event, the label in the JWS header; a
// marking the table does not map is refused at the push; a peer's record
// whose header label is not its own is refused (the attack: a guard routing
// on the header would read a lower marking than the record carries).
func TestLabelsE2E(t *testing.T) {
	c := cbStart(t)
	al := polRecord(t, "licence", "id", "AIM-LIC-2026-000950", "label.policy_id", "AL", "label.classification", "KONFIDENCIAL",
		"label.releasable_to", []any{"ALB", "ITA"})
	if res := exResults(t, c.as("AL/GOV/AIM").push(al)); res[0].Status != exchange.StatusAccepted {
		t.Fatalf("push of a licence in Albania's marking: %+v", res[0])
	}
	n := len(c.audit.All())
	r := c.as("IT/GOV/MOD").get("/v1/records/AIM-LIC-2026-000950")
	if r.status != http.StatusOK {
		t.Fatalf("Italy's get: %d %s", r.status, r.body)
	}
	var d exchange.Delivery
	_ = json.Unmarshal(r.body, &d)
	_, payload := apitest.Verify(t, d.JWS)
	rec, _ := payload["record"].(map[string]any)
	label, _ := rec["label"].(map[string]any)
	if label["policy_id"] != "IT" || label["classification"] != "RISERVATISSIMO" {
		t.Errorf("delivered label %v", label)
	}
	tr, _ := payload["translations"].([]any)
	if len(tr) != 2 {
		t.Errorf("translations %v", payload["translations"])
	}
	if err := sign.CheckLabel(d.JWS, mustJSON(t, payload)); err != nil {
		t.Errorf("header label: %v", err)
	}
	var found bool
	for _, ev := range c.audit.All()[n:] {
		if ev.RecordID == "AIM-LIC-2026-000950" && ev.Decision != audit.DecisionWithhold {
			found = len(ev.Translations) == 2 && ev.Translations[1].To == verdict.Marking{PolicyID: "IT", Classification: "RISERVATISSIMO"}
		}
	}
	if !found {
		t.Error("the audit event does not name the translations")
	}
	// AIM reads its own marking.
	_, own := apitest.Verify(t, exDelivery(t, c.as("AL/GOV/AIM").get("/v1/records/AIM-LIC-2026-000950")).JWS)
	if l := own["record"].(map[string]any)["label"].(map[string]any); l["classification"] != "KONFIDENCIAL" || len(own["translations"].([]any)) != 0 {
		t.Errorf("AIM's own view: %v %v", l, own["translations"])
	}

	odd := polRecord(t, "licence", "id", "AIM-LIC-2026-000951", "label.policy_id", "AL", "label.classification", "SHUMË SEKRET")
	if res := exResults(t, c.as("AL/GOV/AIM").push(odd)); res[0].Status != exchange.StatusDenied || !fedHasReason(res[0], "marking_unmapped") {
		t.Errorf("an unmapped marking: %+v", res[0])
	}

	it := exWith(polRecord(t, "licence", "id", "IT-GOV-MOD-LIC-2026-000950", "version", 1, "label.originator", "IT/GOV/MOD",
		"label.releasable_to", []any{"ALB", "ITA"}, "label.classification", "CONFIDENTIAL"))
	lowered := exWith(it["label"].(map[string]any), "classification", "UNCLASSIFIED")
	if res := c.as(fedPeerID).fedPush(c.fedLabelledLine(t, it, lowered)); res[0].Status == exchange.StatusAccepted || !fedHasReason(res[0], "label_mismatch") {
		t.Errorf("a header label that is not the record's: %+v", res[0])
	}
	if res := c.as(fedPeerID).fedPush(c.fedLabelledLine(t, it, it["label"])); res[0].Status != exchange.StatusAccepted {
		t.Errorf("the record's own label in the header: %+v", res[0])
	}
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func exDelivery(t *testing.T, r memberResponse) exchange.Delivery {
	t.Helper()
	var d exchange.Delivery
	if r.status != http.StatusOK || json.Unmarshal(r.body, &d) != nil {
		t.Fatalf("get: %d %s", r.status, r.body)
	}
	return d
}

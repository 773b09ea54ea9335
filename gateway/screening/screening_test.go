package screening

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/ura-gateway/ura/gateway/records"
	"github.com/ura-gateway/ura/gateway/registers"
	"github.com/ura-gateway/ura/gateway/sanctions"
)

const devList = "../../deploy/dev/sanctions.xml"

func licence(t *testing.T, parties map[string]any) *records.Record {
	t.Helper()
	body := map[string]any{"type": "export", "status": "issued"}
	for k, v := range parties {
		body[k] = v
	}
	return &records.Record{Kind: records.KindLicence, ID: "AIM-LIC-1", Version: 1, Doc: map[string]any{"licence": body}}
}

// TestLicenceScreen: every party of a licence against denials, excluded
// entities and the sanctions list; each candidate with its score and the
// fields that matched.
func TestLicenceScreen(t *testing.T) {
	s, err := sanctions.Load(devList)
	if err != nil {
		t.Fatal(err)
	}
	rec := licence(t, map[string]any{
		"holder":    map[string]any{"entity_id": "L61234567A", "name": "KAYO sh.a."},
		"end_user":  map[string]any{"name": "Djordjevic Trading", "country": "SRB"},
		"consignee": map[string]any{"name": "Zvezda Oružje d.o.o.", "country": "SRB"},
	})
	c := Candidates{
		Denials: map[string]map[string]registers.Denial{"SRB|ML1": {
			"IT-DEN-1": {RecordID: "IT-DEN-1", EndUser: &registers.DeniedParty{Name: "Ђорђевић Трејдинг", Country: "SRB"}},
			"IT-DEN-2": {RecordID: "IT-DEN-2", EndUser: &registers.DeniedParty{Name: "Đorđević Trading", Country: "BIH"}},
			"IT-DEN-3": {RecordID: "IT-DEN-3", EndUser: &registers.DeniedParty{Name: "Adriatic Shipping", Country: "SRB"}},
		}},
		Excluded: map[string]registers.Excluded{
			"AIM-EXC-1": {RecordID: "AIM-EXC-1", Name: "K.A.Y.O. Sh.A", Country: "ALB", From: "2025-01-01"},
			"AIM-EXC-2": {RecordID: "AIM-EXC-2", Name: "Shadow Arms", Country: "ALB", From: "2025-01-01"},
		},
		Sanctions: s,
	}
	r := Licence(rec, c)
	if len(r.Denials) != 2 {
		t.Fatalf("denial matches %+v, want IT-DEN-1 and IT-DEN-2", r.Denials)
	}
	d1, d2 := r.Denials[0], r.Denials[1]
	if d1.Denial != "IT-DEN-1" || d1.Key != "SRB|ML1" || d1.Party != "end_user" || d1.DeniedParty != "end_user" ||
		d1.MatchedName != "Ђорђевић Трејдинг" || d1.Score < 0.9 || d1.Score > 1 || !slices.Equal(d1.Fields, []string{"name", "country"}) {
		t.Errorf("first denial match: %+v", d1)
	}
	if d2.Denial != "IT-DEN-2" || !slices.Equal(d2.Fields, []string{"name"}) {
		t.Errorf("a denied party in another country matches on the name only: %+v", d2)
	}
	if len(r.Excluded) != 1 || r.Excluded[0].RecordID != "AIM-EXC-1" || r.Excluded[0].Party != "holder" ||
		r.Excluded[0].Score < 0.75 || !slices.Equal(r.Excluded[0].Fields, []string{"name"}) {
		t.Errorf("excluded matches: %+v", r.Excluded)
	}
	if len(r.Sanctions) != 1 {
		t.Fatalf("sanctions matches: %+v", r.Sanctions)
	}
	sm := r.Sanctions[0]
	if sm.DataID != "9900102" || sm.Reference != "DVe.002" || sm.Party != "consignee" || sm.Score < 0.75 ||
		!slices.Equal(sm.Fields, []string{"name", "country"}) {
		t.Errorf("sanctions match: %+v", sm)
	}
	doc, err := json.Marshal(r.Doc())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"dataid":"9900102"`, `"denied_party":"end_user"`, `"fields":["name","country"]`} {
		if !strings.Contains(string(doc), want) {
			t.Errorf("doc %s lacks %s", doc, want)
		}
	}
	// Nothing to screen: an entity, or a licence naming no one.
	if got := Licence(&records.Record{Kind: records.KindEntity, Doc: map[string]any{"entity": map[string]any{"name": "KAYO"}}}, c); !got.Empty() {
		t.Errorf("an entity was screened: %+v", got)
	}
	empty := Result{}.Doc()
	if len(empty["denials"].([]any)) != 0 || len(empty["sanctions"].([]any)) != 0 {
		t.Errorf("empty doc %v", empty)
	}
}
